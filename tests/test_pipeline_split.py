"""One capture read as byte ranges equals the capture read in one piece.

Every range is read in this process here (fast, no spawn), except the last
test, which goes through the real process pool. The reference is
`_read_capture` over the whole file: packets, bytes, timestamps, errors,
warnings, flows and hosts must be equal; events may repeat across ranges
(per-flow parser limits and fact counting are per range) but every
one-process event must be there with the same packet number.
"""

from __future__ import annotations

import importlib.util
import struct
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from cranewatch import pipeline
from cranewatch.decode.dispatch import load_parsers
from cranewatch.sources import open_capture
from cranewatch.sources.split import SplitPlan, plan_split

BENCH = Path(__file__).resolve().parents[1] / "bench" / "generate.py"
REAL = [
    "iti-ics-security-tools/ModbusTCP/mb2.pcap",
    "zeek/vlan-qinqinq.pcap",
    "icsnpp-s7comm/s7comm_plus.pcap",
    "icsnpp-profinet-io-cm/profinet_io_cm_mixed_2.pcapng",
]


@pytest.fixture(scope="module")
def parsers():
    return load_parsers()


@pytest.fixture(scope="module")
def ot_capture(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("cw_bench_generate_split", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    path = tmp_path_factory.mktemp("split") / "ot.pcap"
    module.generate(path, 12_000, seed=7, quiet=True)
    return path


def record_offsets(path: Path) -> list[int]:
    """Record header offsets of a little-endian classic pcap, walked one by one."""
    data = path.read_bytes()
    offs, p = [], 24
    while p + 16 <= len(data):
        offs.append(p)
        p += 16 + struct.unpack_from("<I", data, p + 8)[0]
    return offs


def one_piece(path: Path, parsers) -> pipeline._Part:
    return pipeline._read_captures([(0, open_capture(path))], parsers, None)


def in_ranges(plan: SplitPlan, parsers) -> pipeline._Part | None:
    parts = [pipeline._read_range(0, plan, i, parsers) for i in range(plan.parts)]
    return pipeline._join_ranges(plan, parts)


def assert_same(split: pipeline._Part, whole: pipeline._Part) -> None:
    assert split.inputs == whole.inputs
    assert [asdict(f) for f in split.flows.flows()] == [asdict(f) for f in whole.flows.flows()]
    assert split.hosts.macs() == whole.hosts.macs()
    assert split.hosts.mac_ips() == whole.hosts.mac_ips()
    # in the same order too: it decides an asset's first address and which MAC claims an IP
    assert list(split.hosts.macs()) == list(whole.hosts.macs())
    assert list(split.hosts.mac_ips()) == list(whole.hosts.mac_ips())
    assert split.hosts.ips_without_mac() == whole.hosts.ips_without_mac()

    def key(e):
        fields = {k: v for k, v in e.fields.items() if k != "count"}
        return (e.ref, e.proto, e.ts, e.src_ip, e.dst_ip, repr(fields))

    got = {key(e) for e in split.events.events()}
    missing = [key(e) for e in whole.events.events() if key(e) not in got]
    assert not missing, missing[:3]


def test_cuts_at_every_awkward_offset(ot_capture, parsers):
    whole = one_piece(ot_capture, parsers)
    offs = record_offsets(ot_capture)
    size = ot_capture.stat().st_size
    r = offs[len(offs) // 2]
    cuts = {
        "on a record header": r,
        "one byte into a header": r + 1,
        "on the caplen field": r + 8,
        "last header byte": r + 15,
        "first payload byte": r + 16,
        "last byte of a record": offs[len(offs) // 2 + 1] - 1,
        "inside the first record": 30,
        "on the file header's end": 24,
        "on the last record": offs[-1],
        "one byte before the end": size - 1,
    }
    for kind, cut in cuts.items():
        plan = plan_split(open_capture(ot_capture), 2, cuts=[cut])
        later = [o for o in offs if o >= cut]
        if not later or cut <= 24:
            assert plan is None, kind
            continue
        assert plan.bounds == (24, later[0], size), kind  # resync finds the true next record
        split = in_ranges(plan, parsers)
        assert split is not None, kind
        assert_same(split, whole)
    assert whole.inputs[0].packets == len(offs)


def test_many_ranges_and_exact_event_numbers(ot_capture, parsers):
    whole = one_piece(ot_capture, parsers)
    size = ot_capture.stat().st_size
    plan = plan_split(open_capture(ot_capture), 2, cuts=[size * k // 7 + 3 for k in range(1, 7)])
    assert plan.parts == 7
    split = in_ranges(plan, parsers)
    assert_same(split, whole)
    assert max(e.ref[1] for e in split.events.events()) < whole.inputs[0].packets


@pytest.mark.parametrize("name", REAL)
def test_real_captures(captures, parsers, name):
    path = captures / name
    whole = one_piece(path, parsers)
    size = path.stat().st_size
    plan = plan_split(open_capture(path), 3, min_bytes=0)
    assert plan is not None and plan.parts == 3
    assert plan.bounds[-1] == size
    assert_same(in_ranges(plan, parsers), whole)


def test_wrong_boundary_is_caught_and_read_in_one_piece(ot_capture, parsers):
    whole = one_piece(ot_capture, parsers)
    offs = record_offsets(ot_capture)
    good = plan_split(open_capture(ot_capture), 2, cuts=[offs[500]])
    bad = SplitPlan(good.path, good.format, good.prefix, (24, offs[500] + 6, good.bounds[-1]))
    parts = [pipeline._read_range(0, bad, i, parsers) for i in range(2)]
    assert not parts[0].clean_end
    assert pipeline._join_ranges(bad, parts) is None
    tasks = [pipeline._Task(((0, str(ot_capture)),), bad.size(i), bad, i) for i in range(2)]
    (fixed,) = pipeline._finish(tasks, parts)
    assert_same(fixed, whole)


def test_truncated_and_damaged_files(ot_capture, parsers, tmp_path):
    offs = record_offsets(ot_capture)
    data = ot_capture.read_bytes()
    cut = tmp_path / "cut.pcap"  # last record cut short: an error only the last range sees
    cut.write_bytes(data[:-10])
    whole = one_piece(cut, parsers)
    assert whole.inputs[0].errors == 1
    split = in_ranges(plan_split(open_capture(cut), 2, cuts=[len(data) // 2]), parsers)
    assert split is not None
    assert_same(split, whole)
    broken = bytearray(data)  # an impossible caplen in the first range stops the reading
    struct.pack_into("<I", broken, offs[100] + 8, 1 << 30)
    bad = tmp_path / "bad.pcap"
    bad.write_bytes(broken)
    whole = one_piece(bad, parsers)
    plan = plan_split(open_capture(bad), 2, cuts=[len(data) // 2])
    parts = [pipeline._read_range(0, plan, i, parsers) for i in range(2)]
    assert pipeline._join_ranges(plan, parts) is None
    tasks = [pipeline._Task(((0, str(bad)),), plan.size(i), plan, i) for i in range(2)]
    (fixed,) = pipeline._finish(tasks, parts)
    assert_same(fixed, whole)
    assert fixed.inputs[0].skipped_bytes > 0


def test_gzip_and_small_files_are_not_split(ot_capture, tmp_path):
    import gzip

    gz = tmp_path / "ot.pcap.gz"
    gz.write_bytes(gzip.compress(ot_capture.read_bytes(), 1))
    assert plan_split(open_capture(gz), 2, min_bytes=0) is None
    assert plan_split(open_capture(ot_capture), 2) is None  # below SPLIT_MIN_BYTES


def test_pool_reads_one_capture_on_two_workers(ot_capture, monkeypatch):
    plans = []

    def small_plan(capture, parts, lead=0):
        plans.append(plan_split(capture, parts, min_bytes=0, lead=lead))
        return plans[-1]

    monkeypatch.setattr(pipeline, "plan_split", small_plan)
    calls = []
    pooled = pipeline.analyze([ot_capture], jobs=2, progress=lambda *a: calls.append(a))
    serial = pipeline.analyze([ot_capture], jobs=1)
    assert len(plans) == 1 and plans[0].parts == 2
    assert pooled.inputs == serial.inputs
    assert [asdict(f) for f in pooled.flows] == [asdict(f) for f in serial.flows]
    refs = {(e.ref, e.proto) for e in pooled.events}
    assert {(e.ref, e.proto) for e in serial.events} <= refs
    size = ot_capture.stat().st_size
    assert calls and calls[-1] == (size, size, serial.inputs[0].packets)
