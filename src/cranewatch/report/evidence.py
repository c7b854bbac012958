"""Evidence pcaps: per finding, a small capture holding the packets behind it.

Why: an analyst who doubts a finding wants to open the traffic in Wireshark,
not trust a sentence; and an incident ticket should carry the few hundred
packets that matter, not a 10 GB SPAN capture. So after the analysis, a second
pass over the inputs picks, per finding, the packets between its asset and its
peer and writes them to `<finding id>-<kind>.pcap` (classic pcap, microseconds,
little-endian) or `.pcapng` when the packets come from several link types (one
interface per link type), plus `index.csv` listing what went where.

The pass is columnar: per batch, the packets are indexed once by MAC and by IP
(`_BatchIndex`), and each finding looks up its asset's rows there; only the
selected packets, at most `max_packets` per finding, are copied out as bytes.
"""

from __future__ import annotations

import csv
import io
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from cranewatch.decode.addr import ip_pair, ip_str, mac_int
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.decode.packets import Packets
from cranewatch.detect import _addr
from cranewatch.detect.model import Finding
from cranewatch.errors import CranewatchError
from cranewatch.report.atomic import atomic_open, atomic_write, make_folder
from cranewatch.sources import open_capture
from cranewatch.sources.batch import RawBatch

INDEX_COLUMNS = ["id", "kind", "file", "packets", "first_ts", "last_ts"]
SNAPLEN = 262144
EVIDENCE_TOLERANCE = 1e-6  # seconds: evidence times come from the same float timestamps
ROUTED_KIND = "rogue-gateway"


@dataclass(slots=True)
class _Packet:
    """One selected packet, copied out of its batch (only for the few selected)."""

    order: tuple[int, int]  # (input index, packet number in that input): capture order
    ts_us: int
    wirelen: int
    linktype: int
    data: bytes


@dataclass
class _Target:
    """What one finding selects, and what was selected so far."""

    finding: Finding
    mac: int | None
    ip: tuple[int, int] | None
    peer: tuple[int, int] | None
    port: int | None
    routed_only: bool
    ev_ts: np.ndarray  # sorted unique evidence times
    ev_seen: np.ndarray  # bool per evidence time: a matching packet was met
    first: list[_Packet] = field(default_factory=list)
    at_evidence: list[_Packet] = field(default_factory=list)
    fallback: list[_Packet] = field(default_factory=list)  # rogue-gateway: any frame of the MAC

    @property
    def selects_anything(self) -> bool:
        return self.mac is not None or self.ip is not None


def write_evidence(analysis: Any, out_dir: Path, max_packets: int = 2000) -> dict[str, Path]:
    """Write one evidence capture per finding into `out_dir`, and `out_dir/index.csv`.

    Returns finding id -> file written. A finding none of whose packets could be
    found gets no file, only an index row with 0 packets. Raises CranewatchError
    when an input capture can no longer be read (moved or replaced since analysis).
    """
    if max_packets < 1:
        raise ValueError("max_packets must be at least 1")
    out_dir = make_folder(out_dir)
    targets = [_target(f) for f in analysis.findings]
    zones = _ZoneCodes(getattr(analysis, "site", None))
    for index, stats in enumerate(analysis.inputs):
        _scan_input(index, stats.path, targets, zones, max_packets)
    written: dict[str, Path] = {}
    rows: list[list[str]] = []
    for t in targets:
        packets = _chosen(t, max_packets)
        name = ""
        if packets:
            path = out_dir / _file_name(t.finding, packets)
            with atomic_open(path, "wb") as fh:
                fh.write(_encode(packets))
            written[t.finding.id] = path
            name = path.name
        rows.append(_index_row(t.finding, name, packets))
    atomic_write(out_dir / "index.csv", _csv_text(rows))
    return written


# -- what a finding selects --------------------------------------------------------------------


def _target(f: Finding) -> _Target:
    ev = np.unique(np.array([e.ts for e in f.evidence], dtype=np.float64))
    return _Target(
        finding=f,
        mac=_mac(f.asset_mac),
        ip=_ip(f.asset_ip),
        peer=_ip(f.peer_ip),
        port=f.peer_port if f.peer_ip is not None else None,
        routed_only=f.kind == ROUTED_KIND and f.peer_ip is None and _mac(f.asset_mac) is not None,
        ev_ts=ev,
        ev_seen=np.zeros(len(ev), dtype=bool),
    )


