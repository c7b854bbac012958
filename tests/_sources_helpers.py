"""Build small pcap/pcapng files byte by byte, and read a Capture into flat columns."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np
import pytest

from cranewatch.errors import NotACaptureError
from cranewatch.sources import PAD, Capture, open_capture

PCAP_MAGIC = {False: 0xA1B2C3D4, True: 0xA1B23C4D}


@dataclass
class Pkt:
    """One packet to write: seconds, sub-second units, bytes, original length."""

    sec: int
    frac: int
    data: bytes
    wirelen: int | None = None

    @property
    def orig(self) -> int:
        return len(self.data) if self.wirelen is None else self.wirelen


def pcap_bytes(
    pkts: list[Pkt], endian: str = "<", nano: bool = False, linktype: int = 1, snaplen=65535
) -> bytes:
    """A classic pcap file."""
    out = [struct.pack(endian + "IHHiIII", PCAP_MAGIC[nano], 2, 4, 0, 0, snaplen, linktype)]
    for p in pkts:
        out.append(struct.pack(endian + "IIII", p.sec, p.frac, len(p.data), p.orig) + p.data)
    return b"".join(out)


def _pad4(b: bytes) -> bytes:
    return b + bytes(-len(b) % 4)


def block(endian: str, btype: int, body: bytes) -> bytes:
    """A pcapng block: type, length, body padded to 4, length again."""
    body = _pad4(body)
    n = 12 + len(body)
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def option(endian: str, code: int, value: bytes) -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + _pad4(value)


def shb(endian: str = "<") -> bytes:
    return block(endian, 0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(endian: str, linktype: int, snaplen: int = 0, tsresol=None, tsoffset=None) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += option(endian, 9, bytes([tsresol]))
    if tsoffset is not None:
        opts += option(endian, 14, struct.pack(endian + "q", tsoffset))
    if opts:
        opts += option(endian, 0, b"")
    return block(endian, 1, struct.pack(endian + "HHI", linktype, 0, snaplen) + opts)


def epb(endian: str, iface: int, ts: int, data: bytes, orig: int | None = None) -> bytes:
    orig = len(data) if orig is None else orig
    head = struct.pack(endian + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), orig)
    return block(endian, 6, head + data)


def opb(endian: str, iface: int, ts: int, data: bytes) -> bytes:
    head = struct.pack(endian + "HHIIII", iface, 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    return block(endian, 2, head + data)


def spb(endian: str, data: bytes) -> bytes:
    return block(endian, 3, struct.pack(endian + "I", len(data)) + data)


@dataclass
class Columns:
    """Every batch of a capture concatenated, plus each packet's bytes."""

    ts: np.ndarray
    caplens: np.ndarray
    wirelens: np.ndarray
    linktypes: np.ndarray
    packets: list[bytes]
    batches: int


def read_all(cap: Capture) -> Columns:
    """Read a capture fully, checking the RawBatch layout promises on the way."""
    cols: dict[str, list] = {"ts": [], "caplens": [], "wirelens": [], "linktypes": []}
    packets: list[bytes] = []
    nb = 0
    for b in cap.batches():
        nb += 1
        assert b.data.dtype == np.uint8 and b.offsets.dtype == np.int64
        assert b.caplens.dtype == np.int32 and b.wirelens.dtype == np.int32
        assert b.ts.dtype == np.float64 and b.linktypes.dtype == np.uint16
        assert len(b) > 0
        ends = b.offsets + b.caplens
        assert int(ends.max()) + PAD <= len(b.data)
        assert not b.data[-PAD:].any()
        for k in cols:
            cols[k].append(getattr(b, k))
        packets.extend(b.packet(i) for i in range(len(b)))
    flat = {k: np.concatenate(v) if v else np.empty(0) for k, v in cols.items()}
    return Columns(packets=packets, batches=nb, **flat)


def pcap_layout(data: bytes) -> tuple[list[int], list[int]]:
    """(offsets where a unit ends, offsets where a packet ends) of a classic pcap."""
    endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    ends, p = [], 24
    while p + 16 <= len(data):
        p += 16 + struct.unpack_from(endian + "I", data, p + 8)[0]
        ends.append(p)
    return [24, *ends], ends


def pcapng_layout(data: bytes) -> tuple[list[int], list[int]]:
    """(offsets where a block ends, offsets where a packet block ends) of a pcapng."""
    units, packets, p, endian = [], [], 0, "<"
    while p + 12 <= len(data):
        if data[p : p + 4] == b"\x0a\x0d\x0d\x0a":
            endian = "<" if data[p + 8 : p + 12] == b"\x4d\x3c\x2b\x1a" else ">"
        btype, blen = struct.unpack_from(endian + "II", data, p)
        p += blen
        units.append(p)
        if btype in (2, 3, 6):
            packets.append(p)
    return units, packets


def check_cut(path, cut: int, units: list[int], packet_ends: list[int]) -> None:
    """A file cut at `cut` keeps each packet that ends before it; the tail is one error."""
    if cut < 4:
        with pytest.raises(NotACaptureError):
            open_capture(path)
        return
    cap = open_capture(path, chunk_bytes=48)
    cols = read_all(cap)
    assert len(cols.packets) == sum(1 for e in packet_ends if e <= cut)
    done = max([u for u in units if u <= cut], default=0)
    st = cap.stats
    assert (st.errors, st.skipped_bytes) == ((1, cut - done) if cut > done else (0, 0))
    if cut > done:
        assert st.warnings[0].startswith(f"truncated at offset {done}:")
