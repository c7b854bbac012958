"""Block reading with carry-over, and the bookkeeping every capture reader shares.

Readers walk records inside large blocks (a few MiB) so that the per-record work
is one `struct.unpack_from` on a bytearray; the unfinished record at the end of
a block is carried into the next one. A block is filled again only once no
`RawBatch` built on it is alive (see `_Spares`).
"""

from __future__ import annotations

import os
import threading

import numpy as np

from cranewatch.sources.batch import PAD, InputStats, RawBatch

# At most this many warning lines per input: a broken file must not flood the report.
MAX_WARNINGS = 20
_DRAIN = 1 << 20


class _Spares:
    """Blocks that readers are done with, to be filled again instead of allocated.

    Why: a fresh block of a few MiB comes from a new mmap, and faulting its
    pages in cost more than the copy from the page cache (0.3 of the 3.9 s
    the benchmark file took on one core); a thousand rotated files paid it
    per file. A block is only handed out again when no array still views it:
    a bytearray with live buffer exports refuses to change size (`_unused`).
    Shared by the captures a process reads one after the other.
    """

    KEEP = 4  # blocks kept; a reader holds about two (the batch in use and the next)
    ROUND = 64 << 10  # new blocks are rounded up: a block's size varies with the carry

    def __init__(self) -> None:
        self._blocks: list[bytearray] = []
        self._lock = threading.Lock()

    def take(self, size: int) -> bytearray:
        """A block of at least `size` bytes that nothing views any more, or a new one."""
        with self._lock:
            for k, block in enumerate(self._blocks):
                if len(block) >= size and _unused(block):
                    return self._blocks.pop(k)
        return bytearray(-(-size // self.ROUND) * self.ROUND)

    def give(self, block: bytearray, chunk: int) -> None:
        """Keep `block` for a later read of `chunk`-byte reads, unless it was a one-off giant."""
        if len(block) > 2 * chunk + self.ROUND:  # a huge record's block: not worth keeping
            return
        with self._lock:
            self._blocks.append(block)
            del self._blocks[: -self.KEEP]


def _unused(block: bytearray) -> bool:
    """Whether no memoryview or numpy array views `block` (it may then be overwritten)."""
    try:
        last = block.pop()  # shrinking is refused while the buffer is exported
    except BufferError:
        return False
    block.append(last)
    return True


_SPARES = _Spares()


class Chunker:
    """Hands out blocks of a byte stream: the carried-over tail plus fresh bytes.

    `raw` is anything with `readinto` (an unbuffered file or a GunzipReader).
    `base` is the stream offset of the current block's first byte, so that
    warnings name the offset in the (decompressed) stream. `total`, when known
    (plain files), keeps buffers no larger than what is left to read.
    """

    def __init__(self, raw, chunk_bytes: int, total: int | None = None):
        self._raw = raw
        self._total = total
        self._chunk = max(1, int(chunk_bytes))
        self._lent: bytearray | None = None  # the block handed out last
        self.carry = b""
        self.base = 0
        self.eof = False

    def read(self, need: int = 0) -> tuple[bytearray, int] | None:
        """Next block as (buffer, valid length); None when no new byte is left.

        The block holds at least `need` bytes when the stream has them; callers
        check `need` against their format's bounds before asking, so a hostile
        length field never sizes an allocation. The buffer has PAD spare bytes.
        """
        self._give_back()  # the caller is done with the last block (its batch may live on)
        if self.eof:
            return None
        carry = self.carry
        size = max(len(carry) + self._chunk, need)
        if self._total is not None:
            size = min(size, self._total - self.base)
            if size <= len(carry):  # nothing new left: what remains is the tail
                self.eof = True
                return None
        buf = self._lent = _SPARES.take(size + PAD)
        buf[: len(carry)] = carry
        got = len(carry)
        view = memoryview(buf)
        while got < size:
            k = self._raw.readinto(view[got:size])
            if not k:
                self.eof = True
                break
            got += k
        view.release()
        buf[got : got + PAD] = bytes(PAD)  # a reused block holds old bytes there
        if got == len(carry) and self.eof:
            self._give_back()
            return None
        return buf, got

    def _give_back(self) -> None:
        if self._lent is not None:
            _SPARES.give(self._lent, self._chunk)
            self._lent = None

    def release(self, buf: bytearray, n: int, end: int) -> np.ndarray:
        """Carry `buf[end:n]` over; return `buf[:end]` plus PAD zeros as uint8.

        Everything before `end` is done with; the bytes after it belong to the
        next block, so they are copied out before the padding overwrites them.
        """
        self.carry = bytes(buf[end:n])
        self.base += end
        buf[end : end + PAD] = bytes(PAD)
        return np.frombuffer(buf, dtype=np.uint8, count=end + PAD)

    def remaining(self) -> int:
        """Bytes after the current carry that were never read (reads them if needed)."""
        fileno = getattr(self._raw, "fileno", None)
        if fileno is not None and not self.eof:
            try:
                size = os.fstat(fileno()).st_size
                return max(0, size - self._raw.tell())
            except (OSError, ValueError):
                pass
        total = 0
        scratch = bytearray(_DRAIN)
        while not self.eof:
            k = self._raw.readinto(scratch)
            if not k:
                self.eof = True
            total += k
        return total


def note_error(stats: InputStats, message: str, count: int = 1) -> None:
    """Count `count` errors and keep one warning line for them."""
    stats.errors += count
    note_warning(stats, message)


def note_warning(stats: InputStats, message: str) -> None:
    """Warn once per text, with a cap so that a hostile file cannot flood the report."""
    if len(stats.warnings) < MAX_WARNINGS:
        stats.warn(message)


def stop_at(stats: InputStats, chunker: Chunker, why: str) -> None:
    """A record that cannot be trusted starts the carry: count it, skip the rest."""
    skipped = len(chunker.carry) + chunker.remaining()
    stats.skipped_bytes += skipped
    note_error(stats, f"offset {chunker.base}: {why}; {skipped} bytes skipped")
    chunker.carry = b""
    chunker.eof = True


def finish_tail(stats: InputStats, chunker: Chunker, problem: str | None = None) -> None:
    """End of input: count an unfinished record left over, or a damaged stream.

    One cut counts as one error even when the gzip layer noticed it too.
    """
    tail = len(chunker.carry)
    why = f" ({problem})" if problem else ""
    if tail:
        stats.skipped_bytes += tail
        msg = f"truncated at offset {chunker.base}: incomplete record, {tail} bytes skipped{why}"
        note_error(stats, msg)
        chunker.carry = b""
    elif problem:
        note_error(stats, f"offset {chunker.base}: {problem}")


def make_batch(
    data: np.ndarray,
    offsets: np.ndarray,
    caplens: np.ndarray,
    wirelens: np.ndarray,
    ts: np.ndarray,
    linktypes: np.ndarray,
) -> RawBatch:
    """Columns in the dtypes `RawBatch` promises (lengths clipped into int32)."""
    top = np.iinfo(np.int32).max
    return RawBatch(
        data=data,
        offsets=offsets.astype(np.int64, copy=False),
        caplens=np.minimum(caplens, top).astype(np.int32),
        wirelens=np.minimum(wirelens, top).astype(np.int32),
        ts=ts.astype(np.float64, copy=False),
        linktypes=linktypes.astype(np.uint16, copy=False),
    )


def account(stats: InputStats, batch: RawBatch, ts_known: np.ndarray | None = None) -> None:
    """Add one batch to the input's totals; `bytes` counts captured bytes.

    `first_ts`/`last_ts` are the earliest and latest timestamps (captures are
    not always in time order). `ts_known` masks out packets without a real
    timestamp (pcapng simple packet blocks).
    """
    stats.packets += len(batch)
    stats.bytes += int(batch.caplens.sum(dtype=np.int64))
    ts = batch.ts if ts_known is None else batch.ts[ts_known]
    if len(ts):
        lo, hi = float(ts.min()), float(ts.max())
        stats.first_ts = lo if stats.first_ts is None else min(stats.first_ts, lo)
        stats.last_ts = hi if stats.last_ts is None else max(stats.last_ts, hi)
