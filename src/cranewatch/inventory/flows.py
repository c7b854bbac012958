"""Streaming flow table: both directions of each (proto, endpoint, endpoint) IP conversation.

Per chunk, packets are grouped by a 64-bit hash of their direction-free key with
one integer sort (the packet index rides in the low bits of the sort key, so
the sort is stable and needs no argsort); each group is reduced with
`reduceat`, and the few per-chunk groups are merged into a table of growing
numpy arrays. Memory grows with the number of flows, never with packets.

Keys and directions. An endpoint is (address, port). Each endpoint gets a
64-bit value: IPv4 endpoints pack address and port exactly (48 bits); IPv6
endpoints are hashed into values with the top bit set. The endpoint with the
smaller value is side A; a packet's direction is 0 when A sent it. The flow
hash mixes (A, B, proto). Within a chunk, every group is checked to hold one
(A, B, proto) (exact for IPv4); across chunks, a group is only merged into a
row whose stored key columns are equal, and hash collisions go to an exact
Python dict (rare rows, few packets).

Fragments: the first fragment carries the ports; non-first fragments have no
ports and are counted in the flow (proto, addresses, ports 0). For UDP this
gives a separate port-0 flow for the tails of fragmented datagrams.
"""

from __future__ import annotations

import numpy as np

from cranewatch.decode.addr import ip_str, mac_str
from cranewatch.decode.packets import Packets
from cranewatch.decode.rows import first_equal
from cranewatch.inventory.direction import SYN, direction
from cranewatch.inventory.fold import Conversations
from cranewatch.inventory.model import STARTS_CAP, Flow
from cranewatch.sources.batch import RawBatch

IDLE_RESTART = 1.0  # seconds of silence after which an originator packet restarts a flow
# Flows kept one by one; past this, the quarter idle the longest is folded into
# per-conversation records (inventory/fold.py), so memory stops growing with time.
FLOW_BUDGET = 16384
FOLD_SHARE = 4
FOLD_BATCH = 4096

_U = np.uint64
_M1 = _U(0xBF58476D1CE4E5B9)
_M2 = _U(0x94D049BB133111EB)
_K1 = _U(0x9E3779B97F4A7C15)
_K2 = _U(0xC2B2AE3D27D4EB4F)
_K3 = _U(0x165667B19E3779F9)
_TOP = _U(1 << 63)
_V4_MAPPED = _U(0x0000FFFF_00000000)
_SYN_ACK = 0x12


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijection on uint64 that spreads every input bit."""
    x = x ^ (x >> _U(30))
    x *= _M1
    x ^= x >> _U(27)
    x *= _M2
    x ^= x >> _U(31)
    return x


def _endpoints(hi: np.ndarray, lo: np.ndarray, port: np.ndarray, v6: np.ndarray | None):
    """64-bit endpoint values: exact for IPv4 (< 2**48), hashed with the top bit for IPv6."""
    e = ((lo & _U(0xFFFFFFFF)) << _U(16)) | port.astype(np.uint64)
    if v6 is not None:
        t = mix64(hi[v6] ^ _K1) ^ lo[v6]
        t = mix64(mix64(t) ^ (port[v6].astype(np.uint64) * _K2))
        e[v6] = t | _TOP
    return e


def _flow_hash(emin: np.ndarray, emax: np.ndarray, proto: np.ndarray) -> np.ndarray:
    return mix64(mix64(emin ^ _K3) ^ emax ^ (proto.astype(np.uint64) * _K1))


def group_by_hash(h: np.ndarray, check: tuple[np.ndarray, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Stable grouping by hash: (order, segment starts), each segment one exact `check` key.

    The packet index fills the low bits of the sort key, so a plain (SIMD) sort
    keeps packets of one group in capture order without an argsort. If a
    truncated hash mixes two keys in one segment, fall back to an exact lexsort
    on the check columns.
    """
    m = len(h)
    bits = max(1, int(m - 1).bit_length())
    low = _U((1 << bits) - 1)
    comp = np.sort((h & ~low) | np.arange(m, dtype=np.uint64))
    order = (comp & low).astype(np.intp)
    top = comp >> _U(bits)
    new = np.empty(m, dtype=bool)
    new[0] = True
    np.not_equal(top[1:], top[:-1], out=new[1:])
    same = ~new[1:]
    for col in check:
        cs = col[order]
        if (same & (cs[1:] != cs[:-1])).any():
            order = np.lexsort((np.arange(m),) + tuple(reversed(check)))
            new[1:] = False
            for c in check:
                cs = c[order]
                new[1:] |= cs[1:] != cs[:-1]
            break
    return order, np.flatnonzero(new)


