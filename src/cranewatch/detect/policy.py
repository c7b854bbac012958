"""policy-violation: flows that cross zones or leave the site and match no conduit.

Only with a site file (the zones and conduits are the policy). For each flow
the initiator is taken from the TCP handshake, or guessed from the ports
(service port vs. ephemeral port) when the handshake was not captured. A flow
is allowed when a conduit matches it in its direction; when the initiator is a
guess, a conduit matching the other direction also allows it (it is then most
likely the answer to an allowed flow). Left out: broadcast and multicast,
link-local addresses (DHCP, ARP-like and neighbour discovery chatter), ICMP
(errors are answers to other flows) and flows that touch no declared zone.
One finding per (initiator, responder, service), with counts; unnamed ports
from 1024 up count as one service per host pair, since RPC and DCOM (OPC
Classic) hand out a new one per call: one finding per port buried the pair
under a dozen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cranewatch.detect import _addr
from cranewatch.detect._common import AssetIndex, finding, gateway_ips
from cranewatch.detect._flows import service_of, size_text
from cranewatch.detect.context import DetectContext
from cranewatch.detect.model import Evidence, Finding
from cranewatch.inventory.direction import Direction, direction

KIND = "policy-violation"
FIRST_DYNAMIC = 1024  # unnamed ports from here are grouped per host pair
PORTS_SHOWN = 3
SKIP_PROTOS = {1, 2, 58}  # ICMP, IGMP, ICMPv6
DHCP_PORTS = {67, 68, 546, 547}


@dataclass
class Violation:
    d: Direction
    l4: str
    service: str
    src_zone: str
    dst_zone: str
    flows: int = 0
    packets: int = 0
    bytes: int = 0
    first_ts: float = float("inf")
    certain: bool = False
    examples: list[Any] = field(default_factory=list)
    ports: set[int] = field(default_factory=set)
    name: str | None = None  # the server's name (SNI, HTTP Host, DNS) when a flow had one
    hops: set[str] = field(default_factory=set)  # MACs the client's frames went to, when leaving

    def label(self) -> str:
        """The service, or the unnamed ports of a host pair: 'tcp/1059, 1062, 1117 and 2 more'."""
        if len(self.ports) < 2:
            return self.service
        ports = sorted(self.ports)
        more = len(ports) - PORTS_SHOWN
        shown = ", ".join(map(str, ports[:PORTS_SHOWN])) + (f" and {more} more" if more > 0 else "")
        return f"{self.l4}/{shown} (unnamed ports)"


def _zone(site: Any, ip: str) -> str:
    return site.zone_of(ip) or "outside the site"


def _skip(f: Any) -> bool:
    if f.proto in SKIP_PROTOS:
        return True
    ends = (f.orig_ip, f.resp_ip)
    if any(_addr.is_group(ip) or _addr.is_link_local(ip) or _addr.parse(ip) is None for ip in ends):
        return True
    return f.l4 == "udp" and (f.orig_port in DHCP_PORTS and f.resp_port in DHCP_PORTS)


def _allowed(site: Any, f: Any, d: Direction) -> bool:
    if site.conduit_for(d.client_ip, d.server_ip, f.l4, d.server_port, d.client_mac, d.server_mac):
        return True
    if d.certain:
        return False
    # Initiator guessed: the flow may be the answer to an allowed one the other way.
    return bool(
        site.conduit_for(d.server_ip, d.client_ip, f.l4, d.client_port, d.server_mac, d.client_mac)
    )


def detect(ctx: DetectContext) -> list[Finding]:
    site = ctx.site
    if site is None:
        return []
    found: dict[tuple, Violation] = {}
    for f in ctx.flows:
        if _skip(f):
            continue
        d = direction(f)
        zc, zs = site.zone_of(d.client_ip), site.zone_of(d.server_ip)
        if zc == zs or (zc is None and zs is None):
            continue  # same zone, or nothing of the site involved
        if _allowed(site, f, d):
            continue
        service = service_of(f, d)
        unnamed = not f.service and d.server_port >= FIRST_DYNAMIC
        key = (d.client_ip, d.server_ip, f.l4, None if unnamed else d.server_port)
        v = found.get(key)
        if v is None:
            v = found[key] = Violation(
                d, f.l4, service, _zone(site, d.client_ip), _zone(site, d.server_ip)
            )
        v.flows += f.connections
        v.packets += f.packets
        v.bytes += f.bytes
        v.first_ts = min(v.first_ts, f.first_ts)
        v.certain = v.certain or d.certain
        v.ports.add(d.server_port)
        if v.name is None and f.name not in (None, f.resp_ip) and d.server_ip == f.resp_ip:
            v.name = f.name
        if f.orig_next_hop and d.client_ip == f.orig_ip and zs is None:
            v.hops.add(f.orig_next_hop.lower())
        if len(v.examples) < 3:
            v.examples.append(f)
    index = AssetIndex(ctx.assets)
    gateways = gateway_ips(site)
    return [_finding(ctx, v, _hop_lines(v, index, gateways)) for v in found.values()]


def _hop_lines(v: Violation, index: AssetIndex, gateways: set[str]) -> list[str]:
    """Which device carried the traffic out: the declared gateway, or something else.

    Why: traffic leaving through a MAC that is not the zone's gateway (a
    hidden cellular router) is what an auditor asks about first.
    """
    out = []
    for mac in sorted(v.hops)[:3]:
        asset = index.mac(mac)
        what = ", ".join(x for x in (asset and asset.vendor, asset and asset.declared_id) if x)
        gateway = asset is not None and bool(gateways & set(asset.ips))
        role = "a declared gateway" if gateway else "not a declared gateway"
        out.append(f"sent through MAC {mac}{f' ({what})' if what else ''}: {role}")
    return out


def _finding(ctx: DetectContext, v: Violation, hops: list[str]) -> Finding:
    d = v.d
    leaving = ctx.site.zone_of(d.server_ip) is None
    entering = ctx.site.zone_of(d.client_ip) is None
    severity = "high" if leaving or entering else "medium"
    variants = ("egress",) if leaving else ()
    guess = "" if v.certain else " (initiator guessed from ports)"
    evidence = [
        Evidence(
            v.first_ts,
            f"{v.flows} flow(s), {v.packets} packets, {size_text(v.bytes)}: "
            f"{v.src_zone} -> {v.dst_zone} on {v.label()}, no conduit allows it{guess}",
        )
    ]
    evidence += [Evidence(v.first_ts, line) for line in hops]
    if len(v.ports) > PORTS_SHOWN:
        ports = sorted(v.ports)
        evidence.append(Evidence(v.first_ts, f"{v.l4} ports: {', '.join(map(str, ports))}"))
    for f in v.examples:
        evidence.append(
            Evidence(
                f.first_ts,
                f"{f.l4} {f.orig_ip}:{f.orig_port} -> {f.resp_ip}:{f.resp_port}, {f.packets} pkts",
            )
        )
    title = (
        f"{d.client_ip} ({v.src_zone}) -> {d.server_ip} ({v.dst_zone}) on {v.label()}: no conduit"
    )
    return finding(
        ctx,
        KIND,
        severity,
        0.9 if v.certain else 0.6,
        title,
        evidence,
        asset_mac=d.client_mac,
        asset_ip=d.client_ip,
        peer_ip=d.server_ip,
        peer_port=(d.server_port or None) if len(v.ports) < 2 else None,
        peer_name=v.name,
        variants=variants,
    )
