"""PROFINET DCP (EtherType 0x8892, frame ids 0xFEFC-0xFEFF): station names and ids.

DCP is how PROFINET controllers and engineering tools find and name IO
devices. Which station a packet describes depends on the service:
- Identify response (0xFEFF), Hello (0xFEFC), Get response: the sender's own
  blocks, so the identity describes the packet source;
- Set request (0xFEFD, service 4): the tool writes a name/IP into the
  receiver, so the identity describes the destination;
- Identify request (0xFEFE): at most a NameOfStation filter, the name being
  looked for. A controller searches for its devices, and a device also
  searches for its own name at start-up (duplicate check), so the name is
  reported as `queried_name`, and kept on the asker only as a list of
  `dcp_queried_names` (what it looked for), never as its station name.
Names are kept byte-faithful (decoded with errors='replace'): a hostile
'%n%n%n' NameOfStation is data, not a format string.
"""

from __future__ import annotations

import struct

from cranewatch.decode.select import Selector

SELECT = Selector(
    ethertypes=(0x8892,),
    l2_prefixes=(b"\xfe\xfc", b"\xfe\xfd", b"\xfe\xfe", b"\xfe\xff"),
    per_flow=0,
)

_HELLO, _GET_SET, _IDENT_REQ, _IDENT_RSP = 0xFEFC, 0xFEFD, 0xFEFE, 0xFEFF
_SERVICES = {3: "get", 4: "set", 5: "identify", 6: "hello"}
_MAX_BLOCKS = 32
_ROLES = (
    (0x01, "io-device"),
    (0x02, "io-controller"),
    (0x04, "io-multidevice"),
    (0x08, "supervisor"),
)


def _text(raw: bytes) -> str:
    return raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace").rstrip()


def _ip(raw: bytes) -> str:
    return ".".join(str(b) for b in raw)


def parse(data: bytes) -> dict | None:
    """DCP header and blocks after the EtherType; None for cyclic RT frames."""
    try:
        return _parse(bytes(data))
    except (struct.error, IndexError, ValueError):
        return None


def _parse(data: bytes) -> dict | None:
    if len(data) < 12:
        return None
    frame_id, service, stype, xid, _delay, dlen = struct.unpack_from(">HBBIHH", data)
    if not _HELLO <= frame_id <= _IDENT_RSP:
        return None
    is_response = bool(stype & 0x01)
    out: dict = {
        "dcp_service": _SERVICES.get(service, str(service)),
        "response": is_response,
        "xid": xid,
    }
    # Requests other than Set/Hello carry block values without the 2-byte BlockInfo.
    has_info = is_response or service in (4, 6)
    blocks = _blocks(data, 12, min(12 + dlen, len(data)), has_info)
    if frame_id == _IDENT_REQ or (service in (3, 5) and not is_response):
        if "station_name" in blocks:
            out["queried_name"] = blocks["station_name"]
            out["identity"] = {"dcp_queried_names": [blocks["station_name"]]}
        return out
    if service == 4 and is_response:
        return out
    identity = {k: blocks[k] for k in _IDENTITY_KEYS if k in blocks}
    if identity:
        out["identity"] = identity
    for key in ("ip", "netmask", "gateway", "mac", "role", "ip_block_info"):
        if key in blocks:
            out[key] = blocks[key]
    if service == 4:
        out["subject"] = "dst"
    elif blocks.get("ip", "0.0.0.0") != "0.0.0.0":
        out["subject_ip"] = blocks["ip"]
    return out


_IDENTITY_KEYS = ("station_name", "product", "vendor_id", "device_id", "alias_name", "device_role")


def _blocks(data: bytes, off: int, end: int, has_info: bool) -> dict:
    """Option/suboption blocks (padded to even length) into named values."""
    found: dict = {}
    skip = 2 if has_info else 0
    for _ in range(_MAX_BLOCKS):
        if end - off < 4:
            break
        opt, sub, blen = data[off], data[off + 1], struct.unpack_from(">H", data, off + 2)[0]
        value = data[off + 4 + skip : min(off + 4 + blen, end)]
        if blen >= skip:
            _block(opt, sub, value, data[off + 4 : off + 6] if skip else b"", found)
        off += 4 + blen + (blen & 1)
    return found


def _block(opt: int, sub: int, value: bytes, info: bytes, found: dict) -> None:
    if opt == 1 and sub == 2 and len(value) >= 12:
        found["ip"], found["netmask"], found["gateway"] = (
            _ip(value[0:4]),
            _ip(value[4:8]),
            _ip(value[8:12]),
        )
        if len(info) == 2:
            found["ip_block_info"] = {0: "static", 1: "static", 2: "dhcp"}.get(
                info[1] & 0x03, "unknown"
            )
    elif opt == 1 and sub == 1 and len(value) >= 6:
        found["mac"] = ":".join(f"{b:02x}" for b in value[:6])
    elif opt == 2 and sub == 1 and value:
        found["product"] = _text(value)
    elif opt == 2 and sub == 2 and value:
        found["station_name"] = _text(value)
    elif opt == 2 and sub == 3 and len(value) >= 4:
        found["vendor_id"], found["device_id"] = struct.unpack_from(">HH", value)
    elif opt == 2 and sub == 4 and value:
        roles = [name for bit, name in _ROLES if value[0] & bit]
        found["device_role"] = found["role"] = "+".join(roles) or f"0x{value[0]:02x}"
    elif opt == 2 and sub == 6 and value:
        found["alias_name"] = _text(value)
