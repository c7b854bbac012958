"""A tiny classic-pcap writer (microsecond timestamps, Ethernet link type).

Classic pcap rather than pcapng keeps the file byte-identical for a seed and
readable by every tool; records are joined in memory and written once.
"""

from __future__ import annotations

import struct
from pathlib import Path

LINKTYPE_ETHERNET = 1
SNAPLEN = 262_144


def pcap_bytes(frames: list[tuple[int, bytes]]) -> bytes:
    """Global header + one record per (timestamp in microseconds, frame)."""
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET)]
    rec = struct.Struct("<IIII")
    for ts, frame in frames:
        sec, usec = divmod(ts, 1_000_000)
        out.append(rec.pack(sec, usec, len(frame), len(frame)))
        out.append(frame)
    return b"".join(out)


def write_pcap(path: Path, frames: list[tuple[int, bytes]]) -> int:
    """Write `frames` (already in time order) to `path`; returns the byte count."""
    data = pcap_bytes(frames)
    path.write_bytes(data)
    return len(data)
