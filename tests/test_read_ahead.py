"""The gzip read-ahead thread hands over the stream unchanged, passes errors on, and stops."""

from __future__ import annotations

import gzip
import io
import threading

import pytest

from _sources_helpers import Pkt, pcap_bytes, read_all
from cranewatch.sources import open_capture
from cranewatch.sources.gunzip import GunzipReader
from cranewatch.sources.read_ahead import ReadAhead


def drain(reader, size: int) -> bytes:
    out = bytearray()
    buf = bytearray(size)
    while n := reader.readinto(buf):
        out += buf[:n]
    return bytes(out)


@pytest.mark.parametrize("block, ask", [(7, 3), (64, 1000), (4096, 4096), (1 << 20, 13)])
def test_same_bytes_whatever_the_block_sizes(block, ask):
    data = bytes(range(256)) * 400
    reader = ReadAhead(io.BytesIO(data), block=block, depth=2)
    assert drain(reader, ask) == data
    assert reader.readinto(bytearray(10)) == 0  # and stays at the end


def test_damage_is_reported_after_the_bytes_before_it():
    data = gzip.compress(bytes(range(256)) * 2000)
    reader = ReadAhead(GunzipReader(io.BytesIO(data[: len(data) // 2])), block=1000)
    got = drain(reader, 777)
    assert 0 < len(got) < 512_000 and got == (bytes(range(256)) * 2000)[: len(got)]
    assert reader.problem == "gzip stream cut short"


class Failing(io.RawIOBase):
    def __init__(self) -> None:
        self.calls = 0

    def readinto(self, buffer) -> int:
        self.calls += 1
        if self.calls > 3:
            raise OSError(5, "Input/output error")
        buffer[:10] = b"x" * 10
        return 10


def test_a_disk_error_reaches_the_reader_after_the_good_bytes():
    reader = ReadAhead(Failing(), block=10)
    buf = bytearray(10)
    assert [reader.readinto(buf) for _ in range(3)] == [10, 10, 10]
    with pytest.raises(OSError, match="Input/output error"):
        reader.readinto(buf)


def test_a_capture_left_half_read_stops_its_thread(tmp_path):
    pkts = [Pkt(1_700_000_000 + i, 0, bytes(200)) for i in range(20_000)]
    path = tmp_path / "c.pcap.gz"
    path.write_bytes(gzip.compress(pcap_bytes(pkts)))
    before = threading.active_count()
    batches = open_capture(path, chunk_bytes=4096).batches()
    next(batches)
    assert threading.active_count() == before + 1
    batches.close()
    assert threading.active_count() == before


def test_gzip_capture_reads_as_the_plain_one(tmp_path):
    pkts = [Pkt(1_700_000_000 + i, i, bytes([i % 256]) * (60 + i % 900)) for i in range(5000)]
    plain = tmp_path / "c.pcap"
    plain.write_bytes(pcap_bytes(pkts))
    packed = tmp_path / "c.pcap.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    a, b = read_all(open_capture(plain, chunk_bytes=65536)), read_all(open_capture(packed, 65536))
    assert a.packets == b.packets and (a.ts == b.ts).all()
