"""Flow folding: past the budget, idle flows become per-conversation records.

Memory must follow conversations, not the length of the capture; what the
detectors and reports read must survive the folding: totals per conversation,
connection counts, connection starts, and every finding.
"""

from __future__ import annotations

import socket
from collections import defaultdict

import dpkt
import pytest

from _l2l4_helpers import generate_records, pack, split
from cranewatch.decode import rows
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.inventory import flows as flows_mod
from cranewatch.inventory.direction import direction
from cranewatch.inventory.flows import FlowTable
from cranewatch.inventory.site import load_site
from cranewatch.pipeline import analyze
from cranewatch.report.json_out import findings_document, validate
from cranewatch.simulate import simulate

BUDGET = 64
CLIENT_MAC, ROUTER_MAC, PLC_MAC = 0x020000000001, 0x0200000000FE, 0x020000000050


def _frame(src_ip: str, dst_ip: str, proto: int, sport: int, dport: int, flags: int = 0) -> bytes:
    if proto == 6:
        l4 = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, data=b"x" * 20)
    else:
        l4 = dpkt.udp.UDP(sport=sport, dport=dport, data=b"q" * 30)
        l4.ulen = len(l4)
    ip = dpkt.ip.IP(
        src=socket.inet_aton(src_ip), dst=socket.inet_aton(dst_ip), p=proto, ttl=64, data=l4
    )
    ip.len = len(ip)
    local = dst_ip.startswith("10.")
    src_mac = CLIENT_MAC if src_ip == "10.0.0.10" else (PLC_MAC if local else ROUTER_MAC)
    dst_mac = PLC_MAC if local else ROUTER_MAC
    if src_ip != "10.0.0.10":
        dst_mac = CLIENT_MAC
    eth = dpkt.ethernet.Ethernet(
        src=src_mac.to_bytes(6, "big"), dst=dst_mac.to_bytes(6, "big"), data=ip
    )
    return bytes(eth)


def _churn(seconds: int = 600) -> list[tuple[float, bytes, int]]:
    """A client that churns ports (DNS every 2 s, HTTPS every 5 s) beside a never-idle poll.

    What folding is for: many short connections, few conversations.
    """
    records = []
    port = 40000
    c, dns, web, plc = "10.0.0.10", "10.0.0.53", "203.0.113.9", "10.0.0.50"
    for t in range(seconds):
        for k in range(10):  # Modbus polling every 0.1 s: one flow, never folded
            ts = t + k / 10
            records.append((ts, _frame(c, plc, 6, 50200, 502, 0x18), 1))
            records.append((ts + 0.01, _frame(plc, c, 6, 502, 50200, 0x18), 1))
        if t % 2 == 0:
            port += 1
            records.append((t + 0.2, _frame(c, dns, 17, port, 53), 1))
            records.append((t + 0.21, _frame(dns, c, 17, 53, port), 1))
        if t % 5 == 0:
            port += 1
            for dt, flags, back in (
                (0.3, 0x02, 0),
                (0.31, 0x12, 1),
                (0.32, 0x10, 0),
                (0.4, 0x11, 1),
            ):
                a, b = (web, c) if back else (c, web)
                sp, dp = (443, port) if back else (port, 443)
                records.append((t + dt, _frame(a, b, 6, sp, dp, flags), 1))
    records.sort(key=lambda r: r[0])
    return records


@pytest.fixture(scope="module")
def churn():
    return split(pack(_churn()), 500)


@pytest.fixture(scope="module")
def dense():
    """Flows that all live the whole capture: folding must thrash, yet keep every total."""
    return split(pack(generate_records(20_000)), 1_000)


def _read(batches, budget: int | None = None, watch: list[int] | None = None) -> FlowTable:
    table = FlowTable(budget)
    for batch in batches:
        table.add(decode_l2l4(batch), batch)
        if watch is not None:
            watch.append(len(table))
    return table


def _by_service(flows) -> dict[tuple, list]:
    """Per (proto, client, server, server port): connections, packets, bytes, starts."""
    out: dict[tuple, list] = defaultdict(lambda: [0, 0, 0, []])
    for f in flows:
        d = direction(f)
        t = out[(f.proto, d.client_ip, d.server_ip, d.server_port)]
        t[0] += f.connections
        t[1] += f.packets
        t[2] += f.bytes
        t[3] = sorted(t[3] + f.connection_starts())
    return dict(out)


def _pair_totals(flows) -> dict[tuple, tuple[int, int]]:
    out: dict[tuple, list[int]] = defaultdict(lambda: [0, 0])
    for f in flows:
        t = out[(f.proto, *sorted((f.orig_ip, f.resp_ip)))]
        t[0] += f.packets
        t[1] += f.bytes
    return {k: tuple(v) for k, v in out.items()}


