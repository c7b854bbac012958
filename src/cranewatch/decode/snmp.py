"""SNMP v1/v2c/v3 messages (RFC 1157, 3416, 3412) through a small bounded BER reader.

The community string shows default credentials in use; a response carrying
sysDescr / sysName / sysObjectID names the agent's product and host name.
v3 messages give the user name and engine id; their PDU is read only when
it is not encrypted.
"""

from __future__ import annotations

import ipaddress

from cranewatch.decode.select import Selector

SELECT = Selector(l4="udp", ports=(161, 162), per_flow=16)

MAX_DEPTH = 8
MAX_VARBINDS = 64
MAX_OID_ARCS = 128
MAX_TEXT = 512
PDU_TYPES = {
    0xA0: "get",
    0xA1: "getnext",
    0xA2: "response",
    0xA3: "set",
    0xA4: "trap",
    0xA5: "getbulk",
    0xA6: "inform",
    0xA7: "trap2",
    0xA8: "report",
}
VERSIONS = {0: "1", 1: "2c", 2: "2u", 3: "3"}  # 2 = community-less v2u, rare
SYS_DESCR = "1.3.6.1.2.1.1.1.0"
SYS_OBJECT_ID = "1.3.6.1.2.1.1.2.0"
SYS_NAME = "1.3.6.1.2.1.1.5.0"
EXCEPTIONS = {0x80: "noSuchObject", 0x81: "noSuchInstance", 0x82: "endOfMibView"}


class BerError(ValueError):
    """The bytes are not the BER we expect."""


def tlv(buf: bytes, off: int, end: int) -> tuple[int, int, int]:
    """(tag, value offset, value end) of the element at `off`; single-byte tags only.

    A length running past its parent is cut to the parent's end rather than
    refused: captures are often cut short, and some agents (and test
    generators) get inner lengths wrong by a byte; reads stay in bounds.
    """
    if off + 2 > end:
        raise BerError("short")
    tag, first = buf[off], buf[off + 1]
    off += 2
    if first & 0x80:
        n = first & 0x7F
        if n == 0 or n > 4 or off + n > end:
            raise BerError("bad length")
        length = int.from_bytes(buf[off : off + n], "big")
        off += n
    else:
        length = first
    return tag, off, min(off + length, end)


def children(buf: bytes, off: int, end: int, limit: int) -> list[tuple[int, int, int]]:
    """The elements inside a constructed value, at most `limit`."""
    out = []
    while off + 2 <= end and len(out) < limit:
        item = tlv(buf, off, end)
        out.append(item)
        off = item[2]
    return out


