"""undeclared-device: a host on the wire that the site file does not list.

Only with a site file. Every asset with a unicast MAC, or an IP-only asset
whose address lies inside a declared zone, that the site's asset list does not
match (by MAC or by any of its IPs) is reported with what the inventory knows
about it, so that a person can tell what it is. Zone gateways are declared by
their zone and are not reported; nor are far addresses seen only behind a
router.
"""

from __future__ import annotations

from typing import Any

from cranewatch.detect import _addr
from cranewatch.detect._common import declared, finding, gateway_ips
from cranewatch.detect._hosts import Hosts, hosts_of
from cranewatch.detect.context import DetectContext
from cranewatch.detect.model import Evidence, Finding
from cranewatch.inventory.model import identity_pairs

KIND = "undeclared-device"
IDENTITY_SHOWN = 6


def _relevant(site: Any, a: Any, ips: list[str], gws: set[str], hosts: Hosts) -> bool:
    if a.declared_id:
        return False
    if a.mac and _addr.is_group_mac(a.mac):
        return False
    ip_only = a.behind_router or not a.mac
    if ip_only and not any(site.is_inside(ip) for ip in ips):
        return False  # a far address seen through a router
    if ip_only and any(hosts.mac_of_ip.get(ip) for ip in ips):
        return False  # in fact a MAC asset's own address: that asset is judged instead
    if gws & set(ips):
        return False
    return declared(site, a.mac, ips) is None


def _evidence(a: Any, ips: list[str]) -> list[Evidence]:
    ts = a.first_seen if a.first_seen is not None else 0.0
    facts = []
    if a.vendor:
        facts.append(f"vendor {a.vendor}")
    if ips:
        facts.append(f"IPs {', '.join(ips[:4])}")
    if a.hostnames:
        facts.append(f"hostnames {', '.join(a.hostnames[:3])}")
    out = [Evidence(ts, f"not in the site file; first seen here: {'; '.join(facts) or 'MAC only'}")]
    ident = identity_pairs(a.identity)[:IDENTITY_SHOWN]
    if ident:
        out.append(Evidence(ts, "identity: " + ", ".join(ident)))
    if a.protocols:
        out.append(Evidence(ts, "protocols: " + ", ".join(a.protocols[:8])))
    if a.last_seen is not None:
        packets = f"{a.packets} packet{'' if a.packets == 1 else 's'}"
        out.append(Evidence(a.last_seen, f"last seen; {packets}, {a.bytes} bytes"))
    return out


def detect(ctx: DetectContext) -> list[Finding]:
    site = ctx.site
    if site is None:
        return []
    gws = gateway_ips(site)
    hosts = hosts_of(ctx)
    out = []
    for a in ctx.assets:
        ips = [ip for ip in a.ips if not _addr.is_group(ip)]
        if a.mac and not a.behind_router:
            ips = [ip for ip in hosts.ips_of(a.mac) if not _addr.is_group(ip)]
        if not _relevant(site, a, ips, gws, hosts):
            continue
        zone = a.zone or next((site.zone_of(ip) for ip in ips if site.zone_of(ip)), None)
        severity = "high" if zone else "medium"
        confidence = 0.9 if ips else 0.7
        name = (
            a.hostnames[0]
            if a.hostnames
            else (a.identity or {}).get("product") or a.vendor or "unknown device"
        )
        where = f" in zone {zone}" if zone else ""
        ip = hosts.best_ip(a.mac) if a.mac and not a.behind_router else (ips or [None])[0]
        addr = f"{a.mac} ({ip})" if a.mac and ip else (a.mac or ip)
        title = f"Undeclared device {addr}: {name}{where}"
        out.append(
            finding(
                ctx,
                KIND,
                severity,
                confidence,
                title,
                _evidence(a, ips),
                asset_mac=a.mac,
                asset_ip=ip,
            )
        )
    return out
