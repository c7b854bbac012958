"""remote-access, policy-violation and beaconing on hand-built flows."""

from __future__ import annotations

import numpy as np

from _detect_helpers import asset, ctx, event, flow, site
from cranewatch.detect import beaconing, policy, remote_access

HMI, HMI_MAC = "10.50.1.20", "00:0c:29:00:00:20"
JUMP, JUMP_MAC = "10.50.1.30", "00:0c:29:00:00:30"
PLC, PLC_MAC = "10.50.1.10", "00:1b:1b:00:00:10"
OFFICE_PC = "10.60.0.40"
REMOTE = "198.51.100.23"
GW = "00:00:5e:00:01:01"


# ------------------------------------------------------------------ remote-access


def test_outbound_tool_by_server_name():
    f = flow(HMI, REMOTE, dport=443, orig_mac=HMI_MAC, resp_mac=GW, name="router12.teamviewer.com")
    found = remote_access.detect(ctx(site(), flows=[f]))
    assert len(found) == 1
    r = found[0]
    assert (r.asset_ip, r.peer_ip, r.peer_name, r.severity) == (
        HMI,
        REMOTE,
        "router12.teamviewer.com",
        "high",
    )
    assert "TeamViewer" in r.title and r.confidence >= 0.85 and r.attack_ics == ["T0822"]


def test_inbound_vnc_from_public_is_critical():
    f = flow(REMOTE, HMI, sport=61000, dport=5900, orig_mac=GW, resp_mac=HMI_MAC)
    rfb = event("rfb", HMI, REMOTE, {"banner": "RFB 003.008"}, l4="tcp", sport=5900, dport=61000)
    found = remote_access.detect(ctx(None, flows=[f], events=[rfb]))
    assert [(r.severity, r.asset_ip, r.peer_ip) for r in found] == [("critical", HMI, REMOTE)]
    assert found[0].attack_ics == ["T0822", "T0883"] and found[0].confidence >= 0.9


def test_session_in_the_approved_vpn_conduit_is_no_finding():
    f = flow(REMOTE, JUMP, proto=17, sport=51000, dport=1194, orig_mac=GW, resp_mac=JUMP_MAC)
    assert remote_access.detect(ctx(site(), flows=[f])) == []
    # the same VPN to a host the conduit does not name is a finding
    g = flow(REMOTE, HMI, proto=17, sport=51000, dport=1194, orig_mac=GW, resp_mac=HMI_MAC)
    assert [r.asset_ip for r in remote_access.detect(ctx(site(), flows=[g]))] == [HMI]


def test_inbound_without_a_tool_needs_an_answer():
    answered = flow(REMOTE, HMI, sport=40000, dport=8080)
    unanswered = flow("203.0.113.77", HMI, sport=40000, dport=8080, answered=False)
    found = remote_access.detect(ctx(None, flows=[answered, unanswered]))
    assert [(r.peer_ip, r.severity) for r in found] == [(REMOTE, "high")]


def test_ephemeral_port_collisions_are_not_tools():
    # the HMI's client port happens to be 5938 (TeamViewer) while it browses
    browse = flow(HMI, REMOTE, sport=5938, dport=443)
    # a UDP flow to a high port that a tool also uses, with nothing else known
    high = flow(HMI, REMOTE, proto=17, sport=40000, dport=41641)
    assert remote_access.detect(ctx(None, flows=[browse, high])) == []


def test_payload_signature_event_identifies_the_tool():
    f = flow(HMI, REMOTE, dport=443)
    sig = event(
        "remote-sig", HMI, REMOTE, {"tool": "frp", "strong": True}, l4="tcp", sport=50000, dport=443
    )
    found = remote_access.detect(ctx(None, flows=[f], events=[sig]))
    assert len(found) == 1 and "frp" in found[0].title


