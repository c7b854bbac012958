"""HostTable against per-packet counters computed from the dpkt-based reference."""

from __future__ import annotations

import pytest

from _l2l4_helpers import generate_records, host_results, pack, read_records, ref_hosts, split
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.inventory import flows as flows_mod
from cranewatch.inventory import hosts as hosts_mod
from cranewatch.inventory.hosts import HostTable

REAL = [
    "arkime/arkime_synthetic.pcap",  # Ethernet, many hosts
    "icsnpp-profinet-io-cm/profinet_io_cm_mixed_1.pcap",  # IPv6 and L2-only protocols
    "zeek/vlan-collisions.pcap",  # one MAC on several VLANs
    "zeek/q-in-q.pcap",
    "icsnpp-s7comm/s7comm_plus.pcap",  # Linux SLL: source MAC only
    "zeek/linux_dlt_sll2.pcap",
    "arkime/mqtt_synthetic.pcap",  # raw IPv4: IPs without MACs
    "ndpi/rdp.pcap",  # null/loopback
]


def table_results(batches) -> dict:
    table = HostTable()
    for batch in batches:
        table.add(decode_l2l4(batch), batch)
    return host_results(table)


@pytest.fixture(scope="module")
def generated():
    return generate_records(8000, seed=11)


def test_generated_traffic_matches_reference(generated):
    want = ref_hosts(generated)
    assert table_results([pack(generated)]) == want
    assert len(want["macs"]) > 20 and len(want["pairs"]) > 40
    assert any(len(v[6]) > 1 for v in want["macs"].values())  # several TTLs per MAC


@pytest.mark.parametrize("name", REAL)
def test_real_captures_match_reference(captures, name):
    records = read_records(captures / name)
    want = ref_hosts(records)
    assert want["macs"] or want["ips"], name
    assert table_results([pack(records)]) == want


@pytest.mark.parametrize("size", [1, 50, 1000])
def test_chunking_does_not_change_counters(generated, size):
    whole = pack(generated[:4000])
    assert table_results(split(whole, size)) == table_results([whole])


def test_hash_collisions_are_resolved_exactly(generated, monkeypatch):
    want = ref_hosts(generated[:3000])
    real = flows_mod.mix64
    monkeypatch.setattr(hosts_mod, "mix64", lambda x: real(x) & flows_mod._U(3))
    whole = pack(generated[:3000])
    assert table_results([whole]) == want
    assert table_results(split(whole, 128)) == want


def test_what_the_inventory_reads(captures):
    records = read_records(captures / "zeek/vlan-collisions.pcap")
    table = HostTable()
    batch = pack(records)
    table.add(decode_l2l4(batch), batch)
    macs = table.macs()
    assert macs and all(isinstance(m, int) and not (m >> 40) & 1 for m in macs)
    stats = next(iter(macs.values()))
    assert stats.first_ts <= stats.last_ts and stats.pkts_sent > 0
    assert any(len(s.vlans) > 1 for s in macs.values())
    pairs = table.mac_ips()
    assert all(mac in macs or (mac >> 40) & 1 for mac, _ip in pairs)
    assert table.ips_without_mac() == {}
