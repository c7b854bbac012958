"""DNS parsed once per transport, and repeated DNS facts kept once with a count.

The reference is the dispatcher without those two features (both framings
tried on every payload, one event per packet), run on the same real captures:
the deduplicated events must be exactly the first event of each group of
equal facts, and the counts the sizes of the groups.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

import pytest

from _detect_helpers import batch, dns_query, frame
from cranewatch.decode import dispatch, dns
from cranewatch.decode.dispatch import DeepParser, load_parsers
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.sources import open_capture

DNS_CAPTURES = [
    "ndpi/android.pcap",
    "ndpi/dns-tunnel-iodine.pcap",
    "zeek/var-services-std-ports.pcap",
    "ndpi/dns_fragmented.pcap",  # DNS over TCP too
    "tcpdump/dns_tcp.pcap",
    "arkime/arkime_synthetic.pcap",
]


def _events(path, parsers):
    deep = DeepParser(0, parsers)
    out, n = [], 0
    for b in open_capture(path).batches():
        out += deep.run(b, decode_l2l4(b), n)
        n += len(b)
    return [e for e in out if e.proto == "dns"]


def _plain_parsers():
    """The parsers as before: DNS without the transport hint and without fact keys."""
    return [
        dataclasses.replace(p, takes_l4=False, fact_key=None, volatile=None)
        if p.name == "dns"
        else p
        for p in load_parsers()
    ]


def _group(e) -> tuple:
    service = tuple(p if p == 53 else 0 for p in (e.sport, e.dport))
    fields = tuple(sorted((k, repr(v)) for k, v in e.fields.items() if k not in ("id", "count")))
    return (e.src_mac, e.dst_mac, e.src_ip, e.dst_ip, e.l4, service, fields)


@pytest.mark.parametrize("rel", DNS_CAPTURES)
def test_dedup_keeps_first_of_each_fact_and_counts_the_rest(captures, rel):
    path = captures / rel
    if not path.is_file():
        pytest.skip(f"missing {rel}")
    reference = _events(path, _plain_parsers())
    got = _events(path, load_parsers())
    assert reference, "the capture holds DNS"
    groups: dict[tuple, list] = defaultdict(list)
    for e in reference:
        groups[_group(e)].append(e)
    firsts = [members[0] for members in groups.values()]
    assert [(e.ts, e.ref, _group(e)) for e in got] == [(e.ts, e.ref, _group(e)) for e in firsts]
    assert [e.fields["count"] for e in got] == [len(m) for m in groups.values()]
    assert sum(e.fields["count"] for e in got) == len(reference)


def test_tcp_dns_is_parsed_in_its_framing(captures):
    path = captures / "tcpdump/dns_tcp.pcap"
    if not path.is_file():
        pytest.skip("missing tcpdump/dns_tcp.pcap")
    got = _events(path, load_parsers())
    assert got and all(e.l4 == "tcp" for e in got)
    assert all(e.fields["queries"] for e in got)


def test_transport_picks_the_framing():
    msg = dns_query("plc-7.terminal.example")
    framed = len(msg).to_bytes(2, "big") + msg
    assert dns.parse(msg, l4="udp")["queries"] == [["plc-7.terminal.example", "A"]]
    assert dns.parse(framed, l4="tcp")["queries"] == [["plc-7.terminal.example", "A"]]
    # a UDP payload is never read as length-prefixed, whatever its first bytes
    assert dns.parse(framed, l4="udp") != dns.parse(framed, l4="tcp")
    # a TCP segment that is not one framed message is still read as best it can
    assert dns.parse(msg, l4="tcp") == dns.parse(msg)
    # the payload that decides the fields: the message without its id
    assert dispatch._raw_key(dns.VOLATILE_BYTES, msg, "udp") == msg[2:]
    assert dispatch._raw_key(dns.VOLATILE_BYTES, framed, "tcp") == framed[:2] + framed[4:]
    assert dispatch._raw_key(dns.VOLATILE_BYTES, msg, None) is None


def _query_frames(names_ids_ports):
    return [
        frame("10.50.1.20", "10.50.1.53", dns_query(name, qid), l4="udp", sport=port, dport=53)
        for name, qid, port in names_ids_ports
    ]


def test_repeated_queries_from_new_ports_are_one_fact():
    frames = _query_frames(
        [("ntp.terminal.example", 100 + i, 40000 + i) for i in range(300)]
        + [("mes.terminal.example", 7, 50000)]
    )
    b = batch(frames)
    events = DeepParser().run(b, decode_l2l4(b), 0)
    dns_events = [e for e in events if e.proto == "dns"]
    assert [(e.fields["queries"][0][0], e.fields["count"]) for e in dns_events] == [
        ("ntp.terminal.example", 300),
        ("mes.terminal.example", 1),
    ]
    assert dns_events[0].ts == 1000.0 and dns_events[0].sport == 40000  # the first one kept


def test_raw_payload_table_is_bounded(monkeypatch):
    monkeypatch.setattr(dispatch, "MAX_RAW", 4)
    frames = _query_frames([(f"host-{i}.example", i, 40000 + i) for i in range(10)] * 2)
    deep = DeepParser()
    b = batch(frames)
    events = [e for e in deep.run(b, decode_l2l4(b), 0) if e.proto == "dns"]
    assert len(deep._raw) <= 4
    # a payload forgotten there is parsed again and still counted on its fact
    assert [(e.fields["queries"][0][0], e.fields["count"]) for e in events] == [
        (f"host-{i}.example", 2) for i in range(10)
    ]


def _named_flows(frames, parsers):
    from cranewatch.inventory.build import name_flows
    from cranewatch.inventory.flows import FlowTable

    b = batch(frames)
    pk = decode_l2l4(b)
    table = FlowTable()
    table.add(pk, b)
    flows = table.flows()
    name_flows(flows, DeepParser(0, parsers).run(b, pk, 0))
    return sorted((f.orig_port, f.resp_port, f.service) for f in flows)


def test_flows_are_labelled_as_with_one_event_per_packet():
    # the third query leaves from port 5353, which the mDNS parser also takes:
    # its own DNS event, now folded into the first, must still win as it did
    frames = _query_frames(
        [("ntp.terminal.example", 1, 40000), ("ntp.terminal.example", 2, 40001)]
        + [("ntp.terminal.example", 3, 5353), ("mes.terminal.example", 4, 40002)]
    )
    got = _named_flows(frames, load_parsers())
    assert got == _named_flows(frames, _plain_parsers())
    assert {service for *_, service in got} == {"dns"}
