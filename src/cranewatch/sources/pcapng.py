"""pcapng files: sections (SHB) of interfaces (IDB) and packet blocks (EPB/SPB/OPB).

A block says its own length, so the walk is sequential like classic pcap. The
tight loop only steps over Enhanced Packet Blocks (nearly all of a real file);
any other block drops to a slower path that parses sections and interfaces and
skips the rest (NRB, ISB, DSB, custom, unknown). Packet fields, trailers and
interface checks are then done for the whole block of the file at once with
numpy, one segment (run of packets under one interface table) at a time.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from cranewatch.sources.batch import InputStats, RawBatch
from cranewatch.sources.pcap import SNAPLEN_FLOOR, drop_strays, u32_view
from cranewatch.sources.stream import (
    Chunker,
    account,
    make_batch,
    note_error,
    stop_at,
)

SHB, IDB, OPB, SPB, EPB = 0x0A0D0D0A, 1, 2, 3, 6
MAGIC = b"\x0a\x0d\x0d\x0a"
_BOM = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}
_MIN_LEN = {SHB: 28, IDB: 20, EPB: 32, OPB: 32, SPB: 16}
BLOCK_MIN = 12
# Larger blocks are refused before any buffer is sized by them (Wireshark's limit too).
BLOCK_MAX = 16 << 20
_OPT_TSRESOL, _OPT_TSOFFSET = 9, 14


@dataclass(slots=True)
class Interface:
    """One IDB: how to read the timestamps and what the link layer is."""

    linktype: int
    snaplen: int
    units: int | float = 1_000_000  # timestamp units per second
    offset: int = 0  # if_tsoffset, seconds added to every timestamp


@dataclass(slots=True)
class Section:
    """One SHB and the interfaces defined in it so far."""

    endian: str
    ifaces: list[Interface] = field(default_factory=list)
    head: object = field(init=False, repr=False)  # unpack (type, length)
    u32: object = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.head = struct.Struct(self.endian + "II").unpack_from
        self.u32 = struct.Struct(self.endian + "I").unpack_from


@dataclass(slots=True)
class _Segment:
    """Packet blocks read while one section had `nif` interfaces."""

    section: Section
    nif: int
    offs: list[int] = field(default_factory=list)
    special: list[tuple[int, int]] = field(default_factory=list)  # (index, SPB/OPB)


@dataclass(slots=True)
class _Walk:
    """Result of walking one buffer."""

    segments: list[_Segment]
    end: int  # first byte not walked
    need: int  # bytes the next buffer must hold from `end`
    stop: str | None = None  # why reading cannot go on past `end`


def parse_tsresol(value: int) -> int | float:
    """if_tsresol: 10^-v, or 2^-v when the top bit is set; units per second."""
    units = 2 ** (value & 0x7F) if value & 0x80 else 10**value
    return units if units < 2**62 else float(units)


def parse_interface(buf: bytearray, p: int, blen: int, sec: Section) -> Interface:
    """An IDB's link type, snaplen and timestamp options; bad options end the list."""
    linktype, _reserved, snaplen = struct.unpack_from(sec.endian + "HHI", buf, p + 8)
    iface = Interface(linktype, snaplen)
    o, end = p + 16, p + blen - 4
    opt = struct.Struct(sec.endian + "HH").unpack_from
    while o + 4 <= end:
        code, olen = opt(buf, o)
        if code == 0 or o + 4 + olen > end:
            break
        if code == _OPT_TSRESOL and olen >= 1:
            iface.units = parse_tsresol(buf[o + 4])
        elif code == _OPT_TSOFFSET and olen >= 8:
            iface.offset = struct.unpack_from(sec.endian + "q", buf, o + 4)[0]
        o += 4 + ((olen + 3) & ~3)
    return iface


