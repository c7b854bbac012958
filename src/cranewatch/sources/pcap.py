"""Classic libpcap files: 24-byte file header, then 16-byte record headers.

The record walk is sequential (each record's length says where the next one
starts), so the Python loop does only that: one `unpack_from` of the caplen
per record on a large bytearray block. Every other field is then gathered for
the whole block at once through an unaligned uint32 view (numpy strides of 1).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from cranewatch.sources.batch import PAD, InputStats, RawBatch
from cranewatch.sources.stream import (
    Chunker,
    account,
    make_batch,
    note_error,
    stop_at,
)

FILE_HEADER = 24
RECORD_HEADER = 16
# A caplen above max(snaplen, SNAPLEN_FLOOR) is a broken record; snaplen itself
# only counts up to RECORD_MAX, so that a hostile header cannot size a buffer.
SNAPLEN_FLOOR = 262144
RECORD_MAX = 16 << 20
# After a damaged record: look this far ahead for the next chain of records, a
# block at a time, keeping RESYNC_OVERLAP (a chain can straddle two blocks).
RESYNC_SCAN = 256 << 20
RESYNC_OVERLAP = 1 << 20
RESYNC_WINDOW = 256 << 10  # searched at a time: the search's index arrays are 8 bytes a byte

MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}


@dataclass(frozen=True, slots=True)
class PcapHeader:
    """What the file header says that matters for reading records."""

    endian: str
    nano: bool
    snaplen: int
    linktype: int

    @property
    def max_caplen(self) -> int:
        return max(SNAPLEN_FLOOR, min(self.snaplen, RECORD_MAX))


def parse_header(head: bytes) -> PcapHeader | None:
    """The 24-byte file header, or None when it is not a classic pcap one."""
    if len(head) < FILE_HEADER or head[:4] not in MAGICS:
        return None
    endian, nano = MAGICS[head[:4]]
    snaplen, network = struct.unpack_from(endian + "II", head, 16)
    # Upper bits of the link-type field carry FCS flags; the type is the low 16 bits.
    return PcapHeader(endian, nano, snaplen, network & 0xFFFF)


def walk(buf: bytearray, p: int, n: int, unpack_u32) -> list[int]:
    """Record-header offsets from `p` while a header fits before `n`.

    The last offset may start a record that runs past `n`, and a broken caplen
    sends the walk anywhere: the caller checks both on the gathered columns.
    The loop stays minimal because it is the sequential part of reading.
    """
    offs: list[int] = []
    app = offs.append
    lim = n - RECORD_HEADER
    while p <= lim:
        app(p)
        p += RECORD_HEADER + unpack_u32(buf, p + 8)[0]
    return offs


def fast_walk(buf: bytearray, p: int, n: int, header: PcapHeader) -> np.ndarray | None:
    """What `walk` returns, found with numpy; None when the shortcut cannot prove it.

    Why: the Python walk costs ~150 ns a record, the largest serial cost of
    reading. Record headers are found instead as the byte positions whose
    timestamp shares its top byte with the first record's (one compare over the
    block), whose next byte is the first record's or one more (it moves every
    65,536 s), and whose caplen and fraction are sane. Those candidates are the walk
    exactly when they form one chain from `p` (each one's end is the next
    one's start) that runs to the end of the block, once candidates no other
    candidate points at are dropped; a missed record, an odd timestamp or a
    stray that another stray points at breaks the chain and the caller walks.
    """
    lim = n - RECORD_HEADER
    if p > lim:
        return np.empty(0, np.int64)
    view = np.frombuffer(buf, dtype=np.uint8, count=n)
    top, second = (3, 2) if header.endian == "<" else (0, 1)
    cand = np.flatnonzero(view[p + top : lim + top + 1] == view[p + top]) + p
    # payload bytes that match the top byte are ~1/256 of a block; the next byte
    # leaves ~1/128 of those (it may have moved on by one within the block)
    cand = cand[view[cand + second] - view[p + second] <= 1]
    u32 = u32_view(buf, n, header.endian)
    caplen = u32[cand + 8].astype(np.int64)
    frac_ok = u32[cand + 4] < (1_000_000_000 if header.nano else 1_000_000)
    ok = frac_ok & (caplen <= header.max_caplen)
    cand, nxt = cand[ok], cand[ok] + RECORD_HEADER + caplen[ok]
    if not len(cand) or cand[0] != p:
        return None
    if (nxt[:-1] != cand[1:]).any():
        cand, nxt = drop_strays(cand, nxt)
        if (nxt[:-1] != cand[1:]).any():
            return None
    if nxt[-1] <= lim:
        return None
    return cand


def drop_strays(cand: np.ndarray, nxt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Candidate records (sorted starts, and where each would end) that another one ends at.

    Stray candidates, payload bytes that read like a header, are pointed to by
    none; the first candidate is the walk's start and always stays.
    """
    j = np.minimum(np.searchsorted(cand, nxt), len(cand) - 1)
    pointed = np.zeros(len(cand), dtype=bool)
    pointed[j[cand[j] == nxt]] = True
    pointed[0] = True
    return cand[pointed], nxt[pointed]


def u32_view(buf: bytearray, n: int, endian: str) -> np.ndarray:
    """uint32 starting at every byte of buf[:n] (unaligned, stride 1, no copy)."""
    count = max(0, n - 3)
    return np.ndarray((count,), dtype=endian + "u4", buffer=buf, offset=0, strides=(1,))


def read_pcap(chunker: Chunker, stats: InputStats) -> Iterator[RawBatch]:
    """Batches of a classic pcap stream; problems go to `stats`, never raised.

    An unfinished record at the end is left in `chunker.carry` for the caller.
    """
    first = chunker.read(FILE_HEADER)
    if first is None:
        return
    buf, n = first
    header = parse_header(bytes(buf[: min(n, FILE_HEADER)]))
    if header is None:  # the caller checked the magic, so only a cut header lands here
        chunker.carry = bytes(buf[:n])
        return
    unpack_u32 = struct.Struct(header.endian + "I").unpack_from
    scale = 1e-9 if header.nano else 1e-6
    start = FILE_HEADER
    last_sec: int | None = None  # of the last good record: the next ones lie near it
    while True:
        pos, caplens, end, bad_caplen, need = _block_columns(buf, start, n, header, unpack_u32)
        data = chunker.release(buf, n, end)
        if len(pos):
            batch = _batch(data, buf, n, pos, caplens, header, scale, stats)
            last_sec = int(batch.ts[-1])
            yield batch
        if bad_caplen is not None:
            why = f"record caplen {bad_caplen} exceeds {header.max_caplen}"
            found = _resync(chunker, header, last_sec, stats, why)
            if found is None:
                return
            buf, n, start = found
            continue
        nxt = chunker.read(need)
        if nxt is None:
            return
        buf, n = nxt
        start = 0


def _resync(
    chunker: Chunker, header: PcapHeader, near_sec: int | None, stats: InputStats, why: str
) -> tuple[bytearray, int, int] | None:
    """After a damaged record, the next chain of good ones: (block, length, its offset in it).

    Why: one bad spot in days of SPAN capture (a disk error, a spliced file)
    must not cost everything after it. The damaged record starts the carry; the
    search goes up to RESYNC_SCAN bytes ahead for an offset from which CHAIN
    records chain with times near the last good one (`record_finder`, the test
    used to cut files into ranges). None found: reading stops there, as before.
    """
    bad_at = chunker.base
    if near_sec is None:  # no good record yet: nothing to judge times by
        stop_at(stats, chunker, why)
        return None
    find = record_finder(header, near_sec)
    skip_first = 1  # the damaged header itself
    while chunker.base - bad_at < RESYNC_SCAN:
        # a block more, or twice what is held: with tiny blocks, rescanning stays linear
        nxt = chunker.read(2 * len(chunker.carry) + 1)
        if nxt is None:  # the end of the input: a chain may still end exactly at it
            if len(chunker.carry) <= skip_first:
                break
            buf, n = bytearray(chunker.carry) + bytearray(PAD), len(chunker.carry)
            chunker.eof = True
        else:
            buf, n = nxt
        at = _first_chain(find, buf, skip_first, n, chunker.eof)
        if at is not None:
            if nxt is None:
                chunker.carry = b""  # `buf` holds it now, at the carry's offset
            start = at
            skipped = chunker.base + start - bad_at
            stats.skipped_bytes += skipped
            note_error(stats, f"offset {bad_at}: {why}; {skipped} bytes skipped to the next record")
            return buf, n, start
        if chunker.eof:
            break
        keep = min(RESYNC_OVERLAP, n - skip_first)
        chunker.release(buf, n, n - keep)
        skip_first = 0
    skipped = chunker.base - bad_at + len(chunker.carry) + chunker.remaining()
    stats.skipped_bytes += skipped
    note_error(stats, f"offset {bad_at}: {why}; {skipped} bytes skipped")
    chunker.carry = b""
    chunker.eof = True
    return None


def _first_chain(find, buf: bytearray, lo: int, n: int, at_end: bool) -> int | None:
    """Offset in buf[lo:n] of the first record chain, searched RESYNC_WINDOW bytes at a time.

    Each window is searched with as much again after it, so that a chain
    starting in it is checked whole; one found in that extra part is only
    taken from the next window, which sees what follows it.
    """
    off = lo
    while off < n:
        hi = min(n, off + 2 * RESYNC_WINDOW)
        left = n - off if at_end else 1 << 62
        at = find(bytes(buf[off:hi]), left)
        if at is not None and (at < RESYNC_WINDOW or hi == n):
            return off + at
        off += RESYNC_WINDOW
    return None


def _block_columns(buf, start, n, header, unpack_u32):
    """Complete records in buf[start:n].

    Returns (record offsets, caplens, end of the last complete record, the
    caplen of a broken record that follows or None, bytes the next block needs).
    """
    pos = fast_walk(buf, start, n, header)
    if pos is None:
        pos = np.array(walk(buf, start, n, unpack_u32), dtype=np.int64)
    if not len(pos):
        return np.empty(0, np.int64), np.empty(0, np.int64), start, None, RECORD_HEADER
    u32 = u32_view(buf, n, header.endian)
    caplens = u32[pos + 8].astype(np.int64)
    bad = np.flatnonzero(caplens > header.max_caplen)
    if len(bad):
        k = int(bad[0])
        return pos[:k], caplens[:k], int(pos[k]), int(caplens[k]), 0
    last_end = int(pos[-1] + RECORD_HEADER + caplens[-1])
    if last_end <= n:
        return pos, caplens, last_end, None, RECORD_HEADER
    need = RECORD_HEADER + int(caplens[-1])
    return pos[:-1], caplens[:-1], int(pos[-1]), None, need


def _batch(data, buf, n, pos, caplens, header, scale, stats) -> RawBatch:
    """Gather the other header fields of the complete records into a RawBatch."""
    u32 = u32_view(buf, n, header.endian)
    secs = u32[pos].astype(np.float64)
    frac = u32[pos + 4].astype(np.float64)
    batch = make_batch(
        data=data,
        offsets=pos + RECORD_HEADER,
        caplens=caplens,
        wirelens=u32[pos + 12],
        ts=secs + frac * scale,
        linktypes=np.full(len(pos), header.linktype, dtype=np.uint16),
    )
    account(stats, batch)
    return batch


# -- finding a record boundary in the middle of a file -------------------------------------

CHAIN = 16  # records that must chain from a guessed boundary
TS_SPREAD = 3600  # seconds: the CHAIN records' timestamps lie within this
TS_FAR = 366 * 86400  # seconds: and this close to the file's first packet


def record_finder(header: PcapHeader, first_sec: int):
    """find(window, bytes left in file) -> offset of the first chaining record header.

    A guessed offset counts as a record boundary when CHAIN records follow from
    it, each plausible (fraction < 1 s, caplen within bounds and <= wirelen,
    time near `first_sec`) and all within TS_SPREAD of each other, or when the
    chain ends exactly at the end of the file. Used to cut a file into ranges
    for several processes, and to find the next record after a damaged one.
    """
    unpack = struct.Struct(header.endian + "IIII").unpack_from
    frac_max = 1_000_000_000 if header.nano else 1_000_000

    def plausible(sec: int, frac: int, caplen: int, wirelen: int) -> bool:
        return (
            frac < frac_max
            and caplen <= header.max_caplen
            and wirelen >= caplen
            and abs(sec - first_sec) <= TS_FAR
        )

    def chains(buf: bytes, q: int, left: int) -> bool:
        secs = []
        for _ in range(CHAIN):
            if q == left:  # the chain ends exactly at the end of the file
                break
            if q + RECORD_HEADER > len(buf):
                return False
            rec = unpack(buf, q)
            if not plausible(*rec):
                return False
            secs.append(rec[0])
            q += RECORD_HEADER + rec[2]
        else:
            return max(secs) - min(secs) <= TS_SPREAD
        return q == left and bool(secs) and max(secs) - min(secs) <= TS_SPREAD

    def find(window: bytes, left: int) -> int | None:
        n = len(window) - RECORD_HEADER
        if n <= 0:
            return None
        buf = bytearray(window)
        u32 = u32_view(buf, len(buf), header.endian)
        q = np.arange(n + 1)
        ok = (u32[q + 4] < frac_max) & (u32[q + 8] <= header.max_caplen)
        ok &= u32[q + 12] >= u32[q + 8]
        for cand in np.flatnonzero(ok).tolist():
            if chains(window, cand, left):
                return cand
        return None

    return find
