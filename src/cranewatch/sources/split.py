"""One large capture read as byte ranges, one per worker process.

Why: a single capture is otherwise read by one core. A classic pcap or a pcapng
file is a chain of self-delimiting records, so a range of the file can be read
on its own once its first record boundary is known.

How a boundary is found (`plan_split`): from each nominal cut, the first
offset whose record header chains through `CHAIN` plausible records (sane
lengths, timestamps close to each other and to the file's first packet; for
pcapng, block trailers that repeat the block length) is taken as the start of
the next range. Every range is then read as its own stream: the file header
(pcap) or the head blocks up to the first packet block (pcapng), followed by
exactly the bytes [start, end) of the range, by the unchanged readers.

Why the result is exact (`RangeCapture.clean_end`, checked by the caller):
range 0 starts at the real first record, and a reader that starts on a real
boundary walks only real boundaries. If that walk ends exactly at the range's
end (no unfinished record left over, no broken record), the end is a real
boundary too, so the next range starts on one: by induction every packet is
read once. A guessed boundary that is wrong leaves a cut record at the end of
the previous range, which the caller sees and then reads the file in one piece.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass
from pathlib import Path

from cranewatch.sources.batch import InputStats
from cranewatch.sources.open import Capture
from cranewatch.sources.pcap import (
    CHAIN,
    FILE_HEADER,
    RECORD_HEADER,
    parse_header,
    read_pcap,
    record_finder,
)
from cranewatch.sources.pcapng import BLOCK_MAX, EPB, OPB, SHB, SPB, PcapngReader
from cranewatch.sources.stream import Chunker, finish_tail

# Smaller files are read in one process: a worker costs ~0.3 s to start and import.
SPLIT_MIN_BYTES = 64 << 20
WINDOW = 4 << 20  # bytes read after a cut to find the next boundary
FIRST_WINDOW = 64 << 10  # tried first
HEAD_MAX = 1 << 20  # pcapng head blocks (SHB, IDBs) before the first packet block


@dataclass(frozen=True)
class SplitPlan:
    """Where one capture is cut: range i is bytes [bounds[i], bounds[i + 1])."""

    path: str
    format: str
    prefix: bytes  # what each range's stream starts with (file header / head blocks)
    bounds: tuple[int, ...]
    state: tuple | None = None  # pcapng section state after the prefix

    @property
    def parts(self) -> int:
        return len(self.bounds) - 1

    def size(self, i: int) -> int:
        """File bytes range i stands for in progress (range 0 includes the prefix)."""
        return self.bounds[i + 1] - (0 if i == 0 else self.bounds[i])


def plan_split(
    capture: Capture,
    parts: int,
    min_bytes: int = SPLIT_MIN_BYTES,
    cuts: list[int] | None = None,
    lead: int = 0,
) -> SplitPlan | None:
    """Byte ranges for reading `capture` in `parts` pieces, or None when not worth it.

    gzip streams cannot be entered in the middle, and small files do not pay
    for worker start-up. Range 0 is `lead` bytes longer than the others (the
    process that reads it starts while the others are still starting). `cuts`
    (tests) replaces the computed cut offsets; each cut moves forward to the
    next record boundary found.
    """
    if capture.gzipped or parts < 2:
        return None
    path = Path(capture.path)
    size = path.stat().st_size
    if size < min_bytes and cuts is None:
        return None
    with open(path, "rb") as fh:
        if capture.format.startswith("pcapng"):
            head = _pcapng_head(fh)
            if head is None:
                return None
            prefix, state, endian = head
            find, align = _pcapng_finder(endian), 4  # blocks start 4-byte aligned
        else:
            prefix = fh.read(FILE_HEADER)
            header = parse_header(prefix)
            first = fh.read(RECORD_HEADER)
            if header is None or len(first) < RECORD_HEADER:
                return None
            first_sec = struct.unpack_from(header.endian + "I", first)[0]
            state, find, align = None, record_finder(header, first_sec), 1
        if cuts is None:
            lead = min(lead, size // (2 * parts))  # range 0 stays under twice the others
            first = (size + (parts - 1) * lead) // parts
            cuts = [first + (size - first) * k // (parts - 1) for k in range(parts - 1)]
        bounds = [len(prefix)]
        for cut in sorted(cuts):
            cut += -cut % align
            if cut <= bounds[-1] or cut >= size:
                continue
            at = _boundary_after(fh, cut, size, find)
            if at is not None and cut + at < size:
                bounds.append(cut + at)
    if len(bounds) < 2:
        return None
    bounds.append(size)
    return SplitPlan(str(path), capture.format, prefix, tuple(bounds), state)


# ------------------------------------------------------------------ boundaries
def _boundary_after(fh, cut: int, size: int, find) -> int | None:
    """Offset from `cut` of the next record boundary: a small window first (the usual
    case costs a millisecond), the whole WINDOW only when records are large."""
    for span in (FIRST_WINDOW, WINDOW):
        fh.seek(cut)
        at = find(fh.read(span), size - cut)
        if at is not None or cut + span >= size:
            return at
    return None


def _pcapng_finder(endian: str):
    """find(window, bytes left) -> offset of the first EPB that chains through CHAIN blocks."""
    head = struct.Struct(endian + "II").unpack_from
    u32 = struct.Struct(endian + "I").unpack_from

    def block_len(buf: bytes, q: int) -> int | None:
        if q + 12 > len(buf):
            return None
        _btype, blen = head(buf, q)
        if blen < 12 or blen & 3 or blen > BLOCK_MAX or q + blen > len(buf):
            return None
        return blen if u32(buf, q + blen - 4)[0] == blen else None

    def chains(buf: bytes, q: int, left: int) -> bool:
        if head(buf, q)[0] != EPB:
            return False
        for k in range(CHAIN):
            if q == left:
                return k > 0
            blen = block_len(buf, q)
            if blen is None:
                return False
            q += blen
        return True

    def find(window: bytes, left: int) -> int | None:
        for q in range(0, len(window) - 32, 4):
            if chains(window, q, left):
                return q
        return None

    return find


def _pcapng_head(fh) -> tuple[bytes, tuple, str] | None:
    """(head blocks before the first packet block, section state after them, endianness)."""
    data = fh.read(HEAD_MAX)
    if len(data) < 12 or data[8:12] not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
        return None
    endian = "<" if data[8:12] == b"\x4d\x3c\x2b\x1a" else ">"
    head = struct.Struct(endian + "II").unpack_from
    p = 0
    while p + 12 <= len(data):
        btype, blen = head(data, p)
        if btype in (EPB, SPB, OPB):
            break
        if btype == SHB and p:  # a second section before any packet: not worth it
            return None
        if blen < 12 or blen & 3 or p + blen > len(data):
            return None
        p += blen
    else:
        return None
    prefix = data[:p]
    reader = PcapngReader(Chunker(io.BytesIO(prefix), len(prefix) + 1), InputStats(""))
    for _ in reader.batches():
        pass
    if reader.section is None:
        return None
    return prefix, section_state(reader), endian


def section_state(reader: PcapngReader) -> tuple | None:
    """What a pcapng reader knows about the current section, comparable with ==."""
    sec = reader.section
    if sec is None:
        return None
    return (sec.endian, tuple((i.linktype, i.snaplen, i.units, i.offset) for i in sec.ifaces))


# ------------------------------------------------------------------ reading a range
class _RangeStream:
    """`readinto` over `prefix` followed by file bytes [start, end)."""

    def __init__(self, fh, prefix: bytes, start: int, end: int) -> None:
        self._fh = fh
        self._prefix = memoryview(prefix)
        self._left = end - start
        self.file_bytes = 0  # bytes of the range read so far
        fh.seek(start)

    def readinto(self, view) -> int:
        if len(self._prefix):
            k = min(len(view), len(self._prefix))
            view[:k] = self._prefix[:k]
            self._prefix = self._prefix[k:]
            return k
        want = min(len(view), self._left)
        if want <= 0:
            return 0
        k = self._fh.readinto(view[:want]) or 0
        self._left -= k
        self.file_bytes += k
        return k


class RangeCapture:
    """Range i of a SplitPlan, read like a Capture (`stats`, `position`, `batches()`).

    After `batches()` is exhausted, `clean_end` says whether the last record
    ended exactly at the range's end, and `state` is the pcapng section state
    there; the caller checks both before trusting the next range.
    """

    def __init__(self, plan: SplitPlan, i: int, chunk_bytes: int = 4 << 20) -> None:
        self.plan = plan
        self.i = i
        self.path = plan.path
        self.format = plan.format
        self.chunk_bytes = chunk_bytes
        self.stats = InputStats(path=plan.path, format=plan.format)
        self.position = 0
        self.clean_end = False
        self.state: tuple | None = None

    def batches(self):
        plan, i = self.plan, self.i
        start, end = plan.bounds[i], plan.bounds[i + 1]
        skip = len(plan.prefix) if i == 0 else 0  # range 0's prefix is file bytes too
        with open(plan.path, "rb", buffering=0) as fh:
            raw = _RangeStream(fh, plan.prefix, start, end)
            chunker = Chunker(raw, self.chunk_bytes, end)
            chunker.base = start - len(plan.prefix)  # offsets in warnings are file offsets
            if plan.format.startswith("pcapng"):
                reader = PcapngReader(chunker, self.stats)
                batches = reader.batches()
            else:
                reader, batches = None, read_pcap(chunker, self.stats)
            for batch in batches:
                self.position = skip + raw.file_bytes
                yield batch
            self.position = skip + raw.file_bytes
            stopped = bool(self.stats.skipped_bytes)
            self.clean_end = not chunker.carry and not stopped and raw.file_bytes == end - start
            finish_tail(self.stats, chunker)
            self.state = section_state(reader) if reader is not None else None
