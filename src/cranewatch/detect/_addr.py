"""Address facts shared by the detectors: public or not, inside the site or not.

"Inside" has one meaning everywhere: with a site file, an address in one of the
declared zones; without one, any address that is not public (RFC 1918, ULA,
CGNAT, link-local ...). Keeping it here means every detector draws the site
boundary at the same place.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Any

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# Documentation ranges (RFC 5737, RFC 3849) never route on a real network; when
# they appear in a capture they stand in for internet addresses (lab setups,
# simulators, vendor examples), so they count as public here.
DOCUMENTATION = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


# Why the caches: detectors ask about the same few hundred addresses for every
# flow (hundreds of thousands of calls on a large capture), and `ipaddress`
# objects and their range tests cost microseconds each. Keyed on the text.


@lru_cache(maxsize=65536)
def parse(ip: str | None) -> Address | None:
    """Text to an address; None for None or garbage (never raises)."""
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


@lru_cache(maxsize=65536)
def is_public(ip: str | None) -> bool:
    """A globally routable unicast address (the internet), documentation ranges included."""
    a = parse(ip)
    if a is None or a.is_multicast:
        return False
    return a.is_global or any(a.version == n.version and a in n for n in DOCUMENTATION)


# Address space of local networks: RFC 1918, RFC 6598 (CGNAT), link-local, RFC 4193 ULA.
LOCAL = tuple(
    ipaddress.ip_network(n)
    for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "169.254.0.0/16",
              "fc00::/7", "fe80::/10")
)  # fmt: skip


@lru_cache(maxsize=65536)
def is_local_space(ip: str | None) -> bool:
    """An address of a local network (private, CGNAT, link-local, ULA)."""
    a = parse(ip)
    return a is not None and any(a.version == n.version and a in n for n in LOCAL)


@lru_cache(maxsize=65536)
def is_group(ip: str | None) -> bool:
    """Multicast, limited broadcast or unspecified: never one host's address."""
    a = parse(ip)
    if a is None:
        return False
    if a.is_multicast or a.is_unspecified:
        return True
    # x.x.x.255: the directed broadcast of the /24s that OT subnets mostly are.
    return a.version == 4 and (int(a) & 0xFF) == 0xFF


@lru_cache(maxsize=65536)
def is_link_local(ip: str | None) -> bool:
    a = parse(ip)
    return bool(a is not None and a.is_link_local)


def is_group_mac(mac: str | None) -> bool:
    """Broadcast or multicast MAC (I/G bit set)."""
    if not mac:
        return False
    try:
        return bool(int(mac.replace(":", "").replace("-", "")[:2], 16) & 0x01)
    except ValueError:
        return False


def is_local_mac(mac: str | None) -> bool:
    """Locally administered MAC (U/L bit set): randomised or set by software."""
    if not mac:
        return False
    try:
        return bool(int(mac.replace(":", "").replace("-", "")[:2], 16) & 0x02)
    except ValueError:
        return False


def inside(site: Any, ip: str | None) -> bool:
    """Inside the site: in a declared zone, or (no site file) in local address space."""
    if parse(ip) is None:
        return False
    if site is not None:
        return bool(site.is_inside(ip))
    return is_local_space(ip)


def outside(site: Any, ip: str | None) -> bool:
    """A unicast address beyond the site boundary: outside the zones, or (no site file) public.

    Reserved and bogon space (240/4, loopback ...) is neither inside nor outside.
    """
    if parse(ip) is None or is_group(ip) or is_link_local(ip):
        return False
    if site is not None:
        return not site.is_inside(ip)
    return is_public(ip)


@lru_cache(maxsize=65536)
def subnet(ip: str | None) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    """The subnet an address most likely sits on without a site file: its /24 or /64."""
    a = parse(ip)
    if a is None:
        return None
    return ipaddress.ip_network(f"{a}/{24 if a.version == 4 else 64}", strict=False)


def zone_of(site: Any, ip: str | None) -> str | None:
    if site is None or parse(ip) is None:
        return None
    return site.zone_of(ip)
