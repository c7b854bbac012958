"""remote-access: remote-access sessions outside every `remote_access: true` conduit.

Two sources of findings:

* the catalogue (knowledge/remote_access.yaml) of tools and protocols: a flow is
  a tool's session when its server's DNS name/SNI is one of the tool's broker
  domains, when a parser saw the tool's banner (SSH, RFB), when payload_scan saw
  its payload bytes, when a parser labelled the flow's service as the tool, or -
  weakest - when only the server port matches;
* any session opened from a public address to an inside host, whatever it is;
* an inside host's DNS look-up of a tool's broker when no session of it was
  captured (medium, confidence 0.7).

A VNC session whose initiator sent the RFB server banner is reverse VNC: the
VNC server called out to a listening viewer, so the viewer sees and drives the
caller's screen. It is titled so and ranked as the inbound session it amounts
to when the caller is inside and the viewer outside.

Confidence follows the strength of the clue: names, banners and strong payload
signatures are near-certain; a port alone is a guess, and ports in the
ephemeral range (>= 32768) are never used alone because any client port can
land there. Sessions that stay inside one zone are maintenance, not remote
access, and are left out. A session matching a `remote_access: true` conduit is
no finding; one matching an ordinary conduit is reported as low.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from cranewatch.detect import _addr
from cranewatch.detect._common import finding, knowledge
from cranewatch.detect._flows import service_of, size_text
from cranewatch.detect.context import DetectContext
from cranewatch.detect.model import Evidence, Finding
from cranewatch.inventory.direction import EPHEMERAL, SYN, Direction, direction
from cranewatch.inventory.model import pair_key
from cranewatch.inventory.services import service_for_port
from cranewatch.knowledge import Knowledge, RemoteTool

KIND = "remote-access"
EPHEMERAL_LOW = 32768
C_NAME, C_BANNER, C_SIG_STRONG, C_SIG_WEAK, C_SERVICE, C_PORT = 0.9, 0.9, 0.85, 0.75, 0.7, 0.45
C_INBOUND_ONLY = 0.6
C_LOOKUP = 0.7
RST = 0x04
VNC = "VNC (RFB)"
BANNER_FIELDS = ("banner", "version", "server", "software", "alpn")


@dataclass
class Match:
    tool: str | None
    how: str
    confidence: float


@dataclass
class Session:
    key: tuple
    scenario: str  # inbound, outbound, internal
    tool: str | None
    how: str
    confidence: float
    severity: str
    inside_ip: str
    inside_mac: str | None
    remote_ip: str
    remote_port: int | None
    remote_name: str | None
    flows: list[tuple[Any, Direction]] = field(default_factory=list)
    notes: list[tuple[float, str]] = field(default_factory=list)
    reverse: bool = False  # reverse VNC: the initiator serves its screen


@lru_cache(maxsize=4096)
def _norm(text: str) -> str:
    """Lower-case letters and digits only; cached: asked for every flow's service label."""
    return re.sub(r"[^a-z0-9]", "", text.lower())


def _flow_key(l4: str | None, a: str | None, ap: int, b: str | None, bp: int) -> tuple:
    one, other = (a or "", ap), (b or "", bp)
    return (l4, one, other) if one <= other else (l4, other, one)