def test_cross_zone_ssh_is_internal_and_same_zone_is_not_reported():
    cross = flow("10.60.0.99", PLC, dport=3389)
    same = flow(HMI, PLC, dport=22)
    found = remote_access.detect(ctx(site(), flows=[cross, same]))
    assert [(r.asset_ip, r.severity) for r in found] == [(PLC, "medium")]
    assert "T0886" in found[0].attack_ics
    allowed = flow(OFFICE_PC, PLC, dport=22)  # office -> crane-a tcp/22 is an ordinary conduit
    assert [r.severity for r in remote_access.detect(ctx(site(), flows=[allowed]))] == ["low"]


# ------------------------------------------------------------------ policy-violation


def test_cross_zone_flows_without_conduit_are_grouped():
    flows = [flow(HMI, OFFICE_PC, dport=445, ts=1000 + i, sport=50000 + i) for i in range(3)]
    found = policy.detect(ctx(site(), flows=flows))
    assert len(found) == 1
    v = found[0]
    assert (v.asset_ip, v.peer_ip, v.peer_port, v.severity) == (HMI, OFFICE_PC, 445, "medium")
    assert v.evidence[0].detail.startswith("3 flow(s)")
    assert v.attack_ics == ["T0886"]


def test_unnamed_high_ports_of_one_host_pair_are_one_finding():
    """DCOM/RPC: an endpoint-mapper call on tcp/135, then a new high port per call."""
    ports = [1059, 1062, 1117, 1072, 49171]
    flows = [
        flow(HMI, OFFICE_PC, dport=p, ts=1000 + i, sport=50000 + i) for i, p in enumerate(ports)
    ]
    flows += [flow(HMI, OFFICE_PC, dport=135), flow(HMI, OFFICE_PC, dport=8080, service="http")]
    found = sorted(policy.detect(ctx(site(), flows=flows)), key=lambda v: v.title)
    assert [v.title.split(" on ")[1] for v in found] == [
        "tcp/1059, 1062, 1072 and 2 more (unnamed ports): no conduit",
        "tcp/135: no conduit",
        "tcp/8080 (http): no conduit",
    ]
    grouped = found[0]
    assert grouped.peer_port is None and grouped.evidence[0].detail.startswith("5 flow(s)")
    assert grouped.evidence[1].detail == "tcp ports: 1059, 1062, 1072, 1117, 49171"
    one = policy.detect(ctx(site(), flows=[flow(HMI, OFFICE_PC, dport=5026)]))
    assert (one[0].peer_port, one[0].title.split(" on ")[1]) == (5026, "tcp/5026: no conduit")


def test_allowed_flows_and_their_answers_are_fine():
    allowed = flow(PLC, "10.60.0.7", dport=502)
    # the capture missed the SYN: the "originator" is the server answering on 502
    answer = flow("10.60.0.7", PLC, sport=502, dport=50123, handshake=False)
    ntp = flow(PLC, "10.60.0.5", proto=17, sport=123, dport=123)
    assert policy.detect(ctx(site(), flows=[allowed, answer, ntp])) == []


def test_egress_is_high_and_link_chatter_is_ignored():
    out = flow(PLC, "8.8.8.8", proto=17, sport=40000, dport=53)
    chatter = [
        flow("0.0.0.0", "255.255.255.255", proto=17, sport=68, dport=67),
        flow(HMI, "224.0.0.251", proto=17, sport=5353, dport=5353),
        flow("169.254.10.1", "10.60.0.40", proto=17, sport=5000, dport=5000),
        flow(HMI, "10.60.0.40", proto=1, sport=0, dport=0),
    ]
    found = policy.detect(ctx(site(), flows=[out, *chatter]))
    assert [(v.peer_ip, v.severity) for v in found] == [("8.8.8.8", "high")]
    assert "T0869" in found[0].attack_ics
    assert policy.detect(ctx(None, flows=[out])) == []


# ------------------------------------------------------------------ beaconing


def _beacon_flows(src, dst, period, n=30, jitter=0.5, port=443, seed=1, size=620, mac=HMI_MAC):
    rng = np.random.default_rng(seed)
    t = 1000.0 + np.cumsum(np.full(n, period) + rng.uniform(-jitter, jitter, n))
    return [flow(src, dst, sport=40000 + i, dport=port, ts=float(x), orig_bytes=size + int(rng.integers(-8, 8)),
                 orig_mac=mac) for i, x in enumerate(t)]  # fmt: skip


