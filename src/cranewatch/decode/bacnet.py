"""BACnet/IP (udp 47808): BVLC + NPDU + APDU, identity from I-Am.

Terminal buildings, reefer racks and substations speak BACnet. Every
device answers Who-Is with an I-Am carrying its device instance (unique on
the BACnet internetwork) and its vendor id, so I-Am names the sender.
Two cases move the subject elsewhere:
- a BVLC Forwarded-NPDU carries the original sender's B/IP address
  (reported as `subject_ip`);
- an NPDU with a source network (SNET) comes from a device behind a BACnet
  router: the IP sender is the router, so no identity is claimed for it, only
  `device_instance`/`vendor_id` with `source_network`, and the router's
  identity lists it under `bacnet_routed_devices`.
The same NPDU over 802.3 LLC (SAP 0x82) is parsed if handed over (data
starting 82 82 03), but the selector here is udp only.
"""

from __future__ import annotations

import struct

from cranewatch.decode.select import Selector

SELECT = Selector(l4="udp", ports=(47808,), per_flow=64)

_BVLC_FUNCTIONS = {0x04: 10, 0x09: 4, 0x0A: 4, 0x0B: 4}  # function -> NPDU offset
_PDU_TYPES = {
    0: "confirmed_request",
    1: "unconfirmed_request",
    2: "simple_ack",
    3: "complex_ack",
    4: "segment_ack",
    5: "error",
    6: "reject",
    7: "abort",
}
_UNCONFIRMED = {0: "i_am", 1: "i_have", 7: "who_has", 8: "who_is"}
_OBJECT_DEVICE = 8


def parse(data: bytes) -> dict | None:
    """BVLC header and, when present, the I-Am of the APDU."""
    try:
        return _parse(bytes(data))
    except (struct.error, IndexError, ValueError):
        return None


def _parse(data: bytes) -> dict | None:
    out: dict = {}
    if data[:3] == b"\x82\x82\x03":  # 802.3 LLC
        npdu = 3
    elif len(data) >= 4 and data[0] == 0x81:
        func = data[1]
        out["bvlc_function"] = func
        npdu = _BVLC_FUNCTIONS.get(func, 0)
        if func == 0x04 and len(data) >= 10:
            out["subject_ip"] = ".".join(str(b) for b in data[4:8])
        if not npdu:
            return out
    else:
        return None
    apdu = _npdu(data, npdu, out)
    if apdu is not None and apdu < len(data):
        _apdu(data, apdu, out)
    return out


def _npdu(data: bytes, off: int, out: dict) -> int | None:
    """Offset of the APDU after the NPDU header, or None for network-layer messages."""
    if len(data) < off + 2 or data[off] != 0x01:
        return None
    control = data[off + 1]
    off += 2
    if control & 0x20:  # destination specifier
        dlen = data[off + 2]
        off += 3 + dlen
    if control & 0x08:  # source specifier: the sender sits behind a router
        snet, slen = struct.unpack_from(">HB", data, off)
        out["source_network"] = snet
        out["source_address"] = data[off + 3 : off + 3 + slen].hex()
        off += 3 + slen
    if control & 0x20:
        off += 1  # hop count
    if control & 0x80:
        out["network_message"] = data[off] if off < len(data) else None
        return None
    return off


def _apdu(data: bytes, off: int, out: dict) -> None:
    pdu_type = data[off] >> 4
    out["pdu_type"] = _PDU_TYPES.get(pdu_type, str(pdu_type))
    if pdu_type != 1 or off + 1 >= len(data):
        return
    service = data[off + 1]
    out["service_choice"] = _UNCONFIRMED.get(service, str(service))
    if service == 0:
        _i_am(data, off + 2, out)


def _i_am(data: bytes, off: int, out: dict) -> None:
    """I-Am: object id (app tag 12), max APDU (unsigned), segmentation (enum), vendor id."""
    if len(data) < off + 5 or data[off] != 0xC4:
        return
    obj = struct.unpack_from(">I", data, off + 1)[0]
    if obj >> 22 != _OBJECT_DEVICE:
        return
    fields = {"device_instance": obj & 0x3FFFFF}
    off += 5
    values = []
    for _ in range(3):  # max APDU, segmentation, vendor id: each a short application tag
        if off >= len(data):
            break
        size = data[off] & 0x07
        if size > 4 or off + 1 + size > len(data):
            break
        values.append(int.from_bytes(data[off + 1 : off + 1 + size], "big"))
        off += 1 + size
    if len(values) == 3:
        fields["max_apdu"], fields["vendor_id"] = values[0], values[2]
    out.update(fields)
    if "source_network" not in out:
        out["identity"] = {k: fields[k] for k in ("device_instance", "vendor_id") if k in fields}
    elif "device_instance" in fields:
        # a routed I-Am: the IP sender is the BACnet router; record what sits behind it
        out["identity"] = {"bacnet_routed_devices": [fields["device_instance"]]}
