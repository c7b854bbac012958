"""Repeated DNS messages grouped per batch with numpy give the row-by-row events.

A million DNS connections (each query from a new source port, the same name
asked again and again) made the Python loop over selected rows the deep
stage's cost. Dispatch now visits the first row of each group of messages
equal but for their id (same ends), with the group's size. The reference is
the row-by-row loop (GROUP_ROWS out of reach): the same events in the same
order, with the same fields and counts, and the same drops.
"""

from __future__ import annotations

import dataclasses

import dpkt
import numpy as np

from _detect_helpers import batch, dns_query, frame
from cranewatch.decode import dispatch, rows
from cranewatch.decode.dispatch import DeepParser
from cranewatch.decode.l2l4 import decode_l2l4

CLIENTS = ("10.50.1.20", "10.50.1.21", "10.50.1.22")
RESOLVER = "10.60.0.53"
NAMES = ("ntp.terminal.example", "mes.terminal.example", "a-much-longer-name.historian.example")


def _response(qid: int, name: str) -> bytes:
    answer = dpkt.dns.DNS.RR(
        name=name, type=dpkt.dns.DNS_A, cls=dpkt.dns.DNS_IN, ttl=60, rdata=bytes([10, 60, 0, 7])
    )
    q = dpkt.dns.DNS.Q(name=name, type=dpkt.dns.DNS_A)
    return bytes(dpkt.dns.DNS(id=qid, qr=dpkt.dns.DNS_R, qd=[q], an=[answer]))


def _exchanges(count: int, l4: str = "udp", first: int = 0) -> list[bytes]:
    """Queries and answers between a few clients and one resolver, each from a new port.

    Most repeat one of a few facts; every 17th asks a name of its own.
    """
    frames = []
    for i in range(first, first + count):
        client, port, qid = CLIENTS[i % 3], 20000 + i % 40000, (i * 7919) & 0xFFFF
        name = f"once-{i}.example" if i % 17 == 0 else NAMES[i // 3 % 3]
        for src, dst, msg, sport, dport in (
            (client, RESOLVER, dns_query(name, qid), port, 53),
            (RESOLVER, client, _response(qid, name), 53, port),
        ):
            if l4 == "tcp":
                msg = len(msg).to_bytes(2, "big") + msg
            frames.append(frame(src, dst, msg, l4=l4, sport=sport, dport=dport))
    return frames


def _run(
    monkeypatch, batches: list[list[bytes]], group_rows: int = 64
) -> tuple[list[tuple], DeepParser]:
    """Every DNS event of the batches, as comparable tuples, and the parser (for its counters).

    Batches of `group_rows` DNS rows or more are grouped; huge: the row-by-row loop.
    """
    with monkeypatch.context() as m:
        m.setattr(dispatch, "GROUP_ROWS", group_rows)
        deep = DeepParser()
        out, n = [], 0
        for frames in batches:
            b = batch(frames, t0=1000.0 + n)
            out += [e for e in deep.run(b, decode_l2l4(b), n) if e.proto == "dns"]
            n += len(frames)
    return [dataclasses.astuple(e) for e in out], deep  # counts grow until the last batch


def _visits(monkeypatch) -> list[int]:
    """The `times` of each `_parse_fact` call from now on: one per row the loop visits."""
    calls = []
    original = DeepParser._parse_fact

    def spy(self, *args):
        calls.append(args[-1])
        return original(self, *args)

    monkeypatch.setattr(DeepParser, "_parse_fact", spy)
    return calls


def _assert_same(monkeypatch, batches: list[list[bytes]]) -> list[int]:
    """Grouped and row by row agree; returns the grouped run's `_visits`."""
    expected, plain = _run(monkeypatch, batches, group_rows=1 << 62)
    visits = _visits(monkeypatch)
    got, grouped = _run(monkeypatch, batches)
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g == e
    assert (grouped.kept, grouped.dropped) == (plain.kept, plain.dropped)
    assert grouped.parse_errors == plain.parse_errors
    assert sum(visits) == sum(len(frames) for frames in batches)
    return visits


def test_repeated_queries_from_new_ports_give_the_row_by_row_events(monkeypatch):
    visits = _assert_same(monkeypatch, [_exchanges(400)])
    # 800 rows: 24 names asked once, 3 clients x 3 names repeated; a query and an answer each
    assert len(visits) == 2 * (24 + 3 * 3)


def test_dropped_facts_are_dropped_once(monkeypatch):
    monkeypatch.setattr(dispatch, "MAX_EVENTS", 10)
    _assert_same(monkeypatch, [_exchanges(400)])


def test_hash_collisions_are_grouped_again_exactly(monkeypatch):
    batches = [_exchanges(400)]
    full_hash = list(_assert_same(monkeypatch, batches))
    row_hash = rows.row_hash
    # a hash blind to the 11 ends columns: other clients' equal messages collide
    monkeypatch.setattr(rows, "row_hash", lambda keys: row_hash(keys[:, 11:]))
    assert list(_assert_same(monkeypatch, batches)) == full_hash
    monkeypatch.setattr(rows, "row_hash", lambda keys: np.zeros(len(keys), dtype=np.uint64))
    assert list(_assert_same(monkeypatch, batches)) == full_hash


def test_tcp_dns_groups_without_its_id_after_the_length(monkeypatch):
    frames = _exchanges(200, l4="tcp")
    visits = _assert_same(monkeypatch, [frames])
    assert len(visits) == 2 * (12 + 3 * 3)
    got, _ = _run(monkeypatch, [frames])
    assert sum(fields["count"] for *_, fields, _ in got) == len(frames)


def test_repeats_over_several_batches_add_up(monkeypatch):
    # small batches (row by row) and large ones (grouped) in one session
    sizes = (20, 60, 20, 60)
    starts = np.cumsum((0, *sizes[:-1]))
    batches = [_exchanges(size, first=int(k)) for size, k in zip(sizes, starts, strict=True)]
    _assert_same(monkeypatch, batches)
    got, _ = _run(monkeypatch, batches)
    assert sum(fields["count"] for *_, fields, _ in got) == 2 * sum(sizes)
