"""The fast paths of the scans and of dispatch find exactly what their plain definitions find.

Issue 3 replaced whole-buffer passes and per-row loops with cheaper numpy
prefilters; each is checked here against the straightforward rule it stands
for, on random text-heavy buffers and on real captures:

* ISO 6346: the uint16 digit-pair prefilter and the 12-layout check-digit test
  keep every valid number the regex finds from every 4-digit run at q = 3k;
* EDIFACT: the 'H+'/'D+' pair prefilter keeps every UNH/EQD marker;
* dispatch: the sure/maybe bitmaps select the rows the `Selector` rule names,
  and the direct-mapped table of full flows changes nothing when it collides.
"""

from __future__ import annotations

import random

import numpy as np
import pytest

from cranewatch.decode import dispatch
from cranewatch.decode.dispatch import DeepParser, load_parsers
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.decode.payload_scan import (
    EQD_RE,
    ISO_RE,
    UNH_RE,
    _Chunk,
    _container_number,
    _edifact_matches,
    _iso_matches,
    _sparse_nonzero,
    iso6346_check_digit,
)
from cranewatch.sources import open_capture

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _number(rng: random.Random) -> bytes:
    """A container number, right or wrong, with optional spaces and any case."""
    owner = "".join(rng.choice(LETTERS) for _ in range(3)) + rng.choice("UJZRX")
    serial = "".join(rng.choice("0123456789") for _ in range(6))
    check = iso6346_check_digit(owner + serial)
    if rng.random() < 0.4:
        check = (check + rng.randint(1, 9)) % 10
    text = owner + rng.choice(["", " "]) + serial + rng.choice(["", " "]) + str(check)
    return (text.lower() if rng.random() < 0.2 else text).encode()


def _text(rng: random.Random, size: int) -> bytes:
    pieces = [
        lambda: _number(rng),
        lambda: "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 12))).encode(),
        lambda: rng.choice([b"UNH+1+BAPLIE:D:95B:UN'", b"EQD+CN+", b"UNH+", b"H+", b"@+L+D+"]),
        lambda: rng.choice([b" ", b"x", b"U", b"+", b"'"]),
        lambda: bytes(rng.randrange(256) for _ in range(rng.randint(1, 20))),
    ]
    out = b""
    while len(out) < size:
        out += rng.choice(pieces)()
    return out


def _chunk(raw: bytes) -> _Chunk:
    chunk = object.__new__(_Chunk)
    chunk.data = np.frombuffer(raw, dtype=np.uint8)
    return chunk


def _valid(found) -> list[tuple[tuple[int, int], str]]:
    return [(m.span(), n) for m in found if (n := _container_number(m)) is not None]


def _plain_numbers(raw: bytes) -> list[tuple[tuple[int, int], str]]:
    """Every q = 3k starting 4 digits, the regex around it: the definition before the prefilters."""
    found = []
    for q in range(0, len(raw) - 3, 3):
        if raw[q : q + 4].isdigit():
            for m in ISO_RE.finditer(raw, max(0, q - 16), min(len(raw), q + 21)):
                if m.start(2) <= q and q + 3 < m.end(2):
                    found.append(m)
    return _valid(found)


@pytest.mark.parametrize("seed", range(40))
def test_container_numbers_equal_the_plain_scan(seed):
    rng = random.Random(seed)
    raw = _text(rng, rng.choice([64, 999, 5000]))
    data = np.frombuffer(raw, dtype=np.uint8)
    assert _valid(_iso_matches(memoryview(data), data)[2]) == _plain_numbers(raw)


@pytest.mark.parametrize("shift", range(4))
def test_a_number_at_every_alignment_and_buffer_edge(shift):
    for body in (b"CSQU3054383", b"csqu 305438 3", b"AAAU5000000"):
        raw = b"." * shift + body
        data = np.frombuffer(raw, dtype=np.uint8)
        assert _valid(_iso_matches(memoryview(data), data)[2]) == _plain_numbers(raw) != []


