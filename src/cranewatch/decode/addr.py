"""Conversions between the columnar address encodings and text.

Used at the edges only (events, inventory, reports), never per packet in the
hot path.
"""

from __future__ import annotations

import ipaddress

V4_MAPPED = 0x0000FFFF_00000000


def mac_str(mac: int) -> str:
    """48-bit integer to 'aa:bb:cc:dd:ee:ff'."""
    return ":".join(f"{(mac >> s) & 0xFF:02x}" for s in range(40, -8, -8))


def mac_int(text: str) -> int:
    """'aa:bb:cc:dd:ee:ff' (or '-' separated) to a 48-bit integer."""
    return int(text.replace(":", "").replace("-", "").replace(".", ""), 16)


def ip_str(hi: int, lo: int) -> str:
    """The 128-bit (hi, lo) pair to text; IPv4-mapped pairs print as IPv4."""
    hi, lo = int(hi), int(lo)
    if hi == 0 and (lo >> 32) == 0xFFFF:
        return str(ipaddress.IPv4Address(lo & 0xFFFFFFFF))
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def ip_pair(text: str) -> tuple[int, int]:
    """Text address to the (hi, lo) pair used in the columns."""
    addr = ipaddress.ip_address(text)
    if addr.version == 4:
        return 0, V4_MAPPED | int(addr)
    value = int(addr)
    return value >> 64, value & 0xFFFFFFFFFFFFFFFF
