"""cellular-modem: a device that is, or hides, a cellular modem or router.

A modem's radio side never crosses a wired SPAN, so the detector works from the
LAN-side footprint and folds every clue about one MAC into one confidence
(noisy-OR of per-signal weights):

  vendor     the MAC's IEEE registry organisation is a cellular maker
             (regexes over the org name, so every OUI of a maker counts)
  identity   its web server / page title, SNMP sysDescr, LLDP description or
             DHCP hostname names a cellular router model
  dhcp       hands out DHCP leases without being declared (a router), or its own
             DHCP vendor class / hostname is typical of embedded routers
  routing    local hosts send off-subnet traffic through it; public hosts open
             flows into the segment through it
  cgnat      a host behind it holds a carrier-grade NAT address (RFC 6598), as in
             a modem's IP-passthrough mode
  cloud      it talks to a device-management cloud or modem maker's service
  local-mac  its MAC is locally administered (only adds to other signals)

Makers that also sell much non-cellular gear (Huawei, ZTE, Moxa, Siemens, ...)
are "weak" in the data file: their name alone never makes a finding. A finding
needs a strong signal, or two cellular-specific ones, or a CGNAT or cloud clue
backed by the MAC routing traffic. Routing and DHCP serving alone are what every
router does and are left to rogue-gateway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cranewatch.detect import _addr, _routing
from cranewatch.detect._common import (
    AssetIndex,
    declared,
    finding,
    gateway_ips,
    knowledge,
)
from cranewatch.detect._hosts import hosts_of
from cranewatch.detect.context import DetectContext
from cranewatch.detect.model import Evidence, Finding
from cranewatch.knowledge import Knowledge

KIND = "cellular-modem"
SPECIFIC = ("vendor", "identity", "cloud", "cgnat", "dhcp-client")
REPORT_MIN = 0.4

W_VENDOR = (0.6, 0.2)  # strong, weak maker
W_IDENTITY = (0.7, 0.3)  # names a model, generic cellular wording
W_DHCP_HINT = (0.5, 0.1)
W_DHCP_SERVER = 0.25
W_ROUTING = 0.25
W_INBOUND = 0.1
W_CGNAT = 0.35
W_CLOUD = 0.45
W_LOCAL_MAC = 0.1

IDENTITY_KEYS = (
    "server",
    "title",
    "sysdescr",
    "system_description",
    "description",
    "model",
    "product",
    "vendor",
    "hostname",
    "name",
    "firmware",
    "http_server",
    "http_title",
    "system_name",
    "device_type",
    "platform",
)


@dataclass
class Signal:
    group: str
    weight: float
    strong: bool
    ts: float | None
    detail: str


@dataclass
class Candidate:
    mac: str
    signals: list[Signal] = field(default_factory=list)
    peer: tuple[str | None, int | None, str | None] | None = None

    def add(self, group: str, weight: float, strong: bool, ts: float | None, detail: str) -> None:
        if any(s.group == group and s.detail == detail for s in self.signals):
            return
        self.signals.append(Signal(group, weight, strong, ts, detail))

    def groups(self) -> set[str]:
        return {s.group for s in self.signals}

    def confidence(self) -> float:
        best: dict[str, float] = {}
        for s in self.signals:  # one weight per group: repeats of a clue are not new clues
            best[s.group] = max(best.get(s.group, 0.0), s.weight)
        miss = 1.0
        for w in best.values():
            miss *= 1.0 - w
        return min(0.99, 1.0 - miss)

    def reportable(self) -> bool:
        groups = self.groups()
        if any(s.strong for s in self.signals):
            return True
        specific = groups & set(SPECIFIC)
        if len(specific) >= 2:
            return self.confidence() >= REPORT_MIN
        if "cgnat" in groups and groups & {"routing", "dhcp-server", "local-mac"}:
            return True
        return "cloud" in groups and "routing" in groups


class _Collector:
    def __init__(self, ctx: DetectContext):
        self.ctx = ctx
        self.kn: Knowledge = knowledge(ctx)
        self.index = AssetIndex(ctx.assets)
        self.cands: dict[str, Candidate] = {}

    def cand(self, mac: str | None) -> Candidate | None:
        if not mac or _addr.is_group_mac(mac):
            return None
        mac = mac.lower()
        if mac not in self.cands:
            self.cands[mac] = Candidate(mac)
        return self.cands[mac]

    # (a) registry vendor
    def vendors(self) -> None:
        for a in self.ctx.assets:
            rule = self.kn.cellular_vendor(a.vendor)
            c = self.cand(a.mac) if rule else None
            if c is not None:
                kind = (
                    "a cellular router/module maker"
                    if rule.strong
                    else "a maker that also sells cellular gear"
                )
                c.add(
                    "vendor",
                    W_VENDOR[0 if rule.strong else 1],
                    rule.strong,
                    a.first_seen,
                    f"MAC vendor '{a.vendor}' is {kind} ({rule.name})",
                )

    # (c) identity strings
    def identities(self) -> None:
        """Identity texts from the packets that carried them, then the inventory's others.

        The packets first: their evidence has the time the text crossed the wire.
        The inventory's texts (hostnames learnt from DNS, say) are stamped with the
        asset's first sighting, and skipped where a packet already gave the text.
        """
        told: set[tuple[str | None, str]] = set()
        for e in self.ctx.events:
            if e.proto in ("dns", "tls", "dhcp", "container-ids"):
                continue
            if e.proto == "http" and e.fields.get("method"):
                continue  # a request describes the client's wishes, not the device
            mac = _subject_mac(e)
            for text in _texts(e.fields):
                if self._identity(mac, text, e.ts, f"{e.proto} identity"):
                    told.add((mac, text))
        for a in self.ctx.assets:
            texts = [
                str(v)
                for k, v in (a.identity or {}).items()
                if isinstance(v, str | int) and k != "vendor_class"
            ]
            texts += list(a.hostnames or [])
            for text in texts:
                if (a.mac, text) not in told:
                    self._identity(a.mac, text, a.first_seen, "identity")

    def _identity(self, mac: str | None, text: str, ts: float | None, where: str) -> bool:
        """Count `text` for `mac` if a rule matches it; whether it was counted."""
        rule = self.kn.cellular_identity(text)
        c = self.cand(mac) if rule else None
        if c is None:
            return False
        c.add(
            "identity",
            W_IDENTITY[0 if rule.strong else 1],
            rule.strong,
            ts,
            f"{where} '{text[:80]}' matches {rule.name}",
        )
        return True

    # (b) DHCP
    def dhcp(self) -> None:
        site = self.ctx.site
        gws = gateway_ips(site)
        for e in self.ctx.events:
            if e.proto != "dhcp":
                continue
            f = e.fields
            msg = str(f.get("msg_type") or "").lower()
            if msg in ("offer", "ack"):
                self._dhcp_server(e, site, gws)
            client = f.get("chaddr") or e.src_mac
            for key in ("vendor_class", "hostname"):
                value = f.get(key)
                hint = self.kn.dhcp_hint(key, value) if value else None
                c = self.cand(client) if hint else None
                if c is not None:
                    c.add(
                        "dhcp-client",
                        W_DHCP_HINT[0 if hint.strong else 1],
                        hint.strong,
                        e.ts,
                        f"DHCP {key.replace('_', ' ')} '{value}' is typical of {hint.name}",
                    )
                if value and key == "hostname":
                    self._identity(client, str(value), e.ts, "DHCP hostname")
        for a in self.ctx.assets:  # the inventory may keep DHCP facts the events no longer carry
            ident = a.identity or {}
            for key, value in (
                ("vendor_class", ident.get("vendor_class")),
                ("hostname", ident.get("hostname")),
            ):
                hint = self.kn.dhcp_hint(key, str(value)) if value else None
                c = self.cand(a.mac) if hint else None
                if c is not None:
                    c.add(
                        "dhcp-client",
                        W_DHCP_HINT[0 if hint.strong else 1],
                        hint.strong,
                        a.first_seen,
                        f"DHCP {key.replace('_', ' ')} '{value}' is typical of {hint.name}",
                    )

    def _dhcp_server(self, e: Any, site: Any, gws: set[str]) -> None:
        server_ip = e.fields.get("server_id") or e.src_ip
        if site is not None:
            dec = declared(site, e.src_mac, [ip for ip in (server_ip, e.src_ip) if ip])
            if (
                dec is not None and getattr(dec, "role", None) in ("router", "server")
            ) or server_ip in gws:
                return
        c = self.cand(e.src_mac)
        if c is None:
            return
        router = e.fields.get("router")
        router = router[0] if isinstance(router, list) and router else router
        extra = (
            ", naming itself the default router"
            if router and router in (server_ip, e.src_ip)
            else ""
        )
        who = "an undeclared DHCP server" if site is not None else "a DHCP server"
        c.add("dhcp-server", W_DHCP_SERVER, False, e.ts, f"acts as {who} ({server_ip}){extra}")

    # (d) routing
    def routing(self) -> None:
        table = _routing.hop_usage(self.ctx.site, self.ctx.flows, self.ctx.assets)
        for mac, uses in _routing.by_mac(table).items():
            c = self.cand(mac)
            if c is None:
                continue
            clients = set().union(*(u.clients for u in uses))
            remotes = set().union(*(u.remotes for u in uses))
            inbound = set().union(*(u.inbound_public for u in uses))
            ts = min(u.first_ts for u in uses)
            c.add(
                "routing",
                W_ROUTING + (W_INBOUND if inbound else 0.0),
                False,
                ts,
                f"routes for {len(clients)} local host(s) to {len(remotes)} far address(es)"
                + (
                    f"; {len(inbound)} public address(es) reach the segment through it"
                    if inbound
                    else ""
                ),
            )

    # (e) carrier-grade NAT addresses
    def cgnat(self) -> None:
        for f in self.ctx.flows:
            for local, far, hop in (
                (f.orig_ip, f.resp_ip, f.orig_next_hop),
                (f.resp_ip, f.orig_ip, f.orig_mac),
            ):
                if not self.kn.is_cgnat(local) or self.kn.is_cgnat(far) or _addr.is_group(far):
                    continue
                owner = self.index.mac(hop)
                if owner is not None and far in owner.ips:
                    continue  # delivered to the far host itself
                local_mac = f.orig_mac if local == f.orig_ip else f.resp_mac
                target = hop if hop and hop != local_mac else local_mac
                c = self.cand(target)
                if c is not None:
                    how = "sends its traffic through this MAC" if target == hop else "is this MAC"
                    c.add(
                        "cgnat",
                        W_CGNAT,
                        False,
                        f.first_ts,
                        f"host {local} holds a carrier-grade NAT address (RFC 6598) and {how}: modem in IP-passthrough mode",
                    )
        for a in self.ctx.assets:
            cg = [ip for ip in a.ips if self.kn.is_cgnat(ip)]
            c = self.cand(a.mac) if cg and not a.behind_router else None
            if c is not None and "cgnat" not in c.groups():
                c.add(
                    "cgnat",
                    W_CGNAT,
                    False,
                    a.first_seen,
                    f"holds carrier-grade NAT address {cg[0]} (RFC 6598): a cellular link hands it over",
                )

    # (f) device-management clouds
    def clouds(self) -> None:
        for e in self.ctx.events:
            for name in _names_asked(e):
                cloud = self.kn.cloud_for(name)
                c = self.cand(e.src_mac) if cloud else None
                if c is not None:
                    c.add(
                        "cloud",
                        W_CLOUD,
                        False,
                        e.ts,
                        f"{e.proto.upper()} for {name} ({cloud.name})",
                    )
                    c.peer = c.peer or (
                        e.dst_ip if e.proto != "dns" else None,
                        e.dport or None,
                        name,
                    )
        for f in self.ctx.flows:
            cloud = self.kn.cloud_for(f.name)
            c = self.cand(f.orig_mac) if cloud else None
            if c is not None:
                c.add(
                    "cloud",
                    W_CLOUD,
                    False,
                    f.first_ts,
                    f"{f.l4} to {f.name} {f.resp_ip}:{f.resp_port} ({cloud.name})",
                )
                if c.peer is None or c.peer[0] is None:
                    c.peer = (f.resp_ip, f.resp_port, f.name)

    # (g) locally administered MAC
    def local_macs(self) -> None:
        for c in self.cands.values():
            if c.signals and _addr.is_local_mac(c.mac):
                c.add(
                    "local-mac",
                    W_LOCAL_MAC,
                    False,
                    None,
                    "MAC is locally administered (set by software)",
                )


def _subject_mac(e: Any) -> str | None:
    f = e.fields
    if f.get("subject_mac"):
        return str(f["subject_mac"])
    return e.dst_mac if f.get("subject") == "dst" else e.src_mac


def _texts(fields: dict) -> list[str]:
    out = [str(fields[k]) for k in IDENTITY_KEYS if isinstance(fields.get(k), str) and fields[k]]
    ident = fields.get("identity")
    if isinstance(ident, dict):
        out += [str(v) for v in ident.values() if isinstance(v, str) and v]
    return out


def _names_asked(e: Any) -> list[str]:
    f = e.fields
    if e.proto == "dns" and not f.get("qr") and not f.get("answers"):
        return [str(q[0]) for q in f.get("queries") or [] if q]
    if e.proto == "tls" and f.get("sni"):
        return [str(f["sni"])]
    if e.proto == "http" and f.get("host"):
        return [str(f["host"]).split(":")[0]]
    return []


def _severity(ctx: DetectContext, mac: str, ips: list[str]) -> tuple[str, str]:
    """Severity and a few words on how the site file sees this device."""
    if ctx.site is None:
        return "high", "no site file"
    dec = declared(ctx.site, mac, ips)
    if dec is None:
        return "critical", "not declared in the site file"
    if getattr(dec, "role", None) == "modem":
        return "low", f"declared as modem {dec.id}"
    return (
        "high",
        f"declared as {dec.id} ({getattr(dec, 'role', None) or 'no role'}), not as a modem",
    )


def detect(ctx: DetectContext) -> list[Finding]:
    col = _Collector(ctx)
    col.vendors()
    col.identities()
    col.dhcp()
    col.routing()
    col.cgnat()
    col.clouds()
    col.local_macs()
    out = []
    for mac, c in col.cands.items():
        if not c.reportable():
            continue
        hosts = hosts_of(ctx)
        ips = hosts.ips_of(mac)
        severity, how = _severity(ctx, mac, ips)
        known = [s.ts for s in c.signals if s.ts is not None]
        ts0 = min(known) if known else 0.0
        evidence = [Evidence(s.ts if s.ts is not None else ts0, s.detail) for s in c.signals]
        maker = next(
            (s.detail.split("(")[-1].rstrip(")") for s in c.signals if s.group == "vendor"), None
        )
        what = f"{maker} cellular device" if maker else "Cellular modem/router"
        lan_ip = hosts.best_ip(mac)
        title = f"{what} {mac}{' (' + lan_ip + ')' if lan_ip else ''}: {how}"
        peer = c.peer or (None, None, None)
        out.append(
            finding(
                ctx,
                KIND,
                severity,
                c.confidence(),
                title,
                evidence,
                asset_mac=mac,
                asset_ip=lan_ip,
                peer_ip=peer[0],
                peer_port=peer[1],
                peer_name=peer[2],
            )
        )
    return out