class _Evidence:
    """Events and DNS answers indexed for flow look-ups."""

    def __init__(self, events: list[Any]):
        self.by_flow: dict[tuple, list[Any]] = defaultdict(list)
        self.by_pair: dict[tuple, list[Any]] = defaultdict(list)
        self.names: dict[str, str] = {}
        for e in events:
            if e.proto == "dns":
                for pair in e.fields.get("names") or []:
                    if len(pair) == 2 and pair[1]:
                        self.names.setdefault(str(pair[1]), str(pair[0]))
            if e.l4 and e.src_ip and e.dst_ip:
                self.by_flow[_flow_key(e.l4, e.src_ip, e.sport, e.dst_ip, e.dport)].append(e)
                self.by_pair[pair_key(e.l4, e.src_ip, e.sport, e.dst_ip, e.dport)].append(e)

    def for_flow(self, f: Any) -> list[Any]:
        """Events of the flow, else those of the client's other connections to that service.

        Why the fallback: a fact seen again in a later connection is kept once,
        in the first one's event (inventory/event_log.py), and a folded record
        stands for many connections (inventory/fold.py).
        """
        if f.connections == 1:
            own = self.by_flow.get(_flow_key(f.l4, f.orig_ip, f.orig_port, f.resp_ip, f.resp_port))
            if own:
                return own
        return self.by_pair.get(pair_key(f.l4, f.orig_ip, f.orig_port, f.resp_ip, f.resp_port), [])


def _identify(
    kn: Knowledge, f: Any, d: Direction, ev: _Evidence, inbound: bool = False
) -> Match | None:
    """The best catalogue match for one flow, or None."""
    name = f.name or ev.names.get(d.server_ip)
    tool = kn.tool_for_name(name)
    if tool is not None:
        return Match(tool.name, f"server name {name}", C_NAME)
    best: Match | None = None
    for e in ev.for_flow(f):
        m = _from_event(kn, e, f.l4, d, inbound)
        if m is not None and (best is None or m.confidence > best.confidence):
            best = m
    if best is not None:
        return best
    service = _norm(f.service or "")
    if len(service) >= 3:
        tool = next((t for t in kn.tools if service in _norm(t.name)), None)
        other = service_for_port(f.l4, d.server_port)
        if inbound and tool is not None and other and not tool.has_port(f.l4, d.server_port):
            tool = None  # the label came from a probe of another service's port
        if tool is not None:
            return Match(tool.name, f"service recognised as {f.service}", C_SERVICE)
    return _by_port(kn, f, d)


def _probe(tool: RemoteTool, l4: str, e: Any, d: Direction) -> bool:
    """A tool's bytes sent by an outside client to another service's well-known port.

    Only judged for inbound sessions (an inside client speaking a tunnel tool to
    port 443 is the tool in use). Internet scanners throw RDP, DCE-RPC, TLS and
    HTTP openers at every open port; an exposed Modbus server that answers one with an exception is not
    running RDP. When only the client spoke the tool and the server's port
    belongs to some other service, the bytes identify the scanner, not the session.
    """
    return (
        e.src_ip == d.client_ip
        and not tool.has_port(l4, d.server_port)
        and bool(service_for_port(l4, d.server_port))
    )


def _probes(kn: Knowledge, f: Any, d: Direction, ev: _Evidence) -> list[tuple[float, str]]:
    """Evidence notes on tool bytes that `_probe` set aside for one flow."""
    out = []
    for e in ev.for_flow(f):
        tool = kn.tool(str(e.fields.get("tool", ""))) if e.proto == "remote-sig" else None
        if tool is not None and _probe(tool, f.l4, e, d):
            out.append(
                (
                    e.ts,
                    f"{d.client_ip} sent {tool.name} bytes to {f.l4}/{d.server_port} "
                    f"({service_for_port(f.l4, d.server_port)}): a scanner's probe, not a session",
                )
            )
    return out