def _mac(text: str | None) -> int | None:
    if not text:
        return None
    try:
        return mac_int(text)
    except ValueError:
        return None


def _ip(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        return ip_pair(text)
    except ValueError:
        return None


_MIX = np.uint64(0x9E3779B97F4A7C15)


class _BatchIndex:
    """One batch's packets by MAC and by IP: each finding looks up its few rows.

    Why: a finding's packets were picked by comparing every packet of the batch
    with its addresses; with hundreds of findings (a first site file without
    conduits) the evidence pass took 15x the analysis. Sorted once per batch,
    a finding costs a binary search and its own rows.
    """

    def __init__(self, pk: Packets, zones: _ZoneCodes) -> None:
        self.pk, self.zones = pk, zones
        self._macs: tuple[np.ndarray, np.ndarray] | None = None
        self._ips: tuple[np.ndarray, np.ndarray] | None = None
        self._off: np.ndarray | None = None
        self._assets: dict[tuple, np.ndarray] = {}  # findings about one device share its rows
        self.t0, self.t1 = (float(pk.ts.min()), float(pk.ts.max())) if len(pk) else (0.0, -1.0)

    @staticmethod
    def _sorted(keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(keys, kind="stable")
        return keys[order], rows[order]

    @staticmethod
    def _find(index: tuple[np.ndarray, np.ndarray], key: np.uint64) -> np.ndarray:
        keys, rows = index
        lo, hi = np.searchsorted(keys, key, "left"), np.searchsorted(keys, key, "right")
        return rows[lo:hi]

    def mac_rows(self, mac: int) -> np.ndarray:
        """Rows whose frame has `mac` as source or destination MAC."""
        if self._macs is None:
            pk = self.pk
            r = np.flatnonzero(pk.has_mac)
            keys = np.concatenate([pk.src_mac[r], pk.dst_mac[r]]).astype(np.uint64)
            self._macs = self._sorted(keys, np.concatenate([r, r]))
        return self._find(self._macs, np.uint64(mac))

    def ip_rows(self, pair: tuple[int, int]) -> np.ndarray:
        """Rows whose packet has the address as source or destination IP."""
        pk = self.pk
        if self._ips is None:
            r = np.flatnonzero(pk.ip_ver != 0)
            src = pk.src_lo[r] ^ (pk.src_hi[r] * _MIX)
            dst = pk.dst_lo[r] ^ (pk.dst_hi[r] * _MIX)
            self._ips = self._sorted(np.concatenate([src, dst]), np.concatenate([r, r]))
        hi, lo = np.uint64(pair[0]), np.uint64(pair[1])
        key = pair[1] ^ ((pair[0] * int(_MIX)) & 0xFFFFFFFFFFFFFFFF)  # as the arrays wrap, silently
        rows = self._find(self._ips, np.uint64(key))
        exact = ((pk.src_hi[rows] == hi) & (pk.src_lo[rows] == lo)) | (
            (pk.dst_hi[rows] == hi) & (pk.dst_lo[rows] == lo)
        )
        return rows[exact]

    def asset_rows(self, mac: int | None, ip: tuple[int, int] | None) -> np.ndarray:
        """Rows with the asset at one end, ascending: its MAC one of the frame's, or its IP."""
        rows = self._assets.get((mac, ip))
        if rows is None:
            parts = [self.mac_rows(mac)] if mac is not None else []
            parts += [self.ip_rows(ip)] if ip is not None else []
            rows = np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
            self._assets[(mac, ip)] = rows
        return rows

    def off_subnet(self) -> np.ndarray:
        if self._off is None:
            self._off = self.zones.off_subnet(self.pk)
        return self._off


def _finding_rows(
    idx: _BatchIndex, t: _Target, asset: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None]:
    """(rows of the finding, fallback rows or None), both ascending.

    The asset is one end (its MAC one of the frame's MACs, or its IP one of the
    packet's IPs); with a peer, the peer's IP is one of the packet's IPs and the
    peer port one of its ports. Matching MAC and IP separately keeps frames a
    router (modem, rogue gateway) forwards for others: there the asset's MAC and
    the peer's IP sit on the same side of the frame.
    """
    rows = asset
    if t.peer is not None:
        rows = np.intersect1d(rows, idx.ip_rows(t.peer), assume_unique=False)
        if t.port is not None:
            port = np.uint16(t.port)
            pk = idx.pk
            rows = rows[(pk.sport[rows] == port) | (pk.dport[rows] == port)]
    if not t.routed_only:
        return rows, None
    return rows[idx.off_subnet()[rows]], rows


class _ZoneCodes:
    """Integer zone code per address, so "off-subnet" is one array comparison.

    With a site: the zone's index (0 outside every zone); without one: 1 for a
    public address, 0 otherwise. Two ends with different codes are off-subnet,
    the same rule as detect/_routing.py. Addresses are looked up once each
    (unique per batch, cached), never once per packet.
    """

    def __init__(self, site: Any) -> None:
        self.site = site
        self.cache: dict[tuple[int, int], int] = {}
        self.zone_ids: dict[str, int] = {}

    def _code(self, hi: int, lo: int) -> int:
        key = (hi, lo)
        code = self.cache.get(key)
        if code is None:
            text = ip_str(hi, lo)
            if self.site is None:
                code = 1 if _addr.is_public(text) else 0
            else:
                zone = self.site.zone_of(text)
                code = 0 if zone is None else self.zone_ids.setdefault(zone, len(self.zone_ids) + 1)
            self.cache[key] = code
        return code

    def codes(self, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
        pairs = np.stack([hi, lo], axis=1)
        uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
        table = np.array([self._code(int(h), int(lo_)) for h, lo_ in uniq], dtype=np.int64)
        return table[inverse.reshape(-1)]

    def off_subnet(self, pk: Packets) -> np.ndarray:
        return (pk.ip_ver != 0) & (
            self.codes(pk.src_hi, pk.src_lo) != self.codes(pk.dst_hi, pk.dst_lo)
        )


# -- the second pass ---------------------------------------------------------------------------


def _scan_input(index: int, path: str, targets: list[_Target], zones: _ZoneCodes, cap: int) -> None:
    live = [t for t in targets if t.selects_anything]
    if not live:
        return
    try:
        batches = open_capture(path).batches()
        try:
            packet_no = 0
            for batch in batches:
                pk = decode_l2l4(batch)
                idx = _BatchIndex(pk, zones)
                for t in live:
                    if not _done(t, cap):
                        _take(t, batch, idx, (index, packet_no), cap)
                packet_no += len(batch)
                if all(_done(t, cap) for t in live):
                    break  # the rest of the capture cannot change any file
        finally:
            batches.close()
    except (OSError, CranewatchError) as exc:
        raise CranewatchError(f"cannot re-read the capture for evidence: {exc}", path) from exc


def _done(t: _Target, cap: int) -> bool:
    """Nothing more to take: the first `cap` packets held and every evidence time met."""
    return len(t.first) >= cap and bool(t.ev_seen.all())


def _evidence_hits(t: _Target, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(packets at an evidence time, which evidence time each one hits)."""
    if len(t.ev_ts) == 0:
        return np.zeros(len(ts), dtype=bool), np.zeros(len(ts), dtype=np.int64)
    right = np.searchsorted(t.ev_ts, ts).clip(0, len(t.ev_ts) - 1)
    left = (right - 1).clip(0, None)
    near = np.where(np.abs(t.ev_ts[left] - ts) < np.abs(t.ev_ts[right] - ts), left, right)
    return np.abs(t.ev_ts[near] - ts) <= EVIDENCE_TOLERANCE, near


def _take(t: _Target, batch: RawBatch, idx: _BatchIndex, base: tuple[int, int], cap: int) -> None:
    asset = idx.asset_rows(t.mac, t.ip)
    if not len(asset):
        return
    rows, fallback = _finding_rows(idx, t, asset)
    # At an evidence time any packet of the asset counts, not only those with the peer:
    # the web page that names a modem's model was fetched by another host.
    lo = np.searchsorted(t.ev_ts, idx.t0 - EVIDENCE_TOLERANCE)
    if lo < len(t.ev_ts) and t.ev_ts[lo] <= idx.t1 + EVIDENCE_TOLERANCE:  # an evidence time here
        hit, which = _evidence_hits(t, idx.pk.ts[asset])
        ev_rows = asset[hit]
        room_ev = max(1, cap // 2) - len(t.at_evidence)
        if room_ev > 0 and len(ev_rows):
            t.at_evidence += _copy(batch, ev_rows[:room_ev], base)
        t.ev_seen[which[hit]] = True
    room = cap - len(t.first)
    if room > 0:
        t.first += _copy(batch, rows[:room], base)
    if fallback is not None and not t.first:
        room = cap - len(t.fallback)
        if room > 0:
            t.fallback += _copy(batch, fallback[:room], base)


def _copy(batch: RawBatch, rows: np.ndarray, base: tuple[int, int]) -> list[_Packet]:
    """Copy the selected packets' bytes (bounded by the cap, so a Python loop is fine)."""
    ts_us = np.rint(batch.ts[rows] * 1e6).astype(np.int64)
    return [
        _Packet(
            order=(base[0], base[1] + int(i)),
            ts_us=int(us),
            wirelen=int(batch.wirelens[i]),
            linktype=int(batch.linktypes[i]),
            data=batch.packet(int(i)),
        )
        for i, us in zip(rows.tolist(), ts_us.tolist(), strict=True)
    ]


def _chosen(t: _Target, cap: int) -> list[_Packet]:
    """Packets at evidence times first, then the earliest others, in capture order."""
    first = t.first or t.fallback
    keep = {p.order: p for p in t.at_evidence}
    for p in first:
        if len(keep) >= cap:
            break
        keep.setdefault(p.order, p)
    return [keep[k] for k in sorted(keep)]


# -- writing -----------------------------------------------------------------------------------

_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def _file_name(f: Finding, packets: list[_Packet]) -> str:
    ext = "pcap" if len({p.linktype for p in packets}) == 1 else "pcapng"
    return _SAFE.sub("_", f"{f.id or 'finding'}-{f.kind}") + "." + ext


def _encode(packets: list[_Packet]) -> bytes:
    if len({p.linktype for p in packets}) == 1:
        return pcap_bytes(packets)
    return pcapng_bytes(packets)


def _snaplen(packets: Iterable[_Packet]) -> int:
    return max([SNAPLEN, *(len(p.data) for p in packets)])


def pcap_bytes(packets: list[_Packet]) -> bytes:
    """Classic pcap, little-endian, microsecond timestamps, one link type."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, _snaplen(packets), packets[0].linktype)]
    for p in packets:
        sec, usec = divmod(p.ts_us, 1_000_000)
        n = len(p.data)
        out.append(struct.pack("<IIII", sec & 0xFFFFFFFF, usec, n, max(p.wirelen, n)))
        out.append(p.data)
    return b"".join(out)


def _block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    size = len(body) + 12
    return struct.pack("<II", kind, size) + body + struct.pack("<I", size)


def pcapng_bytes(packets: list[_Packet]) -> bytes:
    """pcapng, little-endian: one interface (IDB, microsecond default) per link type."""
    linktypes = sorted({p.linktype for p in packets})
    iface = {lt: i for i, lt in enumerate(linktypes)}
    snap = _snaplen(packets)
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    out += [_block(1, struct.pack("<HHI", lt, 0, snap)) for lt in linktypes]
    for p in packets:
        n = len(p.data)
        head = struct.pack(
            "<IIIII", iface[p.linktype], p.ts_us >> 32, p.ts_us & 0xFFFFFFFF, n, max(p.wirelen, n)
        )
        out.append(_block(6, head + p.data))
    return b"".join(out)


def _index_row(f: Finding, name: str, packets: list[_Packet]) -> list[str]:
    first = min((p.ts_us for p in packets), default=None)
    last = max((p.ts_us for p in packets), default=None)
    return [f.id, f.kind, name, str(len(packets)), _ts_text(first), _ts_text(last)]


def _ts_text(us: int | None) -> str:
    if us is None:
        return ""
    sec, usec = divmod(us, 1_000_000)
    return f"{sec}.{usec:06d}"


def _csv_text(rows: list[list[str]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(INDEX_COLUMNS)
    writer.writerows(rows)
    return buf.getvalue()