def test_churning_client_folds_into_one_record_per_service(churn):
    sizes: list[int] = []
    whole = _read(churn).flows()
    folded = _read(churn, BUDGET, sizes).flows()
    assert max(sizes) <= BUDGET  # checked after every chunk
    assert len(whole) == 1 + 300 + 120 and len(folded) < 2 * BUDGET
    assert _by_service(folded) == _by_service(whole)  # connections, totals and every start
    dns = [f for f in folded if f.resp_port == 53 and f.connections > 1]
    assert len(dns) == 1 and dns[0].connections > 200 and len(dns[0].sizes) == dns[0].connections
    (poll,) = [f for f in folded if f.resp_port == 502]
    assert poll.connections == 1 and poll.packets == 600 * 20


def test_merging_folded_tables_gives_the_same_records(churn):
    half = len(churn) // 2
    first, second = _read(churn[:half], BUDGET), _read(churn[half:], BUDGET)
    first.merge(second)
    assert len(first) <= BUDGET
    assert _by_service(first.flows()) == _by_service(_read(churn).flows())


def test_thrashing_still_keeps_every_packet_and_byte(dense):
    """More live flows than the budget: pieces get folded, totals stay exact."""
    sizes: list[int] = []
    whole = _read(dense).flows()
    folded = _read(dense, BUDGET, sizes).flows()
    assert max(sizes) <= BUDGET and len(whole) > 10 * BUDGET
    assert _pair_totals(folded) == _pair_totals(whole)
    assert sum(f.connections for f in folded) >= len(whole)


@pytest.mark.parametrize("seed", [1, 4])
def test_findings_survive_heavy_folding(tmp_path, monkeypatch, seed):
    """A budget of 16 flows folds most of a simulated terminal: the findings stay the same.

    Seed 4 has a long TLS session with keep-alives: folded in pieces, it must
    not turn into beaconing. (Titles may name another member's service.)
    """
    res = simulate(tmp_path, seed=seed)
    site = load_site(res.site)
    plain = analyze([res.capture], site)
    monkeypatch.setattr(flows_mod, "FLOW_BUDGET", 16)
    folded = analyze([res.capture], site)
    assert len(folded.flows) < len(plain.flows) / 1.5

    def key(f):
        return (f.kind, f.severity, f.asset_mac, f.asset_ip, f.peer_ip, f.peer_port)

    assert sorted(map(key, folded.findings)) == sorted(map(key, plain.findings))
    doc = findings_document(folded)
    validate(doc)
    assert any(entry["connections"] > 1 for entry in doc["flows"])
    # a session folded while idle and seen again is counted in pieces
    assert sum(entry["connections"] for entry in doc["flows"]) >= len(plain.flows)


def _flows_by_rows(monkeypatch, batches, budget: int) -> list:
    """Flows of a table whose folds hand `Conversations.add` one flow per row (the plain way)."""
    with monkeypatch.context() as m:
        m.setattr(FlowTable, "_fold_groups", lambda self, rows: self._build(rows))
        return _read(batches, budget).flows()


@pytest.mark.parametrize("budget", [8, BUDGET])
def test_grouped_folds_equal_folding_each_flow(monkeypatch, churn, dense, budget):
    """Rows grouped by fold key with numpy give the records a Flow per row gives, field by field.

    The churn has UDP flows that restart after silence, TCP with and without
    SYNs, MACs on both sides and routed peers; `dense` thrashes.
    """
    for batches in (churn, dense):
        plain = _flows_by_rows(monkeypatch, batches, budget)
        grouped = _read(batches, budget).flows()
        assert any(f.connections > 1 for f in grouped)
        assert grouped == plain


def test_grouped_folds_survive_hash_collisions_and_a_full_memo(monkeypatch, churn):
    """Every fold-key hash equal, and the direction memo starting over each batch: same records."""
    plain = _flows_by_rows(monkeypatch, churn, 8)
    monkeypatch.setattr(rows, "row_hash", lambda table: table[:, 0] & 0)
    monkeypatch.setattr(flows_mod._SidesMemo, "MAX", 1)
    monkeypatch.setattr(flows_mod, "_SIDES", flows_mod._SidesMemo())
    assert _read(churn, 8).flows() == plain


