"""Deep-parse events are capped per parser per input (hostile input, issue 6).

A flood of DNS responses whose answers are all different made one event per
packet: memory grew with the capture. Past MAX_EVENTS new facts are dropped,
counted, and reported in one warning line per parser; repeats of kept facts
are still counted on them.
"""

from __future__ import annotations

import dpkt
import pytest

from _detect_helpers import batch, frame
from cranewatch.decode import dispatch
from cranewatch.decode.dispatch import DeepParser
from cranewatch.decode.l2l4 import decode_l2l4


def _dns_response(qid: int, name: str, address: bytes) -> bytes:
    answer = dpkt.dns.DNS.RR(
        name=name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN, ttl=60, rdata=address
    )
    msg = dpkt.dns.DNS(
        id=qid,
        qr=dpkt.dns.DNS_R,
        qd=[dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)],
        an=[answer],
    )
    return bytes(msg)


def _responses(count: int, first: int = 0) -> list[bytes]:
    """Responses from one resolver to one client, each with a unique answer."""
    return [
        frame(
            "10.60.0.53",
            "10.50.1.20",
            _dns_response(i & 0xFFFF, f"h{i}.cdn.example", (0x0A000000 + i).to_bytes(4, "big")),
            l4="udp",
            sport=53,
            dport=41000 + i % 1000,
        )
        for i in range(first, first + count)
    ]


def _dns_events(deep: DeepParser, frames: list[bytes], first_no: int = 0) -> list:
    b = batch(frames)
    return [e for e in deep.run(b, decode_l2l4(b), first_no) if e.proto == "dns"]


def test_unique_answers_stop_at_the_cap_and_are_counted(monkeypatch):
    monkeypatch.setattr(dispatch, "MAX_EVENTS", 50)
    deep = DeepParser()
    events = _dns_events(deep, _responses(120))
    events += _dns_events(deep, _responses(80, first=120), first_no=120)
    assert len(events) == 50
    assert [e.fields["names"][0][0] for e in events] == [f"h{i}.cdn.example" for i in range(50)]
    assert deep.dropped == {"dns": 150}
    assert deep.warnings() == [
        "dns: 150 more events dropped after the first 50 distinct ones"
        " (memory bound; the kept ones still count their repeats)"
    ]


def test_repeats_of_kept_facts_still_count_past_the_cap(monkeypatch):
    monkeypatch.setattr(dispatch, "MAX_EVENTS", 3)
    deep = DeepParser()
    frames = _responses(5)
    repeat = frames[1]
    events = _dns_events(deep, frames + [repeat, repeat])
    assert [e.fields["count"] for e in events] == [1, 3, 1]
    assert deep.dropped == {"dns": 2}


def test_the_cap_is_per_parser_and_per_input(monkeypatch):
    monkeypatch.setattr(dispatch, "MAX_EVENTS", 10)
    deep = DeepParser()
    queries = [
        frame("10.50.1.20", "10.60.0.53", bytes(dpkt.dns.DNS(id=i, qd=[dpkt.dns.DNS.Q(name=f"q{i}.example")])),
              l4="udp", sport=40000 + i, dport=53)
        for i in range(4)
    ]  # fmt: skip
    b = batch(_responses(30) + queries)
    events = deep.run(b, decode_l2l4(b), 0)
    assert sum(e.proto == "dns" for e in events) == 10
    assert deep.dropped == {"dns": 24}
    fresh = DeepParser()
    assert len(_dns_events(fresh, _responses(10))) == 10 and not fresh.warnings()


@pytest.mark.parametrize("cap", [0, 1])
def test_a_parser_without_facts_is_capped_too(monkeypatch, cap):
    # DHCP parses every packet (per_flow=0, no fact key): a flood is capped alike
    monkeypatch.setattr(dispatch, "MAX_EVENTS", cap)
    payload = bytes(
        dpkt.dhcp.DHCP(
            chaddr=b"\x02\x00\x00\x00\x00\x09",
            xid=7,
            opts=((dpkt.dhcp.DHCP_OPT_MSGTYPE, bytes([dpkt.dhcp.DHCPDISCOVER])),),
        )
    )
    frames = [
        frame("0.0.0.0", "255.255.255.255", payload, l4="udp", sport=68, dport=67) for _ in range(3)
    ]
    deep = DeepParser()
    b = batch(frames)
    assert sum(e.proto == "dhcp" for e in deep.run(b, decode_l2l4(b), 0)) == cap
    assert deep.dropped["dhcp"] == 3 - cap


def _http_get(host: str, sport: int) -> bytes:
    request = f"GET / HTTP/1.1\r\nHost: {host}\r\nUser-Agent: probe\r\n\r\n".encode()
    return frame("10.50.1.20", "203.0.113.9", request, l4="tcp", sport=sport, dport=80)


def test_per_flow_counts_are_bounded_and_still_limit_a_flow(monkeypatch):
    """A day of short connections must not grow the per-flow counters without bound."""
    monkeypatch.setattr(dispatch, "MAX_COUNTED", 16)
    deep = DeepParser()
    many = [_http_get(f"h{i}.example", 20000 + i) for i in range(100)]
    b = batch(many)
    events = [e for e in deep.run(b, decode_l2l4(b), 0) if e.proto == "http"]
    assert len({e.fields.get("host") for e in events}) == 100  # every connection parsed
    assert len(deep._per_flow_seen) <= 16
    one_flow = [_http_get(f"again{i}.example", 30000) for i in range(20)]  # per_flow is 8
    b = batch(one_flow)
    events = [e for e in deep.run(b, decode_l2l4(b), 100) if e.proto == "http"]
    assert len(events) == 8