def _from_event(
    kn: Knowledge, e: Any, l4: str, d: Direction, inbound: bool = False
) -> Match | None:
    server_port = d.server_port
    if e.proto == "remote-sig":
        tool = kn.tool(str(e.fields.get("tool", "")))
        if tool is None or (inbound and _probe(tool, l4, e, d)):
            return None
        if e.fields.get("strong"):
            return Match(tool.name, f"payload signature of {tool.name}", C_SIG_STRONG)
        if tool.has_port(l4, server_port):
            return Match(
                tool.name, f"payload signature of {tool.name} on its port {server_port}", C_SIG_WEAK
            )
        return None
    if e.proto in ("tls", "http", "dns"):
        for key in ("sni", "host"):
            tool = kn.tool_for_name(str(e.fields.get(key) or "").split(":")[0])
            if tool is not None:
                return Match(tool.name, f"{e.proto.upper()} name {e.fields[key]}", C_NAME)
    for key in BANNER_FIELDS:
        value = e.fields.get(key)
        for text in value if isinstance(value, list) else [value]:
            tool = kn.tool_for_banner(text) if isinstance(text, str) else None
            if tool is not None:
                return Match(tool.name, f"{e.proto} {key} '{text[:60]}'", C_BANNER)
    if e.proto in ("rfb", "vnc"):
        return Match(VNC, "RFB handshake", C_BANNER)
    return None


def _reverse_vnc(f: Any, d: Direction, ev: _Evidence) -> Any | None:
    """The initiator's RFB banner event when it is the server's: a VNC server calling a viewer.

    The server speaks first (RFC 6143 7.1.1: it sends its ProtocolVersion, the
    client answers with its own), so of the two ends' banners the earlier is
    the server's. With one end's banner only, its role cannot be told and
    nothing is claimed.
    """
    banners = sorted((e for e in ev.for_flow(f) if e.proto == "rfb"), key=lambda e: e.ts)
    if len({e.src_ip for e in banners}) == 2 and banners[0].src_ip == d.client_ip:
        return banners[0]
    return None


def _by_port(kn: Knowledge, f: Any, d: Direction) -> Match | None:
    """A port-only match, kept only when the port cannot be a client's ephemeral port."""
    if f.l4 not in ("tcp", "udp"):
        tools = kn.tools_for_port("ip", f.proto)
        return Match(tools[0].name, f"IP protocol {f.proto}", C_PORT) if tools else None
    port = d.server_port
    if not port or port >= EPHEMERAL_LOW:
        return None
    client_like = d.certain or d.client_port >= 1024 > port or d.client_port >= EPHEMERAL_LOW
    tools: list[RemoteTool] = kn.tools_for_port(f.l4, port)
    if not tools or not client_like:
        return None
    return Match(tools[0].name, f"port {f.l4}/{port} only", C_PORT)


def _established(f: Any, d: Direction) -> bool:
    """A two-way session: a SYN-ACK from the server, or (no handshake seen) packets both ways."""
    srv_flags = f.orig_flags if d.swapped else f.resp_flags
    srv_pkts = f.orig_pkts if d.swapped else f.resp_pkts
    if f.proto == 6 and srv_flags & RST and srv_pkts <= 2:
        return False  # the server reset it right after its SYN-ACK: refused, or a scan
    if f.proto == 6 and (f.orig_flags | f.resp_flags) & SYN:
        return bool(srv_flags & SYN) and f.orig_pkts > 0 and f.resp_pkts > 0
    return f.orig_pkts > 0 and f.resp_pkts > 0


def _clear(d: Direction) -> bool:
    """The initiator is known: a seen handshake, or an ephemeral client port facing a service port."""
    return (
        d.certain
        or d.client_port >= EPHEMERAL > d.server_port
        or d.server_port < 1024 <= d.client_port
    )


def _scenario(site: Any, d: Direction) -> str | None:
    c_in, s_in = _addr.inside(site, d.client_ip), _addr.inside(site, d.server_ip)
    if _addr.outside(site, d.client_ip) and s_in:
        return "inbound"
    if c_in and _addr.outside(site, d.server_ip):
        return "outbound"
    if c_in and s_in and site is not None:
        zc, zs = site.zone_of(d.client_ip), site.zone_of(d.server_ip)
        return "internal" if zc != zs else None
    return None


def _severity(scenario: str, match: Match | None) -> str:
    if scenario == "inbound":
        return "critical" if match is not None and match.confidence > C_PORT else "high"
    if scenario == "outbound":
        return "high" if match is not None and match.confidence > C_PORT else "medium"
    return "medium"


