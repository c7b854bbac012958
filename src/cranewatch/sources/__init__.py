"""Capture readers: pcap (micro/nano, both byte orders), pcapng, and gzip of either.

`open_capture(path)` picks the reader by magic number; `Capture.batches()` yields
`RawBatch` chunks and fills `Capture.stats` while reading.
"""

from cranewatch.sources.batch import PAD, InputStats, RawBatch
from cranewatch.sources.open import Capture, open_capture, sniff_format

__all__ = ["PAD", "Capture", "InputStats", "RawBatch", "open_capture", "sniff_format"]