def epb_run(buf: bytearray, p: int, n: int, sec: Section, offs: list[int]) -> int:
    """Step over consecutive EPBs, appending their offsets to `offs`.

    This is the sequential hot loop, so it checks only what keeps it moving
    forward (type and minimum length); lengths that are not a multiple of 4
    and trailers are checked afterwards for all blocks at once. It stops at the
    first other block, and leaves a block that runs past `n` to the slow path.
    Every PROBE blocks it lets `fast_epb_chain` look ahead, in a window that
    doubles while whole windows are EPBs, so a long run costs numpy time and a
    short one wastes at most about one window.
    """
    head = sec.head
    app = offs.append
    lim = n - 8
    start, stepped, window = p, 0, 0
    while p <= lim:
        btype, blen = head(buf, p)
        if btype != EPB or blen < 32:
            return p
        app(p)
        p += blen
        stepped += 1
        if stepped % PROBE == 0 and p <= lim:
            window = max(window, 4 * (p - start))
            chain = fast_epb_chain(buf, p, min(n, p + window), sec.endian)
            if chain is not None:
                offs.extend(chain[0].tolist())
                window *= 2 if chain[1] - p > window // 2 else 1
                p = chain[1]
    if p > n:
        p = offs.pop()
    return p


PROBE = 64  # blocks the loop steps over between two looks ahead


def fast_epb_chain(buf: bytearray, p: int, n: int, endian: str) -> tuple[np.ndarray, int] | None:
    """EPBs that the loop in `epb_run` would step over from `p` within buf[:n], with numpy.

    Returns (their offsets, where the loop goes on) or None. Why: the loop
    costs ~240 ns a block. Blocks are 4-byte aligned from `p`, so candidates
    are the aligned words equal to 6 whose length is at least 32, a multiple
    of 4, inside buf[:n] and repeated in the block's trailer. The answer is the
    prefix of candidates in which each one ends where the next begins,
    starting at `p`: every block in it is one the loop accepts, in the order it
    would step, so the loop resumes exactly where the prefix ends (at another
    block type, a block the candidate rules leave out, or the window's end).
    Candidates no other candidate ends at are dropped first (`drop_strays`).
    """
    words = (n - p) // 4
    if words < 8:
        return None
    w = np.ndarray((words,), dtype=endian + "u4", buffer=buf, offset=p, strides=(4,))
    cand = np.flatnonzero(w[: words - 1] == EPB)
    blen = w[cand + 1].astype(np.int64)
    nxt = cand + (blen >> 2)
    ok = (blen >= 32) & ((blen & 3) == 0) & (nxt <= words)
    cand, blen, nxt = cand[ok], blen[ok], nxt[ok]
    ok = w[nxt - 1] == blen
    cand, nxt = cand[ok], nxt[ok]
    if not len(cand) or cand[0] != 0:
        return None
    cand, nxt = drop_strays(cand, nxt)
    breaks = np.flatnonzero(nxt[:-1] != cand[1:])
    size = int(breaks[0]) + 1 if len(breaks) else len(cand)
    return p + 4 * cand[:size], p + 4 * int(nxt[size - 1])