def detect(ctx: DetectContext) -> list[Finding]:
    kn = knowledge(ctx)
    ev = _Evidence(ctx.events)
    sessions: dict[tuple, Session] = {}
    for f in ctx.flows:
        if _addr.is_group(f.orig_ip) or _addr.is_group(f.resp_ip) or f.l4 in ("icmp", "icmpv6"):
            continue
        d = direction(f)
        scenario = _scenario(ctx.site, d)
        if scenario is None:
            continue
        match = _identify(kn, f, d, ev, scenario == "inbound")
        if match is None:
            if not (
                scenario == "inbound"
                and _addr.is_public(d.client_ip)
                and _clear(d)
                and _established(f, d)
            ):
                continue
            match_conf = C_INBOUND_ONLY if d.certain else C_INBOUND_ONLY - 0.2
        else:
            match_conf = match.confidence
        called = _reverse_vnc(f, d, ev) if match is not None and match.tool == VNC else None
        # reverse VNC out of the site is a viewer outside driving an inside screen
        rank = "inbound" if called is not None and scenario == "outbound" else scenario
        severity = _severity(rank, match)
        if ctx.site is not None:
            conduit = ctx.site.conduit_for(
                d.client_ip, d.server_ip, f.l4, d.server_port, d.client_mac, d.server_mac
            )
            if conduit is not None and getattr(conduit, "remote_access", False):
                continue
            if conduit is not None:
                severity = "low"
        if scenario == "outbound" or (called is not None and scenario == "internal"):
            # out of the site; or between zones, reverse VNC: the caller's screen is served
            inside_ip, inside_mac, remote_ip = d.client_ip, d.client_mac, d.server_ip
        else:  # inbound, or into this zone from another: the inside end serves
            inside_ip, inside_mac, remote_ip = d.server_ip, d.server_mac, d.client_ip
        remote_port = d.server_port
        tool = match.tool if match else None
        key = (inside_ip, remote_ip, remote_port, tool, scenario, called is not None)
        s = sessions.get(key)
        if s is None:
            name = f.name or ev.names.get(remote_ip)
            s = sessions[key] = Session(
                key,
                scenario,
                tool,
                match.how if match else "no tool recognised",
                match_conf,
                severity,
                inside_ip,
                inside_mac,
                remote_ip,
                remote_port or None,
                name,
                reverse=called is not None,
            )
            if called is not None:
                s.notes.append(
                    (
                        called.ts,
                        f"{d.client_ip} opened the connection and sent the RFB server banner"
                        " first (RFC 6143: the server speaks first): a VNC server calling a"
                        " listening viewer",
                    )
                )
        s.confidence = max(s.confidence, match_conf)
        s.flows.append((f, d))
        if match is None and len(s.notes) < 3:
            s.notes += _probes(kn, f, d, ev)
    out = [_finding(ctx, s) for s in sessions.values()]
    seen = {(s.inside_ip, s.tool) for s in sessions.values()}
    return out + _lookups_only(ctx, kn, ev, seen)


