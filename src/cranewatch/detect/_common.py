"""What every detector does the same way: build findings, find assets, read the site."""

from __future__ import annotations

from typing import Any

from cranewatch.detect._hosts import hosts_of
from cranewatch.detect.context import DetectContext
from cranewatch.detect.model import Evidence, Finding
from cranewatch.knowledge import Knowledge, load


def knowledge(ctx: DetectContext) -> Knowledge:
    """The context's knowledge, or the packaged one when the caller gave none."""
    return ctx.knowledge if isinstance(ctx.knowledge, Knowledge) else load()


def finding(
    ctx: DetectContext,
    kind: str,
    severity: str,
    confidence: float,
    title: str,
    evidence: list[Evidence],
    *,
    asset_mac: str | None = None,
    asset_ip: str | None = None,
    peer_ip: str | None = None,
    peer_port: int | None = None,
    peer_name: str | None = None,
    variants: tuple[str, ...] = (),
) -> Finding:
    """A Finding with its ATT&CK for ICS ids taken from the knowledge file.

    The asset's MAC and IP are resolved against the inventory (`_hosts`), so
    that every detector names one device the same way and `merge_findings`
    can fold them: the device's own MAC (never the router's it was seen
    through), and its best own IP when the detector knew only the MAC.
    """
    asset_mac, asset_ip = hosts_of(ctx).resolve(asset_mac, asset_ip)
    return Finding(
        kind=kind,
        severity=severity,
        confidence=round(min(1.0, max(0.0, float(confidence))), 3),
        title=title,
        asset_mac=asset_mac,
        asset_ip=asset_ip,
        peer_ip=peer_ip,
        peer_port=peer_port,
        peer_name=peer_name,
        evidence=sorted(evidence, key=lambda e: e.ts),
        attack_ics=knowledge(ctx).attack(kind, *variants),
    )


class AssetIndex:
    """Assets by MAC and by IP (an IP may be claimed by several MACs; first wins)."""

    def __init__(self, assets: list[Any]):
        self.by_mac: dict[str, Any] = {}
        self.by_ip: dict[str, Any] = {}
        for a in assets:
            if a.mac:
                self.by_mac.setdefault(a.mac.lower(), a)
            for ip in a.ips:
                self.by_ip.setdefault(ip, a)

    def mac(self, mac: str | None) -> Any:
        return self.by_mac.get(mac.lower()) if mac else None

    def ip(self, ip: str | None) -> Any:
        return self.by_ip.get(ip) if ip else None


def declared(site: Any, mac: str | None, ips: list[str] | tuple[str, ...] = ()) -> Any:
    """The site's declared asset for a MAC and/or any of its IPs, or None."""
    if site is None:
        return None
    for ip in list(ips) or [None]:
        hit = site.asset_for(mac, ip)
        if hit is not None:
            return hit
    return None


def gateway_ips(site: Any) -> set[str]:
    """Every declared zone gateway address."""
    if site is None:
        return set()
    return {gw for z in site.zones for gw in (z.gateways or [])}


def first_ip(asset: Any) -> str | None:
    return asset.ips[0] if asset is not None and asset.ips else None
