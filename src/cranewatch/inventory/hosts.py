"""Streaming per-host counters: per MAC, per (MAC, IP) pair, and per IP on MAC-less links.

The inventory needs to know which MACs speak, which IPs each MAC sends from
(a MAC sending from many IPs forwards for them: a router), and which IPs only
appear on links without MACs. Per chunk, packets are grouped once by a hash of
(source MAC, destination MAC, VLAN, TTL, IP version, source IP), with the
group exact on those columns; every counter below is then derived from the
few groups, never from single packets. Accumulators keep their rows as numpy
columns and are compacted (sorted and reduced) whenever pending rows outgrow
the compacted ones, so memory follows the number of hosts, not packets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from cranewatch.decode.addr import ip_str
from cranewatch.decode.packets import Packets
from cranewatch.inventory.flows import RowIndex, group_by_hash, mix64, segment_sums
from cranewatch.sources.batch import RawBatch

_U = np.uint64
_MAC_MASK = _U((1 << 48) - 1)
_K1 = _U(0x9E3779B97F4A7C15)
_K2 = _U(0xC2B2AE3D27D4EB4F)
_K3 = _U(0x165667B19E3779F9)


@dataclass(slots=True)
class MacStats:
    """One unicast MAC seen as a frame source."""

    mac: int
    pkts_sent: int = 0
    bytes_sent: int = 0
    pkts_recv: int = 0  # frames addressed to it (unicast destination)
    bytes_recv: int = 0
    first_ts: float | None = None  # as a source
    last_ts: float | None = None
    locally_administered: bool = False
    ttls: list[int] = field(default_factory=list)  # TTL/hop limits of its IP packets
    vlans: list[int] = field(default_factory=list)  # VLAN ids it sent on (0 untagged)


@dataclass(slots=True)
class PairStats:
    """One (source MAC, source IP) pair."""

    mac: int
    ip: str
    pkts: int
    first_ts: float
    last_ts: float


@dataclass(slots=True)
class IpStats:
    """One source IP seen on a link without MACs (raw IP, null/loop, cooked without address)."""

    ip: str
    pkts: int
    bytes: int
    first_ts: float
    last_ts: float


class _Counter:
    """Keyed counters in growing numpy arrays: packets, bytes, first and last time per key."""

    def __init__(self, width: int, bitmaps: int = 0) -> None:
        self.index = RowIndex(width)
        self.cnt = np.zeros((64, 2), dtype=np.int64)
        self.span = np.zeros((64, 2), dtype=np.float64)
        self.bits = np.zeros((64, bitmaps), dtype=np.uint64)

    def add(self, keys: np.ndarray, pkts, nbytes, first, last, bits=None) -> None:
        """Fold rows (possibly repeating keys) in."""
        if not len(keys):
            return
        h = keys[:, 0] ^ _K1
        for j in range(1, keys.shape[1]):
            h = mix64(h) ^ keys[:, j]
        h = mix64(h)
        order, seg = group_by_hash(h, tuple(keys.T))
        head = order[seg]
        rows, is_new = self.index.lookup(h[head], keys[head])
        n = self.index.n
        if n > len(self.cnt):
            size = max(n, 2 * len(self.cnt))
            self.cnt = _grown(self.cnt, size)
            self.span = _grown(self.span, size)
            self.bits = _grown(self.bits, size)
        cnt = np.stack([segment_sums(pkts[order], seg), segment_sums(nbytes[order], seg)], axis=1)
        lo = np.minimum.reduceat(first[order], seg)
        hi = np.maximum.reduceat(last[order], seg)
        self.cnt[rows] += cnt
        old = self.span[rows]
        self.span[rows, 0] = np.where(is_new, lo, np.minimum(old[:, 0], lo))
        self.span[rows, 1] = np.where(is_new, hi, np.maximum(old[:, 1], hi))
        if bits is not None:
            self.bits[rows] |= np.bitwise_or.reduceat(bits[order], seg, axis=0)

    def merge(self, other: _Counter) -> None:
        """Fold another counter's rows in (sums, earliest first, latest last, OR of bitmaps)."""
        keys, cnt, span, bits = other.rows()
        bitmaps = bits if bits.shape[1] else None
        self.add(keys, cnt[:, 0], cnt[:, 1], span[:, 0], span[:, 1], bitmaps)

    def rows(self):
        n = self.index.n
        return self.index.keys[:n], self.cnt[:n], self.span[:n], self.bits[:n]


