"""EtherNet/IP encapsulation: device identity from ListIdentity and CIP Identity replies.

Two places name an EtherNet/IP device, and both are answers the device sends:
- a ListIdentity reply (command 0x63, udp/tcp 44818) carries the CIP Identity
  attributes plus the device's own socket address, which is the address to
  credit even when the reply crosses a NAT or is relayed;
- a CIP Get_Attributes_All reply (service 0x81) of the Identity object
  (class 1) inside SendRRData/SendUnitData, used by engineering tools.
The reply alone does not name the class it answers, so the Identity layout is
checked field by field (length of the product name must end the data).

UDP 2222 is cyclic I/O with no identity: not selected. All integers are
little-endian except the socket address (network order, as in sockaddr_in).
"""

from __future__ import annotations

import struct

from cranewatch.decode._text import device_text
from cranewatch.decode.select import Selector

SELECT = Selector(l4=None, ports=(44818,), per_flow=32)

_ENCAP = struct.Struct("<HHII8sI")  # command, length, session, status, context, options
_LIST_IDENTITY = 0x0063
_SEND_RR_DATA = 0x006F
_SEND_UNIT_DATA = 0x0070
_ITEM_IDENTITY = 0x000C
_ITEM_UNCONNECTED = 0x00B2
_ITEM_CONNECTED = 0x00B1
_MAX_MESSAGES = 16
_MAX_ITEMS = 16

# CIP device profiles (ODVA CIP Vol. 1, Identity object attribute 2); the ones seen on plant floors.
_DEVICE_TYPES = {
    0x00: "generic device",
    0x02: "ac drive",
    0x07: "discrete i/o",
    0x0C: "communications adapter",
    0x0E: "plc",
    0x13: "dc drive",
    0x16: "motor starter",
    0x18: "hmi",
    0x22: "encoder",
    0x23: "safety discrete i/o",
    0x25: "cip motion drive",
    0x2B: "generic device (keyable)",
    0x2C: "managed switch",
}

_COMMANDS = {
    0x0000: "nop",
    0x0004: "list_services",
    0x0063: "list_identity",
    0x0064: "list_interfaces",
    0x0065: "register_session",
    0x0066: "unregister_session",
    0x006F: "send_rr_data",
    0x0070: "send_unit_data",
}


def _identity_attrs(data: bytes, off: int, end: int) -> dict | None:
    """Identity object attributes 1-7 (vendor .. product name) at `off`, or None.

    Layout: vendor u16, device type u16, product code u16, revision u8.u8,
    status u16, serial u32, product name SHORT_STRING (u8 length + chars).
    """
    if end - off < 15:
        return None
    vendor, dtype, code, major, minor, _status, serial = struct.unpack_from("<HHHBBHI", data, off)
    name_len = data[off + 14]
    name_end = off + 15 + name_len
    if name_end > end or name_len == 0:
        return None
    return {
        "vendor_id": vendor,
        "device_type_id": dtype,
        "device_type": _DEVICE_TYPES.get(dtype, f"cip device type 0x{dtype:02x}"),
        "product_code": code,
        "revision": f"{major}.{minor:02d}",
        "serial": f"0x{serial:08x}",
        "product": device_text(data[name_end - name_len : name_end]),
        "_end": name_end,
    }


def _list_identity(data: bytes, off: int, end: int, out: dict) -> None:
    """CPF items of a ListIdentity reply; keeps the first identity item."""
    if end - off < 2:
        return
    count = struct.unpack_from("<H", data, off)[0]
    off += 2
    for _ in range(min(count, _MAX_ITEMS)):
        if end - off < 4:
            return
        itype, ilen = struct.unpack_from("<HH", data, off)
        body, off = off + 4, off + 4 + ilen
        if itype != _ITEM_IDENTITY or off > end or ilen < 18:
            continue
        # encapsulation version u16, then sockaddr_in (family, port, addr: big-endian)
        port = struct.unpack_from(">H", data, body + 4)[0]
        ip = ".".join(str(b) for b in data[body + 6 : body + 10])
        attrs = _identity_attrs(data, body + 18, off)
        if attrs is None:
            continue
        attrs.pop("_end")
        out["identity"] = attrs
        if ip != "0.0.0.0":
            out["subject_ip"] = ip
        out["socket_port"] = port
        return


def _cip_identity_reply(data: bytes, off: int, end: int) -> dict | None:
    """A Get_Attributes_All success reply whose data is exactly an Identity object."""
    if end - off < 4 or data[off] != 0x81 or data[off + 2] != 0:
        return None
    body = off + 4 + 2 * data[off + 3]
    attrs = _identity_attrs(data, body, end)
    # Identity replies end with the name, or add state/consistency/heartbeat (<= 8 bytes).
    if attrs is None or not 0 <= end - attrs.pop("_end") <= 8:
        return None
    if not attrs["product"].isprintable():
        return None
    return attrs


def _send_data(data: bytes, off: int, end: int, out: dict) -> None:
    """CPF items of SendRRData/SendUnitData; looks for an Identity reply in data items."""
    if end - off < 8:
        return
    count = struct.unpack_from("<H", data, off + 6)[0]
    off += 8
    for _ in range(min(count, _MAX_ITEMS)):
        if end - off < 4:
            return
        itype, ilen = struct.unpack_from("<HH", data, off)
        body, off = off + 4, min(off + 4 + ilen, end)
        if itype == _ITEM_CONNECTED:
            body += 2  # sequence count precedes the CIP message
        elif itype != _ITEM_UNCONNECTED:
            continue
        if body < off:
            out.setdefault("cip_service", data[body])
        attrs = _cip_identity_reply(data, body, off)
        if attrs is not None:
            out["identity"] = attrs
            return


def parse(data: bytes) -> dict | None:
    """Encapsulation messages in one payload (several may share a TCP segment)."""
    try:
        return _parse(bytes(data))
    except (struct.error, IndexError, ValueError):
        return None


def _parse(data: bytes) -> dict | None:
    out: dict = {}
    commands: list[str] = []
    off = 0
    for _ in range(_MAX_MESSAGES):
        if len(data) - off < _ENCAP.size:
            break
        command, length, _session, status, _ctx, _opts = _ENCAP.unpack_from(data, off)
        if command not in _COMMANDS:
            break
        body, end = off + _ENCAP.size, min(off + _ENCAP.size + length, len(data))
        commands.append(_COMMANDS[command])
        if "identity" not in out and status == 0:
            if command == _LIST_IDENTITY:
                _list_identity(data, body, end, out)
            elif command in (_SEND_RR_DATA, _SEND_UNIT_DATA):
                _send_data(data, body, end, out)
        off = body + length
    if not commands:
        return None
    out["command"] = commands[0]
    if len(commands) > 1:
        out["commands"] = commands
    return out
