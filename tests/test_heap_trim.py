"""Free heap pages go back to the system between batches (glibc), and nothing breaks elsewhere."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from cranewatch import pipeline


def _rss_mb() -> float:
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024


def test_trimming_never_fails():
    pipeline._trim_heap()  # a no-op where there is no glibc


@pytest.mark.skipif(
    not sys.platform.startswith("linux") or pipeline._malloc_trim() is None,
    reason="malloc_trim is glibc's",
)
def test_freed_holes_in_the_heap_are_returned():
    """Blocks freed between live ones stay in glibc's heap until trimmed: what a long run did."""
    pinned, holes = [], []
    for _ in range(600):
        holes.append(bytearray(100_000))  # below the mmap threshold: on the heap
        pinned.append(bytearray(1000))  # malloc'd too (over pymalloc's 512): a hole, not the top
    holes.clear()
    before = _rss_mb()
    pipeline._trim_heap()
    assert before - _rss_mb() > 30  # of the ~60 MB freed
    assert len(pinned) == 600
