"""Detector rules that issue 4's simulator and real-capture runs pinned down, on hand-built input.

Generic documentation/test addresses only: the rules must hold on any terminal.
"""

from __future__ import annotations

from _detect_helpers import GW_MAC, asset, batch, ctx, event, flow, frame, site
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.decode.payload_scan import scan_signatures
from cranewatch.detect import beaconing, cellular, remote_access, rogue_gateway, run_all
from cranewatch.detect.model import Evidence, Finding, merge_findings
from cranewatch.inventory.direction import direction
from cranewatch.inventory.site import loads_site
from cranewatch.knowledge import load

HMI, HMI_MAC = "10.50.1.20", "00:0c:29:00:00:20"
LTE_IP, LTE_MAC = "10.50.1.250", "00:1e:42:11:22:33"  # declared in the helper site as a modem
ROGUE_MAC = "00:1e:42:99:88:77"  # Teltonika OUI, not declared
CLOUD = "198.51.100.50"
POOL = ("203.0.113.10", "203.0.113.11")

# ------------------------------------------------------------ one device, one identity


def _modem_behind_itself():
    """A modem MAC that routes the HMI to the internet and whose own IP the inventory lost.

    The inventory keeps a router's addresses only when it saw them bound (ARP, DHCP), so the
    modem's own LAN address ends up as an IP-only asset "behind" it.
    """
    assets = [
        asset(HMI_MAC, HMI),
        asset(ROGUE_MAC, router=True),
        asset(None, "10.50.1.77", behind_router=True),
        asset(GW_MAC, "10.50.1.1"),
    ]
    flows = [
        flow("10.50.1.77", CLOUD, dport=443, orig_mac=ROGUE_MAC, resp_mac=GW_MAC, resp_ttl=116),
        flow(HMI, "198.51.100.60", dport=443, orig_mac=HMI_MAC, resp_mac=ROGUE_MAC, resp_ttl=115),
        flow(HMI, "198.51.100.61", dport=443, orig_mac=HMI_MAC, resp_mac=ROGUE_MAC, resp_ttl=115),
    ]
    return assets, flows


def test_a_router_macs_own_address_is_found_and_findings_merge():
    assets, flows = _modem_behind_itself()
    found = run_all(ctx(site(), assets=assets, flows=flows))
    undeclared = [f for f in found if f.kind == "undeclared-device"]
    mine = [f for f in undeclared if f.asset_mac == ROGUE_MAC or f.asset_ip == "10.50.1.77"]
    assert [(f.asset_mac, f.asset_ip) for f in mine] == [(ROGUE_MAC, "10.50.1.77")]
    rogue = [f for f in found if f.kind == "rogue-gateway"]
    assert [(f.asset_mac, f.asset_ip) for f in rogue] == [(ROGUE_MAC, "10.50.1.77")]


def test_hosts_behind_a_router_keep_their_ip_not_the_routers_mac():
    # two office PCs reach the crane PLC through the gateway: two assets, not one MAC
    assets = [
        asset(GW_MAC, "10.50.1.1"),
        asset(None, "10.60.0.40", behind_router=True),
        asset(None, "10.60.0.41", behind_router=True),
        asset("00:1b:1b:00:00:10", "10.50.1.10"),
    ]
    flows = [flow(pc, "10.50.1.10", dport=102, orig_mac=GW_MAC, resp_mac="00:1b:1b:00:00:10")
             for pc in ("10.60.0.40", "10.60.0.41")]  # fmt: skip
    found = [
        f for f in run_all(ctx(site(), assets=assets, flows=flows)) if f.kind == "policy-violation"
    ]
    assert sorted((f.asset_mac, f.asset_ip) for f in found) == [
        (None, "10.60.0.40"),
        (None, "10.60.0.41"),
    ]


