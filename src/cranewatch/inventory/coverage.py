"""Where the site file and the wire part: hosts that no zone holds, devices not seen.

With a site file, "inside the site" means inside a declared zone. A host with
a local address that no zone covers is then outside, like the internet: a
session between it and the internet is between two outsiders and is judged
by nothing. That is most often a zone missing from the site file, and the
user must hear of it, or a finding vanishes without a word. Without a site
file, inside means private address space; a plant numbered in public space
(some are) is then all "internet", and the same silence follows.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from cranewatch.inventory.model import Asset, ip_key

SHOWN = 3
PUBLIC_PLANT_MIN = 3  # public hosts on the segment before a run without a site file is warned
# Where site networks live: RFC 1918 and RFC 4193 (unique local IPv6).
SITE_SPACE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def unzoned_local_ips(site: Any, assets: Iterable[Asset]) -> list[str]:
    """Local addresses (RFC 1918, ULA) of hosts on the segment that no zone holds."""
    out = {ip for ip in segment_ips(assets) if _local(ip) and not site.is_inside(ip)}
    return sorted(out, key=ip_key)


def segment_ips(assets: Iterable[Asset]) -> list[str]:
    """Addresses of hosts on the captured segment (a MAC of their own), not behind a router."""
    return [ip for a in assets if a.mac is not None and not a.behind_router for ip in a.ips]


def _local(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    return any(addr.version == n.version and addr in n for n in SITE_SPACE)


def _listed(ips: list[str]) -> str:
    """'a, b, c and 4 more; 10.1.2.0/24, ...': the first addresses and their networks."""
    nets = sorted(
        {ipaddress.ip_network(f"{ip}/{24 if ':' not in ip else 64}", strict=False) for ip in ips},
        key=lambda n: (n.version, n.network_address),
    )
    shown = ", ".join(ips[:SHOWN]) + (f" and {len(ips) - SHOWN} more" if len(ips) > SHOWN else "")
    return f"{shown}; {', '.join(map(str, nets[:SHOWN]))}"


def coverage_warnings(site: Any, assets: Iterable[Asset]) -> list[str]:
    """A warning when part of the captured segment is judged by nothing; none when all is."""
    assets = list(assets)
    if site is None:
        return _public_plant(assets)
    ips = unzoned_local_ips(site, assets)
    if not ips:
        return []
    hosts = f"{len(ips)} host{'s' if len(ips) > 1 else ''}"
    return [
        f"site file: {hosts} with a local address {'are' if len(ips) > 1 else 'is'} in no zone"
        f" ({_listed(ips)}): their traffic counts as outside the"
        " site, and their sessions with the internet are not judged; declare a zone for them"
    ]


def _public_plant(assets: list[Asset]) -> list[str]:
    """Without a site file: most hosts of the segment on public addresses, so all is 'internet'."""
    on_segment = sorted(set(segment_ips(assets)), key=ip_key)
    public = [ip for ip in on_segment if not _local(ip) and ipaddress.ip_address(ip).is_global]
    if len(public) < PUBLIC_PLANT_MIN or 2 * len(public) < len(on_segment):
        return []
    return [
        f"no site file: {len(public)} of the {len(on_segment)} addresses on the captured segment"
        f" are public ({_listed(public)}): without zones they count as the internet, so the"
        " remote-access, beaconing and data-leak checks judge nothing between them; give"
        " --site with their networks as zones"
    ]


def declared_not_seen(site: Any, assets: Iterable[Asset]) -> list[dict[str, str | None]]:
    """The site file's assets that no host on the wire matched: {id, zone, mac, ip, role}.

    A count alone does not say which device to go and look for. Ordered as the
    inventory numbers assets: by zone (none last), then IP by value, then MAC.
    """
    if site is None:
        return []
    assets = list(assets)
    present = {a.declared_id for a in assets if a.declared_id}
    macs = {a.mac.lower() for a in assets if a.mac}
    ips = {ip for a in assets for ip in a.ips}
    # a host holding two declared addresses matches one declaration, but both were seen
    missing = [
        d
        for d in site.assets
        if d.id not in present and (d.mac or "").lower() not in macs and d.ip not in ips
    ]
    missing.sort(key=lambda d: (d.zone is None, d.zone or "", ip_key(d.ip), d.mac or "", d.id))
    return [{"id": d.id, "zone": d.zone, "mac": d.mac, "ip": d.ip, "role": d.role} for d in missing]