def segment_sums(values: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Sum of each segment of `values` (segments start at `seg`), via one cumsum."""
    c = np.empty(len(values) + 1, dtype=np.int64)
    c[0] = 0
    np.cumsum(values, out=c[1:])
    return c[np.append(seg[1:], len(values))] - c[seg]


class RowIndex:
    """Dense row numbers for keys: a sorted 64-bit hash index plus an exact fallback.

    Each row keeps its key as a row of `keys` (uint64 columns). A segment is
    matched to a row only when the hash hits and the stored key is equal; a key
    whose hash another key already owns lives in a small Python dict.
    """

    def __init__(self, width: int, rows_hint: int | None = None) -> None:
        self.rows_hint = rows_hint  # growth stops doubling here (the flow table's budget)
        self.n = 0
        self.keys = np.zeros((64, width), dtype=np.uint64)
        self.hashes = np.zeros(64, dtype=np.uint64)  # the hash each row was looked up with
        self._h = np.zeros(0, dtype=np.uint64)
        self._row = np.zeros(0, dtype=np.int64)
        self._exact: dict[tuple[int, ...], int] = {}

    def lookup(self, h: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row of each key, is the row new). Keys within one call must be distinct."""
        k = len(h)
        rows = np.full(k, -1, dtype=np.int64)
        hit = np.zeros(k, dtype=bool)
        if len(self._h):
            pos = np.minimum(np.searchsorted(self._h, h), len(self._h) - 1)
            hit = self._h[pos] == h
            rows[hit] = self._row[pos[hit]]
        slow = np.zeros(k, dtype=bool)
        if hit.any():
            at = np.flatnonzero(hit)
            differ = (self.keys[rows[at]] != keys[at]).any(axis=1)
            slow[at[differ]] = True
        is_new = ~hit
        new = np.flatnonzero(is_new)
        if len(new):
            uh, first = np.unique(h[new], return_index=True)
            owners = new[first]
            if len(owners) < len(new):
                dup = np.ones(len(new), dtype=bool)
                dup[first] = False
                slow[new[dup]] = True
                is_new[new[dup]] = False
            rows[owners] = self._grow(keys[owners], h[owners])
            at = np.searchsorted(self._h, uh)
            self._h = np.insert(self._h, at, uh)
            self._row = np.insert(self._row, at, rows[owners])
        for i in np.flatnonzero(slow).tolist():
            key = tuple(keys[i].tolist())
            row = self._exact.get(key)
            if row is None:
                row = self._exact[key] = int(self._grow(keys[i : i + 1], h[i : i + 1])[0])
                is_new[i] = True
            rows[i] = row
        return rows, is_new

    def keep(self, rows: np.ndarray) -> None:
        """Keep only `rows` (ascending), renumbered 0, 1, ...; the index is rebuilt."""
        k, n = len(rows), self.n
        self.keys[:k] = self.keys[rows]
        self.hashes[:k] = self.hashes[rows]
        self.keys[k:n] = 0
        self.hashes[k:n] = 0
        self.n = k
        self._h, first = np.unique(self.hashes[:k], return_index=True)
        self._row = first.astype(np.int64)
        self._exact = {}
        if len(first) < k:  # rows whose hash another row owns: exact keys
            dup = np.ones(k, dtype=bool)
            dup[first] = False
            for i in np.flatnonzero(dup).tolist():
                self._exact[tuple(self.keys[i].tolist())] = i

    def _grow(self, keys: np.ndarray, h: np.ndarray) -> np.ndarray:
        need = self.n + len(keys)
        if need > len(self.keys):
            size = _grown(len(self.keys), need, self.rows_hint)
            fresh = np.zeros((size, self.keys.shape[1]), np.uint64)
            fresh[: self.n] = self.keys[: self.n]
            self.keys = fresh
            hashes = np.zeros(size, np.uint64)
            hashes[: self.n] = self.hashes[: self.n]
            self.hashes = hashes
        self.keys[self.n : need] = keys
        self.hashes[self.n : need] = h
        rows = np.arange(self.n, need)
        self.n = need
        return rows


def _grown(size: int, need: int, hint: int | None) -> int:
    """Double, but not past `hint` rows unless `need` is beyond it."""
    doubled = 2 * size
    if hint is not None and size < hint:
        doubled = min(doubled, hint)
    return max(need, doubled)


class _Blocks:
    """Growing 2-D numpy blocks with one row per flow (few fancy-index ops per chunk)."""

    def __init__(self, spec: dict[str, tuple[type, int]], rows_hint: int | None = None) -> None:
        self.b = {name: np.zeros((64, w), dtype=dt) for name, (dt, w) in spec.items()}
        self.rows_hint = rows_hint

    def ensure(self, n: int) -> None:
        for name, old in self.b.items():
            if n > len(old):
                fresh = np.zeros((_grown(len(old), n, self.rows_hint), old.shape[1]), old.dtype)
                fresh[: len(old)] = old
                self.b[name] = fresh

    def __getitem__(self, name: str) -> np.ndarray:
        return self.b[name]


# Per-direction first-seen word: source MAC | TTL << 48 | has MAC << 56 | seen << 57.
_SEEN = _U(1 << 57)
_HAS_MAC = _U(1 << 56)


class FlowTable:
    """Bidirectional flows of IP packets, accumulated chunk by chunk.

    At most `budget` flows are kept one by one; past it, the flows idle the
    longest are folded into per-conversation records (inventory/fold.py).
    """

    def __init__(self, budget: int | None = None) -> None:
        self.budget = budget or FLOW_BUDGET
        self._folded = Conversations()
        # key: proto << 32 | a_port << 16 | b_port, a_hi, a_lo, b_hi, b_lo
        rows = self.budget + self.budget // FOLD_SHARE  # room for a chunk past the budget
        self._index = RowIndex(5, rows)
        self._t = _Blocks(
            {
                "cnt": (np.int64, 4),  # pkts dir 0, pkts dir 1, bytes dir 0, bytes dir 1
                "ts": (np.float64, 2),  # first, last
                "flags": (np.uint16, 1),  # dir 0 | dir 1 << 8
                "first": (np.uint64, 4),  # per direction: first-seen word, destination MAC
                # originator direction, vlan, restart candidates kept per direction
                "meta": (np.int64, 4),
            },
            rows,
        )
        # restart candidates (row, time, direction) of both directions, capped per
        # direction: flows() keeps the originator's, and merge() can still apply
        # another table's originator to them
        self._starts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []

    def __len__(self) -> int:
        return self._index.n

    # ------------------------------------------------------------------ per chunk
    def add(self, packets: Packets, batch: RawBatch | None = None) -> None:
        """Fold one decoded chunk into the table (non-IP packets are ignored)."""
        ip = np.flatnonzero(packets.ip_ver != 0)
        if not len(ip):
            return
        pk = _Chunk(packets, ip)
        order, seg = group_by_hash(pk.h, (pk.emin, pk.emax_p))
        s = _reduce(pk, order, seg)
        rows, is_new = self._index.lookup(s["h"], s["key"])
        self._t.ensure(self._index.n)
        prev_last = self._merge(s, rows, is_new)
        self._add_starts(s, rows, is_new, prev_last)
        if self._index.n > self.budget:
            self._fold()

    def _merge(self, s: dict, rows: np.ndarray, is_new: np.ndarray) -> np.ndarray:
        """Fold the chunk's per-flow sums into the rows; the rows' previous last times."""
        t = self._t
        new = np.flatnonzero(is_new)
        old = np.flatnonzero(~is_new)
        nr, orow = rows[new], rows[old]
        prev_last = np.zeros(len(rows))
        if len(new):
            t["cnt"][nr] = s["cnt"][new]
            t["ts"][nr] = s["ts"][new]
            t["flags"][nr, 0] = s["flags"][new]
            t["first"][nr] = s["first"][new]
            t["meta"][nr, 0] = s["orig"][new]
            t["meta"][nr, 1] = s["vlan"][new]
        if len(old):
            t["cnt"][orow] += s["cnt"][old]
            ts = t["ts"][orow]
            prev_last[old] = ts[:, 1]
            ts[:, 0] = np.minimum(ts[:, 0], s["ts"][old, 0])
            ts[:, 1] = np.maximum(ts[:, 1], s["ts"][old, 1])
            t["ts"][orow] = ts
            t["flags"][orow, 0] |= s["flags"][old]
            first = t["first"][orow]
            for d in (0, 1):
                fill = (first[:, 2 * d] & _SEEN) == 0
                first[fill, 2 * d : 2 * d + 2] = s["first"][old][fill, 2 * d : 2 * d + 2]
            t["first"][orow] = first
        return prev_last

    def _add_starts(self, s: dict, rows, is_new, prev_last) -> None:
        """Packets that begin the flow or follow >= IDLE_RESTART s of silence (either direction)."""
        cand_seg = s["cand_seg"]
        head_ok = is_new[cand_seg] | (s["cand_ts"] - prev_last[cand_seg] >= IDLE_RESTART)
        keep = ~s["cand_first"] | head_ok
        self._keep_starts(rows[cand_seg[keep]], s["cand_ts"][keep], s["cand_dir"][keep])

    def _keep_starts(self, crow: np.ndarray, cts: np.ndarray, cdir: np.ndarray) -> None:
        """Store candidates (in time order per flow) up to STARTS_CAP per flow and direction."""
        if not len(crow):
            return
        key = crow * 2 + cdir
        order = np.argsort(key, kind="stable")
        ks = key[order]
        change = np.empty(len(ks), dtype=bool)
        change[0] = True
        np.not_equal(ks[1:], ks[:-1], out=change[1:])
        bounds = np.flatnonzero(change)
        rank = np.empty(len(ks), dtype=np.int64)
        rank[order] = np.arange(len(ks)) - np.repeat(bounds, np.diff(np.append(bounds, len(ks))))
        kept = self._t["meta"][:, 2:4]
        ok = rank < STARTS_CAP - kept[crow, cdir]
        if not ok.any():
            return
        crow, cts, cdir = crow[ok], cts[ok], cdir[ok]
        np.add.at(kept, (crow, cdir), 1)  # a view: counts land in the table
        self._starts.append((crow, cts, cdir))

    # ------------------------------------------------------------------ merging
    def merge(self, other: FlowTable) -> None:
        """Fold another table in, as if its packets had come after this table's.

        For captures read in parallel (one table per file) and merged in file
        order. Counts, bytes, flags and times add up whatever the order; the
        originator, VLAN and first-seen MAC/TTL of a flow come from this table
        when it has the flow; restart times are exact when `other`'s packets
        are later than this table's (consecutive files of one capture).
        """
        n = other._index.n
        if not n:
            return
        o = other._t
        keys = other._index.keys[:n]
        rows, is_new = self._index.lookup(other._index.hashes[:n], keys)
        self._t.ensure(self._index.n)
        s = {
            "cnt": o["cnt"][:n],
            "ts": o["ts"][:n],
            "flags": o["flags"][:n, 0],
            "first": o["first"][:n],
            "orig": o["meta"][:n, 0],
            "vlan": o["meta"][:n, 1],
        }
        prev_last = self._merge(s, rows, is_new)
        self._folded.merge(other._folded)
        if other._starts:
            orow, cts, cdir = other._flat_starts()
            # other's first packet of a flow this table had is a start only after a silence
            head = cts == o["ts"][orow, 0]
            keep = ~head | is_new[orow] | (cts - prev_last[orow] >= IDLE_RESTART)
            self._keep_starts(rows[orow[keep]], cts[keep], cdir[keep])
        if self._index.n > self.budget:
            self._fold()

    # ------------------------------------------------------------------ folding
    def _fold(self) -> None:
        """Fold the flows idle the longest until a quarter of the budget is free."""
        n = self._index.n
        left = max(0, self.budget - self.budget // FOLD_SHARE)
        idle_first = np.argsort(self._t["ts"][:n, 1], kind="stable")
        out = np.sort(idle_first[: n - left])
        for start in range(0, len(out), FOLD_BATCH):  # few Flow objects alive at a time
            self._folded.add(self._fold_groups(out[start : start + FOLD_BATCH]))
        self._compact(np.sort(idle_first[n - left :]))

    def _fold_groups(self, rows: np.ndarray) -> list[Flow]:
        """What `Conversations.add` is given for rows `rows`: one flow or record per fold key.

        Why: folding built a Flow for every folded row and keyed each in Python
        (~6 us a connection: a million DNS queries spent most of a run there).
        Here rows that share `fold_key` are found with numpy; a group of one is
        its flow, a larger group one record of its members: identity of the
        first, their sums, and their connection starts and sizes in row order,
        which `Conversations.add` absorbs as it would the members one by one.
        """
        cols = _FoldColumns(self._t, self._index.keys, rows)
        group, firsts, counts = cols.groups()
        out = self._build(rows[firsts])
        multi = np.flatnonzero(counts > 1)
        if not len(multi):
            return out
        by = np.argsort(group, kind="stable")  # members of each group, in row order
        cuts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        sums = np.add.reduceat(cols.counts[by], cuts)
        first_ts = np.minimum.reduceat(cols.first_ts[by], cuts)
        last_ts = np.maximum.reduceat(cols.last_ts[by], cuts)
        flags = np.bitwise_or.reduceat(cols.flags[by], cuts)
        starts, start_cuts, sizes, size_cuts = self._member_starts(cols, rows, group, counts)
        for g in multi.tolist():
            f = out[g]
            f.orig_pkts, f.resp_pkts, f.orig_bytes, f.resp_bytes = sums[g].tolist()
            f.first_ts, f.last_ts = float(first_ts[g]), float(last_ts[g])
            f.orig_flags, f.resp_flags = flags[g].tolist()
            f.connections = int(counts[g])
            f.starts = starts[start_cuts[g] : start_cuts[g + 1]].tolist()
            f.sizes = sizes[size_cuts[g] : size_cuts[g + 1]].tolist()
        return out

    def _member_starts(
        self, cols: _FoldColumns, rows: np.ndarray, group: np.ndarray, counts: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Connection starts and sizes of the members of groups larger than one.

        Each member's starts are `Flow.connection_starts()` (TCP: its first
        packet when a SYN was seen; otherwise its first packet and the
        originator's restarts, once each, in time order); its size counts when
        it has one start (the client's bytes). Returned as (starts, cuts,
        sizes, cuts), grouped by group and then row, with cuts per group.
        """
        m = len(rows)
        in_multi = counts[group] > 1
        tcp = cols.proto == 6
        syn = ((cols.flags[:, 0] | cols.flags[:, 1]) & SYN) != 0
        first = np.flatnonzero(in_multi & (~tcp | syn))
        at, ts = self._originator_starts(rows)
        ok = in_multi[at] & ~tcp[at]
        who = np.concatenate([first, at[ok]])
        when = np.concatenate([cols.first_ts[first], ts[ok]])
        order = np.lexsort((when, who, group[who]))
        who, when = who[order], when[order]
        again = np.zeros(len(who), dtype=bool)
        again[1:] = (who[1:] == who[:-1]) & (when[1:] == when[:-1])
        who, when = who[~again], when[~again]
        one = np.flatnonzero(in_multi & (np.bincount(who, minlength=m) == 1))
        one = one[np.argsort(group[one], kind="stable")]
        sizes = np.where(cols.swapped[one], cols.counts[one, 3], cols.counts[one, 2])
        g_count = len(counts)
        start_cuts = np.searchsorted(group[who], np.arange(g_count + 1))
        size_cuts = np.searchsorted(group[one], np.arange(g_count + 1))
        return when, start_cuts, sizes, size_cuts

    def _compact(self, keep: np.ndarray) -> None:
        """Keep only rows `keep` (ascending), renumbered; freed rows are zero again."""
        n, k = self._index.n, len(keep)
        for block in self._t.b.values():
            block[:k] = block[keep]
            block[k:n] = 0
        self._index.keep(keep)
        if self._starts:
            remap = np.full(n, -1, dtype=np.int64)
            remap[keep] = np.arange(k)
            rows, ts, dirs = self._flat_starts()
            rows = remap[rows]
            ok = rows >= 0
            self._starts = [(rows[ok], ts[ok], dirs[ok])] if ok.any() else []

    def _flat_starts(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The restart candidates (rows, times, directions) as one set of arrays, kept so.

        Why kept: a fold builds its flows in batches, each reading them all.
        """
        if len(self._starts) > 1:
            self._starts = [tuple(np.concatenate(col) for col in zip(*self._starts, strict=True))]
        return self._starts[0]

    # ------------------------------------------------------------------ results
    def warnings(self) -> list[str]:
        """What the memory bounds left out of `flows()` (see inventory/fold.py)."""
        line = self._folded.warning()
        return [line] if line else []

    def flows(self) -> list[Flow]:
        """Every flow so far, and every folded record, ordered by first packet time."""
        n = self._index.n
        order = np.argsort(self._t["ts"][:n, 0], kind="stable")
        out = self._build(order)
        folded = self._folded.records()
        if folded:
            out = sorted(out + folded, key=lambda f: f.first_ts)
        return out

    def _build(self, rows: np.ndarray) -> list[Flow]:
        """Flow objects for table rows `rows`, in that order."""
        t = self._t
        starts = self._starts_of(rows)
        keys = self._index.keys[rows].tolist()
        cnt, ts = t["cnt"][rows].tolist(), t["ts"][rows].tolist()
        flags, first, meta = (
            t["flags"][rows, 0].tolist(),
            t["first"][rows].tolist(),
            t["meta"][rows].tolist(),
        )
        addr_cache: dict[tuple[int, int], str] = {}

        def addr(hi: int, lo: int) -> str:
            text = addr_cache.get((hi, lo))
            if text is None:
                text = addr_cache[(hi, lo)] = ip_str(hi, lo)
            return text

        mac_cache: dict[int, str] = {}

        def mac(word: int, present: bool = True) -> str | None:
            if not present:
                return None
            value = word & 0xFFFFFFFFFFFF
            text = mac_cache.get(value)
            if text is None:
                text = mac_cache[value] = mac_str(value)
            return text

        out = []
        for r in range(len(rows)):
            pp, a_hi, a_lo, b_hi, b_lo = keys[r]
            ends = ((addr(a_hi, a_lo), (pp >> 16) & 0xFFFF), (addr(b_hi, b_lo), pp & 0xFFFF))
            o = meta[r][0]
            q = 1 - o
            fo, fq = first[r][2 * o], first[r][2 * q]
            o_mac, q_mac = bool(fo & _HAS_MAC), bool(fq & _HAS_MAC)
            out.append(
                Flow(
                    proto=pp >> 32,
                    orig_ip=ends[o][0],
                    resp_ip=ends[q][0],
                    orig_port=ends[o][1],
                    resp_port=ends[q][1],
                    first_ts=ts[r][0],
                    last_ts=ts[r][1],
                    orig_pkts=cnt[r][o],
                    resp_pkts=cnt[r][q],
                    orig_bytes=cnt[r][2 + o],
                    resp_bytes=cnt[r][2 + q],
                    orig_flags=(flags[r] >> (8 * o)) & 0xFF,
                    resp_flags=(flags[r] >> (8 * q)) & 0xFF,
                    orig_mac=mac(fo, o_mac),
                    orig_next_hop=mac(first[r][2 * o + 1], o_mac and bool(first[r][2 * o + 1])),
                    resp_mac=mac(fq, q_mac),
                    orig_ttl=(fo >> 48) & 0xFF,
                    resp_ttl=(fq >> 48) & 0xFF,
                    vlan=meta[r][1],
                    starts=starts[r],
                )
            )
        return out

    def _starts_of(self, rows: np.ndarray) -> list[list[float]]:
        """The originator's restart times of each of `rows`, in the order of `rows`."""
        per_row: list[list[float]] = [[] for _ in range(len(rows))]
        at, ts = self._originator_starts(rows)
        if not len(at):
            return per_row
        order = np.argsort(at, kind="stable")
        at, ts = at[order], ts[order]
        cuts = np.flatnonzero(np.append(True, at[1:] != at[:-1]))
        for start, stop in zip(cuts, np.append(cuts[1:], len(at)), strict=True):
            per_row[int(at[start])] = ts[start:stop].tolist()
        return per_row

    def _originator_starts(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Restart candidates of `rows` in each one's originator direction: (position in rows, time)."""
        if not self._starts:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        slot = np.full(self._index.n, -1, dtype=np.int64)
        slot[rows] = np.arange(len(rows))
        start_rows, ts, dirs = self._flat_starts()
        at = slot[start_rows]
        wanted = at >= 0
        at, ts, dirs = at[wanted], ts[wanted], dirs[wanted]
        mine = dirs == self._t["meta"][rows[at], 0]
        return at[mine], ts[mine]


_MAC48 = _U(0xFFFFFFFFFFFF)
_NO_MAC = _U(1 << 48)  # an absent MAC in a fold key column


class _FoldColumns:
    """Table rows about to be folded, as the numbers `fold_key` is made of.

    Every text of `fold_key` is an injective function of a number here
    (addresses of their (hi, lo) pair, MACs of their 48 bits, absent ones of
    a value no MAC has), so rows with equal numbers are rows with equal keys.
    """

    def __init__(self, t: _Blocks, keys: np.ndarray, rows: np.ndarray) -> None:
        key = keys[rows]
        pp = key[:, 0]
        b_orig = t["meta"][rows, 0].astype(bool)  # side B sent the first packet
        self.proto = (pp >> _U(32)).astype(np.int64)
        a = np.stack([key[:, 1], key[:, 2], (pp >> _U(16)) & _U(0xFFFF)], axis=1)
        b = np.stack([key[:, 3], key[:, 4], pp & _U(0xFFFF)], axis=1)
        self.orig = np.where(b_orig[:, None], b, a)
        self.resp = np.where(b_orig[:, None], a, b)
        ts = t["ts"][rows]
        self.first_ts, self.last_ts = ts[:, 0], ts[:, 1]
        cnt = t["cnt"][rows]
        swap = [1, 0, 3, 2]
        # orig pkts, resp pkts, orig bytes, resp bytes
        self.counts = np.where(b_orig[:, None], cnt[:, swap], cnt)
        fl = t["flags"][rows, 0].astype(np.int64)
        both = np.stack([fl & 0xFF, fl >> 8], axis=1)
        self.flags = np.where(b_orig[:, None], both[:, ::-1], both)  # orig, resp
        first = t["first"][rows]
        fo = np.where(b_orig, first[:, 2], first[:, 0])
        hop = np.where(b_orig, first[:, 3], first[:, 1])
        fq = np.where(b_orig, first[:, 0], first[:, 2])
        o_mac, q_mac = (fo & _HAS_MAC) != 0, (fq & _HAS_MAC) != 0
        self.macs = np.stack(
            [
                np.where(o_mac, fo & _MAC48, _NO_MAC),
                np.where(o_mac & (hop != 0), hop & _MAC48, _NO_MAC),
                np.where(q_mac, fq & _MAC48, _NO_MAC),
            ],
            axis=1,
        )
        self.vlan = t["meta"][rows, 1]
        o_syn = (self.flags[:, 0] & SYN) != 0
        r_syn = (self.flags[:, 1] & SYN) != 0
        quiet = self.counts[:, 1] == 0
        inputs = (
            (self.proto << 35)
            | (o_syn.astype(np.int64) << 34)
            | (r_syn.astype(np.int64) << 33)
            | (quiet.astype(np.int64) << 32)
            | (self.orig[:, 2].astype(np.int64) << 16)
            | self.resp[:, 2].astype(np.int64)
        )
        self.sides = _SIDES.of(inputs)  # what direction() says: swapped, certain, server port
        self.swapped = self.sides[:, 0].astype(bool)
        self.bits = o_syn | r_syn << 1 | quiet << 2 | self.sides[:, 0] << 3 | self.sides[:, 1] << 4

    def groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Group of each row (numbered in order of first row), each group's first row, sizes."""
        table = np.column_stack(
            [
                self.proto.astype(np.uint64),
                self.orig[:, :2],
                self.macs[:, :2],
                self.resp[:, :2],
                self.macs[:, 2],
                self.vlan.astype(np.uint64),
                self.bits.astype(np.uint64),
                self.sides[:, 2].astype(np.uint64),
            ]
        )
        equal_to = first_equal(table)
        is_first = equal_to == np.arange(len(table))
        group = (np.cumsum(is_first) - 1)[equal_to]
        return group, np.flatnonzero(is_first), np.bincount(group, minlength=int(is_first.sum()))


class _SidesMemo:
    """`_sides` of many flows at once, remembered as sorted arrays.

    Why: a batch of churn holds thousands of distinct port pairs, and a dict
    lookup per pair per batch cost as much as the rest of folding; here only
    inputs never seen before reach Python. Starts over past MAX entries.
    """

    MAX = 1 << 17  # entries, 32 bytes each: a day of churn has fewer port pairs (<= 65,536 x few)

    def __init__(self) -> None:
        self.keys = np.zeros(0, dtype=np.int64)
        self.values = np.zeros((0, 3), dtype=np.int64)

    def of(self, inputs: np.ndarray) -> np.ndarray:
        """(swapped, certain, server port) for each packed input."""
        wanted, which = np.unique(inputs, return_inverse=True)
        at = np.searchsorted(self.keys, wanted)
        known = at < len(self.keys)
        known[known] = self.keys[at[known]] == wanted[known]
        if not known.all():
            new = wanted[~known]
            if len(self.keys) + len(new) > self.MAX:
                self.keys, self.values, new = self.keys[:0], self.values[:0], wanted
            values = np.array([_sides(k) for k in new.tolist()], dtype=np.int64).reshape(-1, 3)
            keys = np.concatenate([self.keys, new])
            order = np.argsort(keys, kind="stable")
            self.keys, self.values = keys[order], np.concatenate([self.values, values])[order]
            at = np.searchsorted(self.keys, wanted)
        return self.values[at][which.reshape(-1)]


def _sides(inputs: int) -> tuple[int, int, int]:
    """(swapped, certain, server port) that `direction()` gives a flow with these inputs.

    `inputs` packs what `direction()` reads: protocol, SYN from the
    originator, SYN from the responder, no reply, originator and responder
    ports. A flow made of just those asks the one implementation.
    """
    probe = Flow(
        proto=inputs >> 35,
        orig_ip="",
        resp_ip="",
        orig_port=(inputs >> 16) & 0xFFFF,
        resp_port=inputs & 0xFFFF,
        first_ts=0.0,
        last_ts=0.0,
        orig_flags=SYN if inputs >> 34 & 1 else 0,
        resp_flags=SYN if inputs >> 33 & 1 else 0,
        resp_pkts=0 if inputs >> 32 & 1 else 1,
    )
    d = direction(probe)
    return int(d.swapped), int(d.certain), d.server_port


_SIDES = _SidesMemo()


class _Chunk:
    """The IP packets of one chunk with their endpoint values, direction and flow hash."""

    def __init__(self, p: Packets, ip: np.ndarray) -> None:
        self.full = full = len(ip) == len(p)
        self.index = ip
        self.p = p

        def col(a: np.ndarray) -> np.ndarray:
            return a if full else a[ip]

        proto = col(p.proto)
        v6 = np.flatnonzero(col(p.ip_ver) == 6)
        v6 = v6 if len(v6) else None
        es = _endpoints(col(p.src_hi), col(p.src_lo), col(p.sport), v6)
        ed = _endpoints(col(p.dst_hi), col(p.dst_lo), col(p.dport), v6)
        d = es > ed
        self.emin = np.where(d, ed, es)
        emax = np.where(d, es, ed)
        self.h = _flow_hash(self.emin, emax, proto)
        # exact for IPv4 (endpoints < 2**48): the second check column carries proto
        self.emax_p = emax ^ (proto.astype(np.uint64) << _U(56))
        # one gather instead of four after sorting: wirelen | flags | direction
        self.aux = (
            (col(p.wirelen).astype(np.uint64) << _U(9))
            | (col(p.tcp_flags).astype(np.uint64) << _U(1))
            | d
        )
        self.ts = ts = col(p.ts)
        self.monotonic = bool((ts[1:] >= ts[:-1]).all())


def _reduce(pk: _Chunk, order: np.ndarray, seg: np.ndarray) -> dict:
    """Per-segment (flow) sums, first-seen fields and restart candidates of one chunk."""
    p = pk.p
    m = len(order)
    nseg = len(seg)
    pidx = order if pk.full else pk.index[order]  # packet row in `p`, sorted by flow
    aux = pk.aux[order]
    ts = pk.ts[order]
    d = (aux & _U(1)).astype(np.int64)
    wl = (aux >> _U(9)).astype(np.int64)
    n1 = segment_sums(d, seg)
    b_all = segment_sums(wl, seg)
    b1 = segment_sums(wl * d, seg)
    n_all = np.diff(np.append(seg, m))
    cnt = np.stack([n_all - n1, n1, b_all - b1, b1], axis=1)
    fl = (aux >> _U(1)) & _U(0xFF)
    if fl.any():
        flags = np.bitwise_or.reduceat((fl << (_U(8) * d.astype(np.uint64))).astype(np.uint16), seg)
    else:
        flags = np.zeros(nseg, dtype=np.uint16)
    # first packet of each direction: the first index of that direction at or after seg start
    seg_end = np.append(seg[1:], m)
    first = np.zeros((nseg, 4), dtype=np.uint64)
    for k in (0, 1):
        at = np.flatnonzero(d == k)
        j = np.searchsorted(at, seg)
        pos = at[np.minimum(j, len(at) - 1)] if len(at) else np.zeros(nseg, dtype=np.intp)
        present = (j < len(at)) & (pos < seg_end)
        fp = pidx[pos[present]]
        first[present, 2 * k] = (
            p.src_mac[fp]
            | (p.ttl[fp].astype(np.uint64) << _U(48))
            | (p.has_mac[fp].astype(np.uint64) << _U(56))
            | _SEEN
        )
        first[present, 2 * k + 1] = p.dst_mac[fp]
    head = pidx[seg]
    d_head = d[seg]
    a_src = d_head == 0
    proto = p.proto[head].astype(np.uint64)
    sport, dport = p.sport[head].astype(np.uint64), p.dport[head].astype(np.uint64)
    key = np.empty((nseg, 5), dtype=np.uint64)
    key[:, 0] = (proto << _U(32)) | np.where(
        a_src, (sport << _U(16)) | dport, (dport << _U(16)) | sport
    )
    key[:, 1] = np.where(a_src, p.src_hi[head], p.dst_hi[head])
    key[:, 2] = np.where(a_src, p.src_lo[head], p.dst_lo[head])
    key[:, 3] = np.where(a_src, p.dst_hi[head], p.src_hi[head])
    key[:, 4] = np.where(a_src, p.dst_lo[head], p.src_lo[head])
    synack = (proto == 6) & ((p.tcp_flags[head] & _SYN_ACK) == _SYN_ACK)
    if pk.monotonic:
        span = np.stack([ts[seg], ts[seg_end - 1]], axis=1)
    else:
        span = np.stack([np.minimum.reduceat(ts, seg), np.maximum.reduceat(ts, seg)], axis=1)
    s = {
        "h": pk.h[order[seg]],
        "key": key,
        "orig": d_head ^ synack,
        "vlan": p.vlan[head],
        "ts": span,
        "cnt": cnt,
        "flags": flags,
        "first": first,
    }
    # restart candidates: each segment's first packet, and packets after an idle gap
    gap = np.flatnonzero(ts[1:] - ts[:-1] >= IDLE_RESTART) + 1
    seg_of_gap = np.searchsorted(seg, gap, side="right") - 1
    inner = gap != seg[seg_of_gap]
    gap, seg_of_gap = gap[inner], seg_of_gap[inner]
    cand = np.concatenate([seg, gap])
    cand_seg = np.concatenate([np.arange(nseg), seg_of_gap])
    first_flag = np.zeros(len(cand), dtype=bool)
    first_flag[:nseg] = True
    if len(gap):
        by = np.argsort(cand, kind="stable")
        cand, cand_seg, first_flag = cand[by], cand_seg[by], first_flag[by]
    s["cand_seg"] = cand_seg
    s["cand_ts"] = ts[cand]
    s["cand_dir"] = d[cand]
    s["cand_first"] = first_flag
    return s