def test_internet_hosts_seen_through_the_gateway_stay_separate_findings():
    plc = "00:1b:1b:00:00:10"
    assets = [asset(GW_MAC, "10.50.1.1"), asset(plc, "10.50.1.10")]
    flows = [
        flow(far, "10.50.1.10", sport=40000, dport=502, orig_mac=GW_MAC, resp_mac=plc)
        for far in ("203.0.113.5", "203.0.113.6")
    ]
    found = run_all(ctx(site(), assets=assets, flows=flows))
    policy = sorted((f.asset_mac, f.asset_ip) for f in found if f.kind == "policy-violation")
    assert policy == [(None, "203.0.113.5"), (None, "203.0.113.6")]


def test_merge_key_is_the_mac_when_known_and_fills_the_ip():
    a = Finding("cellular-modem", "critical", 0.9, "a", asset_mac="00:1E:42:00:00:01",
                evidence=[Evidence(1.0, "x")])  # fmt: skip
    b = Finding("cellular-modem", "high", 0.5, "b", asset_mac="00:1e:42:00:00:01",
                asset_ip="10.50.1.99", evidence=[Evidence(2.0, "y")])  # fmt: skip
    c = Finding(
        "cellular-modem", "high", 0.5, "c", asset_ip="10.50.1.98", evidence=[Evidence(1.0, "x")]
    )
    out = merge_findings([a, b, c])
    assert [(f.asset_ip, f.severity, len(f.evidence)) for f in out] == [
        ("10.50.1.99", "critical", 2),
        ("10.50.1.98", "high", 1),
    ]


# ------------------------------------------------------------ cellular-modem severity


def test_declared_modem_is_low_even_when_its_ip_was_only_inferred():
    # the declared LTE router routes (so the inventory dropped its IP) and talks to its cloud
    assets = [asset(HMI_MAC, HMI), asset(LTE_MAC, router=True),
              asset(None, LTE_IP, behind_router=True), asset(GW_MAC, "10.50.1.1")]  # fmt: skip
    flows = [
        flow(LTE_IP, CLOUD, dport=443, orig_mac=LTE_MAC, resp_mac=GW_MAC,
             name="rms.teltonika-networks.com"),
        flow(HMI, "198.51.100.60", dport=443, orig_mac=HMI_MAC, resp_mac=LTE_MAC),
    ]  # fmt: skip
    found = [f for f in cellular.detect(ctx(site(), assets=assets, flows=flows))]
    assert [(f.asset_mac, f.asset_ip, f.severity) for f in found] == [(LTE_MAC, LTE_IP, "low")]
    assert "declared as modem crane-a-lte" in found[0].title
    # the same device, undeclared, is critical
    other = "00:1e:42:aa:bb:cc"
    assets2 = [asset(other, "10.50.1.251")]
    flows2 = [flow("10.50.1.251", CLOUD, dport=443, orig_mac=other, resp_mac=GW_MAC,
                   name="rms.teltonika-networks.com")]  # fmt: skip
    assert [f.severity for f in cellular.detect(ctx(site(), assets=assets2, flows=flows2))] == [
        "critical"
    ]


def test_a_modem_holding_the_far_address_still_routes_when_ttls_show_hops():
    # the modem routes for one public address only, so the inventory gave it that address
    assets = [
        asset(HMI_MAC, HMI),
        asset(ROGUE_MAC, "198.51.100.70", "10.50.1.77"),
        asset(GW_MAC, "10.50.1.1"),
    ]
    routed = flow(
        HMI, "198.51.100.70", dport=443, orig_mac=HMI_MAC, resp_mac=ROGUE_MAC, resp_ttl=239
    )
    found = rogue_gateway.detect(ctx(site(), assets=assets, flows=[routed]))
    assert [(f.asset_mac, f.asset_ip) for f in found] == [(ROGUE_MAC, "10.50.1.77")]
    # with an untouched initial TTL it is the far host's own address: no routing
    direct = flow(
        HMI, "198.51.100.70", dport=443, orig_mac=HMI_MAC, resp_mac=ROGUE_MAC, resp_ttl=64
    )
    assert rogue_gateway.detect(ctx(site(), assets=assets, flows=[direct])) == []


# ------------------------------------------------------------ beaconing