def _lookups_only(ctx: DetectContext, kn: Knowledge, ev: _Evidence, seen: set) -> list[Finding]:
    """Inside hosts that looked a tool's broker up, when no session of theirs was seen.

    A capture often holds the DNS query but not the session (it went another
    way, or started before the capture): the lookup still shows the tool in use.
    A session to an address the name resolved to counts as captured even when
    no finding was made of it (a `remote_access: true` conduit allows it).
    """
    talked = {pair for f in ctx.flows for pair in ((f.orig_ip, f.resp_ip), (f.resp_ip, f.orig_ip))}
    first: dict[tuple[str, str], tuple[Any, str]] = {}
    for e in ctx.events:
        if e.proto != "dns" or e.fields.get("qr") or not _addr.inside(ctx.site, e.src_ip):
            continue
        for q in e.fields.get("queries") or []:
            tool = kn.tool_for_name(str(q[0])) if q else None
            if tool is not None and (e.src_ip, tool.name) not in seen:
                key = (e.src_ip, tool.name)
                if key not in first or e.ts < first[key][0].ts:
                    first[key] = (e, str(q[0]))
    out = []
    for (ip, tool), (e, name) in first.items():
        addresses = [a for a, n in ev.names.items() if n.lower() == name.lower()]
        if any((ip, a) in talked for a in addresses):
            continue
        resolved = addresses[0] if addresses else None
        evidence = [Evidence(e.ts, f"DNS query for {name} ({tool}); no session to it was captured")]
        out.append(
            finding(ctx, KIND, "medium", C_LOOKUP, f"{tool} in use on {ip}: looked up {name}",
                    evidence, asset_mac=e.src_mac, asset_ip=ip, peer_ip=resolved, peer_name=name)
        )  # fmt: skip
    return out


def _reverse_title(s: Session, service: str) -> tuple[str, tuple[str, ...]]:
    """Title and ATT&CK variants of reverse VNC: who serves the screen, who views it.

    The viewer listens on `service`; out of the site the session is inbound in
    effect (T0883: the inside screen is reachable from outside).
    """
    viewer = s.remote_name or s.remote_ip
    screen = s.inside_ip
    if s.scenario == "inbound":  # an outside VNC server calling a viewer inside
        screen, viewer = s.remote_ip, s.inside_ip
    where = " in another zone" if s.scenario == "internal" else ""
    title = f"Reverse VNC: {screen} serves its screen to {viewer}{where}"
    title += f", a listening viewer on {service}"
    return title, ("internal",) if s.scenario == "internal" else ("inbound",)


def _finding(ctx: DetectContext, s: Session) -> Finding:
    flows = sorted(s.flows, key=lambda fd: fd[0].first_ts)
    f0, d0 = flows[0]
    service = service_of(f0, d0)
    if s.reverse:
        title, variants = _reverse_title(s, service)
    elif s.scenario == "inbound":
        what = s.tool or "Inbound connection"
        where = "public address" if _addr.is_public(s.remote_ip) else "outside address"
        title = f"{what} from {where} {s.remote_ip} into {s.inside_ip} on {service}"
        variants: tuple[str, ...] = ("inbound",)
    elif s.scenario == "outbound":
        what = s.tool or "Remote session"
        title = f"{what} session from {s.inside_ip} to {s.remote_name or s.remote_ip}"
        variants = ()
    else:
        what = s.tool or "Remote session"
        title = f"{what} into {s.inside_ip} on {service} from another zone ({s.remote_ip})"
        variants = ("internal",)
    total = sum(f.bytes for f, _ in flows)
    evidence = [
        Evidence(
            flows[0][0].first_ts,
            f"{sum(f.connections for f, _ in flows)} session(s), {size_text(total)} in all;"
            f" identified by {s.how}",
        )
    ]
    evidence += [Evidence(ts, text) for ts, text in s.notes]
    for f, d in flows[:5]:
        evidence.append(
            Evidence(
                f.first_ts,
                f"{f.l4} {d.client_ip}:{d.client_port} -> {d.server_ip}:{d.server_port}, "
                f"{f.packets} pkts / {size_text(f.bytes)}, {f.last_ts - f.first_ts:.0f} s"
                + ("" if d.certain else " (initiator guessed from ports)"),
            )
        )
    return finding(
        ctx,
        KIND,
        s.severity,
        s.confidence,
        title,
        evidence,
        asset_mac=s.inside_mac,
        asset_ip=s.inside_ip,
        peer_ip=s.remote_ip,
        # the remote end's port: the service's for outbound; a client's throw-away
        # port otherwise, so none (the service port is in the title and evidence)
        peer_port=s.remote_port if s.scenario == "outbound" else None,
        peer_name=s.remote_name,
        variants=variants,
    )
