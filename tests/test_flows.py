"""FlowTable against flows computed one packet at a time from the dpkt-based reference."""

from __future__ import annotations

import struct
from dataclasses import asdict

import dpkt
import pytest

from _l2l4_helpers import generate_records, pack, read_records, ref_flows, split
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.inventory import flows as flows_mod
from cranewatch.inventory.flows import STARTS_CAP, FlowTable

REAL = [
    "arkime/arkime_synthetic.pcap",  # Ethernet
    "iti-ics-security-tools/ModbusTCP/mb2.pcap",  # Ethernet, 13k packets
    "zeek/vlan-qinqinq.pcap",  # VLAN
    "arkime/twovlan.pcap",
    "ndpi/dns_fragmented.pcap",  # IPv6 with fragments
    "zeek/ipv6-fragmented-dns.pcap",
    "icsnpp-s7comm/s7comm_plus.pcap",  # Linux SLL
    "zeek/linux_dlt_sll2.pcap",  # SLL2
    "icsnpp-profinet-io-cm/profinet_io_cm_mixed_2.pcapng",  # pcapng
    "ndpi/bets.pcapng",  # raw IP
    "icsnpp-opcua-binary/open62541_read_service_test_data.pcap",  # null/loopback
    "ndpi/ip_fragmented_garbage.pcap",
]


def table_flows(batches) -> dict:
    table = FlowTable()
    for batch in batches:
        table.add(decode_l2l4(batch), batch)
    out = {}
    for f in table.flows():
        d = asdict(f)
        assert d.pop("connections") == 1 and d.pop("sizes") == []  # nothing folded
        del d["service"], d["name"]
        key = (f.proto, tuple(sorted([(f.orig_ip, f.orig_port), (f.resp_ip, f.resp_port)])))
        assert key not in out, key
        out[key] = d
    assert len(out) == len(table)
    return out


@pytest.fixture(scope="module")
def generated():
    return generate_records(20_000)


def test_generated_traffic_matches_reference(generated):
    want = ref_flows(generated)
    got = table_flows([pack(generated)])
    assert got == want
    assert len(want) > 600
    assert sum(f["orig_pkts"] + f["resp_pkts"] for f in want.values()) > 19_000
    # the generator really produced what the flow rules are about
    assert any(f["proto"] == 58 for f in want.values())
    assert any(f["vlan"] for f in want.values())
    assert any(len(f["starts"]) > 1 for f in want.values())
    # SYN-ACK first: the responder sent the first packet, so no start at first_ts
    assert any(
        f["proto"] == 6 and f["resp_flags"] & 0x12 == 0x12 and f["starts"][:1] != [f["first_ts"]]
        for f in want.values()
    )


def test_generated_file_round_trip(generated, tmp_path):
    path = tmp_path / "gen.pcap"
    with path.open("wb") as fh:
        writer = dpkt.pcap.Writer(fh, linktype=1, nano=True)
        for ts, buf, _lt, _wire in generated:
            writer.writepkt(buf, ts=ts)
    records = read_records(path)
    assert len(records) == len(generated)
    assert table_flows([pack(records)]) == ref_flows(records)


@pytest.mark.parametrize("name", REAL)
def test_real_captures_match_reference(captures, name):
    records = read_records(captures / name)
    want = ref_flows(records)
    assert want, name
    assert table_flows([pack(records)]) == want


@pytest.mark.parametrize("size", [1, 7, 333, 5000])
def test_chunking_does_not_change_flows(generated, size):
    whole = pack(generated[:6000])
    assert table_flows(split(whole, size)) == table_flows([whole])


def test_chunking_real_capture(captures):
    batch = pack(read_records(captures / "iti-ics-security-tools/ModbusTCP/mb2.pcap"))
    assert table_flows(split(batch, 97)) == table_flows([batch])


def test_hash_collisions_are_resolved_exactly(generated, monkeypatch):
    """With a 3-bit flow hash every flow collides; results must not change."""
    want = ref_flows(generated[:5000])
    real = flows_mod._flow_hash
    monkeypatch.setattr(flows_mod, "_flow_hash", lambda a, b, p: real(a, b, p) & flows_mod._U(7))
    whole = pack(generated[:5000])
    assert table_flows([whole]) == want
    assert table_flows(split(whole, 250)) == want


def _udp_frame(src: bytes, dst: bytes, sport: int, dport: int) -> bytes:
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=b"beacon")
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=src, dst=dst, p=17, ttl=64, data=udp)
    return b"\x02" * 6 + b"\x04" * 6 + b"\x08\x00" + bytes(ip)


def test_starts_follow_idle_gaps_and_are_capped():
    a, b = b"\x0a\0\0\x05", b"\x08\x08\x08\x08"
    recs = []
    ts = 1000.0
    for _ in range(STARTS_CAP + 150):
        recs.append((ts, _udp_frame(a, b, 40000, 53), 1))
        recs.append((ts + 0.01, _udp_frame(b, a, 53, 40000), 1))
        ts += 2.0
    # a responder packet after silence does not restart the flow, nor does the quick reply
    recs.append((ts + 5.0, _udp_frame(b, a, 53, 40000), 1))
    (flow,) = table_flows(split(pack(recs), 64)).values()
    assert flow["orig_ip"] == "10.0.0.5" and flow["orig_port"] == 40000
    assert len(flow["starts"]) == STARTS_CAP
    assert flow["starts"][:2] == [1000.0, 1002.0]
    assert flow["orig_pkts"] == STARTS_CAP + 150 and flow["resp_pkts"] == STARTS_CAP + 151


def test_syn_ack_first_makes_the_other_side_originator():
    def tcp(src, dst, sport, dport, flags):
        seg = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags)
        ip = dpkt.ip.IP(src=src, dst=dst, p=6, ttl=60, data=seg)
        return bytes(ip)

    srv, cli = b"\xc0\xa8\x01\x01", b"\xc0\xa8\x01\x02"
    recs = [
        (1.0, tcp(srv, cli, 502, 50000, 0x12), 101),
        (1.1, tcp(cli, srv, 50000, 502, 0x10), 101),
        (1.2, tcp(cli, srv, 50000, 502, 0x18), 101),
    ]
    (flow,) = table_flows([pack(recs)]).values()
    assert (flow["orig_ip"], flow["orig_port"], flow["resp_port"]) == ("192.168.1.2", 50000, 502)
    assert flow["orig_flags"] == 0x18 and flow["resp_flags"] == 0x12
    assert flow["orig_pkts"] == 2 and flow["starts"] == []  # the SYN-ACK began it
    assert flow["orig_mac"] is None and flow["resp_ttl"] == 60


def test_table_grows_with_flows_not_packets(generated):
    batch = pack(generated[:3000])
    table = FlowTable()
    p = decode_l2l4(batch)
    table.add(p, batch)
    rows = len(table)
    for k in range(1, 30):
        p.ts = p.ts + 3600.0 * k  # later copies of the same conversations
        table.add(p, batch)
    assert len(table) == rows
    flows = table.flows()
    assert sum(f.packets for f in flows) == 30 * int((p.ip_ver != 0).sum())


def test_non_ip_and_unsupported_packets_are_ignored():
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\0" * 28
    recs = [(1.0, arp, 1), (2.0, b"\x45" * 40, 147), (3.0, struct.pack(">I", 99) + b"\0" * 30, 0)]
    table = FlowTable()
    batch = pack(recs)
    table.add(decode_l2l4(batch), batch)
    assert table.flows() == []
