"""Which MACs carry off-subnet traffic, for whom, and from where.

On a SPAN port a router shows up only as the L2 hop of traffic between a local
host and a far address: the destination MAC of the host's outgoing frames and
the source MAC of the frames coming back. Rogue-gateway and cellular-modem
both read this table.

"Off-subnet": with a site file, the far end is not in the local host's zone;
without one, the far end is a public address and the local one is not.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from cranewatch.detect import _addr
from cranewatch.detect._common import AssetIndex
from cranewatch.knowledge import load


@dataclass
class HopUse:
    """Everything seen going through one MAC (per local zone when a site is given)."""

    mac: str
    zone: str | None
    clients: set[str] = field(default_factory=set)  # local IPs that used it
    remotes: set[str] = field(default_factory=set)  # far IPs reached through it
    inbound_public: set[str] = field(default_factory=set)  # public IPs that opened flows through it
    flows: int = 0
    first_ts: float = float("inf")
    remote_ttls: list[int] = field(default_factory=list)  # TTL of far-side packets as they arrive
    examples: list[tuple[float, str]] = field(default_factory=list)

    def add(self, local: str, remote: str, ts: float, ttl: int, text: str, flows: int = 1) -> None:
        self.clients.add(local)
        self.remotes.add(remote)
        self.flows += flows
        self.first_ts = min(self.first_ts, ts)
        if ttl:
            self.remote_ttls.append(ttl)
        if len(self.examples) < 3:
            self.examples.append((ts, text))


def _off_subnet(site: Any, local: str, remote: str) -> bool:
    if site is not None:
        zl = site.zone_of(local)
        return zl is not None and site.zone_of(remote) != zl
    return not _addr.is_public(local) and _addr.is_public(remote)


def hop_usage(
    site: Any, flows: list[Any], assets: list[Any]
) -> dict[tuple[str, str | None], HopUse]:
    """(hop MAC, local zone) -> HopUse, over every flow between a local host and a far address.

    Without a site file the "zone" is the local host's likely subnet (`_subnet`).
    """
    index = AssetIndex(assets)
    table: dict[tuple[str, str | None], HopUse] = {}
    for f in flows:
        if _addr.is_group(f.orig_ip) or _addr.is_group(f.resp_ip):
            continue
        if _off_subnet(site, f.orig_ip, f.resp_ip):
            local, remote, hop, ttl, inbound = (
                f.orig_ip,
                f.resp_ip,
                f.orig_next_hop or f.resp_mac,
                f.resp_ttl,
                False,
            )
        elif _off_subnet(site, f.resp_ip, f.orig_ip):
            local, remote, hop, ttl, inbound = f.resp_ip, f.orig_ip, f.orig_mac, f.orig_ttl, True
        else:
            continue
        if not hop or _addr.is_group_mac(hop):
            continue
        owner = index.mac(hop)
        if owner is not None and remote in owner.ips and not (ttl and hops_from_initial(ttl)):
            # Delivered straight to the far address's own MAC: no routing. Unless the
            # far side's packets arrive hops below an initial TTL: then that MAC only
            # forwards for the address (a router sending with few addresses keeps
            # them all in the inventory).
            continue
        zone = site.zone_of(local) if site is not None else _subnet(local)
        use = table.get((hop.lower(), zone))
        if use is None:
            use = table[(hop.lower(), zone)] = HopUse(hop.lower(), zone)
        arrow = f"{remote} -> {local}" if inbound else f"{local} -> {remote}"
        use.add(local, remote, f.first_ts, ttl, f"{f.l4} {arrow}", f.connections)
        if inbound and _addr.is_public(remote):
            use.inbound_public.add(remote)
    return table


def _subnet(ip: str) -> str | None:
    """Without a site file, the local network a host most likely sits on: its /24 or /64.

    Each subnet has its own gateway, so "a second router next to the main one"
    is judged per subnet: on a SPAN of several VLANs every VLAN's gateway is a
    main one.
    """
    net = _addr.subnet(ip)
    return str(net) if net is not None else None


def by_mac(table: dict[tuple[str, str | None], HopUse]) -> dict[str, list[HopUse]]:
    out: dict[str, list[HopUse]] = defaultdict(list)
    for (mac, _zone), use in table.items():
        out[mac].append(use)
    return out


def hops_from_initial(ttl: int) -> int:
    """Routers between sender and capture point, from the initial TTLs of knowledge."""
    return load().hops_from_initial(ttl)
