"""Idle flows folded into one record per conversation: memory follows conversations.

Why: a client that opens a new connection every few seconds (DNS queries,
HTTPS polling, a beacon) adds a 5-tuple each time, so over days of capture a
table of 5-tuples grows with the capture's length. Like a NetFlow exporter's
flow cache (softflowd's `maxflows`), `FlowTable` keeps at most a budget of
flows one by one; past it, the flows idle the longest are folded here.

A record stands for flows with the same client and server (addresses, MACs,
next hop, VLAN), the same service port and the same handshake pattern, so
that `direction()` of the record is that of each member. It keeps the first
member's ports and TTLs, the sums of packets and bytes, the OR of the flags,
the number of members (`connections`), their connection starts and the bytes
each member's client sent (both capped at STARTS_CAP): what the detectors read.

Records are capped too (MAX_RECORDS): a port scan makes a conversation of
every address and port it tries, and a scan of a /16 would otherwise hold
millions. Past the cap, a new conversation is folded into one record per pair
of hosts (same addresses, MACs, next hop and VLAN; ports 0, no starts or
sizes: it stands for many services), which keeps every packet on the hosts it
belongs to. Pairs are capped alike; past both caps, flows are counted and
dropped (their packets stay in the host table). `warning()` says what happened.
"""

from __future__ import annotations

import dataclasses
from array import array
from collections.abc import Iterable

import numpy as np

from cranewatch.inventory.direction import SYN, direction
from cranewatch.inventory.model import STARTS_CAP, Flow

MAX_RECORDS = 32_768  # conversations kept; ~30 MB for records of one connection each


def fold_key(f: Flow) -> tuple:
    """What members of one record share; the client's port is what varies."""
    d = direction(f)
    return (
        f.proto,
        f.orig_ip,
        f.orig_mac,
        f.orig_next_hop,
        f.resp_ip,
        f.resp_mac,
        f.vlan,
        f.orig_flags & SYN,
        f.resp_flags & SYN,
        f.resp_pkts == 0,
        d.swapped,
        d.certain,
        d.server_port,
    )


class Conversations:
    """Folded records by `fold_key`, then by pair of hosts: bounded by conversations."""

    def __init__(self) -> None:
        self._records: dict[tuple, Flow] = {}
        self._pairs: dict[tuple, Flow] = {}  # past MAX_RECORDS conversations
        self.paired = [0, 0, 0]  # connections, packets, bytes folded per pair
        self.dropped = [0, 0, 0]  # and past MAX_RECORDS pairs too

    def add(self, flows: Iterable[Flow]) -> None:
        """Fold flows (or records) in.

        Members are gathered per record first: merging a record's capped lists
        once per batch, not once per member, keeps a conversation of a million
        connections linear (it cost ~STARTS_CAP list copies per member).
        """
        groups: dict[tuple, list[Flow]] = {}
        for f in flows:
            groups.setdefault(fold_key(f), []).append(f)
        overflow: list[Flow] = []
        for key, members in groups.items():
            record = self._records.get(key)
            if record is None:
                if len(self._records) >= MAX_RECORDS:
                    overflow += members
                    continue
                record = self._records[key] = _empty_like(members[0])
            _absorb(record, members, swapped=key[-3])
        self._add_pairs(overflow)

    def merge(self, other: Conversations) -> None:
        """Another table's records, as if its flows had been folded here."""
        self.paired = _plus(self.paired, other.paired)
        self.dropped = _plus(self.dropped, other.dropped)
        overflow: list[Flow] = []
        for key, theirs in other._records.items():
            mine = self._records.get(key)
            if mine is not None:
                _absorb(mine, [theirs], swapped=key[-3])
            elif len(self._records) >= MAX_RECORDS:
                overflow.append(theirs)
            else:
                self._records[key] = dataclasses.replace(theirs)
        self._add_pairs(overflow, count=True)
        self._add_pairs(list(other._pairs.values()), count=False)

    def records(self) -> list[Flow]:
        """Copies of the records (callers label them with services and names).

        Their starts and sizes stay arrays: on a long capture the records hold
        most of the run's starts, and a list would take four times the memory.
        """
        return [
            dataclasses.replace(r, starts=array("d", r.starts), sizes=array("q", r.sizes))
            for r in (*self._records.values(), *self._pairs.values())
        ]

    def warning(self) -> str | None:
        """One line when the caps changed what `records()` holds, else None."""
        if not (self.paired[0] or self.dropped[0]):
            return None
        line = (
            f"{_sizes(self.paired)} in conversations past the first {MAX_RECORDS:,} were"
            " folded per pair of hosts (ports 0; memory bound: a scan makes one conversation"
            " per address and port)"
        )
        if self.dropped[0]:
            line += f"; {_sizes(self.dropped)} past {MAX_RECORDS:,} pairs were counted but not kept"
        return line

    def _add_pairs(self, flows: list[Flow], count: bool = True) -> None:
        """Fold into pair records; `count`: these are new to the pair level."""
        for f in flows:
            key = pair_of(f)
            record = self._pairs.get(key)
            if record is None:
                if len(self._pairs) >= MAX_RECORDS:
                    self.dropped = _plus(self.dropped, _totals(f))
                    if not count:  # another table's pair record: it was counted as paired
                        self.paired = _plus(self.paired, [-n for n in _totals(f)])
                    continue
                record = self._pairs[key] = _empty_like(f)
                record.orig_port = record.resp_port = 0
            if count:
                self.paired = _plus(self.paired, _totals(f))
            _add_counts(record, f)


