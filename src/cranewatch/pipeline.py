"""sources -> decode -> inventory -> detect, for `cranewatch analyze`.

The CLI calls `analyze`; everything here is plain data in, plain data out, so
tests and other front ends (live capture, Zeek logs) can reuse it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cranewatch.decode import payload_scan
from cranewatch.decode.dispatch import DeepParser, load_parsers
from cranewatch.decode.events import Event
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.detect import run_all
from cranewatch.detect.context import DetectContext
from cranewatch.detect.model import Finding
from cranewatch.errors import NotACaptureError
from cranewatch.inventory.build import build_assets, name_flows
from cranewatch.inventory.flows import FlowTable
from cranewatch.inventory.hosts import HostTable
from cranewatch.inventory.model import Asset, Flow
from cranewatch.inventory.site import Site
from cranewatch.sources import open_capture
from cranewatch.sources.batch import InputStats

# progress(done_bytes, total_bytes, packets) after each batch
Progress = Callable[[int, int, int], None]


@dataclass
class Analysis:
    """Everything one run found; the reports render this."""

    site: Site | None
    inputs: list[InputStats]
    assets: list[Asset]
    flows: list[Flow]
    events: list[Event]
    findings: list[Finding]
    warnings: list[str] = field(default_factory=list)
    not_captures: list[NotACaptureError] = field(default_factory=list)


@dataclass
class _Accumulator:
    """The streaming state that grows with hosts and flows, never with packets."""

    flows: FlowTable = field(default_factory=FlowTable)
    hosts: HostTable = field(default_factory=HostTable)
    events: list[Event] = field(default_factory=list)


def analyze(
    paths: Sequence[str | Path],
    site: Site | None = None,
    progress: Progress | None = None,
) -> Analysis:
    """Read every capture, build the inventory, run every detector.

    A file that is not a capture is reported in `not_captures` and skipped; the
    others are still analysed.
    """
    acc = _Accumulator()
    inputs: list[InputStats] = []
    not_captures: list[NotACaptureError] = []
    parsers = load_parsers()
    total = sum(_size(p) for p in paths)
    done_before = 0
    for index, path in enumerate(paths):
        try:
            capture = open_capture(path)
        except NotACaptureError as exc:
            not_captures.append(exc)
            continue
        inputs.append(capture.stats)
        deep = DeepParser(index, parsers)
        _read_capture(capture, deep, acc, progress, done_before, total)
        done_before += _size(path)
    flows = acc.flows.flows()
    name_flows(flows, acc.events)
    assets = build_assets(acc.hosts, flows, acc.events, site)
    ctx = DetectContext(site=site, assets=assets, flows=flows, events=acc.events)
    findings = run_all(ctx)
    warnings = [w for s in inputs for w in s.warnings] + ctx.extra.get("warnings", [])
    return Analysis(site, inputs, assets, flows, acc.events, findings, warnings, not_captures)


def _read_capture(
    capture, deep: DeepParser, acc: _Accumulator, progress, done_before, total
) -> None:
    stats = capture.stats
    packet_no = 0
    for batch in capture.batches():
        pk = decode_l2l4(batch)
        _count_unsupported(pk, stats)
        acc.flows.add(pk, batch)
        acc.hosts.add(pk, batch)
        acc.events.extend(deep.run(batch, pk, packet_no))
        acc.events.extend(payload_scan.scan(batch, pk, deep.input_index, packet_no))
        acc.events.extend(
            payload_scan.scan_signatures(batch, pk, None, deep.input_index, packet_no)
        )
        packet_no += len(batch)
        if progress is not None:
            progress(done_before + capture.position, total, packet_no)


def _count_unsupported(pk, stats: InputStats) -> None:
    bad = ~pk.supported
    if not bad.any():
        return
    stats.errors += int(bad.sum())
    for linktype in np.unique(pk.linktype[bad]).tolist():
        stats.warn(f"link type {linktype} is not supported: its packets are counted as errors")


def _size(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0