class PcapngReader:
    """Keeps the section/interface state across buffers of one pcapng stream."""

    def __init__(self, chunker: Chunker, stats: InputStats):
        self.chunker = chunker
        self.stats = stats
        self.section: Section | None = None
        self.last_ts: float | None = None

    def batches(self) -> Iterator[RawBatch]:
        """Batches of the stream; an unfinished block stays in `chunker.carry`."""
        need = 0
        while (blk := self.chunker.read(need)) is not None:
            buf, n = blk
            walk = self._walk(buf, n)
            base = self.chunker.base
            cols, stop_pos, stop_why = self._columns(buf, n, walk, base)
            end, stop = (stop_pos, stop_why) if stop_why else (walk.end, walk.stop)
            data = self.chunker.release(buf, n, end)
            if cols is not None:
                yield self._batch(data, cols)
            if stop:
                stop_at(self.stats, self.chunker, stop)
                return
            need = walk.need

    def _walk(self, buf: bytearray, n: int) -> _Walk:
        """Walk the blocks of buf[:n]; stop at one that is cut off or broken."""
        sec = self.section
        seg = _Segment(sec, len(sec.ifaces)) if sec else None
        segments = [seg] if seg else []
        p = 0
        while True:
            if seg is not None:
                p = epb_run(buf, p, n, sec, seg.offs)
            if p + BLOCK_MIN > n:
                return _Walk(segments, p, BLOCK_MIN)
            btype = struct.unpack_from("<I", buf, p)[0]  # SHB's type reads the same both ways
            if btype == SHB:
                endian = _BOM.get(bytes(buf[p + 8 : p + 12]))
                if endian is None:
                    return _Walk(segments, p, 0, "section header with a bad byte-order magic")
                blen = struct.unpack_from(endian + "I", buf, p + 4)[0]
            elif sec is None:
                return _Walk(segments, p, 0, "block outside any section")
            else:
                btype, blen = sec.head(buf, p)
            bad = _bad_length(btype, blen)
            if bad:
                return _Walk(segments, p, 0, bad)
            if p + blen > n:
                return _Walk(segments, p, blen)
            order = endian if btype == SHB else sec.endian
            trailer = struct.unpack_from(order + "I", buf, p + blen - 4)[0]
            if trailer != blen:
                return _Walk(segments, p, 0, f"block trailer length {trailer} != {blen}")
            if btype == SHB:
                sec = self.section = Section(endian)
            elif btype == IDB:
                sec.ifaces.append(parse_interface(buf, p, blen, sec))
            elif btype in (EPB, SPB, OPB):
                if btype != EPB:
                    seg.special.append((len(seg.offs), btype))
                seg.offs.append(p)
            p += blen
            if btype in (SHB, IDB):
                seg = _Segment(sec, len(sec.ifaces))
                segments.append(seg)

    def _columns(self, buf, n, walk: _Walk, base: int):
        """Concatenated packet columns of all segments, checked.

        Returns (columns or None, position of a broken block, why) where a broken
        block (trailer mismatch) ends the batch and the reading.
        """
        parts = []
        for seg in walk.segments:
            if not seg.offs:
                continue
            cols, stop_k = _segment_columns(buf, n, seg, self.stats, base)
            if cols is not None:
                parts.append(cols)
            if stop_k is not None:
                return _concat(parts), stop_k, _trailer_msg(buf, stop_k, seg.section)
        return _concat(parts), None, None

    def _batch(self, data: np.ndarray, cols: dict[str, np.ndarray]) -> RawBatch:
        """Fill timestamps of simple packet blocks, then build and account the batch."""
        ts = cols["ts"]
        known = ~np.isnan(ts)
        if not known.all():
            ts = _forward_fill(ts, known, self.last_ts)
        if known.any():
            self.last_ts = float(cols["ts"][known][-1])
        batch = make_batch(
            data, cols["offsets"], cols["caplens"], cols["wirelens"], ts, cols["linktypes"]
        )
        account(self.stats, batch, None if known.all() else known)
        return batch


def _bad_length(btype: int, blen: int) -> str | None:
    """Why a block length cannot be right, or None."""
    if blen & 3 or blen < _MIN_LEN.get(btype, BLOCK_MIN):
        return f"block type 0x{btype:x} has invalid length {blen}"
    if blen > BLOCK_MAX:
        return f"block type 0x{btype:x} length {blen} exceeds {BLOCK_MAX}"
    return None


def _trailer_msg(buf, p: int, sec: Section) -> str:
    blen = sec.u32(buf, p + 4)[0]
    if blen & 3:
        return f"block type 0x6 has invalid length {blen}"
    trailer = sec.u32(buf, p + blen - 4)[0]
    return f"block trailer length {trailer} != {blen}"


def _segment_columns(buf, n, seg: _Segment, stats: InputStats, base: int):
    """Columns of one segment's packet blocks; bad ones are skipped and counted.

    Returns (columns or None, offset of the first block whose trailer does not
    match its length or None).
    """
    sec = seg.section
    pos = np.array(seg.offs, dtype=np.int64)
    # The view reaches into the PAD spare bytes so that fixed EPB field reads of a
    # short SPB at the very end stay inside the buffer; those values are unused.
    u32 = u32_view(buf, len(buf), sec.endian)
    blen = u32[pos + 4].astype(np.int64)
    mism = np.flatnonzero((u32[pos + blen - 4] != blen) | ((blen & 3) != 0))
    stop_at_pos = None
    kinds = np.full(len(pos), EPB, dtype=np.int64)
    if seg.special:
        idx, typ = zip(*seg.special, strict=True)
        kinds[list(idx)] = typ
    if len(mism):
        k = int(mism[0])
        stop_at_pos = int(pos[k])
        pos, blen, kinds = pos[:k], blen[:k], kinds[:k]
        if not len(pos):
            return None, stop_at_pos
    cols, bad_mask, why = _packet_fields(u32, pos, blen, kinds, seg)
    if bad_mask.any():
        first = int(pos[np.argmax(bad_mask)])
        count = int(bad_mask.sum())
        note_error(stats, f"offset {base + first}: {why} ({count} packet blocks skipped)", count)
        keep = ~bad_mask
        cols = {k: v[keep] for k, v in cols.items()}
    if not len(cols["offsets"]):
        return None, stop_at_pos
    return cols, stop_at_pos


