"""LLDP (IEEE 802.1AB): switches and hosts describing themselves to neighbours.

An LLDPDU names its chassis (usually a MAC), port, system name and
description (typically product and firmware), capabilities and management
address. LLDP-MED inventory TLVs add model, serial, firmware and vendor.
`data` is the bytes after the EtherType 0x88CC.
"""

from __future__ import annotations

import ipaddress

from cranewatch.decode.select import Selector

SELECT = Selector(ethertypes=(0x88CC,), per_flow=4)

MAX_TLVS = 64
MAX_TEXT = 512
CAPABILITIES = (
    "other",
    "repeater",
    "bridge",
    "wlan-ap",
    "router",
    "telephone",
    "docsis",
    "station",
    "c-vlan",
    "s-vlan",
    "tpmr",
)
# LLDP-MED inventory subtypes (ANSI/TIA-1057, OUI 00-12-BB) -> identity keys
MED_OUI = b"\x00\x12\xbb"
MED_INVENTORY = {
    5: "hardware",
    6: "firmware",
    7: "software",
    8: "serial",
    9: "vendor",
    10: "model",
    11: "asset_id",
}


def _mac(raw: bytes) -> str:
    return ":".join(f"{b:02x}" for b in raw)


def _text(raw: bytes) -> str:
    return raw[:MAX_TEXT].decode("utf-8", "replace").strip().rstrip("\x00")


def _address(family: int, raw: bytes) -> str | None:
    """IANA address family 1 (IPv4) / 2 (IPv6) / 6 (802 MAC) to text."""
    if family == 1 and len(raw) == 4:
        return str(ipaddress.IPv4Address(raw))
    if family == 2 and len(raw) == 16:
        return str(ipaddress.IPv6Address(raw))
    if family == 6 and len(raw) == 6:
        return _mac(raw)
    return None


def _id_tlv(value: bytes, mac_subtype: int, addr_subtype: int) -> tuple[int, str]:
    """Chassis/port id: (subtype, text) with MACs and addresses rendered."""
    subtype, raw = (value[0], value[1:]) if value else (0, b"")
    if subtype == mac_subtype and len(raw) == 6:
        return subtype, _mac(raw)
    if subtype == addr_subtype and raw:
        return subtype, _address(raw[0], raw[1:]) or raw.hex()
    text = raw.decode("utf-8", "replace")
    return subtype, text if text.isprintable() else raw.hex()


def _caps(raw: bytes) -> list[str]:
    bits = int.from_bytes(raw, "big")
    return [name for i, name in enumerate(CAPABILITIES) if bits >> i & 1]


def _tlv(tlv_type: int, value: bytes, out: dict) -> None:
    """Fold one TLV into the result."""
    if tlv_type == 1:
        out["chassis_subtype"], out["chassis_id"] = _id_tlv(value, 4, 5)
    elif tlv_type == 2:
        out["port_subtype"], out["port_id"] = _id_tlv(value, 3, 4)
    elif tlv_type == 3 and len(value) >= 2:
        out["ttl"] = int.from_bytes(value[:2], "big")
    elif tlv_type in (4, 5, 6):
        key = {4: "port_description", 5: "system_name", 6: "system_description"}[tlv_type]
        out[key] = _text(value)
    elif tlv_type == 7 and len(value) >= 4:
        out["capabilities"] = _caps(value[:2])
        out["capabilities_enabled"] = _caps(value[2:4])
    elif tlv_type == 8 and len(value) >= 2:
        alen = value[0]
        addr = _address(value[1], value[2 : 1 + alen]) if alen >= 1 else None
        if addr is not None:
            out.setdefault("management_addresses", []).append(addr)
    elif tlv_type == 127 and len(value) >= 4 and value[:3] == MED_OUI:
        key = MED_INVENTORY.get(value[3])
        if key:
            out.setdefault("inventory", {})[key] = _text(value[4:])


def _identity(out: dict) -> None:
    identity = {}
    if out.get("system_name"):
        identity["hostname"] = out["system_name"]
    if out.get("system_description"):
        identity["description"] = out["system_description"]
    for key in ("model", "serial", "vendor", "firmware", "software"):
        if out.get("inventory", {}).get(key):
            identity[key] = out["inventory"][key]
    if identity:
        out["identity"] = identity
    if out.get("chassis_subtype") == 4:
        out["subject_mac"] = out["chassis_id"]
    ips = [a for a in out.get("management_addresses", []) if "." in a or a.count(":") > 5]
    usable = [a for a in ips if a not in ("0.0.0.0", "::")]
    if usable:
        out["subject_ip"] = usable[0]


def parse(data: bytes) -> dict | None:
    """LLDPDU fields; None unless it starts with a chassis-id TLV."""
    try:
        data = bytes(data)
        out: dict = {"service": "lldp"}
        off = 0
        for _ in range(MAX_TLVS):
            if off + 2 > len(data):
                break
            head = int.from_bytes(data[off : off + 2], "big")
            tlv_type, length = head >> 9, head & 0x1FF
            if tlv_type == 0:
                break
            value = data[off + 2 : off + 2 + length]
            if off == 0 and tlv_type != 1:
                return None
            _tlv(tlv_type, value, out)
            off += 2 + length
        if "chassis_id" not in out:
            return None
        _identity(out)
        return out
    except Exception:  # a parser must never raise on hostile bytes
        return None