@pytest.mark.parametrize("seed", range(20))
def test_edifact_markers_equal_finditer(seed):
    raw = _text(random.Random(seed), 4000)
    got = [
        list(zip(p.tolist(), e.tolist(), strict=True)) for p, e, _ in _edifact_matches(_chunk(raw))
    ]
    assert got == [[m.span() for m in r.finditer(raw)] for r in (UNH_RE, EQD_RE)]


@pytest.mark.parametrize("size", [0, 1, 7, 8, 9, 1000, 4099])
def test_sparse_nonzero_is_flatnonzero(size):
    rng = np.random.default_rng(size)
    for density in (0.0, 0.001, 0.3, 1.0):
        mask = rng.random(size) < density
        assert np.array_equal(_sparse_nonzero(mask), np.flatnonzero(mask))


# ---------------------------------------------------------------- dispatch

SELECT_CAPTURES = [
    "ndpi/android.pcap",
    "iti-ics-security-tools/ModbusTCP/mb2.pcap",
    "icsnpp-profinet-io-cm/profinet_io_cm_mixed_1.pcap",
    "ndpi/capwap.pcap",
    "arkime/arkime_synthetic.pcap",
    "zeek/dhcp/dhcp_flood.pcap",
]


def _rule(sel, pk, b, i: int) -> bool:
    """The `Selector` rule for one packet, written out plainly."""
    data = b.data
    if sel.ethertypes and int(pk.ethertype[i]) in sel.ethertypes and pk.l3_off[i] >= 0:
        start, end = int(pk.l3_off[i]), int(b.offsets[i] + b.caplens[i])
        head = data[start:end].tobytes()
        if not sel.l2_prefixes or any(head.startswith(p) for p in sel.l2_prefixes):
            return True
    if sel.dst_macs and pk.has_mac[i] and int(pk.dst_mac[i]) in sel.dst_macs:
        return True
    proto = int(pk.proto[i])
    if proto not in dispatch._L4[sel.l4] or pk.payload_len[i] <= 0:
        return False
    if int(pk.sport[i]) in sel.ports or int(pk.dport[i]) in sel.ports:
        return True
    start = int(pk.payload_off[i])
    payload = data[start : start + int(pk.payload_len[i])].tobytes()
    return any(payload.startswith(p) for p in sel.prefixes)


@pytest.mark.parametrize("rel", SELECT_CAPTURES)
def test_bitmaps_select_what_the_selector_says(captures, rel):
    path = captures / rel
    if not path.is_file():
        pytest.skip(f"missing {rel}")
    parsers = load_parsers()
    tables = dispatch._Tables(parsers)
    for b in open_capture(path).batches():
        pk = decode_l2l4(b)
        cand, sure, maybe = tables.candidates(b, pk)
        sub = dispatch._Subset(b, pk, cand)
        for k, parser in enumerate(parsers):
            got = cand[dispatch._selected(parser.select, sub, sure, maybe, np.uint64(1 << k))]
            want = [i for i in range(len(pk)) if _rule(parser.select, pk, b, i)]
            assert got.tolist() == want, parser.name


@pytest.mark.parametrize("rel", SELECT_CAPTURES[:3])
def test_full_flow_table_collisions_change_nothing(captures, rel, monkeypatch):
    path = captures / rel
    if not path.is_file():
        pytest.skip(f"missing {rel}")

    def events():
        deep, out, n = DeepParser(), [], 0
        for b in open_capture(path, chunk_bytes=1 << 14).batches():
            out += [(e.proto, e.ref, repr(e.fields)) for e in deep.run(b, decode_l2l4(b), n)]
            n += len(b)
        return out

    wide = events()
    monkeypatch.setattr(dispatch._FullFlows, "BITS", 1)  # two slots: nearly every key collides
    assert events() == wide


def test_full_flow_table_never_claims_a_key_it_lost():
    table = dispatch._FullFlows()
    low = np.uint64(0x1234)
    a, b = int(low | np.uint64(1 << 40)), int(low | np.uint64(2 << 40))
    table.add([a])
    table.add([b])  # same slot: a is forgotten
    keys = np.array([a, b, 0, 0x1234, (1 << 16) - 1, 5], dtype=np.uint64)
    assert table.holds(keys).tolist() == [False, True, False, False, False, False]