def _keepalive_session(start: float, n: int, every: float) -> object:
    """One TCP connection that idles between keep-alives: restarts after >= 1 s idle."""
    f = flow(HMI, CLOUD, dport=443, ts=start, dur=n * every, orig_mac=HMI_MAC, resp_mac=GW_MAC)
    f.starts = [start + i * every for i in range(n)]
    return f


def test_keepalives_inside_one_tcp_connection_are_not_connection_starts():
    assert beaconing.detect(ctx(site(), flows=[_keepalive_session(1000.0, 12, 60.0)])) == []
    # twelve separate connections a minute apart are
    conns = [flow(HMI, CLOUD, sport=50000 + i, dport=443, ts=1000.0 + 60 * i, orig_mac=HMI_MAC,
                  resp_mac=GW_MAC) for i in range(12)]  # fmt: skip
    found = beaconing.detect(ctx(site(), flows=conns))
    assert [(f.asset_ip, f.peer_ip, f.peer_port) for f in found] == [(HMI, CLOUD, 443)]


def _ntp_polls(client: str, mac: str, server: str) -> object:
    """NTP from port 123 to 123: one UDP 5-tuple reused every 64 s."""
    f = flow(client, server, proto=17, sport=123, dport=123, ts=1000.0, dur=64 * 11,
             orig_mac=mac, resp_mac=GW_MAC, orig_pkts=12, resp_pkts=12)  # fmt: skip
    f.starts = [1000.0 + 64 * i for i in range(12)]
    return f


SANCTIONED_SITE = """
site: Test terminal
zones:
  - {name: it, cidrs: [10.60.0.0/24], gateways: [10.60.0.1]}
assets:
  - {id: ntp1, mac: "00:0c:29:00:00:05", ip: 10.60.0.5, role: server}
  - {id: ws1, mac: "00:0c:29:00:00:06", ip: 10.60.0.6, role: workstation}
  - {id: ntp2, mac: "00:0c:29:00:00:07", ip: 10.60.0.7, role: server}
conduits:
  - {from: ntp1, to: internet, ports: [udp/123]}
  - {from: ws1, to: internet, ports: [udp/123]}
  - {from: it, to: internet, ports: [udp/123]}
"""


def test_declared_server_polling_through_its_own_conduit_is_not_beaconing():
    s = loads_site(SANCTIONED_SITE, "sanctioned.yaml")
    flows = [
        _ntp_polls("10.60.0.5", "00:0c:29:00:00:05", POOL[0]),  # server, own conduit: sanctioned
        _ntp_polls("10.60.0.6", "00:0c:29:00:00:06", POOL[0]),  # a workstation is no server
        _ntp_polls("10.60.0.7", "00:0c:29:00:00:07", POOL[1]),  # zone-wide conduit only
    ]
    found = beaconing.detect(ctx(s, flows=flows))
    assert sorted((f.asset_ip, f.severity) for f in found) == [
        ("10.60.0.6", "low"),
        ("10.60.0.7", "low"),
    ]


# ------------------------------------------------------------ direction and signatures


def test_one_way_udp_stream_is_started_by_its_sender():
    # RTP from a camera's server port to the recorder's negotiated high port
    rtp = flow("10.50.1.40", "10.60.0.20", proto=17, sport=6984, dport=57688, answered=False)
    d = direction(rtp)
    assert (d.client_ip, d.server_port, d.certain) == ("10.50.1.40", 57688, False)
    # a reply of a well-known service seen without its request is still turned round
    reply = flow("10.60.0.53", HMI, proto=17, sport=53, dport=51000, answered=False)
    assert direction(reply).client_ip == HMI


def test_a_tools_known_port_in_the_dynamic_range_marks_the_server():
    # capture began mid-session: the first packet came from the WireGuard server
    wg = flow(CLOUD, HMI, proto=17, sport=51820, dport=36116)
    d = direction(wg)
    assert (d.client_ip, d.server_ip, d.server_port) == (HMI, CLOUD, 51820)


