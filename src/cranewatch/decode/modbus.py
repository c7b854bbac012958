"""Modbus/TCP (tcp 502): MBAP header, function code, and Read Device Identification.

Cyclic polling is the bulk of OT traffic, so the common path reads 8 bytes
and returns. Whether a packet is a request or a response cannot be told
from the bytes alone (same header both ways); the caller knows the server
port, and pairs by `transaction_id`. The one exception is FC 43/14 (Read
Device Identification), whose response layout is distinct from its
5-byte request: that response names the server (the packet's source).
"""

from __future__ import annotations

from cranewatch.decode.select import Selector

SELECT = Selector(l4="tcp", ports=(502,), per_flow=32, always=((7, 0x2B),))

_FC_MEI = 0x2B
_MEI_DEVICE_ID = 0x0E
_MAX_OBJECTS = 32
# Read Device Identification object ids (Modbus Application Protocol v1.1b3, 6.21).
_OBJECTS = {
    0: "vendor_name",
    1: "product_code",
    2: "revision",
    3: "vendor_url",
    4: "product_name",
    5: "model_name",
    6: "user_application_name",
}
# object name -> shared identity key
_IDENTITY_KEYS = {
    "vendor_name": "vendor",
    "product_code": "product_code",
    "revision": "revision",
    "product_name": "product",
    "model_name": "model",
}


def parse(data: bytes) -> dict | None:
    """MBAP + function code; device identification objects on FC 43/14 responses."""
    if len(data) < 8 or data[2] or data[3]:  # protocol id must be 0
        return None
    length = (data[4] << 8) | data[5]
    if not 2 <= length <= 254:
        return None
    fc = data[7]
    out: dict = {
        "transaction_id": (data[0] << 8) | data[1],
        "unit_id": data[6],
        "function": fc & 0x7F,
        "exception": bool(fc & 0x80),
    }
    if out["exception"] and len(data) >= 9:
        out["exception_code"] = data[8]
    elif fc == _FC_MEI and len(data) >= 9 and data[8] == _MEI_DEVICE_ID and length > 5:
        _device_id(bytes(data[: 6 + length]), out)
    return out


def _device_id(adu: bytes, out: dict) -> None:
    """FC 43/14 response: code, conformity, more-follows, next id, count, then objects."""
    if len(adu) < 14:
        return
    count = adu[13]
    off, objects = 14, {}
    for _ in range(min(count, _MAX_OBJECTS)):
        if off + 2 > len(adu):
            break
        obj_id, obj_len = adu[off], adu[off + 1]
        value = adu[off + 2 : off + 2 + obj_len]
        if len(value) < obj_len:
            break
        name = _OBJECTS.get(obj_id, f"object_{obj_id:#04x}")
        objects[name] = value.decode("utf-8", errors="replace").strip("\x00 ")
        off += 2 + obj_len
    if not objects:
        return
    out["device_id"] = objects
    out["conformity"] = adu[10]
    identity = {_IDENTITY_KEYS[k]: v for k, v in objects.items() if k in _IDENTITY_KEYS and v}
    if identity:
        out["identity"] = identity
