"""Siemens S7 on ISO-on-TCP (tcp 102): TPKT + COTP + S7comm / S7comm-plus.

What names a Siemens CPU on the wire:
- COTP connect request/confirm: the called TSAP's second byte is rack*32+slot
  of the CPU addressed (first byte: 1 PG, 2 OP, 3 S7 basic);
- S7 "read SZL" responses (userdata, CPU functions): SZL 0x0011 (module
  identification: order number, firmware) and SZL 0x001C (component
  identification: PLC name, module name, plant id, serial, CPU type). These
  come from the CPU, so the identity describes the packet's source.
S7comm-plus (S7-1200/1500, protocol id 0x72, or a "SIMATIC-..." called TSAP)
is only recognised, with its version byte; its identity strings sit in
integrity-protected PDUs. `service` is set only when the S7 layer is seen.

Long SZL answers are split over several PDUs; only the first carries the
header and is parsed, which is where 0x0011 and the first 0x001C records are.
Big-endian throughout. A TCP segment may carry several TPKTs: bounded loop.
"""

from __future__ import annotations

import struct

from cranewatch.decode._text import device_text
from cranewatch.decode.select import Selector

SELECT = Selector(l4="tcp", ports=(102,), per_flow=64)

_MAX_TPKTS = 8
_MAX_RECORDS = 16
_COTP_CR, _COTP_CC, _COTP_DT = 0xE0, 0xD0, 0xF0
_ROSCTR = {1: "job", 2: "ack", 3: "ack_data", 7: "userdata"}
_FUNCTIONS = {
    0x04: "read_var",
    0x05: "write_var",
    0x1A: "request_download",
    0x1B: "download_block",
    0x1C: "download_ended",
    0x1D: "start_upload",
    0x1E: "upload",
    0x1F: "end_upload",
    0x28: "plc_control",
    0x29: "plc_stop",
    0xF0: "setup_communication",
}
# Siemens order numbers (MLFB): 6ES7 SIMATIC, 6AG1 SIPLUS, 6ED1 LOGO!, 6AV HMI, 6GK NET.
_SIEMENS_ORDER_PREFIXES = ("6ES7", "6AG", "6ED1", "6AV", "6GK")
# SZL 0x001C record index -> identity key (S7-300/400 system manual, SSL-ID W#16#xy1C).
_COMPONENT_KEYS = {
    1: "plc_name",
    2: "module_name",
    3: "plant_id",
    5: "serial",
    7: "cpu_type",
    8: "memory_card_serial",
    11: "location",
}


def parse(data: bytes) -> dict | None:
    """Fields from the TPKT/COTP PDUs at the start of a payload, or None if not ISO-on-TCP."""
    try:
        return _parse(bytes(data))
    except (struct.error, IndexError, ValueError):
        return None


def _parse(data: bytes) -> dict | None:
    out: dict = {}
    off = 0
    for _ in range(_MAX_TPKTS):
        if len(data) - off < 7 or data[off] != 3 or data[off + 1] != 0:
            break
        length = struct.unpack_from(">H", data, off + 2)[0]
        if length < 7:
            break
        _cotp(data, off + 4, min(off + length, len(data)), out)
        off += length
    return out or None


def _cotp(data: bytes, off: int, end: int, out: dict) -> None:
    """One COTP TPDU: connect request/confirm parameters, or the data it carries."""
    li, pdu = data[off], data[off + 1] & 0xF0
    out.setdefault("cotp", {_COTP_CR: "cr", _COTP_CC: "cc", _COTP_DT: "dt"}.get(pdu, hex(pdu)))
    if pdu in (_COTP_CR, _COTP_CC):
        _tsaps(data, off + 7, min(off + 1 + li, end), out)
    elif pdu == _COTP_DT and off + 1 + li < end:
        _s7(data, off + 1 + li, end, out)


def _tsaps(data: bytes, off: int, end: int, out: dict) -> None:
    """COTP variable part: 0xC1 calling TSAP, 0xC2 called TSAP (rack/slot of the CPU)."""
    for _ in range(8):
        if end - off < 2:
            return
        code, plen = data[off], data[off + 1]
        value = data[off + 2 : off + 2 + plen]
        if code == 0xC1:
            out["src_tsap"] = value.hex()
        elif code == 0xC2:
            out["dst_tsap"] = value.hex()
            if value.startswith(b"SIMATIC-"):  # S7-1200/1500 TSAPs are names, not rack/slot
                out["dst_tsap_name"] = value.decode("ascii", errors="replace")
                out["service"] = "s7comm-plus"
            if plen == 2 and value[0] in (1, 2, 3):
                out["connection_type"] = {1: "pg", 2: "op", 3: "s7_basic"}[value[0]]
                out["rack"], out["slot"] = value[1] >> 5, value[1] & 0x1F
        off += 2 + plen


