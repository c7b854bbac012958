"""The whole `analyze` pipeline against an independent dpkt reference, and the process pool.

`analyze` reads captures in chunks, merges per-capture tables (in process or
from pool workers) and names flows; the flow table it returns must still say,
flow by flow, what a one-packet-at-a-time dpkt reading says.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from _l2l4_helpers import read_records, ref_flows
from cranewatch.pipeline import analyze

BENCH = Path(__file__).resolve().parents[1] / "bench" / "generate.py"
REAL = [
    "iti-ics-security-tools/ModbusTCP/mb2.pcap",  # Ethernet
    "zeek/vlan-qinqinq.pcap",  # VLAN
    "zeek/ipv6-fragmented-dns.pcap",  # IPv6
    "icsnpp-s7comm/s7comm_plus.pcap",  # Linux SLL
    "icsnpp-profinet-io-cm/profinet_io_cm_mixed_2.pcapng",  # pcapng
]


def _bench_generator():
    spec = importlib.util.spec_from_file_location("cw_bench_generate", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def ot_capture(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "ot.pcap"
    _bench_generator().generate(path, 30_000, seed=5, quiet=True)
    return path


def analysis_flows(flows) -> dict:
    out = {}
    for f in flows:
        d = asdict(f)
        assert d.pop("connections") == 1 and d.pop("sizes") == []  # nothing folded
        del d["service"], d["name"]
        key = (f.proto, tuple(sorted([(f.orig_ip, f.orig_port), (f.resp_ip, f.resp_port)])))
        assert key not in out, key
        out[key] = d
    return out


def test_generated_ot_capture_flows_match_dpkt(ot_capture):
    analysis = analyze([ot_capture])
    want = ref_flows(read_records(ot_capture))
    assert analysis_flows(analysis.flows) == want
    # the generator really made the traffic the benchmark is about
    assert len(want) > 300
    assert {6, 17} <= {k[0] for k in want}
    assert any(f["vlan"] for f in want.values())
    assert any(":" in f["orig_ip"] for f in want.values())
    protos = {e.proto for e in analysis.events}
    assert {"modbus", "enip", "dns", "tls", "http", "dhcp", "lldp"} <= protos


@pytest.mark.parametrize("name", REAL)
def test_real_capture_flows_match_dpkt(captures, name):
    path = captures / name
    analysis = analyze([path])
    want = ref_flows(read_records(path))
    assert want
    assert analysis_flows(analysis.flows) == want


def test_pool_equals_one_process(ot_capture, captures):
    """Two captures on two workers give what reading them one after the other gives."""
    paths = [captures / REAL[0], ot_capture]
    calls = []
    pooled = analyze(paths, jobs=2, progress=lambda *a: calls.append(a))
    serial = analyze(paths, jobs=1)
    assert [asdict(f) for f in pooled.flows] == [asdict(f) for f in serial.flows]
    assert pooled.events == serial.events
    assert pooled.assets == serial.assets
    assert pooled.findings == serial.findings
    assert [s.packets for s in pooled.inputs] == [s.packets for s in serial.inputs]
    assert {e.ref[0] for e in pooled.events} == {0, 1}
    total = sum(p.stat().st_size for p in paths)
    assert calls and calls[-1] == (total, total, sum(s.packets for s in serial.inputs))


def test_pool_with_more_captures_than_workers(ot_capture, captures):
    """Four captures on two processes, in two groups: what one process reading all gives."""
    paths = [captures / REAL[0], captures / REAL[1], ot_capture, captures / REAL[2]]
    calls = []
    pooled = analyze(paths, jobs=2, progress=lambda *a: calls.append(a))
    serial = analyze(paths, jobs=1)
    assert [asdict(f) for f in pooled.flows] == [asdict(f) for f in serial.flows]
    assert pooled.events == serial.events and pooled.findings == serial.findings
    assert [s.packets for s in pooled.inputs] == [s.packets for s in serial.inputs]
    total = sum(p.stat().st_size for p in paths)
    assert calls[-1] == (total, total, sum(s.packets for s in serial.inputs))
    assert all(a[0] <= a[1] for a in calls)


def _rotate(path: Path, folder: Path, files: int) -> list[Path]:
    """`path` cut into `files` consecutive pcaps, as tcpdump -C would write them."""
    data = path.read_bytes()
    offsets = [o for o, _ in _record_spans(data)]
    cuts = [offsets[len(offsets) * k // files] for k in range(files)] + [len(data)]
    out = []
    for k in range(files):
        part = folder / f"rot{k:04d}.pcap"
        part.write_bytes(data[:24] + data[cuts[k] : cuts[k + 1]])
        out.append(part)
    return out


def _record_spans(data: bytes):
    import struct

    p = 24
    while p + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, p + 8)[0]
        yield p, caplen
        p += 16 + caplen


def test_rotated_captures_read_like_one_file(ot_capture, tmp_path):
    """Forty rotated files give the flows, assets and findings of the file they were cut from.

    Per-flow parse limits last across a process's files: the deep parsers see
    what they see in the one file, not forty times the first packets of each
    polling flow.
    """
    whole = analyze([ot_capture], jobs=1)
    files = _rotate(ot_capture, tmp_path, 40)
    for jobs in (1, 2):
        rotated = analyze(files, jobs=jobs)
        assert [asdict(f) for f in rotated.flows] == [asdict(f) for f in whole.flows], jobs
        assert rotated.assets == whole.assets and rotated.findings == whole.findings
        assert sum(s.packets for s in rotated.inputs) == whole.inputs[0].packets
    serial = analyze(files, jobs=1)

    def fact(e):
        return (e.proto, e.ts, e.src_ip, e.dst_ip, repr(e.fields))

    assert sorted(map(fact, serial.events)) == sorted(map(fact, whole.events))


def test_pool_skips_files_that_are_not_captures(ot_capture, tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("not a capture")
    analysis = analyze([junk, ot_capture, ot_capture], jobs=2)
    assert len(analysis.not_captures) == 1
    assert [s.path for s in analysis.inputs] == [str(ot_capture)] * 2
    # the second copy's facts are repeats of the first's: kept once, counted twice
    assert {e.ref[0] for e in analysis.events} == {1}
    assert all((e.fields.get("count") or 1) % 2 == 0 for e in analysis.events)


def test_a_killed_worker_costs_time_not_the_result(ot_capture, captures):
    """A worker killed mid-run (OOM killer, kill -9): its capture is read by this process."""
    import multiprocessing
    import os
    import signal

    paths = [ot_capture, captures / REAL[0]]
    killed = []

    def kill_workers(*_):
        for child in multiprocessing.active_children():
            if not killed:
                os.kill(child.pid, signal.SIGKILL)
                killed.append(child.pid)

    pooled = analyze(paths, jobs=2, progress=kill_workers)
    serial = analyze(paths, jobs=1)
    assert killed
    assert [asdict(f) for f in pooled.flows] == [asdict(f) for f in serial.flows]
    assert pooled.findings == serial.findings
    assert [s.packets for s in pooled.inputs] == [s.packets for s in serial.inputs]
    assert pooled.inputs[1].warnings == [
        "a worker process ended abruptly; its part was read again by the main one"
    ]