def _grown(a: np.ndarray, size: int) -> np.ndarray:
    fresh = np.zeros((size, *a.shape[1:]), dtype=a.dtype)
    fresh[: len(a)] = a
    return fresh


def _is_unicast(mac: np.ndarray) -> np.ndarray:
    return (mac != 0) & ((mac >> _U(40)) & _U(1) == 0)


def _bit_words(values: np.ndarray, words: int) -> np.ndarray:
    """One-hot bitmaps (`words` uint64 words) of small integers."""
    out = np.zeros((len(values), words), dtype=np.uint64)
    v = values.astype(np.int64)
    out[np.arange(len(v)), v >> 6] = _U(1) << (v & 63).astype(np.uint64)
    return out


def _bits_list(words: list[int]) -> list[int]:
    return [64 * j + b for j, w in enumerate(words) for b in range(64) if (w >> b) & 1]


_NO_MAC = _U(1 << 48)  # key value for "this link has no MAC addresses"
_NO_IP = _U(0xFFFFFFFFFFFFFFFF)  # ff..ff is multicast, never a source: marks non-IP frames


class HostTable:
    """Per-host packet counters, accumulated chunk by chunk.

    One counter keyed (source MAC or none, VLAN, source IP or none) holds packets,
    bytes, first/last time and a bitmap of TTLs; one keyed by destination MAC
    holds what each MAC received. Per-MAC, per-pair and per-IP views are summed
    from these when asked (few rows).
    """

    def __init__(self) -> None:
        self._src = _Counter(4, bitmaps=4)
        self._recv = _Counter(1)

    def add(self, packets: Packets, batch: RawBatch | None = None) -> None:
        """Fold one decoded chunk into the counters."""
        g = _chunk_groups(packets)
        if g is None:
            return
        pk, by, first, last = g["pkts"], g["bytes"], g["first"], g["last"]
        has_mac, ver = g["has_mac"], g["ip_ver"]
        is_ip = ver != 0
        keys = np.stack(
            [
                np.where(has_mac, g["src_mac"], _NO_MAC),
                g["vlan"].astype(np.uint64),
                np.where(is_ip, g["src_hi"], _NO_IP),
                np.where(is_ip, g["src_lo"], _NO_IP),
            ],
            axis=1,
        )
        ttl_bits = _bit_words(g["ttl"], 4)
        ttl_bits[~is_ip] = 0
        self._src.add(keys, pk, by, first, last, ttl_bits)
        sel = np.flatnonzero(has_mac & _is_unicast(g["dst_mac"]))
        if len(sel):
            self._recv.add(g["dst_mac"][sel, None], pk[sel], by[sel], first[sel], last[sel])

    def merge(self, other: HostTable) -> None:
        """Fold another table in (another capture read in parallel); order does not matter."""
        self._src.merge(other._src)
        self._recv.merge(other._recv)

    def _rows(self):
        keys, cnt, span, bits = self._src.rows()
        return zip(keys.tolist(), cnt.tolist(), span.tolist(), bits.tolist(), strict=True)

    # ------------------------------------------------------------------ results
    def macs(self) -> dict[int, MacStats]:
        """Unicast source MACs (48-bit ints) with their counters."""
        out: dict[int, MacStats] = {}
        ttl_words: dict[int, list[int]] = {}
        for (m, vlan, _hi, _lo), (p, b), (f, la), words in self._rows():
            if m >> 48 or not m or (m >> 40) & 1:
                continue
            st = out.get(m)
            if st is None:
                st = out[m] = MacStats(m, 0, 0, 0, 0, f, la, bool((m >> 40) & 2))
                ttl_words[m] = [0, 0, 0, 0]
            st.pkts_sent += p
            st.bytes_sent += b
            st.first_ts, st.last_ts = min(st.first_ts, f), max(st.last_ts, la)
            if vlan not in st.vlans:
                st.vlans.append(vlan)
            ttl_words[m] = [x | y for x, y in zip(ttl_words[m], words, strict=True)]
        for m, st in out.items():
            st.vlans.sort()
            st.ttls = _bits_list(ttl_words[m])
        rkeys, rcnt, _, _ = (a.tolist() for a in self._recv.rows())
        for (m,), (p, b) in zip(rkeys, rcnt, strict=True):
            if m in out:
                out[m].pkts_recv, out[m].bytes_recv = p, b
        return _by_first_seen(out)

    def mac_ips(self) -> dict[tuple[int, str], PairStats]:
        """(source MAC, source IP) pairs: which addresses each MAC sends from."""
        out: dict[tuple[int, str], PairStats] = {}
        for (m, _vlan, hi, lo), (p, _b), (f, la), _ in self._rows():
            if m >> 48 or lo == _NO_IP == hi:
                continue
            ip = ip_str(hi, lo)
            st = out.get((m, ip))
            if st is None:
                out[(m, ip)] = PairStats(m, ip, p, f, la)
            else:
                st.pkts += p
                st.first_ts, st.last_ts = min(st.first_ts, f), max(st.last_ts, la)
        return _by_first_seen(out)

    def ips_without_mac(self) -> dict[str, IpStats]:
        """Source IPs of packets on links that carry no MAC addresses."""
        out: dict[str, IpStats] = {}
        for (m, _vlan, hi, lo), (p, b), (f, la), _ in self._rows():
            if not m >> 48 or lo == _NO_IP == hi:
                continue
            ip = ip_str(hi, lo)
            st = out.get(ip)
            if st is None:
                out[ip] = IpStats(ip, p, b, f, la)
            else:
                st.pkts += p
                st.bytes += b
                st.first_ts, st.last_ts = min(st.first_ts, f), max(st.last_ts, la)
        return _by_first_seen(out)


