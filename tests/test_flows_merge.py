"""FlowTable.merge / HostTable.merge: tables read in parallel and merged equal one sequential read.

The process pool reads each capture into its own tables and merges them in
the parent, so merging the tables of consecutive pieces of one capture must
give exactly what reading the pieces one after the other gives.
"""

from __future__ import annotations

import pickle
from dataclasses import asdict

import pytest

from _l2l4_helpers import generate_records, host_results, pack, read_records, ref_flows, split
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.inventory import flows as flows_mod
from cranewatch.inventory.flows import FlowTable
from cranewatch.inventory.hosts import HostTable


def read(cls, batches):
    table = cls()
    for batch in batches:
        table.add(decode_l2l4(batch), batch)
    return table


def flow_dicts(table: FlowTable) -> list[dict]:
    return [asdict(f) for f in table.flows()]


@pytest.fixture(scope="module")
def pieces():
    return split(pack(generate_records(20_000)), 997)


@pytest.mark.parametrize("cut", [1, 6, 13, 19])
def test_merged_flows_equal_sequential_read(pieces, cut):
    whole = read(FlowTable, pieces)
    first, second = read(FlowTable, pieces[:cut]), read(FlowTable, pieces[cut:])
    first.merge(second)
    assert flow_dicts(first) == flow_dicts(whole)
    assert len(first) == len(whole) > 600


def test_merge_keeps_restarts_across_the_cut(pieces):
    """Restart times depend on the silence before a packet, which spans the two tables."""
    whole = read(FlowTable, pieces)
    restarted = [f for f in whole.flows() if len(f.starts) > 1]
    assert restarted
    for cut in range(1, len(pieces)):
        first, second = read(FlowTable, pieces[:cut]), read(FlowTable, pieces[cut:])
        first.merge(second)
        got = {_key(f): f.starts for f in first.flows()}
        for f in restarted:
            assert got[_key(f)] == f.starts


def _key(f) -> tuple:
    return (f.proto, f.orig_ip, f.orig_port, f.resp_ip, f.resp_port)


def test_three_way_merge_matches_dpkt_reference():
    records = generate_records(6_000, seed=11)
    parts = split(pack(records), 1500)
    merged = FlowTable()
    for part in parts:
        merged.merge(pickle.loads(pickle.dumps(read(FlowTable, [part]))))
    got = {}
    for d in flow_dicts(merged):
        assert d.pop("connections") == 1 and d.pop("sizes") == []  # nothing folded
        del d["service"], d["name"]
        key = (
            d["proto"],
            tuple(sorted([(d["orig_ip"], d["orig_port"]), (d["resp_ip"], d["resp_port"])])),
        )
        got[key] = d
    assert got == ref_flows(records)


def test_merge_with_empty_tables(pieces):
    whole = read(FlowTable, pieces[:3])
    empty = FlowTable()
    empty.merge(whole)
    assert flow_dicts(empty) == flow_dicts(whole)
    whole.merge(FlowTable())
    assert flow_dicts(whole) == flow_dicts(empty)


def test_merge_resolves_hash_collisions_exactly(pieces, monkeypatch):
    """With a 3-bit flow hash every flow collides across the two tables too.

    Rows then come from the exact fallback in another order, which only shows
    in the order of flows with the same first time: compare as sets.
    """
    want = sorted(flow_dicts(read(FlowTable, pieces)), key=repr)
    real = flows_mod._flow_hash
    monkeypatch.setattr(flows_mod, "_flow_hash", lambda a, b, p: real(a, b, p) & flows_mod._U(7))
    first, second = read(FlowTable, pieces[:9]), read(FlowTable, pieces[9:])
    first.merge(second)
    assert sorted(flow_dicts(first), key=repr) == want


def host_view(table: HostTable):
    return host_results(table), table.ips_without_mac()


@pytest.mark.parametrize("cut", [2, 10])
def test_merged_hosts_equal_sequential_read_in_any_order(pieces, cut):
    want = host_view(read(HostTable, pieces))
    first, second = read(HostTable, pieces[:cut]), read(HostTable, pieces[cut:])
    second.merge(pickle.loads(pickle.dumps(first)))
    assert host_view(second) == want
    assert want[0]["macs"] and want[0]["pairs"]


def test_merge_real_captures_without_macs(captures):
    """Raw-IP and null/loop links feed the per-IP counters; merging keeps them."""
    names = ["ndpi/bets.pcapng", "icsnpp-opcua-binary/open62541_read_service_test_data.pcap"]
    batches = [pack(read_records(captures / n)) for n in names]
    whole_h, whole_f = read(HostTable, batches), read(FlowTable, batches)
    hosts, flows = read(HostTable, batches[:1]), read(FlowTable, batches[:1])
    hosts.merge(read(HostTable, batches[1:]))
    flows.merge(read(FlowTable, batches[1:]))
    assert whole_h.ips_without_mac()
    assert host_view(hosts) == host_view(whole_h)
    assert flow_dicts(flows) == flow_dicts(whole_f)
