"""Where the site file and the wire part: hosts that no zone holds, devices not seen.

With a site file, "inside the site" means inside a declared zone. A host with
a local address that no zone covers is then outside, like the internet: a
session between it and the internet is between two outsiders and is judged
by nothing. That is most often a zone missing from the site file, and the
user must hear of it, or a finding vanishes without a word.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Any

from cranewatch.inventory.model import Asset, ip_key

SHOWN = 3
# Where site networks live: RFC 1918 and RFC 4193 (unique local IPv6).
SITE_SPACE = tuple(
    ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7")
)


def unzoned_local_ips(site: Any, assets: Iterable[Asset]) -> list[str]:
    """Local addresses (RFC 1918, ULA) of hosts on the segment that no zone holds."""
    out = []
    for asset in assets:
        if asset.behind_router or asset.mac is None:
            continue
        for ip in asset.ips:
            addr = ipaddress.ip_address(ip)
            local = any(addr.version == n.version and addr in n for n in SITE_SPACE)
            if local and not site.is_inside(ip):
                out.append(ip)
    return sorted(set(out), key=ipaddress.ip_address)


def coverage_warnings(site: Any, assets: Iterable[Asset]) -> list[str]:
    """One warning naming the unzoned local hosts and their networks; none when all are zoned."""
    if site is None:
        return []
    ips = unzoned_local_ips(site, assets)
    if not ips:
        return []
    nets = sorted(
        {ipaddress.ip_network(f"{ip}/{24 if ':' not in ip else 64}", strict=False) for ip in ips},
        key=lambda n: (n.version, n.network_address),
    )
    shown = ", ".join(ips[:SHOWN]) + (f" and {len(ips) - SHOWN} more" if len(ips) > SHOWN else "")
    hosts = f"{len(ips)} host{'s' if len(ips) > 1 else ''}"
    return [
        f"site file: {hosts} with a local address {'are' if len(ips) > 1 else 'is'} in no zone"
        f" ({shown}; {', '.join(map(str, nets[:SHOWN]))}): their traffic counts as outside the"
        " site, and their sessions with the internet are not judged; declare a zone for them"
    ]


def declared_not_seen(site: Any, assets: Iterable[Asset]) -> list[dict[str, str | None]]:
    """The site file's assets that no host on the wire matched: {id, zone, mac, ip, role}.

    A count alone does not say which device to go and look for. Ordered as the
    inventory numbers assets: by zone (none last), then IP by value, then MAC.
    """
    if site is None:
        return []
    present = {a.declared_id for a in assets if a.declared_id}
    missing = [d for d in site.assets if d.id not in present]
    missing.sort(key=lambda d: (d.zone is None, d.zone or "", ip_key(d.ip), d.mac or "", d.id))
    return [{"id": d.id, "zone": d.zone, "mac": d.mac, "ip": d.ip, "role": d.role} for d in missing]
