"""Cisco Discovery Protocol: Cisco (and some other) devices naming themselves.

CDP frames are 802.3 with LLC/SNAP (AA AA 03, OUI 00-00-0C, PID 0x2000) sent
to 01:00:0C:CC:CC:CC. `data` starts at the LLC header; over Cisco HDLC or
other links that carry CDP directly, `data` may start at the CDP header
itself (version 1 or 2). The TLVs give device id, platform (model), software
version, addresses and port.
"""

from __future__ import annotations

import ipaddress

from cranewatch.decode.select import Selector

SELECT = Selector(dst_macs=(0x01000CCCCCCC,), ethertypes=(0x2000,), per_flow=4)

SNAP = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00"
MAX_TLVS = 64
MAX_ADDRESSES = 16
MAX_TEXT = 1024
CAPABILITIES = (
    "router",
    "transparent-bridge",
    "source-route-bridge",
    "switch",
    "host",
    "igmp",
    "repeater",
    "phone",
    "remote",
    "cvta",
    "two-port-mac-relay",
)
TEXT_TLVS = {1: "device_id", 3: "port_id", 5: "software_version", 6: "platform", 9: "vtp_domain"}


def _addresses(value: bytes) -> list[str]:
    """Address TLV (0x02 / 0x16): count, then (ptype, plen, proto, alen, addr) entries."""
    out: list[str] = []
    if len(value) < 4:
        return out
    count = min(int.from_bytes(value[:4], "big"), MAX_ADDRESSES)
    off = 4
    for _ in range(count):
        if off + 2 > len(value):
            break
        plen = value[off + 1]
        proto = value[off + 2 : off + 2 + plen]
        off += 2 + plen
        alen = int.from_bytes(value[off : off + 2], "big")
        addr = value[off + 2 : off + 2 + alen]
        off += 2 + alen
        if proto == b"\xcc" and len(addr) == 4:
            out.append(str(ipaddress.IPv4Address(addr)))
        elif proto.endswith(b"\x86\xdd") and len(addr) == 16:
            out.append(str(ipaddress.IPv6Address(addr)))
    return out


def _tlv(tlv_type: int, value: bytes, out: dict) -> None:
    if tlv_type in TEXT_TLVS:
        out[TEXT_TLVS[tlv_type]] = value[:MAX_TEXT].decode("utf-8", "replace").strip("\x00 ")
    elif tlv_type == 2:
        out["addresses"] = _addresses(value)
    elif tlv_type == 0x16:
        out["management_addresses"] = _addresses(value)
    elif tlv_type == 4 and len(value) >= 4:
        bits = int.from_bytes(value[:4], "big")
        out["capabilities"] = [n for i, n in enumerate(CAPABILITIES) if bits >> i & 1]
    elif tlv_type == 0x0A and len(value) >= 2:
        out["native_vlan"] = int.from_bytes(value[:2], "big")


def _identity(out: dict) -> None:
    identity = {}
    for src, key in (("device_id", "hostname"), ("platform", "model")):
        if out.get(src):
            identity[key] = out[src]
    version = out.get("software_version", "")
    first = next((line.strip() for line in version.splitlines() if line.strip()), "")
    if first:
        identity["firmware"] = first
    if identity:
        out["identity"] = identity
        out["subject"] = "src"
    usable = [
        a
        for key in ("management_addresses", "addresses")
        for a in out.get(key, [])
        if a not in ("0.0.0.0", "::")
    ]
    if usable:
        out["subject_ip"] = usable[0]


def parse(data: bytes) -> dict | None:
    """CDP fields from LLC/SNAP onwards (or from the CDP header)."""
    try:
        data = bytes(data)
        if data.startswith(SNAP):
            data = data[len(SNAP) :]
        elif data[:3] == b"\xaa\xaa\x03":
            return None
        if len(data) < 4 or data[0] not in (1, 2):
            return None
        out: dict = {"cdp_version": data[0], "ttl": data[1], "service": "cdp"}
        off = 4
        for _ in range(MAX_TLVS):
            if off + 4 > len(data):
                break
            tlv_type = int.from_bytes(data[off : off + 2], "big")
            length = int.from_bytes(data[off + 2 : off + 4], "big")
            if length < 4:
                break
            _tlv(tlv_type, data[off + 4 : off + length], out)
            off += length
        if "device_id" not in out and "platform" not in out:
            return None
        _identity(out)
        return out
    except Exception:  # a parser must never raise on hostile bytes
        return None