def _packet_fields(u32, pos, blen, kinds, seg: _Segment):
    """Per-packet fields for EPB/OPB/SPB, and which blocks are unusable."""
    sec, nif = seg.section, seg.nif
    spb = kinds == SPB
    opb = kinds == OPB
    word = u32[pos + 8].astype(np.int64)
    iface = np.where(spb, 0, word)
    if opb.any():  # OPB: 16-bit interface id followed by 16-bit drop count
        low = word & 0xFFFF if sec.endian == "<" else word >> 16
        iface = np.where(opb, low, iface)
    caplen = u32[pos + 20].astype(np.int64)
    wirelen = u32[pos + 24].astype(np.int64)
    offsets = pos + 28
    snaps = np.array([i.snaplen for i in sec.ifaces[:nif]] or [0], dtype=np.int64)
    links = np.array([i.linktype for i in sec.ifaces[:nif]] or [0], dtype=np.int64)
    if spb.any():
        orig = word
        room = blen - 16
        snap0 = snaps[0] if snaps[0] > 0 else room
        caplen = np.where(spb, np.minimum(np.minimum(orig, room), snap0), caplen)
        wirelen = np.where(spb, orig, wirelen)
        offsets = np.where(spb, pos + 12, offsets)
    unknown = iface >= nif
    safe = np.where(unknown, 0, iface)
    limit = np.maximum(snaps[safe], SNAPLEN_FLOOR)
    too_long = (~spb & (caplen > blen - 32)) | (caplen > limit)
    bad = unknown | too_long
    why = ""
    if unknown.any():
        which = int(iface[np.argmax(unknown)])
        why = f"packet block names interface {which} but the section has {nif}"
    elif too_long.any():
        why = "packet caplen larger than its block or snaplen"
    ts = _timestamps(u32, pos, spb | bad, safe, sec.ifaces[:nif])
    cols = {
        "offsets": offsets,
        "caplens": caplen,
        "wirelens": wirelen,
        "ts": ts,
        "linktypes": links[safe],
    }
    return cols, bad, why


def _timestamps(u32, pos, no_ts, iface, ifaces: list[Interface]) -> np.ndarray:
    """Seconds since the epoch, per interface resolution and offset; NaN where none."""
    ts = np.full(len(pos), np.nan)
    has = ~no_ts
    if not has.any():
        return ts
    p = pos[has]
    raw = (u32[p + 12].astype(np.uint64) << np.uint64(32)) | u32[p + 16].astype(np.uint64)
    ids = iface[has]
    out = np.empty(len(p))
    for j in np.unique(ids):
        m = ids == j
        out[m] = _scale(raw[m], ifaces[int(j)])
    ts[has] = out
    return ts


def _scale(raw: np.ndarray, iface: Interface) -> np.ndarray:
    """Raw timestamp units to float seconds without losing the sub-second part."""
    if isinstance(iface.units, float):
        return raw.astype(np.float64) / iface.units + iface.offset
    units = np.uint64(iface.units)
    whole = raw // units
    frac = raw - whole * units
    return whole.astype(np.float64) + frac.astype(np.float64) / iface.units + iface.offset


def _forward_fill(ts: np.ndarray, known: np.ndarray, before: float | None) -> np.ndarray:
    """Packets without a timestamp take the latest earlier one (0.0 if none)."""
    idx = np.where(known, np.arange(len(ts)), -1)
    np.maximum.accumulate(idx, out=idx)
    start = 0.0 if before is None else before
    return np.where(idx >= 0, ts[np.maximum(idx, 0)], start)


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray] | None:
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def read_pcapng(chunker: Chunker, stats: InputStats) -> Iterator[RawBatch]:
    """Batches of a pcapng stream; problems go to `stats`, never raised."""
    return PcapngReader(chunker, stats).batches()