def test_folding_a_batch_equals_folding_its_flows_one_by_one():
    """Conversations fold a batch per record at once; the records are what one at a time gives.

    Past STARTS_CAP the starts kept are the earliest and the sizes the first,
    whatever the batching (it was once a list copy per member: quadratic).
    """
    import random

    from cranewatch.inventory.fold import Conversations
    from cranewatch.inventory.model import STARTS_CAP, Flow

    rnd = random.Random(7)
    flows = []
    for k in range(3 * STARTS_CAP):
        client = f"10.50.0.{rnd.randrange(1, 4)}"
        t = 1_700_000_000 + rnd.random() * 3600
        flows.append(
            Flow(proto=6, orig_ip=client, resp_ip="203.0.113.10", orig_port=40000 + k % 20000,
                 resp_port=443, first_ts=t, last_ts=t + 1, orig_pkts=5, resp_pkts=4,
                 orig_bytes=300 + k, resp_bytes=900, orig_flags=0x1B, resp_flags=0x1B,
                 starts=[t], connections=1)
        )  # fmt: skip
    batched, single = Conversations(), Conversations()
    for start in range(0, len(flows), 4096):
        batched.add(flows[start : start + 4096])
    for f in flows:
        single.add([f])
    assert batched.records() == single.records()
    assert any(len(r.starts) == STARTS_CAP for r in batched.records())


def _probe(k: int, host: int, t: float):
    from cranewatch.inventory.model import Flow

    return Flow(proto=6, orig_ip="10.50.0.99", resp_ip=f"10.60.0.{host}", orig_port=40000,
                resp_port=1 + k, first_ts=t, last_ts=t, orig_pkts=1, resp_pkts=1,
                orig_bytes=60, resp_bytes=54, orig_flags=0x02, resp_flags=0x14,
                orig_mac="3c:52:82:99:99:99", resp_mac="00:1b:1b:00:00:01",
                orig_next_hop="00:1b:1b:00:00:01", starts=[t])  # fmt: skip


def test_a_scan_folds_per_pair_of_hosts_past_the_record_cap(monkeypatch):
    """Past MAX_RECORDS conversations, new ones fold per pair (ports 0); past that, counted."""
    from cranewatch.inventory import fold

    monkeypatch.setattr(fold, "MAX_RECORDS", 4)
    probes = [_probe(k, host, 1_700_000_000 + k) for host in range(6) for k in range(10)]
    conv = fold.Conversations()
    conv.add(probes)
    records = conv.records()
    singles = [r for r in records if r.resp_port]
    pairs = [r for r in records if not r.resp_port]
    assert len(singles) == 4 and {r.resp_ip for r in singles} == {"10.60.0.0"}
    assert len(pairs) == 4  # hosts 0-3 as pairs (host 0 for its other ports); 4 and 5 dropped
    assert all(r.orig_port == 0 and not r.starts and not r.sizes for r in pairs)
    kept = sum(r.connections for r in records)
    assert kept == 40 and conv.paired == [36, 72, 36 * 114] and conv.dropped == [20, 40, 20 * 114]
    assert conv.warning() == (
        "36 connections (72 packets, 4,104 bytes) in conversations past the first 4 were"
        " folded per pair of hosts (ports 0; memory bound: a scan makes one conversation per"
        " address and port); 20 connections (40 packets, 2,280 bytes) past 4 pairs were"
        " counted but not kept"
    )
    # merging two halves gives the same records and counts
    a, b = fold.Conversations(), fold.Conversations()
    a.add(probes[:30])
    b.add(probes[30:])
    a.merge(b)
    assert sum(r.connections for r in a.records()) + a.dropped[0] == 60
    assert len(a.records()) == 8


def test_a_port_scan_keeps_every_packet_on_its_hosts(monkeypatch):
    """A SYN scan read in chunks: the table stays bounded, every packet is on its hosts."""
    from cranewatch.inventory import fold

    monkeypatch.setattr(fold, "MAX_RECORDS", 100)
    records = []
    t = 1_700_000_000.0
    for host in range(20):
        for port in range(1, 41):
            t += 0.001
            syn = _frame("10.0.0.10", f"10.60.0.{host + 1}", 6, 40000, port, flags=0x02)
            rst = _frame(f"10.60.0.{host + 1}", "10.0.0.10", 6, port, 40000, flags=0x14)
            records += [(t, syn, 1), (t + 0.0001, rst, 1)]
    table = _read(split(pack(records), 100), budget=64)
    got = table.flows()
    assert sum(f.packets for f in got) == 1600 and sum(f.connections for f in got) == 800
    assert len(got) <= 64 + 100 + 20
    pairs = {f.resp_ip for f in got if not f.resp_port}
    assert pairs and all(f.orig_ip == "10.0.0.10" for f in got)
    per_host = {}
    for f in got:
        per_host[f.resp_ip] = per_host.get(f.resp_ip, 0) + f.packets
    assert per_host == {f"10.60.0.{h + 1}": 80 for h in range(20)}
    (line,) = table.warnings()
    assert "folded per pair of hosts" in line and "not kept" not in line
