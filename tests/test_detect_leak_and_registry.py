"""container-data-leak (from payload_scan events) and run_all's registry and error handling."""

from __future__ import annotations

import cranewatch.detect as detect
from _detect_helpers import batch, ctx, dns_query, event, flow, frame, site
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.decode.payload_scan import scan
from cranewatch.detect import container_leak
from cranewatch.detect.model import KINDS, Finding

SENDER, SENDER_MAC = "10.50.1.20", "02:00:00:00:00:01"


def _events(dst, payload, **kw):
    b = batch([frame(SENDER, dst, payload, **kw)])
    return scan(b, decode_l2l4(b))


def test_numbers_posted_to_a_public_address_leak():
    body = b"POST /t HTTP/1.1\r\nHost: x.example\r\n\r\nCSQU3054383 AAAU5000000 CSQU3054383"
    found = container_leak.detect(ctx(None, events=_events("198.51.100.7", body, dport=80)))
    assert len(found) == 1
    f = found[0]
    assert (f.asset_ip, f.asset_mac, f.peer_ip, f.peer_port, f.severity) == (
        SENDER, SENDER_MAC, "198.51.100.7", 80, "high")  # fmt: skip
    assert "2 container number(s)" in f.evidence[0].detail and "CSQU3054383" in f.evidence[0].detail
    assert f.attack_ics == ["T0882"]


def test_wrong_check_digit_and_private_receiver_are_no_leak():
    assert (
        container_leak.detect(ctx(None, events=_events("198.51.100.7", b"CSQU3054384", dport=9000)))
        == []
    )
    assert (
        container_leak.detect(ctx(None, events=_events("10.60.0.9", b"CSQU3054383", dport=9000)))
        == []
    )


def test_site_container_data_to_decides():
    allowed = _events("10.60.0.9", b"UNH+1+COARRI:D:95B:UN'EQD+CN+CSQU3054383'", dport=9000)
    assert container_leak.detect(ctx(site(), events=allowed)) == []
    other_zone = _events("10.50.1.30", b"UNH+1+COARRI:D:95B:UN'", dport=9000)
    found = container_leak.detect(ctx(site(), events=other_zone))
    assert [(f.peer_ip, f.severity) for f in found] == [("10.50.1.30", "medium")]
    assert "COARRI" in " ".join(e.detail for e in found[0].evidence)


def test_dns_labels_leak_through_an_inside_resolver():
    ev = _events("10.50.1.53", dns_query("csqu3054383.lookup.example"), l4="udp", dport=53)
    found = container_leak.detect(ctx(None, events=ev))
    assert len(found) == 1 and "DNS" in found[0].evidence[0].detail
    # an explicitly allowed resolver keeps the names in
    ev = _events("10.60.0.53", dns_query("csqu3054383.lookup.example"), l4="udp", dport=53)
    assert container_leak.detect(ctx(site(), events=ev)) == []


def test_many_numbers_are_quoted_with_a_count():
    numbers = [f"AAAU{n:06d}" for n in range(500000, 500400)]
    from cranewatch.decode.payload_scan import iso6346_check_digit

    text = " ".join(n + str(iso6346_check_digit(n)) for n in numbers)
    found = container_leak.detect(
        ctx(None, events=_events("198.51.100.7", text.encode(), dport=9000))
    )
    assert "50 container number(s)" in found[0].evidence[0].detail  # capped per packet
    assert "and 47 more" in found[0].evidence[0].detail


# ------------------------------------------------------------------ registry


def test_registry_covers_every_kind():
    assert set(detect.REGISTRY) == set(KINDS)


def test_a_failing_detector_is_a_warning_not_a_crash(monkeypatch):
    def boom(_ctx):
        raise ValueError("bad data")

    monkeypatch.setitem(detect.REGISTRY, "beaconing", boom)
    c = ctx(None, flows=[flow("10.50.1.20", "198.51.100.7", dport=5900, sport=61000)])
    found = detect.run_all(c)
    assert any(f.kind == "remote-access" for f in found)
    assert len(c.extra["warnings"]) == 1 and "beaconing" in c.extra["warnings"][0]


def test_run_all_merges_one_finding_per_key(monkeypatch):
    def twice(_ctx):
        return [
            Finding("beaconing", "low", 0.5, "a", asset_ip="10.0.0.1", peer_ip="198.51.100.7", peer_port=443,
                    evidence=[detect.model.Evidence(1.0, "x")]),
            Finding("beaconing", "high", 0.9, "b", asset_ip="10.0.0.1", peer_ip="198.51.100.7", peer_port=443,
                    evidence=[detect.model.Evidence(2.0, "y")]),
        ]  # fmt: skip

    monkeypatch.setattr(detect, "REGISTRY", {"beaconing": twice})
    found = detect.run_all(ctx(None))
    assert len(found) == 1 and found[0].severity == "high" and len(found[0].evidence) == 2
    assert found[0].id == "f-0001"


def test_every_finding_has_timestamped_evidence_and_known_techniques():
    from cranewatch.knowledge import load

    kn = load()
    c = ctx(site(), flows=[flow("10.50.1.20", "10.60.0.40", dport=445),
                           flow("198.51.100.7", "10.50.1.20", sport=61000, dport=5900)],
            events=[event("container-ids", "10.50.1.20", "198.51.100.7",
                          {"iso6346": ["CSQU3054383"], "edifact": [], "where": "payload"})])  # fmt: skip
    found = detect.run_all(c)
    assert {f.kind for f in found} >= {"policy-violation", "remote-access", "container-data-leak"}
    for f in found:
        assert f.evidence and all(isinstance(e.ts, float) and e.ts > 0 for e in f.evidence)
        assert f.attack_ics and all(t in kn.techniques for t in f.attack_ics)
        assert 0.0 <= f.confidence <= 1.0
