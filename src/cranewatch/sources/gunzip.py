"""Streaming gunzip with a `readinto` that keeps every byte decoded before damage.

`gzip.GzipFile` raises on a cut or corrupt stream and may drop the bytes it had
already decompressed in that read call; a capture cut short must keep every
complete packet before the cut. This reader feeds small compressed pieces to
`zlib` and bounds each output, so damage loses at most one small piece and a
gzip bomb never makes one huge allocation.
"""

from __future__ import annotations

import zlib
from typing import BinaryIO

GZIP_MAGIC = b"\x1f\x8b"
# Compressed bytes fed to zlib at a time, and most bytes one zlib call may give:
# a corrupt stream makes the failing call lose its output, so keep both small.
_PIECE = 1 << 14
_STEP = 1 << 14
_WBITS = 16 + zlib.MAX_WBITS  # gzip header and trailer


class GunzipReader:
    """Raw-stream-like object: `readinto(buffer) -> int`, 0 at the end.

    `problem` is set (and reading ends) when the compressed stream is cut short
    or corrupt; the bytes decoded before it are still handed out. `note` is a
    harmless oddity (bytes after the stream) worth a warning but not an error.
    """

    def __init__(self, fh: BinaryIO):
        self._fh = fh
        self._d = zlib.decompressobj(_WBITS)
        self._inp = b""
        self._started = False
        self._done = False
        self.problem: str | None = None
        self.note: str | None = None

    def readinto(self, buffer) -> int:
        """Fill `buffer` with decompressed bytes; fewer only at the end."""
        mv = memoryview(buffer).cast("B")
        want, got = len(mv), 0
        while got < want and not self._done:
            if not self._inp and not self._refill():
                break
            try:
                out = self._d.decompress(self._inp, min(want - got, _STEP))
            except zlib.error as exc:
                self._stop(f"gzip data corrupt: {exc}")
                break
            self._started = True
            mv[got : got + len(out)] = out
            got += len(out)
            if self._d.eof:
                self._next_member(self._d.unused_data)
            else:
                self._inp = self._d.unconsumed_tail
        return got

    def read(self, size: int) -> bytes:
        """Up to `size` decompressed bytes (used for magic detection)."""
        buf = bytearray(size)
        return bytes(buf[: self.readinto(buf)])

    def _refill(self) -> bool:
        """Read the next compressed piece; note a stream that ends mid-member."""
        self._inp = self._fh.read(_PIECE)
        if self._inp:
            return True
        if self._started:
            self._stop("gzip stream cut short")
        self._done = True
        return False

    def _next_member(self, rest: bytes) -> None:
        """Concatenated gzip members are one stream; trailing zeros are ignored."""
        self._d = zlib.decompressobj(_WBITS)
        self._started = False
        if not rest:
            rest = self._fh.read(_PIECE)
        if rest[:2] == GZIP_MAGIC or (len(rest) == 1 and rest == GZIP_MAGIC[:1]):
            self._inp = rest
            return
        self._inp = b""
        self._done = True
        if rest.strip(b"\x00"):
            self.note = "non-gzip bytes after the compressed stream were ignored"

    def _stop(self, why: str) -> None:
        self.problem = why
        self._done = True
        self._inp = b""