def pair_of(f: Flow) -> tuple:
    """What the members of a pair record share: both hosts as the first member saw them."""
    return (f.proto, f.orig_ip, f.orig_mac, f.orig_next_hop, f.resp_ip, f.resp_mac, f.vlan)


def _totals(f: Flow) -> list[int]:
    return [f.connections, f.orig_pkts + f.resp_pkts, f.orig_bytes + f.resp_bytes]


def _plus(a: list[int], b: list[int]) -> list[int]:
    return [x + y for x, y in zip(a, b, strict=True)]


def _sizes(totals: list[int]) -> str:
    conns, packets, octets = totals
    return f"{conns:,} connections ({packets:,} packets, {octets:,} bytes)"


def _empty_like(f: Flow) -> Flow:
    """A record carrying f's identity (addresses, ports, TTLs) and nothing counted yet."""
    return dataclasses.replace(
        f,
        orig_pkts=0,
        resp_pkts=0,
        orig_bytes=0,
        resp_bytes=0,
        orig_flags=0,
        resp_flags=0,
        starts=[],
        sizes=[],
        connections=0,
        service=None,
        name=None,
    )


def _absorb(record: Flow, members: list[Flow], swapped: bool) -> None:
    """Add flows or records with the record's key to it.

    Starts and sizes are kept as arrays: 8 bytes an entry where a list of
    floats takes 32, and a busy conversation holds STARTS_CAP of each.
    """
    starts, sizes = array("d", record.starts), array("q", record.sizes)
    for f in members:
        _add_counts(record, f)
        if f.connections > 1:  # a record: its members' starts and sizes
            starts.extend(f.starts)
            sizes.extend(f.sizes)
            continue
        # a flow, or a record of one flow, which holds just what that flow held
        own = f.connection_starts()
        starts.extend(own)
        if len(own) == 1:
            sizes.append(f.resp_bytes if swapped else f.orig_bytes)
    record.starts = _earliest(starts)
    record.sizes = sizes[:STARTS_CAP]


def _add_counts(record: Flow, f: Flow) -> None:
    """Times, packets, bytes, flags and connections of f added to the record."""
    record.first_ts = min(record.first_ts, f.first_ts)
    record.last_ts = max(record.last_ts, f.last_ts)
    record.orig_pkts += f.orig_pkts
    record.resp_pkts += f.resp_pkts
    record.orig_bytes += f.orig_bytes
    record.resp_bytes += f.resp_bytes
    record.orig_flags |= f.orig_flags
    record.resp_flags |= f.resp_flags
    record.connections += f.connections


def _earliest(starts: array) -> array:
    """The earliest STARTS_CAP starts (as they came, when there are no more than that)."""
    if len(starts) <= STARTS_CAP:
        return starts
    return array("d", np.sort(np.frombuffer(starts, dtype=np.float64))[:STARTS_CAP].tobytes())
