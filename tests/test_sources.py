"""Capture readers on files built byte by byte: formats, options, damage."""

from __future__ import annotations

import gzip
import os
import struct
import tracemalloc

import numpy as np
import pytest

from _sources_helpers import (
    Pkt,
    block,
    check_cut,
    epb,
    idb,
    opb,
    pcap_bytes,
    pcap_layout,
    pcapng_layout,
    read_all,
    shb,
    spb,
)
from cranewatch.errors import NotACaptureError
from cranewatch.sources import open_capture


def _pkts(n: int, nano: bool = False) -> list[Pkt]:
    """Packets of varied lengths and distinct contents and times."""
    unit = 1_000_000_000 if nano else 1_000_000
    return [
        Pkt(1_700_000_000 + i, (i * 7919) % unit, bytes([i % 256]) * (20 + (i * 13) % 90))
        for i in range(n)
    ]


def _write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("endian", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_both_byte_orders_and_resolutions(tmp_path, endian, nano):
    pkts = _pkts(50, nano)
    path = _write(tmp_path, "x.bin", pcap_bytes(pkts, endian, nano, linktype=113))
    cap = open_capture(path)
    assert cap.format == ("pcap-ns" if nano else "pcap")
    cols = read_all(cap)
    scale = 1e-9 if nano else 1e-6
    want_ts = np.array([p.sec + p.frac * scale for p in pkts])
    assert np.allclose(cols.ts, want_ts, rtol=0, atol=1e-7)
    assert cols.packets == [p.data for p in pkts]
    assert (cols.linktypes == 113).all()
    st = cap.stats
    assert (st.packets, st.errors, st.skipped_bytes, st.warnings) == (50, 0, 0, [])
    assert st.bytes == sum(len(p.data) for p in pkts)
    assert st.first_ts == pytest.approx(want_ts.min()) and st.last_ts == pytest.approx(
        want_ts.max()
    )


def test_pcap_wirelen_and_linktype_fcs_bits(tmp_path):
    pkts = [Pkt(10, 0, b"abcd", wirelen=1500)]
    path = _write(tmp_path, "x", pcap_bytes(pkts, linktype=0x30000084))
    cols = read_all(open_capture(path))
    assert cols.wirelens.tolist() == [1500] and cols.caplens.tolist() == [4]
    assert cols.linktypes.tolist() == [0x84]


@pytest.mark.parametrize("chunk", [1, 37, 100, 4096])
def test_small_chunks_give_the_same_packets(tmp_path, chunk):
    pkts = _pkts(200)
    path = _write(tmp_path, "x", pcap_bytes(pkts))
    whole = read_all(open_capture(path))
    small = read_all(open_capture(path, chunk_bytes=chunk))
    assert small.packets == whole.packets
    assert np.array_equal(small.ts, whole.ts)
    if chunk < 1000:
        assert small.batches > 1


def test_batches_can_be_read_twice_and_stats_reset(tmp_path):
    path = _write(tmp_path, "x", pcap_bytes(_pkts(5)))
    cap = open_capture(path)
    read_all(cap)
    read_all(cap)
    assert cap.stats.packets == 5


def test_header_only_pcap_is_an_empty_capture(tmp_path):
    path = _write(tmp_path, "x", pcap_bytes([]))
    cap = open_capture(path)
    cols = read_all(cap)
    assert cols.batches == 0
    assert (cap.stats.packets, cap.stats.errors, cap.stats.first_ts) == (0, 0, None)


@pytest.mark.parametrize(
    "content",
    [b"", b"\xd4\xc3", b"hello world, not a capture", b"\x00" * 100, gzip.compress(b"plain text")],
)
def test_not_a_capture(tmp_path, content):
    path = _write(tmp_path, "capture.pcap", content)
    with pytest.raises(NotACaptureError) as err:
        open_capture(path)
    assert err.value.path == str(path)
    assert "not a pcap or pcapng file (first bytes:" in err.value.message


def test_format_is_sniffed_not_taken_from_the_extension(tmp_path):
    ng = shb() + idb("<", 1) + epb("<", 0, 5_000_000, b"x" * 30)
    path = _write(tmp_path, "looks_like.pcap", ng)
    assert open_capture(path).format == "pcapng"
    path = _write(tmp_path, "looks_like.pcapng", pcap_bytes(_pkts(1)))
    assert open_capture(path).format == "pcap"


@pytest.mark.parametrize("endian", ["<", ">"])
def test_pcapng_two_interfaces_with_own_linktype_and_resolution(tmp_path, endian):
    e = endian
    data = (
        shb(e)
        + idb(e, 1, tsresol=6)  # microseconds (explicit)
        + idb(e, 101, tsresol=9, tsoffset=1_000)  # raw IP, nanoseconds, offset
        + epb(e, 0, 1_700_000_000_123_456, b"a" * 60)
        + epb(e, 1, 1_699_999_000_987_654_321, b"b" * 40, orig=1400)
        + block(e, 4, b"\x00" * 8)  # NRB: skipped
        + block(e, 5, struct.pack(e + "III", 0, 0, 0))  # ISB: skipped
        + block(e, 0x40000BAD, b"custom!!")  # custom: skipped
        + block(e, 0x7777, b"unknown")  # unknown type: skipped
        + epb(e, 0, 1_700_000_001_000_000, b"c" * 61)
    )
    cap = open_capture(_write(tmp_path, "x", data))
    cols = read_all(cap)
    assert cap.format == "pcapng"
    assert cols.linktypes.tolist() == [1, 101, 1]
    assert cols.packets == [b"a" * 60, b"b" * 40, b"c" * 61]
    assert cols.wirelens.tolist() == [60, 1400, 61]
    assert cols.ts[0] == pytest.approx(1_700_000_000.123456, abs=1e-6)
    assert cols.ts[1] == pytest.approx(1_700_000_000.987654321, abs=1e-6)
    assert cols.ts[2] == pytest.approx(1_700_000_001.0, abs=1e-6)
    assert cap.stats.errors == 0 and cap.stats.packets == 3


def test_pcapng_power_of_two_resolution_and_default(tmp_path):
    data = (
        shb()
        + idb("<", 1, tsresol=0x80 | 10)  # 2^-10 s
        + idb("<", 1)  # default: microseconds
        + epb("<", 0, 1_700_000_000 * 1024 + 512, b"x" * 20)
        + epb("<", 1, 1_700_000_000 * 10**6 + 250_000, b"y" * 20)
    )
    cols = read_all(open_capture(_write(tmp_path, "x", data)))
    assert cols.ts.tolist() == [1_700_000_000.5, 1_700_000_000.25]


def test_pcapng_sections_with_different_byte_orders_have_own_interfaces(tmp_path):
    data = (
        shb("<")
        + idb("<", 1)
        + epb("<", 0, 1_000_000, b"L" * 30)
        + shb(">")
        + idb(">", 113)
        + idb(">", 228)
        + epb(">", 1, 2_000_000, b"B" * 31)
        + epb(">", 0, 3_000_000, b"C" * 32)
    )
    cols = read_all(open_capture(_write(tmp_path, "x", data)))
    assert cols.linktypes.tolist() == [1, 228, 113]
    assert cols.ts.tolist() == [1.0, 2.0, 3.0]
    assert [len(p) for p in cols.packets] == [30, 31, 32]


def test_pcapng_simple_and_obsolete_packet_blocks(tmp_path):
    data = (
        shb(">")
        + idb(">", 1, snaplen=50)
        + spb(">", b"s" * 80)  # before any timestamp: caplen cut to snaplen
        + opb(">", 0, 7_000_000, b"o" * 33)
        + spb(">", b"t" * 10)
    )
    cap = open_capture(_write(tmp_path, "x", data))
    cols = read_all(cap)
    assert cols.packets == [b"s" * 50, b"o" * 33, b"t" * 10]
    assert cols.wirelens.tolist() == [80, 33, 10]
    assert cols.ts[1:].tolist() == [7.0, 7.0]  # an SPB takes the latest earlier timestamp
    assert cap.stats.first_ts == 7.0 and cap.stats.last_ts == 7.0


def test_pcapng_unknown_interface_is_counted_and_skipped(tmp_path):
    data = shb() + idb("<", 1) + epb("<", 3, 1, b"bad" * 10) + epb("<", 0, 2, b"ok" * 10)
    cap = open_capture(_write(tmp_path, "x", data))
    cols = read_all(cap)
    assert cols.packets == [b"ok" * 10]
    assert cap.stats.errors == 1
    assert len(cap.stats.warnings) == 1 and "interface 3" in cap.stats.warnings[0]
    assert cap.stats.warnings[0].startswith(f"offset {len(shb() + idb('<', 1))}:")


def _bad_len_block(n: int) -> bytes:
    return struct.pack("<II", 6, n) + bytes(28)


@pytest.mark.parametrize(
    "bad",
    [
        _bad_len_block(34),  # not a multiple of 4
        _bad_len_block(8),  # below the minimum
        _bad_len_block(0xFFFFFFF0),  # absurd: would overflow the file
        epb("<", 0, 1, b"z" * 20)[:-4] + struct.pack("<I", 999),  # trailer mismatch
    ],
)
def test_pcapng_broken_block_stops_reading_keeping_earlier_packets(tmp_path, bad):
    good = shb() + idb("<", 1) + epb("<", 0, 1, b"g" * 30)
    data = good + bad + epb("<", 0, 2, b"after" * 8)
    cap = open_capture(_write(tmp_path, "x", data), chunk_bytes=64)
    cols = read_all(cap)
    assert cols.packets == [b"g" * 30]
    assert cap.stats.errors == 1
    assert cap.stats.skipped_bytes == len(data) - len(good)
    assert cap.stats.warnings[0].startswith(f"offset {len(good)}:")


def test_pcap_absurd_caplen_stops_without_allocating(tmp_path):
    pkts = _pkts(3)
    data = pcap_bytes(pkts) + struct.pack("<IIII", 1, 2, 0xFFFFFFF0, 60) + b"rest" * 10
    cap = open_capture(_write(tmp_path, "x", data))
    cols = read_all(cap)
    assert len(cols.packets) == 3
    assert cap.stats.errors == 1
    good = len(pcap_bytes(pkts))
    assert cap.stats.skipped_bytes == len(data) - good
    assert cap.stats.warnings == [
        f"offset {good}: record caplen {0xFFFFFFF0} exceeds 262144; {len(data) - good} bytes skipped"
    ]


def test_pcap_cut_at_every_byte(tmp_path):
    data = pcap_bytes(_pkts(6), ">")
    units, packet_ends = pcap_layout(data)
    for cut in range(len(data) + 1):
        path = _write(tmp_path, "cut", data[:cut])
        check_cut(path, cut, units, packet_ends)


def test_pcapng_cut_at_every_byte(tmp_path):
    data = (
        shb()
        + idb("<", 1, tsresol=9)
        + epb("<", 0, 10**18, b"a" * 21)
        + block("<", 4, b"\x00" * 4)
        + spb("<", b"s" * 5)
        + idb("<", 105)
        + epb("<", 1, 2 * 10**6, b"b" * 9)
    )
    units, packet_ends = pcapng_layout(data)
    for cut in range(len(data) + 1):
        check_cut(_write(tmp_path, "cut", data[:cut]), cut, units, packet_ends)


def test_gzip_of_a_cut_pcap(tmp_path):
    data = pcap_bytes(_pkts(4))
    units, packet_ends = pcap_layout(data)
    for cut in range(4, len(data) + 1, 7):
        path = _write(tmp_path, "cut.gz", gzip.compress(data[:cut]))
        assert open_capture(path).format == "pcap+gzip"
        check_cut(path, cut, units, packet_ends)


def test_gzip_stream_cut_or_corrupt_keeps_what_decoded(tmp_path):
    pkts = [Pkt(i, 0, os.urandom(300)) for i in range(400)]  # incompressible: ~1:1
    packed = gzip.compress(pcap_bytes(pkts))
    for cut in range(200, len(packed), 9973):
        path = _write(tmp_path, "x.gz", packed[:cut])
        cap = open_capture(path)
        cols = read_all(cap)
        assert cols.packets == [p.data for p in pkts[: len(cols.packets)]]
        assert cap.stats.errors == 1
    corrupt = bytearray(packed)
    corrupt[len(corrupt) // 2 : len(corrupt) // 2 + 50] = bytes(50)
    cap = open_capture(_write(tmp_path, "y.gz", bytes(corrupt)))
    cols = read_all(cap)
    assert 0 < len(cols.packets) < len(pkts)
    assert cols.packets[:100] == [p.data for p in pkts[:100]]
    assert cap.stats.errors >= 1  # the damaged record, and the CRC check when reached


def test_gzip_concatenated_members_and_trailing_zeros(tmp_path):
    data = pcap_bytes(_pkts(30))
    blob = gzip.compress(data[:500]) + gzip.compress(data[500:]) + bytes(64)
    cap = open_capture(_write(tmp_path, "x", blob))
    cols = read_all(cap)
    assert cap.format == "pcap+gzip"
    assert cols.packets == [p.data for p in _pkts(30)]
    assert (cap.stats.errors, cap.stats.warnings) == (0, [])


def test_reading_is_streamed_in_chunks(tmp_path):
    pkts = [Pkt(i, 0, bytes(1000)) for i in range(2000)]  # ~2 MB
    cap = open_capture(_write(tmp_path, "x", pcap_bytes(pkts)), chunk_bytes=64 << 10)
    sizes, positions = [], []
    for b in cap.batches():
        sizes.append(len(b.data))
        positions.append(cap.position)
    assert len(sizes) > 25
    assert positions == sorted(positions) and cap.position == os.path.getsize(cap.path)
    assert max(sizes) < (64 << 10) + 2048
    assert cap.stats.packets == 2000


def _mutants(data: bytes, count: int, seed: int):
    """Copies of `data` with a few random bytes overwritten (deterministic)."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        blob = bytearray(data)
        for pos in rng.integers(4, len(blob), size=rng.integers(1, 4)):
            blob[pos] = int(rng.integers(0, 256))
        yield bytes(blob)


def test_random_damage_never_raises(tmp_path):
    e = "<"
    ng = (
        shb(e)
        + idb(e, 1, snaplen=200, tsresol=0x83)
        + epb(e, 0, 123456789, b"p" * 40)
        + opb(e, 0, 5, b"o" * 12)
        + spb(e, b"s" * 9)
        + block(e, 4, b"\x01\x00\x04\x00abcd")
        + epb(e, 0, 9, b"q" * 17)
    )
    sources = [pcap_bytes(_pkts(8)), pcap_bytes(_pkts(8, True), ">", True), ng]
    for k, data in enumerate(sources):
        assert read_all(open_capture(_write(tmp_path, "ok", data))).packets
        for blob in _mutants(data, 150, k):
            cap = open_capture(_write(tmp_path, "m", blob), chunk_bytes=32)
            cols = read_all(cap)
            st = cap.stats
            assert st.packets == len(cols.packets)
            assert st.skipped_bytes <= len(blob)
            assert len(st.warnings) <= 20
            if st.errors == 0:
                assert st.skipped_bytes == 0
            assert sum(map(len, cols.packets)) <= len(blob) - 24  # packets lie in the file


@pytest.mark.parametrize(
    "data",
    [
        pcap_bytes(_pkts(2)) + struct.pack("<IIII", 1, 2, 250_000, 250_000) + b"x" * 10,
        shb() + idb("<", 1, snaplen=0) + struct.pack("<II", 6, 16 << 20) + bytes(40),
    ],
)
def test_claimed_lengths_do_not_size_buffers(tmp_path, data):
    path = _write(tmp_path, "x", data)
    tracemalloc.start()
    try:
        cap = open_capture(path)
        read_all(cap)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert cap.stats.errors == 1 and cap.stats.warnings[0].startswith("truncated at offset")
    assert peak < 200_000


def _records_block(start_sec: int, count: int, seed: int = 5, step: int = 1) -> bytearray:
    rng = np.random.default_rng(seed)
    parts = []
    for i in range(count):
        body = rng.bytes(int(rng.integers(40, 400)))
        sec = start_sec + i * step
        parts.append(struct.pack("<IIII", sec, i % 1_000_000, len(body), len(body)))
        parts.append(body)
    return bytearray(b"".join(parts)) + bytearray(128)


@pytest.mark.parametrize(
    ("start", "step", "shortcut"),
    [
        (0x6553_0000, 1, True),  # one top timestamp byte throughout
        (0x6553_FF00, 1, True),  # the next byte moves on by one: still the shortcut
        (0x6553_0000, 100, False),  # it moves by three in one block (a sparse capture)
        (0x65FF_FF00, 1, False),  # the top byte changes (every 194 days): the Python walk
    ],
)
def test_fast_record_walk_equals_the_plain_walk(start, step, shortcut):
    from cranewatch.sources.pcap import fast_walk, parse_header, walk

    header = parse_header(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    buf = _records_block(start, 2000, step=step)
    n = len(buf) - 128
    plain = walk(buf, 0, n, struct.Struct("<I").unpack_from)
    fast = fast_walk(buf, 0, n, header)
    assert (fast is not None) == shortcut
    if fast is not None:
        assert fast.tolist() == plain


@pytest.mark.parametrize("chunk", [None, 333, 4096])
def test_pcap_reading_resumes_after_a_damaged_spot(tmp_path, chunk):
    """Garbage spliced into a capture costs the garbage, not the rest of the file."""
    pkts = _pkts(60)
    whole = pcap_bytes(pkts)
    first = len(pcap_bytes(pkts[:20]))
    garbage = struct.pack("<IIII", 7, 7, 0xFFFFFF00, 9) + os.urandom(5000)
    data = whole[:first] + garbage + whole[first:]
    cap = open_capture(
        _write(tmp_path, "spliced", data), **({"chunk_bytes": chunk} if chunk else {})
    )
    cols = read_all(cap)
    assert len(cols.packets) == 60
    assert [bytes(p) for p in cols.packets] == [p.data for p in pkts]
    assert (cap.stats.errors, cap.stats.skipped_bytes) == (1, len(garbage))
    assert cap.stats.warnings == [
        f"offset {first}: record caplen {0xFFFFFF00} exceeds 262144;"
        f" {len(garbage)} bytes skipped to the next record"
    ]


def test_pcap_damage_with_no_good_record_after_it_still_stops(tmp_path):
    pkts = _pkts(5)
    data = pcap_bytes(pkts) + struct.pack("<IIII", 1, 2, 0xFFFFFFF0, 60) + bytes(3000)
    cap = open_capture(_write(tmp_path, "x", data))
    assert len(read_all(cap).packets) == 5
    assert cap.stats.skipped_bytes == len(data) - len(pcap_bytes(pkts))