def test_regular_callbacks_are_beaconing():
    found = beaconing.detect(ctx(None, flows=_beacon_flows(HMI, REMOTE, 60.0)))
    assert len(found) == 1
    b = found[0]
    assert (b.asset_ip, b.peer_ip, b.peer_port, b.severity) == (HMI, REMOTE, 443, "medium")
    assert b.confidence >= beaconing.THRESHOLD
    assert b.attack_ics == ["T0869", "T0885"]
    assert "every 60" in b.evidence[0].detail


def test_random_connections_are_not_beaconing():
    rng = np.random.default_rng(7)
    t = 1000.0 + np.cumsum(rng.exponential(60.0, 30))
    flows = [flow(HMI, REMOTE, sport=40000 + i, ts=float(x), orig_bytes=int(rng.integers(200, 40000)))
             for i, x in enumerate(t)]  # fmt: skip
    assert beaconing.detect(ctx(None, flows=flows)) == []


def test_plc_polling_and_ntp_to_declared_servers_are_not_beaconing():
    polling = flow("10.60.0.7", PLC, dport=502, starts=[1000.0 + 0.1 * i for i in range(600)])
    ntp_in = _beacon_flows(PLC, "10.60.0.5", 64.0, port=123)
    ntp_declared_cloud = _beacon_flows(PLC, "203.0.113.123", 64.0, port=123)
    assert beaconing.detect(ctx(site(), flows=[polling, *ntp_in, *ntp_declared_cloud])) == []


def test_private_endpoint_outside_the_zones_counts_and_udp_restarts_are_used():
    # one UDP 5-tuple reused, restarting every 30 s, to a private address no zone covers
    f = flow(HMI, "192.168.77.9", proto=17, sport=47000, dport=9000, ts=1000.0, dur=900.0,
             starts=[1000.0 + 30.0 * i for i in range(30)], orig_mac=HMI_MAC)  # fmt: skip
    found = beaconing.detect(ctx(site(), flows=[f]))
    assert [(b.asset_ip, b.peer_ip) for b in found] == [(HMI, "192.168.77.9")]
    # without a site file a private endpoint is inside
    assert beaconing.detect(ctx(None, flows=[f])) == []


def test_score_components_on_known_series():
    regular = beaconing.score([0, 10, 20, 30, 40, 50, 60], [], 60.0)
    assert regular["ts_madm"] == 0 and regular["ts_skew"] == 0 and regular["score"] == 1.0
    skewed = beaconing.score([0, 1, 2, 3, 4, 50, 100], [], 100.0)
    assert skewed["score"] < beaconing.THRESHOLD


def test_assets_are_not_needed_but_accepted():
    found = beaconing.detect(
        ctx(None, assets=[asset(HMI_MAC, HMI)], flows=_beacon_flows(HMI, REMOTE, 300.0))
    )
    assert found and found[0].asset_mac == HMI_MAC


def test_dns_lookup_of_a_tool_without_a_session():
    q = event("dns", HMI, "10.60.0.53", {"qr": False, "queries": [["relay-1a2b3c4d.net.anydesk.com", "A"]]},
              src_mac=HMI_MAC)  # fmt: skip
    a = event(
        "dns",
        "10.60.0.53",
        HMI,
        {"qr": True, "names": [["relay-1a2b3c4d.net.anydesk.com", "198.51.100.99"]]},
    )
    found = remote_access.detect(ctx(site(), events=[q, a]))
    assert [(r.asset_ip, r.peer_ip, r.severity) for r in found] == [
        (HMI, "198.51.100.99", "medium")
    ]
    assert "AnyDesk" in found[0].title
    # a session to the relay makes the look-up part of that finding instead
    f = flow(HMI, "198.51.100.99", dport=443, orig_mac=HMI_MAC)
    found = remote_access.detect(ctx(site(), flows=[f], events=[q, a]))
    assert len(found) == 1 and found[0].peer_port == 443
