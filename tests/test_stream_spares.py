"""Read blocks are filled again only when no batch views them any more."""

from __future__ import annotations

import gc

import numpy as np

from _sources_helpers import Pkt, pcap_bytes
from cranewatch.sources import open_capture, stream
from cranewatch.sources.stream import _Spares, _unused


def _packets(n: int, seed: int) -> list[Pkt]:
    rng = np.random.default_rng(seed)
    return [Pkt(1_700_000_000 + i, i, rng.bytes(int(rng.integers(60, 900)))) for i in range(n)]


def test_a_viewed_block_is_not_handed_out_again():
    spares = _Spares()
    block = bytearray(1000)
    view = np.frombuffer(block, dtype=np.uint8)[10:20]  # what a RawBatch holds
    spares.give(block, 4096)
    assert not _unused(block)
    assert spares.take(500) is not block
    del view
    gc.collect()
    assert _unused(block) and len(block) == 1000  # the check leaves the block as it was
    assert spares.take(500) is block


def test_spares_are_bounded_and_one_off_giants_are_not_kept():
    spares = _Spares()
    giant = bytearray(2 * 4096 + _Spares.ROUND + 1)
    spares.give(giant, 4096)
    assert spares.take(5000) is not giant
    blocks = [bytearray(100) for _ in range(_Spares.KEEP + 3)]
    for b in blocks:
        spares.give(b, 4096)
    got = [spares.take(10) for _ in range(_Spares.KEEP + 1)]
    kept = {id(b) for b in blocks[-_Spares.KEEP :]}
    assert {id(b) for b in got[:-1]} == kept  # the newest KEEP, then a fresh one
    assert id(got[-1]) not in {id(b) for b in blocks}


def test_batches_kept_alive_keep_their_bytes_while_other_captures_are_read(tmp_path):
    """A caller holding every batch (as tests and the evidence writer may) sees no reuse."""
    paths = []
    for k in range(3):
        path = tmp_path / f"c{k}.pcap"
        path.write_bytes(pcap_bytes(_packets(400, seed=k)))
        paths.append(path)
    held, copies = [], []
    for _ in range(2):
        for path in paths:
            for batch in open_capture(path, chunk_bytes=8192).batches():
                held.append(batch)
                copies.append(bytes(batch.data))
    assert [bytes(b.data) for b in held] == copies
    expected = [p.data for k in range(3) for p in _packets(400, seed=k)] * 2
    assert [b.packet(i) for b in held for i in range(len(b))] == expected


def test_blocks_are_reused_when_batches_are_dropped(tmp_path, monkeypatch):
    path = tmp_path / "c.pcap"
    pkts = _packets(2000, seed=7)
    path.write_bytes(pcap_bytes(pkts))
    spares = _Spares()
    handed: list[bytearray] = []  # kept referenced (not viewed): ids stay unique

    def take(size: int) -> bytearray:
        block = _Spares.take(spares, size)
        if all(block is not b for b in handed):
            handed.append(block)
        return block

    monkeypatch.setattr(stream, "_SPARES", spares)
    monkeypatch.setattr(spares, "take", take)
    got = []
    batches = 0
    for batch in open_capture(path, chunk_bytes=8192).batches():
        batches += 1
        got.extend(batch.packet(i) for i in range(len(batch)))
    assert got == [p.data for p in pkts]
    assert batches > 100 and len(handed) <= 3  # the batch in use, the next block, one spare
