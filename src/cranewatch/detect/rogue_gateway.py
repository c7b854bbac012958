"""rogue-gateway: hosts send off-subnet traffic through a MAC that is no declared gateway.

With a site file, each zone names its gateways (IP addresses). A host's frames
to a far address go to its router's MAC; if that MAC is not the MAC of one of
the zone's gateways, some other box is routing: a modem, a second NIC doing
NAT, a misconfigured switch. The gateway's MAC is learnt from the inventory (the
asset holding the gateway IP) or from a declared asset with that IP and a MAC.

Without a site file there is nothing declared, so the detector looks for a
second MAC that forwards for many far (public) addresses next to the main one.

TTL helps: answers that cross a NAT router arrive one hop short of a usual
initial TTL more than once; answers arriving with an untouched initial TTL mean
the "router" is more likely the far host itself with a second address.
"""

from __future__ import annotations

from collections import Counter

from cranewatch.detect import _routing
from cranewatch.detect._common import AssetIndex, declared, finding
from cranewatch.detect._hosts import hosts_of
from cranewatch.detect.context import DetectContext
from cranewatch.detect.model import Evidence, Finding

KIND = "rogue-gateway"
MIN_REMOTES_NO_SITE = 3  # far addresses a second MAC must carry for before it counts


def detect(ctx: DetectContext) -> list[Finding]:
    table = _routing.hop_usage(ctx.site, ctx.flows, ctx.assets)
    if ctx.site is not None:
        return _with_site(ctx, table)
    return _without_site(ctx, table)


def _gateway_macs(ctx: DetectContext, index: AssetIndex, zone: str) -> set[str]:
    """MACs known to hold one of the zone's declared gateway addresses."""
    macs: set[str] = set()
    for gw in ctx.site.gateways_of(zone) or []:
        owner = index.ip(gw)
        if owner is not None and owner.mac:
            macs.add(owner.mac.lower())
        hit = ctx.site.asset_for(None, gw)
        if hit is not None and getattr(hit, "mac", None):
            macs.add(str(hit.mac).lower())
    return macs


def _ttl_text(use: _routing.HopUse) -> tuple[str | None, bool]:
    """Evidence text about far-side TTLs, and whether they look untouched (no router)."""
    if not use.remote_ttls:
        return None, False
    hops = Counter(_routing.hops_from_initial(t) for t in use.remote_ttls)
    common, _ = hops.most_common(1)[0]
    ttl = Counter(use.remote_ttls).most_common(1)[0][0]
    if common == 0:
        return (
            f"answers through it arrive with an untouched initial TTL ({ttl}): it may be the far host itself",
            True,
        )
    return (
        f"answers through it arrive with TTL {ttl} ({common} hop(s) below a usual initial TTL)",
        False,
    )


def _evidence(use: _routing.HopUse, why: str) -> list[Evidence]:
    out = [
        Evidence(
            use.first_ts,
            f"{why}: {len(use.clients)} local host(s) ({', '.join(sorted(use.clients)[:4])}) "
            f"reach {len(use.remotes)} far address(es) through MAC {use.mac} in {use.flows} flow(s)",
        )
    ]
    out += [Evidence(ts, f"routed flow: {text}") for ts, text in use.examples]
    if use.inbound_public:
        out.append(
            Evidence(
                use.first_ts,
                f"{len(use.inbound_public)} public address(es) opened flows into the segment through it",
            )
        )
    ttl, _ = _ttl_text(use)
    if ttl:
        out.append(Evidence(use.first_ts, ttl))
    return out


def _with_site(ctx: DetectContext, table: dict) -> list[Finding]:
    index = AssetIndex(ctx.assets)
    out: list[Finding] = []
    for (mac, zone), use in table.items():
        if zone is None:
            continue
        gw_macs = _gateway_macs(ctx, index, zone)
        if mac in gw_macs:
            continue
        owner = index.mac(mac)
        gw_ips = set(ctx.site.gateways_of(zone) or [])
        if owner is not None and gw_ips & set(owner.ips):
            continue
        others = [u for (m, z), u in table.items() if z == zone and m != mac]
        if not gw_macs and not hosts_of(ctx).ips_of(mac):
            # The declared gateway never showed its address. An address-less MAC is then
            # the gateway unless another MAC carries more of the zone's traffic.
            if not others or use.flows >= max(u.flows for u in others):
                continue
            confidence = 0.5
        else:
            confidence = 0.85
        ttl_text, untouched = _ttl_text(use)
        if untouched:
            confidence -= 0.3
        dec = declared(ctx.site, mac, hosts_of(ctx).ips_of(mac))
        severity = (
            "medium"
            if dec is not None and getattr(dec, "role", None) in ("router", "modem")
            else "high"
        )
        ip = hosts_of(ctx).best_ip(mac)
        who = f" ({dec.id})" if dec is not None else ""
        title = f"Hosts in zone {zone} route off-subnet traffic through {mac}{who}, not a declared gateway"
        why = (
            f"zone {zone} declares gateway(s) {', '.join(sorted(gw_ips))}"
            if gw_ips
            else f"zone {zone} declares no gateway"
        )
        variants = ("intercept",) if use.flows >= 10 else ()
        out.append(
            finding(
                ctx,
                KIND,
                severity,
                confidence,
                title,
                _evidence(use, why),
                asset_mac=mac,
                asset_ip=ip,
                variants=variants,
            )
        )
    return out


def _without_site(ctx: DetectContext, table: dict) -> list[Finding]:
    """Per local subnet, any MAC forwarding next to that subnet's main router."""
    by_subnet: dict[str | None, list[_routing.HopUse]] = {}
    for (_mac, subnet), use in table.items():
        by_subnet.setdefault(subnet, []).append(use)
    index = AssetIndex(ctx.assets)
    out: list[Finding] = []
    for uses in by_subnet.values():
        out += _second_routers(ctx, uses, index)
    return out


def _second_routers(
    ctx: DetectContext, uses: list[_routing.HopUse], index: AssetIndex
) -> list[Finding]:
    uses = [u for u in uses if len(u.remotes) >= MIN_REMOTES_NO_SITE or len(u.clients) >= 2]
    if len(uses) < 2:
        return []
    uses.sort(key=lambda u: (u.flows, len(u.remotes)), reverse=True)
    main = uses[0]
    out: list[Finding] = []
    for use in uses[1:]:
        owner = index.mac(use.mac)
        confidence = 0.6 + (0.1 if owner is not None and owner.router else 0.0)
        _, untouched = _ttl_text(use)
        if untouched:
            confidence -= 0.3
        why = (
            f"a second router for subnet {use.zone} next to {main.mac} "
            f"(which carries {main.flows} flow(s))"
        )
        title = (
            f"Second gateway {use.mac} forwards traffic for {len(use.remotes)} public address(es)"
        )
        out.append(
            finding(
                ctx,
                KIND,
                "medium",
                confidence,
                title,
                _evidence(use, why),
                asset_mac=use.mac,
                asset_ip=hosts_of(ctx).best_ip(use.mac),
            )
        )
    return out