def _by_first_seen(stats: dict) -> dict:
    """In order of first packet (then key): the same whatever order the table rows came in.

    Why: rows follow the order chunks and merged tables were folded in, which
    depends on how the captures were split over processes; the inventory (the
    order of an asset's addresses, which MAC claims a shared IP first) must not.
    """
    return dict(sorted(stats.items(), key=lambda kv: (kv[1].first_ts, kv[0])))


def _chunk_groups(p: Packets) -> dict[str, np.ndarray] | None:
    """Group a chunk's packets by their source-side class; sums and representative columns."""
    use = np.flatnonzero(p.has_mac | (p.ip_ver != 0))
    if not len(use):
        return None
    full = len(use) == len(p)

    def col(a: np.ndarray) -> np.ndarray:
        return a if full else a[use]

    has_mac = col(p.has_mac)
    ver = col(p.ip_ver)
    vcode = np.where(ver == 4, _U(1), np.where(ver == 6, _U(2), _U(0)))
    k1 = (
        (col(p.src_mac) & _MAC_MASK)
        | (col(p.vlan).astype(np.uint64) << _U(48))
        | (vcode << _U(60))
        | (has_mac.astype(np.uint64) << _U(62))
    )
    k2 = (col(p.dst_mac) & _MAC_MASK) | (col(p.ttl).astype(np.uint64) << _U(48))
    hi, lo = col(p.src_hi), col(p.src_lo)
    h = mix64(mix64(mix64(k1 ^ _K1) ^ k2) ^ (hi * _K2) ^ (lo * _K3))
    order, seg = group_by_hash(h, (k1, k2, hi, lo))
    head = order[seg]
    ts = col(p.ts)[order]
    wl = col(p.wirelen)[order].astype(np.int64)
    m = len(order)
    return {
        "src_mac": k1[head] & _MAC_MASK,
        "dst_mac": k2[head] & _MAC_MASK,
        "has_mac": has_mac[head],
        "ip_ver": ver[head],
        "vlan": col(p.vlan)[head],
        "ttl": col(p.ttl)[head],
        "src_hi": hi[head],
        "src_lo": lo[head],
        "pkts": np.diff(np.r_[seg, m]).astype(np.int64),
        "bytes": np.add.reduceat(wl, seg),
        "first": np.minimum.reduceat(ts, seg),
        "last": np.maximum.reduceat(ts, seg),
    }
