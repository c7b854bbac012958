"""The numpy look-ahead over runs of EPBs finds exactly the blocks the plain loop steps over.

`epb_run` hands long runs of Enhanced Packet Blocks to `fast_epb_chain`; its
candidates are words that read like an EPB header, so payloads are filled with
such words (lone ones, ones whose length and trailer agree, chains of them) to
try to lead it astray. Reading with the look-ahead must give what reading with
the loop alone gives: the same packets, errors, warnings and skipped bytes.
"""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _sources_helpers import block, epb, idb, read_all, shb, spb
from cranewatch.sources import open_capture, pcapng


def fake_epb(endian: str, body_words: int) -> bytes:
    """Bytes that read like a whole EPB (type, length, trailer) inside a payload."""
    n = 12 + 4 * body_words
    return struct.pack(endian + "II", 6, n) + bytes(4 * body_words) + struct.pack(endian + "I", n)


def payload(endian: str, kind: int, size: int) -> bytes:
    if kind == 0:
        return bytes(size)
    if kind == 1:  # a lone header-like word
        return struct.pack(endian + "II", 6, 64) + bytes(size)
    if kind == 2:  # a fake block with a matching trailer
        return fake_epb(endian, 5) + bytes(size)
    # a chain of fake blocks, each ending where the next starts
    return b"".join(fake_epb(endian, 3 + k) for k in range(3)) + bytes(size)


def capture(endian: str, plan: list[tuple[str, int, int]]) -> bytes:
    out = [shb(endian), idb(endian, 1, 0)]
    ts = 1_700_000_000_000_000
    for what, kind, size in plan:
        ts += 1000
        if what == "epb":
            out.append(epb(endian, 0, ts, payload(endian, kind, size)))
        elif what == "spb":
            out.append(spb(endian, payload(endian, kind, size)))
        elif what == "custom":
            out.append(block(endian, 0x00000BAD, payload(endian, kind, size)))
        elif what == "idb":
            out.append(idb(endian, 1, 0))
    return b"".join(out)


def read_both(path, monkeypatch, chunk: int):
    """(with the look-ahead, loop only) as (columns, stats)."""
    out = []
    for probe in (pcapng.PROBE, 10**12):
        monkeypatch.setattr(pcapng, "PROBE", probe)
        cap = open_capture(path, chunk_bytes=chunk)
        out.append((read_all(cap), cap.stats))
    return out


def assert_same(fast, slow) -> None:
    (fc, fs), (sc, ss) = fast, slow
    assert fc.packets == sc.packets
    for name in ("ts", "caplens", "wirelens", "linktypes"):
        assert np.array_equal(getattr(fc, name), getattr(sc, name)), name
    assert (fs.packets, fs.errors, fs.skipped_bytes, fs.warnings) == (
        ss.packets,
        ss.errors,
        ss.skipped_bytes,
        ss.warnings,
    )


block_plan = st.lists(
    st.tuples(
        st.sampled_from(["epb"] * 12 + ["spb", "custom", "idb"]),
        st.integers(0, 3),
        st.integers(0, 300),
    ),
    min_size=1,
    max_size=600,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(plan=block_plan, endian=st.sampled_from("<>"), chunk=st.sampled_from([4096, 65536, 1 << 22]))
def test_look_ahead_reads_what_the_loop_reads(tmp_path, monkeypatch, plan, endian, chunk):
    path = tmp_path / "c.pcapng"
    path.write_bytes(capture(endian, plan))
    assert_same(*read_both(path, monkeypatch, chunk))


def test_long_runs_with_decoys_and_a_broken_trailer(tmp_path, monkeypatch):
    plan = [("epb", k % 4, 40 + (k * 37) % 200) for k in range(5000)]
    plan[1500:1500] = [("custom", 2, 100), ("spb", 3, 60)]
    data = bytearray(capture("<", plan))
    path = tmp_path / "ok.pcapng"
    path.write_bytes(bytes(data))
    fast, slow = read_both(path, monkeypatch, 1 << 16)
    assert_same(fast, slow)
    assert fast[1].packets == 5001 and fast[1].errors == 0
    # a trailer that disagrees with its length, deep inside a run: reading stops there
    offs, p = [], 0
    while p + 12 <= len(data):
        btype, blen = struct.unpack_from("<II", data, p)
        if btype == 6:
            offs.append((p, blen))
        p += blen
    at, blen = offs[3333]
    struct.pack_into("<I", data, at + blen - 4, blen + 4)
    path = tmp_path / "bad.pcapng"
    path.write_bytes(bytes(data))
    fast, slow = read_both(path, monkeypatch, 1 << 16)
    assert_same(fast, slow)
    # the 3,333 EPBs before it and the SPB
    assert fast[1].packets == 3334 and fast[1].errors == 1 and fast[1].skipped_bytes > 0


def test_the_look_ahead_really_runs(tmp_path, monkeypatch):
    """Guard for the tests above: on a long run, the look-ahead finds most of the blocks."""
    path = tmp_path / "run.pcapng"
    path.write_bytes(capture("<", [("epb", 3, 100)] * 3000))
    found = []
    real = pcapng.fast_epb_chain

    def spy(*args):
        out = real(*args)
        found.append(0 if out is None else len(out[0]))
        return out

    monkeypatch.setattr(pcapng, "fast_epb_chain", spy)
    assert read_all(open_capture(path)).ts.size == 3000
    assert sum(found) > 2500