def _ike_header(version: int, exchange: int, length: int) -> bytes:
    return (
        bytes(8) * 2 + bytes([33, version, exchange, 0x08]) + bytes(4) + length.to_bytes(4, "big")
    )


def test_ike_signature_needs_its_port_and_its_length_field():
    ike = _ike_header(0x20, 34, 28 + 40) + bytes(40)
    rtp_like = bytes([0x80, 0x60]) + bytes(15) + bytes([0x20, 0x22]) + bytes(100)
    frames = [
        frame(HMI, CLOUD, ike, l4="udp", sport=500, dport=500),
        frame(HMI, CLOUD, ike[:-1] + b"", l4="udp", sport=500, dport=500),  # length field lies
        frame("10.50.1.40", "10.60.0.20", rtp_like, l4="udp", sport=6984, dport=57688),
        frame("10.50.1.40", "10.60.0.20", ike, l4="udp", sport=6984, dport=57688),  # off port
    ]
    b = batch(frames)
    ev = scan_signatures(b, decode_l2l4(b), load())
    assert [(e.fields["tool"], e.sport, e.dport, e.ts) for e in ev] == [
        ("IPsec / IKE", 500, 500, 1000.0)
    ]


def test_rdp_bytes_thrown_at_an_exposed_modbus_port_are_a_probe_not_rdp():
    scanner = "203.0.113.99"
    f = flow(scanner, "10.50.1.10", sport=7488, dport=502)
    probe = event("remote-sig", scanner, "10.50.1.10", {"tool": "RDP", "strong": True},
                  l4="tcp", sport=7488, dport=502)  # fmt: skip
    found = remote_access.detect(ctx(None, flows=[f], events=[probe]))
    assert [(r.asset_ip, r.peer_ip, r.peer_port, r.severity) for r in found] == [
        ("10.50.1.10", scanner, None, "high")
    ]
    assert "RDP" not in found[0].title and "tcp/502" in found[0].title
    assert any("probe" in e.detail for e in found[0].evidence)
    # the same bytes to RDP's own port are an RDP session
    g = flow(scanner, "10.50.1.10", sport=7488, dport=3389)
    rdp = event("remote-sig", scanner, "10.50.1.10", {"tool": "RDP", "strong": True},
                l4="tcp", sport=7488, dport=3389)  # fmt: skip
    found = remote_access.detect(ctx(None, flows=[g], events=[rdp]))
    assert [(r.severity, "RDP" in r.title) for r in found] == [("critical", True)]


def test_anydesk_is_recognised_by_its_tls_alpn():
    f = flow(HMI, CLOUD, sport=48260, dport=443)
    hello = event("tls", HMI, CLOUD, {"handshake": "client_hello", "alpn": ["anydesk/6.2.0/linux"]},
                  l4="tcp", sport=48260, dport=443)  # fmt: skip
    found = remote_access.detect(ctx(None, flows=[f], events=[hello]))
    assert [(r.asset_ip, r.peer_port, r.confidence >= 0.9) for r in found] == [(HMI, 443, True)]
    assert "AnyDesk" in found[0].title


def test_known_ports_are_every_narrow_tool_range_and_no_wide_one():
    """known_port reads a set expanded once from the tools' ranges; it must say what they say."""
    from cranewatch.inventory.direction import MAX_KNOWN_RANGE, known_port
    from cranewatch.inventory.services import service_for_port
    from cranewatch.knowledge import load

    narrow = wide = 0
    for tool in load().tools:
        for l4, lo, hi in tool.ports:
            for port in {lo, hi, (lo + hi) // 2}:
                if hi - lo < MAX_KNOWN_RANGE:
                    narrow += 1
                    assert known_port(l4, port), (tool, l4, port)
                elif not service_for_port(l4, port) and not any(
                    p == l4 and a <= port <= b and b - a < MAX_KNOWN_RANGE
                    for t in load().tools
                    for p, a, b in t.ports
                ):
                    wide += 1
                    assert not known_port(l4, port), (tool, l4, port)
    assert narrow > 20 and wide > 0
    assert not known_port("tcp", 0)
