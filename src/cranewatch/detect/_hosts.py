"""One identity per device in findings: its own MAC, and its own best IP.

Detectors see addresses as they cross the wire. The source MAC of a packet is
the host's own only when the host is on the captured segment; for a host
behind a router it is the router's. And a router's MAC, in the inventory,
often has no IP at all (it sends with many addresses, so it keeps only those
it was seen binding by ARP or DHCP). Left alone, one modem becomes two
findings - one by MAC, one by IP - and hosts behind one router collapse into
one. `Hosts.resolve` gives every finding the same (mac, ip) for one device:

* an IP claimed by a MAC asset gets that MAC (not the router's it came through);
* an IP the inventory keeps as an IP-only asset gets no MAC - unless it is on
  the very subnet its only sender MAC routes for (see `_on_link_owners`),
  which makes it that MAC's own address;
* a MAC without an IP gets its best own address: inside the site (or local
  space) first, a carrier-grade NAT address last.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from typing import Any

from cranewatch.detect import _addr

CGNAT = ipaddress.ip_network("100.64.0.0/10")


def _key(mac: str | None) -> str | None:
    return mac.lower() if mac else None


def _subnet(ip: str) -> Any:
    """The subnet an address most likely sits on without a site file: /24 (IPv4), /64 (IPv6)."""
    return _addr.subnet(ip)


class Hosts:
    """The inventory seen as devices: who owns which address."""

    def __init__(self, site: Any, assets: list[Any], flows: list[Any]):
        self.site = site
        self._nets: dict[str, Any] = {}
        self.by_mac: dict[str, Any] = {}
        self.mac_of_ip: dict[str, str] = {}
        self.ip_only: set[str] = set()
        for a in assets:
            mac = _key(a.mac)
            if mac and not a.behind_router:
                self.by_mac.setdefault(mac, a)
                for ip in a.ips:
                    # a host bound to its address beats a router that forwards it
                    if ip not in self.mac_of_ip or getattr(
                        self.by_mac.get(self.mac_of_ip[ip]), "router", False
                    ):
                        self.mac_of_ip[ip] = mac
            else:
                self.ip_only.update(a.ips)
        self.ip_only -= set(self.mac_of_ip)
        self.own_ips: dict[str, list[str]] = defaultdict(list)
        for ip, mac in self._on_link_owners(flows).items():
            self.mac_of_ip[ip] = mac
            self.own_ips[mac].append(ip)
        self.ip_only -= set(self.mac_of_ip)

    # ------------------------------------------------------------------ inference

    def _where(self, ip: str) -> Any:
        """The network an address is on: its zone with a site, its likely subnet without.

        Asked for both ends of every flow: one answer per distinct address.
        """
        try:
            return self._nets[ip]
        except KeyError:
            pass
        if self.site is not None:
            net = self.site.zone_of(ip)
        else:
            sub = _subnet(ip) if _addr.is_local_space(ip) else None
            # a plain tuple: networks land in sets per flow, and ipaddress hashes slowly
            net = (sub.version, int(sub.network_address)) if sub is not None else None
        self._nets[ip] = net
        return net

    def _claims(self, mac: str | None, ip: str) -> bool:
        a = self.by_mac.get(_key(mac) or "")
        return a is not None and ip in a.ips

    def _on_link_owners(self, flows: list[Any]) -> dict[str, str]:
        """IP-only addresses that are in fact the own address of the one MAC sending them.

        A router never forwards traffic *from* a host on its own attached subnet
        back onto that subnet: such a host is on-link and sends with its own MAC.
        So when every packet from an IP-only address X carries one MAC M, and M
        is attached to X's network (on-link hosts of that network exchange
        frames with M directly), then X is M's address - typically a modem that
        routes for others, never answered ARP in the capture, and so lost its
        address in the inventory. Ambiguous cases (M sends several such
        addresses, or already holds one there) are left alone.
        """
        senders: dict[str, set[str]] = defaultdict(set)
        attached: dict[str, set[Any]] = defaultdict(set)
        # Only the addresses matter, and many flows share them (a DNS query per port).
        ends = {(f.orig_ip, f.orig_mac, f.resp_ip, f.resp_mac, f.orig_next_hop) for f in flows}
        for orig_ip, orig_mac, resp_ip, resp_mac, next_hop in ends:
            for ip, mac in ((orig_ip, orig_mac), (resp_ip, resp_mac)):
                if ip in self.ip_only and mac:
                    senders[ip].add(mac.lower())
            # on-link neighbours: a host with its own MAC exchanging frames with a MAC
            if orig_mac and self._claims(orig_mac, orig_ip):
                for hop in (next_hop, resp_mac):
                    if hop and hop.lower() != orig_mac.lower():
                        attached[hop.lower()].add(self._where(orig_ip))
            if resp_mac and self._claims(resp_mac, resp_ip) and orig_mac:
                attached[orig_mac.lower()].add(self._where(resp_ip))
        candidates: dict[str, list[str]] = defaultdict(list)
        for ip, macs in senders.items():
            if len(macs) != 1 or not _addr.inside(self.site, ip):
                continue
            mac = next(iter(macs))
            net = self._where(ip)
            if net is None or net not in attached.get(mac, set()):
                continue
            holder = self.by_mac.get(mac)
            if holder is not None and any(self._where(own) == net for own in holder.ips):
                continue
            candidates[mac].append(ip)
        return {ips[0]: mac for mac, ips in candidates.items() if len(ips) == 1}

    # ------------------------------------------------------------------ look-ups

    def ips_of(self, mac: str | None) -> list[str]:
        """A MAC's own addresses: the inventory's plus those inferred on-link."""
        mac = _key(mac)
        if not mac:
            return []
        a = self.by_mac.get(mac)
        return list(a.ips if a is not None else []) + self.own_ips.get(mac, [])

    def best_ip(self, mac: str | None) -> str | None:
        """A MAC's most telling own address: inside first, CGNAT and outside last."""
        ips = [ip for ip in self.ips_of(mac) if not _addr.is_group(ip) and _addr.parse(ip)]
        if not ips:
            return None

        def rank(ip: str) -> tuple:
            addr = _addr.parse(ip)
            return (
                not _addr.inside(self.site, ip),
                addr in CGNAT,
                _addr.is_link_local(ip),
                addr.version,
            )

        return min(ips, key=rank)

    def resolve(self, mac: str | None, ip: str | None) -> tuple[str | None, str | None]:
        """The (mac, ip) a finding should name for the device seen as (mac, ip)."""
        mac = _key(mac)
        if not ip:
            return mac, self.best_ip(mac)
        if mac and self._claims(mac, ip):
            return mac, ip
        owner = self.mac_of_ip.get(ip)
        if owner is not None:
            return owner, ip
        if ip in self.ip_only or (mac and mac in self.by_mac):
            return None, ip  # a known device that does not hold the address forwarded it
        return mac, ip


def hosts_of(ctx: Any) -> Hosts:
    """The context's Hosts, built once per context."""
    stamp = (id(ctx.site), id(ctx.assets), len(ctx.assets), id(ctx.flows), len(ctx.flows))
    cached = ctx.extra.get("_hosts") if isinstance(ctx.extra, dict) else None
    if isinstance(cached, tuple) and cached[0] == stamp:
        return cached[1]
    h = Hosts(ctx.site, ctx.assets, ctx.flows)
    if isinstance(ctx.extra, dict):
        ctx.extra["_hosts"] = (stamp, h)
    return h
