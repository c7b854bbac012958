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


@lru_cache(maxsize=65536)
def parse(ip: str | None) -> Address | None:
    """Text to an address; None for None or garbage (never raises)."""
    if not ip:
        return None
    try:
        return ipaddress.ip_address(ip)
    except ValueError:
        return None


def is_public(ip: str | None) -> bool:
    """A globally routable unicast address (the internet)."""
    a = parse(ip)
    return bool(a is not None and a.is_global and not a.is_multicast)


def is_group(ip: str | None) -> bool:
    """Multicast, limited broadcast or unspecified: never one host's address."""
    a = parse(ip)
    if a is None:
        return False
    if a.is_multicast or a.is_unspecified:
        return True
    # x.x.x.255: the directed broadcast of the /24s that OT subnets mostly are.
    return a.version == 4 and (int(a) & 0xFF) == 0xFF


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
    """Inside the site: in a declared zone, or (no site file) not public."""
    if parse(ip) is None:
        return False
    if site is not None:
        return bool(site.is_inside(ip))
    return not is_public(ip)


def outside(site: Any, ip: str | None) -> bool:
    """A unicast address beyond the site boundary (see `inside`)."""
    if parse(ip) is None or is_group(ip) or is_link_local(ip):
        return False
    return not inside(site, ip)


def zone_of(site: Any, ip: str | None) -> str | None:
    if site is None or parse(ip) is None:
        return None
    return site.zone_of(ip)