def decode_oid(raw: bytes) -> str:
    """BER object identifier to dotted text (bounded arcs)."""
    arcs: list[int] = []
    value = 0
    for byte in raw:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            if not arcs:
                first = min(value // 40, 2)
                arcs += [first, value - 40 * first]
            else:
                arcs.append(value)
            value = 0
            if len(arcs) >= MAX_OID_ARCS:
                break
    return ".".join(str(a) for a in arcs)


def _text(raw: bytes) -> str:
    """Octet string as text when printable, else hex."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.hex()
    stripped = text.rstrip("\x00")
    if all(c.isprintable() or c in "\r\n\t" for c in stripped):
        return stripped[:MAX_TEXT]
    return raw[:MAX_TEXT].hex()


def value_of(buf: bytes, tag: int, start: int, end: int) -> object:
    """A varbind value in plain Python form."""
    raw = buf[start:end]
    if tag in (0x02, 0x41, 0x42, 0x43, 0x46):
        return int.from_bytes(raw[:9], "big", signed=(tag == 0x02))
    if tag == 0x04:
        return _text(raw)
    if tag == 0x06:
        return decode_oid(raw)
    if tag == 0x40 and len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    if tag in EXCEPTIONS:
        return EXCEPTIONS[tag]
    if tag == 0x05:
        return None
    return raw[:MAX_TEXT].hex()


def _varbinds(buf: bytes, start: int, end: int) -> list[list]:
    out = []
    for _, vs, ve in children(buf, start, end, MAX_VARBINDS):
        parts = children(buf, vs, ve, 2)
        if parts and parts[0][0] == 0x06:
            oid = decode_oid(buf[parts[0][1] : parts[0][2]])
            out.append([oid, value_of(buf, *parts[1]) if len(parts) == 2 else None])
    return out


def _pdu(buf: bytes, tag: int, start: int, end: int, out: dict) -> None:
    """Fill PDU type, request id, error status and varbinds."""
    out["pdu"] = PDU_TYPES.get(tag, f"0x{tag:02x}")
    items = children(buf, start, end, 6)
    if tag == 0xA4:  # v1 trap: enterprise, agent-addr, generic, specific, time, varbinds
        if len(items) >= 6:
            out["enterprise"] = decode_oid(buf[items[0][1] : items[0][2]])
            out["agent_addr"] = value_of(buf, *items[1])
            out["generic_trap"] = value_of(buf, *items[2])
            out["varbinds"] = _varbinds(buf, items[5][1], items[5][2])
        return
    if len(items) >= 4:
        out["request_id"] = value_of(buf, *items[0])
        out["error_status"] = value_of(buf, *items[1])
        out["varbinds"] = _varbinds(buf, items[3][1], items[3][2])


def _v3(buf: bytes, items: list[tuple[int, int, int]], out: dict) -> None:
    """msgSecurityParameters (USM) and a plaintext scoped PDU, if present."""
    if len(items) < 4:
        return
    flags = children(buf, items[1][1], items[1][2], 4)
    if len(flags) >= 3 and flags[2][2] > flags[2][1]:
        out["encrypted"] = bool(buf[flags[2][1]] & 0x02)
    if items[2][0] == 0x04:
        usm_seq = children(buf, items[2][1], items[2][2], 1)
        if usm_seq and usm_seq[0][0] == 0x30:
            usm = children(buf, usm_seq[0][1], usm_seq[0][2], 6)
            if len(usm) >= 4:
                out["engine_id"] = buf[usm[0][1] : usm[0][2]].hex()
                out["user"] = _text(buf[usm[3][1] : usm[3][2]])
    if items[3][0] == 0x30:
        scoped = children(buf, items[3][1], items[3][2], 3)
        if len(scoped) == 3 and scoped[2][0] in PDU_TYPES:
            _pdu(buf, *scoped[2], out)


def _identity(out: dict) -> None:
    """sysDescr/sysName/sysObjectID in an agent's response describe the sender."""
    if out.get("pdu") not in ("response", "report", "trap2", "trap"):
        return
    values = {oid: value for oid, value in out.get("varbinds", [])}
    identity = {}
    for oid, key in ((SYS_DESCR, "description"), (SYS_NAME, "hostname")):
        if isinstance(values.get(oid), str) and values[oid]:
            identity[key] = values[oid]
    if isinstance(values.get(SYS_OBJECT_ID), str) and values[SYS_OBJECT_ID]:
        identity["sys_object_id"] = values[SYS_OBJECT_ID]
    if identity:
        out["identity"] = identity
        out["subject"] = "src"


def parse(data: bytes) -> dict | None:
    """SNMP message: version, community, PDU type, varbinds; identity from sys* values."""
    try:
        buf = bytes(data)
        tag, start, end = tlv(buf, 0, len(buf))
        if tag != 0x30:
            return None
        items = children(buf, start, end, 4)
        if len(items) < 2 or items[0][0] != 0x02:
            return None
        version = value_of(buf, *items[0])
        if version not in VERSIONS:
            return None
        out: dict = {"version": VERSIONS[version], "service": "snmp"}
        if version == 3:
            _v3(buf, items, out)
        elif len(items) >= 3 and items[1][0] == 0x04:
            out["community"] = _text(buf[items[1][1] : items[1][2]])
            if items[2][0] in PDU_TYPES or 0xA0 <= items[2][0] <= 0xAF:
                _pdu(buf, *items[2], out)
        _identity(out)
        return out
    except BerError:
        return None
    except Exception:  # a parser must never raise on hostile bytes
        return None