def _s7(data: bytes, off: int, end: int, out: dict) -> None:
    """S7comm header (protocol id 0x32) or S7comm-plus (0x72)."""
    if data[off] == 0x72:
        out["service"] = "s7comm-plus"
        if off + 1 < end:
            out["s7plus_version"] = data[off + 1]
        return
    if data[off] != 0x32 or end - off < 10:
        return
    rosctr = data[off + 1]
    plen, dlen = struct.unpack_from(">HH", data, off + 6)
    hlen = 12 if rosctr in (2, 3) else 10
    params = off + hlen
    out["service"] = "s7comm"
    out.setdefault("rosctr", _ROSCTR.get(rosctr, str(rosctr)))
    if hlen == 12 and end - off >= 12 and (data[off + 10] or data[off + 11]):
        out["error"] = f"0x{data[off + 10]:02x}{data[off + 11]:02x}"
    if rosctr == 7:
        _userdata(data, params, plen, min(params + plen + dlen, end), out)
    elif params < end:
        fn = data[params]
        out.setdefault("function", _FUNCTIONS.get(fn, f"0x{fn:02x}"))
        if fn == 0xF0 and rosctr == 3 and params + 8 <= end:
            out["pdu_length"] = struct.unpack_from(">H", data, params + 6)[0]


def _userdata(data: bytes, params: int, plen: int, end: int, out: dict) -> None:
    """Userdata: keep SZL read responses (type 8 = response, group 4 = CPU, sub 1 = read SZL)."""
    if plen < 8 or params + plen > end:
        return
    type_group, sub = data[params + 5], data[params + 6]
    out.setdefault("function", f"userdata_{type_group >> 4:x}_{type_group & 0xF:x}_{sub:02x}")
    if type_group != 0x84 or sub != 0x01:
        return
    body = params + plen
    if end - body < 12 or data[body] != 0xFF:  # return code: success
        return
    szl_id, _index, rec_len, count = struct.unpack_from(">HHHH", data, body + 4)
    out["szl_id"] = f"0x{szl_id:04x}"
    records = body + 12
    if szl_id & 0xFF == 0x11 and rec_len >= 28:
        _module_identification(data, records, rec_len, count, end, out)
    elif szl_id & 0xFF == 0x1C and rec_len >= 34:
        _component_identification(data, records, rec_len, count, end, out)


def _records(data: bytes, off: int, rec_len: int, count: int, end: int):
    """(index, record offset) of whole SZL records present in this PDU."""
    for i in range(min(count, _MAX_RECORDS)):
        rec = off + i * rec_len
        if rec + rec_len > end:
            return
        yield struct.unpack_from(">H", data, rec)[0], rec


def _module_identification(data: bytes, off: int, rec_len: int, count: int, end: int, out: dict):
    """SZL xy11 records: index, MlfB[20], BGTyp u16, Ausbg u16, Ausbe u16.

    Index 1 (or 6, hardware) holds the order number; index 7 is the firmware,
    its version spelled 'V' major, minor, patch in Ausbg/Ausbe.
    """
    ident: dict = {}
    for index, rec in _records(data, off, rec_len, count, end):
        mlfb = device_text(data[rec + 2 : rec + 22])
        ausbg, ausbe = struct.unpack_from(">HH", data, rec + 24)
        if index in (1, 6) and mlfb and "order_number" not in ident:
            ident["order_number"] = mlfb
        elif index == 7 and ausbg >> 8 == ord("V"):
            ident["firmware"] = f"V{ausbg & 0xFF}.{ausbe >> 8}.{ausbe & 0xFF}"
    if ident.get("order_number", "").startswith(_SIEMENS_ORDER_PREFIXES):
        ident["vendor"] = "Siemens"
    if ident:
        out.setdefault("identity", {}).update(ident)


def _component_identification(data: bytes, off: int, rec_len: int, count: int, end: int, out):
    """SZL xy1C records: index u16 then a 32-byte (blank/NUL padded) string."""
    ident: dict = {}
    for index, rec in _records(data, off, rec_len, count, end):
        key = _COMPONENT_KEYS.get(index)
        value = device_text(data[rec + 2 : rec + 2 + min(32, rec_len - 2)])
        if key and value:
            ident[key] = value
    if "cpu_type" in ident:
        ident["product"] = ident["cpu_type"]
    if "plc_name" in ident:
        ident["station_name"] = ident["plc_name"]
    if ident:
        out.setdefault("identity", {}).update(ident)
