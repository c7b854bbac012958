"""sources -> decode -> inventory -> detect, for `cranewatch analyze`.

The CLI calls `analyze`; everything here is plain data in, plain data out, so
tests and other front ends (live capture, Zeek logs) can reuse it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

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
from cranewatch.sources import Capture, open_capture
from cranewatch.sources.batch import InputStats

if TYPE_CHECKING:  # site.py builds pydantic models at import: only a --site run pays for it
    from cranewatch.inventory.site import Site

# Below this many bytes of input in all, captures are read in this process
POOL_MIN_BYTES = 64 << 20

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
    jobs: int | None = None,
) -> Analysis:
    """Read every capture, build the inventory, run every detector.

    A file that is not a capture is reported in `not_captures` and skipped; the
    others are still analysed. Several captures are read by a pool of `jobs`
    processes (default: one per core, when they hold POOL_MIN_BYTES or more)
    and merged in the order given; a single capture is read in this process.
    """
    acc = _Accumulator()
    inputs: list[InputStats] = []
    not_captures: list[NotACaptureError] = []
    todo: list[tuple[int, Capture]] = []
    for index, path in enumerate(paths):
        try:
            todo.append((index, open_capture(path)))
        except NotACaptureError as exc:
            not_captures.append(exc)
    workers = min(len(todo), jobs or os.cpu_count() or 1)
    if jobs is None and sum(_size(c.path) for _, c in todo) < POOL_MIN_BYTES:
        workers = 1  # starting workers costs more than reading a few small files
    if workers > 1:
        parts = _read_in_pool(todo, workers, progress)
    else:
        parts = _read_in_process(todo, progress)
    for part in parts:
        inputs.append(part.stats)
        acc.flows.merge(part.flows)
        acc.hosts.merge(part.hosts)
        acc.events.extend(part.events)
    flows = acc.flows.flows()
    name_flows(flows, acc.events)
    assets = build_assets(acc.hosts, flows, acc.events, site)
    ctx = DetectContext(site=site, assets=assets, flows=flows, events=acc.events)
    findings = run_all(ctx)
    warnings = [w for s in inputs for w in s.warnings] + ctx.extra.get("warnings", [])
    return Analysis(site, inputs, assets, flows, acc.events, findings, warnings, not_captures)


@dataclass
class _Part:
    """What reading one capture gives: compact, picklable, merged in the parent."""

    stats: InputStats
    flows: FlowTable
    hosts: HostTable
    events: list[Event]


def _read_in_process(todo: list[tuple[int, Capture]], progress: Progress | None) -> list[_Part]:
    """Captures one after the other in this process (one capture, or jobs=1)."""
    parsers = load_parsers()
    total = sum(_size(c.path) for _, c in todo)
    parts = []
    done_before = 0
    for index, capture in todo:
        report = None
        if progress is not None:

            def report(position: int, packets: int, _base=done_before) -> None:
                progress(_base + position, total, packets)

        parts.append(_read_capture(index, capture, parsers, report))
        done_before += _size(capture.path)
    return parts


def _read_capture(
    index: int, capture: Capture, parsers, report: Callable[[int, int], None] | None
) -> _Part:
    """Stream one capture into fresh tables; memory follows flows and hosts, not packets."""
    part = _Part(capture.stats, FlowTable(), HostTable(), [])
    deep = DeepParser(index, parsers)
    packet_no = 0
    for batch in capture.batches():
        pk = decode_l2l4(batch)
        _count_unsupported(pk, capture.stats)
        part.flows.add(pk, batch)
        part.hosts.add(pk, batch)
        part.events.extend(deep.run(batch, pk, packet_no))
        part.events.extend(payload_scan.scan(batch, pk, index, packet_no))
        part.events.extend(payload_scan.scan_signatures(batch, pk, None, index, packet_no))
        packet_no += len(batch)
        if report is not None:
            report(capture.position, packet_no)
    return part


# ---------------------------------------------------------------- process pool

_QUEUE = None  # the worker's end of the progress queue
_PROGRESS_EVERY = 0.2  # seconds between a worker's progress messages


def _read_in_pool(
    todo: list[tuple[int, Capture]], workers: int, progress: Progress | None
) -> list[_Part]:
    """One capture per task on `workers` processes; progress flows back through a queue.

    Spawned (not forked) workers: the parent may run a progress-bar thread,
    and forking a process that holds a lock in another thread can hang the child.
    """
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    ctx = mp.get_context("spawn")
    queue = ctx.Queue() if progress is not None else None
    sizes = {index: _size(c.path) for index, c in todo}
    total = sum(sizes.values())
    seen: dict[int, tuple[int, int]] = {}  # index -> (bytes read, packets)
    finished: set[int] = set()
    with ProcessPoolExecutor(workers, ctx, initializer=_init_worker, initargs=(queue,)) as pool:
        futures = {pool.submit(_work, index, c.path): index for index, c in todo}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=_PROGRESS_EVERY, return_when=FIRST_COMPLETED)
            if progress is None:
                continue
            _drain(queue, seen, finished)
            for fut in done:
                index = futures[fut]
                finished.add(index)
                seen[index] = (sizes[index], fut.result().stats.packets)
            position = sum(p for p, _ in seen.values())
            progress(min(position, total), total, sum(n for _, n in seen.values()))
        parts = {futures[f]: f.result() for f in futures}
    if queue is not None:
        queue.close()
    return [parts[index] for index, _ in todo]


def _drain(queue, seen: dict[int, tuple[int, int]], finished: set[int]) -> None:
    """Latest (bytes, packets) per capture from the workers' messages."""
    import queue as queue_mod

    while True:
        try:
            index, position, packets = queue.get_nowait()
        except queue_mod.Empty:
            return
        if index not in finished:
            seen[index] = (position, packets)


def _init_worker(queue) -> None:
    global _QUEUE
    _QUEUE = queue


def _work(index: int, path: str) -> _Part:
    """Worker: read one capture; progress at most every _PROGRESS_EVERY seconds."""
    import time

    capture = open_capture(path)
    report = None
    if _QUEUE is not None:
        last = [0.0]

        def report(position: int, packets: int) -> None:
            now = time.monotonic()
            if now - last[0] >= _PROGRESS_EVERY:
                last[0] = now
                _QUEUE.put((index, position, packets))

    return _read_capture(index, capture, load_parsers(), report)


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
