"""Decompression on a second core: the next blocks of a gzip stream while this one is decoded.

A `.gz` capture cannot be cut into byte ranges, so one process reads it, and
inflating is about a quarter of its time. zlib lets other threads run while
it inflates, so a thread that stays a few blocks ahead moves that quarter to
the other core. Memory: at most DEPTH + 1 blocks of decompressed bytes.
"""

from __future__ import annotations

import queue
import threading

BLOCK = 4 << 20
DEPTH = 2
_END = None


class ReadAhead:
    """`readinto` over another reader's stream, which a thread reads ahead of the caller.

    The wrapped reader's `problem` and `note` (see GunzipReader) are final
    once `readinto` has returned 0. An exception of the wrapped reader (a
    disk error) is raised by the `readinto` that reaches it. `close()` stops
    the thread; a reader left half-read must be closed.
    """

    def __init__(self, raw, block: int = BLOCK, depth: int = DEPTH) -> None:
        self._raw = raw
        self._block = block
        self._blocks: queue.Queue = queue.Queue(depth)
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._current = memoryview(b"")
        self._ended = False
        self._thread = threading.Thread(
            target=self._fill, name="cranewatch-read-ahead", daemon=True
        )
        self._thread.start()

    @property
    def problem(self) -> str | None:
        return getattr(self._raw, "problem", None)

    @property
    def note(self) -> str | None:
        return getattr(self._raw, "note", None)

    def readinto(self, buffer) -> int:
        """Fill `buffer`; fewer bytes only at the end of the stream."""
        out = memoryview(buffer).cast("B")
        got = 0
        while got < len(out):
            if not len(self._current) and not self._next_block():
                break
            k = min(len(self._current), len(out) - got)
            out[got : got + k] = self._current[:k]
            self._current = self._current[k:]
            got += k
        return got

    def close(self) -> None:
        self._stop.set()
        self._thread.join()

    def _next_block(self) -> bool:
        if self._ended:
            return False
        block = self._blocks.get()
        if block is _END:
            self._ended = True
            self._thread.join()
            if self._error is not None:
                raise self._error
            return False
        self._current = block
        return True

    def _fill(self) -> None:
        try:
            while not self._stop.is_set():
                buf = bytearray(self._block)
                n = self._raw.readinto(buf)
                if not n or not self._put(memoryview(buf)[:n]):
                    break
        except BaseException as exc:  # handed to the reading thread, which raises it
            self._error = exc
        self._put(_END)

    def _put(self, item) -> bool:
        """Queue `item` unless the reader was closed meanwhile."""
        while not self._stop.is_set():
            try:
                self._blocks.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False
