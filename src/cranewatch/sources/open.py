"""Open a capture by its magic number (never its extension), gzip unwrapped first."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from cranewatch.errors import NotACaptureError
from cranewatch.sources.batch import InputStats, RawBatch
from cranewatch.sources.gunzip import GZIP_MAGIC, GunzipReader
from cranewatch.sources.pcap import MAGICS as PCAP_MAGICS
from cranewatch.sources.pcap import read_pcap
from cranewatch.sources.pcapng import MAGIC as PCAPNG_MAGIC
from cranewatch.sources.pcapng import read_pcapng
from cranewatch.sources.read_ahead import ReadAhead
from cranewatch.sources.stream import Chunker, finish_tail, note_warning

DEFAULT_CHUNK = 4 << 20


def sniff_format(head: bytes) -> str | None:
    """'pcap', 'pcap-ns' or 'pcapng' from the first four bytes, else None."""
    if head[:4] == PCAPNG_MAGIC:
        return "pcapng"
    if head[:4] in PCAP_MAGICS:
        return "pcap-ns" if PCAP_MAGICS[head[:4]][1] else "pcap"
    return None


class Capture:
    """One capture file: its format, its running `stats`, and its batches.

    `stats.bytes` counts captured bytes (the sum of caplens), not wire lengths.
    `batches()` reads the file from the start each time it is called and
    resets `stats`; memory stays about two chunks whatever the file length.
    `position` is how many bytes of the file on disk (compressed, for gzip)
    have been read so far, for progress reporting against the file size.
    """

    def __init__(self, path: Path, fmt: str, gzipped: bool, chunk_bytes: int = DEFAULT_CHUNK):
        self.path = str(path)
        self.format = fmt + ("+gzip" if gzipped else "")
        self.gzipped = gzipped
        self.chunk_bytes = chunk_bytes
        self.stats = InputStats(path=self.path, format=self.format)
        self.position = 0

    def __repr__(self) -> str:
        return f"Capture({self.path!r}, format={self.format!r})"

    def batches(self) -> Iterator[RawBatch]:
        """RawBatch after RawBatch; problems end up in `stats`, never raised."""
        self._reset_stats()
        self.position = 0
        with open(self.path, "rb", buffering=0) as fh:
            raw = ReadAhead(GunzipReader(fh)) if self.gzipped else fh
            try:
                yield from self._read(raw, fh)
            finally:
                if self.gzipped:
                    raw.close()

    def _read(self, raw, fh) -> Iterator[RawBatch]:
        total = None if self.gzipped else os.fstat(fh.fileno()).st_size
        chunker = Chunker(raw, self.chunk_bytes, total)
        reader = read_pcapng if self.format.startswith("pcapng") else read_pcap
        for batch in reader(chunker, self.stats):
            self.position = fh.tell()
            yield batch
        self.position = fh.tell()
        problem = getattr(raw, "problem", None)
        finish_tail(self.stats, chunker, problem)
        note = getattr(raw, "note", None)
        if note:
            note_warning(self.stats, note)

    def _reset_stats(self) -> None:
        fresh = InputStats(path=self.path, format=self.format)
        for name in fresh.__slots__:
            setattr(self.stats, name, getattr(fresh, name))


def open_capture(path: str | Path, chunk_bytes: int = DEFAULT_CHUNK) -> Capture:
    """Detect the format of `path` and return a Capture ready to read.

    Raises NotACaptureError when the (decompressed) file does not start with a
    pcap or pcapng magic number, including an empty file; a pcap with a valid
    header and no packets is a valid, empty capture. OSError (missing file,
    no permission) is left to the caller.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(4)
        gzipped = head[:2] == GZIP_MAGIC
        if gzipped:
            fh.seek(0)
            head = GunzipReader(fh).read(4)
    fmt = sniff_format(head)
    if fmt is None:
        what = "gzip-compressed data that is " if gzipped else ""
        empty = "nothing decompressed" if gzipped else "the file is empty"
        shown = head.hex(" ") if head else f"none, {empty}"
        raise NotACaptureError(
            f"{what}not a pcap or pcapng file (first bytes: {shown})", path=str(path)
        )
    return Capture(path, fmt, gzipped, chunk_bytes)
