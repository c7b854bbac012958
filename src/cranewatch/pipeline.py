"""sources -> decode -> inventory -> detect, for `cranewatch analyze`.

The CLI calls `analyze`; everything here is plain data in, plain data out, so
tests and other front ends (live capture, Zeek logs) can reuse it.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cranewatch.decode import payload_scan
from cranewatch.decode.dispatch import DeepParser, ParseSession, load_parsers
from cranewatch.decode.events import Event
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.detect import run_all
from cranewatch.detect.context import DetectContext
from cranewatch.detect.model import Finding
from cranewatch.errors import NotACaptureError
from cranewatch.inventory.build import build_assets, name_flows
from cranewatch.inventory.coverage import coverage_warnings
from cranewatch.inventory.event_log import EventLog
from cranewatch.inventory.flows import FlowTable
from cranewatch.inventory.hosts import HostTable
from cranewatch.inventory.model import Asset, Flow
from cranewatch.sources import Capture, open_capture
from cranewatch.sources.batch import InputStats
from cranewatch.sources.split import RangeCapture, SplitPlan, plan_split
from cranewatch.sources.stream import MAX_WARNINGS

if TYPE_CHECKING:  # site.py builds pydantic models at import: only a --site run pays for it
    from cranewatch.inventory.site import Site

# Below this many bytes of input in all, captures are read in this process
POOL_MIN_BYTES = 64 << 20
# Batches between two hand-backs of the C heap's free pages (`_trim_heap`): ~128 MB read
TRIM_EVERY = 32
# Bytes this process reads while a spawned worker starts (~0.17 s at ~300 MB/s):
# the first range or group of captures, read here, is longer by that much.
WORKER_START_BYTES = 48 << 20

# progress(done_bytes, total_bytes, packets): totals over all captures, after each batch
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


def analyze(
    paths: Sequence[str | Path],
    site: Site | None = None,
    progress: Progress | None = None,
    jobs: int | None = None,
) -> Analysis:
    """Read every capture, build the inventory, run every detector.

    A file that is not a capture is reported in `not_captures` and skipped; the
    others are still analysed. Captures are read by `jobs` processes (default:
    one per core, when they hold POOL_MIN_BYTES or more), each taking a group of
    consecutive captures, and merged in the order given. With fewer captures
    than processes, a large uncompressed one is cut into byte ranges read in
    parallel instead (see sources/split.py). The merged result is the
    one-process result, except that deep parsers' per-flow packet limits apply
    per group or range, so a flow spanning k of them may get up to k x
    `per_flow` parsed packets (and its repeated facts counted that much more),
    and that past the flow budget (inventory/flows.py) which flows end up
    folded depends on where reading was cut; totals, assets and findings do not.
    """
    with _fewer_gc_passes():
        return _analyze(paths, site, progress, jobs)


def _analyze(
    paths: Sequence[str | Path], site: Site | None, progress: Progress | None, jobs: int | None
) -> Analysis:
    todo: list[tuple[int, Capture]] = []
    not_captures: list[NotACaptureError] = []
    for index, path in enumerate(paths):
        try:
            todo.append((index, open_capture(path)))
        except NotACaptureError as exc:
            not_captures.append(exc)
    cores = jobs or os.cpu_count() or 1
    if jobs is None and sum(_size(c.path) for _, c in todo) < POOL_MIN_BYTES:
        cores = 1  # starting workers costs more than reading a few small files
    tasks = _plan_tasks(todo, cores) if cores > 1 else []
    if len(tasks) > 1:
        parts = _read_in_pool(tasks, min(cores, len(tasks)), progress)
    else:
        parts = [_read_in_process(todo, progress)] if todo else []
    # the first part is the accumulator: a copy of its tables would only cost memory
    acc = parts[0] if parts else _Part([], FlowTable(), HostTable(), EventLog())
    inputs: list[InputStats] = [stats for p in parts for stats in p.inputs]
    for part in parts[1:]:
        acc.flows.merge(part.flows)
        acc.hosts.merge(part.hosts)
        acc.events.merge(part.events)
    flows = acc.flows.flows()
    events = acc.events.events()
    name_flows(flows, events)
    assets = build_assets(acc.hosts, flows, events, site)
    ctx = DetectContext(site=site, assets=assets, flows=flows, events=events)
    findings = run_all(ctx)
    warnings = [w for s in inputs for w in s.warnings] + acc.flows.warnings()
    warnings += acc.events.warnings()
    warnings += ctx.extra.get("warnings", [])
    warnings += coverage_warnings(site, assets)
    return Analysis(site, inputs, assets, flows, events, findings, warnings, not_captures)


# Allocations between two young-generation collections while analysing (Python's default: 700)
_GC_YOUNG = 100_000


@contextmanager
def _fewer_gc_passes():
    """Collect cycles less often while millions of small objects are made.

    Why: events, flows and assets hold no reference cycles worth hunting, but
    each collection walks every young object (and every 10th and 100th walks
    the older ones): with Python's default threshold that was ~6% of a run.
    """
    import gc

    before = gc.get_threshold()
    gc.set_threshold(_GC_YOUNG, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


@dataclass
class _Part:
    """What reading consecutive captures (or one range of one) gives: compact, picklable."""

    inputs: list[InputStats]  # one per capture read, in order
    flows: FlowTable
    hosts: HostTable
    events: EventLog
    unsupported: int = 0  # errors counted for unsupported link types (not by the reader)
    clean_end: bool = True  # a range: its last record ended exactly at the range end
    state: tuple | None = None  # a pcapng range: the section state at its end


@dataclass(frozen=True)
class _Task:
    """One unit of pool work: consecutive whole captures, or range `part` of a split one."""

    captures: tuple[tuple[int, str], ...]  # (position in the run, path)
    size: int
    plan: SplitPlan | None = None
    part: int = 0


def _plan_tasks(todo: list[tuple[int, Capture]], cores: int) -> list[_Task]:
    """Work for `cores` processes: large captures split, many captures grouped.

    Fewer captures than cores: each is split in byte ranges when it can be.
    More: consecutive captures are grouped into `cores` tasks of about equal
    bytes, the first (read here while workers start) WORKER_START_BYTES longer.
    A group, not a capture, is the unit because one process reads it with one
    set of tables and per-flow parse limits: rotated captures then cost about
    what one file of the same packets costs.
    """
    if len(todo) >= cores:
        return _groups(todo, cores)
    per_capture = cores // max(1, len(todo))
    tasks = []
    for index, capture in todo:
        plan = (
            plan_split(capture, per_capture, lead=WORKER_START_BYTES) if per_capture > 1 else None
        )
        if plan is None:
            tasks.append(_Task(((index, capture.path),), _size(capture.path)))
            continue
        for i in range(plan.parts):
            tasks.append(_Task(((index, capture.path),), plan.size(i), plan, i))
    return tasks


def _groups(todo: list[tuple[int, Capture]], cores: int) -> list[_Task]:
    """Consecutive captures in `cores` groups; a capture goes where its middle byte falls."""
    sizes = [_size(capture.path) for _, capture in todo]
    total = sum(sizes)
    lead = min(WORKER_START_BYTES, total // (2 * cores))
    cuts = [lead + (total - lead) * j / cores for j in range(1, cores)]
    members: list[list[int]] = [[] for _ in range(cores)]
    start = 0
    for i, size in enumerate(sizes):
        members[sum(cut <= start + size / 2 for cut in cuts)].append(i)
        start += size
    return [
        _Task(tuple((todo[i][0], todo[i][1].path) for i in group), sum(sizes[i] for i in group))
        for group in members
        if group
    ]


def _read_in_process(todo: list[tuple[int, Capture]], progress: Progress | None) -> _Part:
    """Every capture, one after the other, in this process (small inputs, or jobs=1)."""
    report = None
    if progress is not None:
        total = sum(_size(capture.path) for _, capture in todo)

        def report(position: int, packets: int) -> None:
            progress(position, total, packets)

    return _read_captures(todo, load_parsers(), report)


def _read_captures(
    captures: Sequence[tuple[int, Capture | RangeCapture]],
    parsers,
    report: Callable[[int, int], None] | None,
) -> _Part:
    """Stream captures, in order, into one set of tables.

    Memory follows flows and hosts, not packets or files. The per-flow parse
    limits last across the captures (see ParseSession); reading them as one
    part is then what merging one part per capture would give, flows that
    cross a file boundary included. `report(position, packets)` counts bytes
    and packets from the first capture's start.
    """
    part = _Part([], FlowTable(), HostTable(), EventLog())
    session = ParseSession(parsers)
    bytes_before = packets_before = batches = 0
    for index, capture in captures:
        stats = capture.stats
        part.inputs.append(stats)
        deep = DeepParser(index, session=session)
        packet_no = 0
        for batch in capture.batches():
            pk = decode_l2l4(batch)
            part.unsupported += _count_unsupported(pk, stats)
            part.flows.add(pk, batch)
            part.hosts.add(pk, batch)
            part.events.add(deep.run(batch, pk, packet_no))
            part.events.add(payload_scan.scan(batch, pk, index, packet_no))
            part.events.add(payload_scan.scan_signatures(batch, pk, None, index, packet_no))
            packet_no += len(batch)
            batches += 1
            if batches % TRIM_EVERY == 0:
                _trim_heap()
            if report is not None:
                report(bytes_before + capture.position, packets_before + packet_no)
        for line in deep.warnings():
            stats.warn(line)
        if isinstance(capture, RangeCapture):
            part.clean_end, part.state = capture.clean_end, capture.state
        else:
            bytes_before += _size(capture.path)
        packets_before += packet_no
    _trim_heap()  # what follows (merging, the inventory) starts from live memory only
    return part


def _trim_heap() -> None:
    """Hand the C heap's free pages back to the system (glibc's malloc_trim; else nothing).

    Why: numpy's chunk-sized temporaries are freed into glibc's heap, which
    keeps them; over a long capture that retained free memory, not live data,
    made peak RSS grow with the capture's length (~20 MB on 20M packets).
    Long-running Python workers do the same (Dask's memory trimming).
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    import ctypes
    import ctypes.util

    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc (macOS, Windows, musl)
        return None


# ---------------------------------------------------------------- split captures


def _read_range(index: int, plan: SplitPlan, i: int, parsers, report=None) -> _Part:
    return _read_captures([(index, RangeCapture(plan, i))], parsers, report)


def _join_ranges(plan: SplitPlan, parts: list[_Part]) -> _Part | None:
    """The ranges of one capture as one part, or None when a boundary proved wrong.

    Range i + 1 is trusted only when range i ended exactly at its end (its
    last record was not cut), with the section state range i + 1 started from;
    see sources/split.py for why that proves every packet was read once. Any
    reading error other than a cut last record also sends the caller back to
    a one-process read, whose warnings and counts are then the reference.
    """
    last = len(parts) - 1
    for i, part in enumerate(parts):
        errors = part.inputs[0].errors - part.unsupported
        if i < last and (errors or not part.clean_end or part.state != plan.state):
            return None
        if i == last and errors != (0 if part.clean_end else 1):
            return None
    out = parts[0]
    (stats,) = out.inputs
    before = stats.packets
    for part in parts[1:]:
        out.events.merge(part.events, shift=before)
        before += part.inputs[0].packets
        out.flows.merge(part.flows)
        out.hosts.merge(part.hosts)
        _add_stats(stats, part.inputs[0])
    if len(stats.warnings) > MAX_WARNINGS:
        return None  # capped per range: the one-process list may differ
    return out


def _add_stats(stats: InputStats, more: InputStats) -> None:
    """Totals of two consecutive ranges of one input."""
    stats.packets += more.packets
    stats.bytes += more.bytes
    stats.errors += more.errors
    stats.skipped_bytes += more.skipped_bytes
    for a in ("first_ts", "last_ts"):
        mine, theirs = getattr(stats, a), getattr(more, a)
        pick = min if a == "first_ts" else max
        setattr(
            stats, a, theirs if mine is None else mine if theirs is None else pick(mine, theirs)
        )
    for w in more.warnings:
        stats.warn(w)


def _finish(tasks: list[_Task], results: list[_Part | None]) -> list[_Part]:
    """The parts in the order given, the ranges of a split capture joined (or re-read here)."""
    out = []
    k = 0
    while k < len(tasks):
        plan = tasks[k].plan
        if plan is None:
            out.append(results[k])
            k += 1
            continue
        joined = _join_ranges(plan, results[k : k + plan.parts])
        if joined is None:  # a wrong boundary or a damaged file: read it in one piece
            results[k : k + plan.parts] = [None] * plan.parts  # their tables: freed first
            _trim_heap()
            whole = tasks[k].captures
            joined = _run_task(_Task(whole, _size(whole[0][1])), None)
        out.append(joined)
        k += plan.parts
    return out


# ---------------------------------------------------------------- process pool

_QUEUE = None  # the worker's end of the progress queue
_PROGRESS_EVERY = 0.2  # seconds between a worker's progress messages


def _read_in_pool(tasks: list[_Task], workers: int, progress: Progress | None) -> list[_Part]:
    """Task 0 in this process, the others on `workers - 1` spawned processes.

    Why this process takes a share: it is already warm, while a spawned worker
    needs ~0.3 s to start and import, and its result has to be pickled back.
    Spawned (not forked) workers: the parent may run a progress-bar thread,
    and forking a process that holds a lock in another thread can hang the child.
    """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    ctx = mp.get_context("spawn")
    queue = ctx.Queue() if progress is not None else None
    board = _Board(tasks, progress, queue)
    board.show()  # workers take a while to start: say what is to be read
    with ProcessPoolExecutor(workers - 1, ctx, initializer=_init_worker, initargs=(queue,)) as pool:
        with _sigint_ignored():  # submit spawns the workers: they start with Ctrl-C ignored
            futures = {pool.submit(_work, k, t): k for k, t in enumerate(tasks) if k}
        try:
            results = {0: board.run_here(0)}
            for fut, k in futures.items():  # tasks no worker has taken yet are read here
                if fut.cancel():
                    results[k] = board.run_here(k)
            board.wait({f: k for f, k in futures.items() if not f.cancelled()})
            for fut, k in futures.items():
                if not fut.cancelled():
                    results[k] = _result_or_read_here(fut, k, board)
        except KeyboardInterrupt:
            _stop(pool)
            raise
    if queue is not None:
        queue.close()
    return _finish(tasks, [results[k] for k in range(len(tasks))])


def _result_or_read_here(fut, k: int, board: _Board) -> _Part:
    """A worker's part; if the worker died (killed, out of memory), the task read here."""
    from concurrent.futures.process import BrokenProcessPool

    try:
        return fut.result()
    except BrokenProcessPool:
        part = board.run_here(k)
        part.inputs[0].warn(
            "a worker process ended abruptly; its part was read again by the main one"
        )
        return part


class _Board:
    """Progress of all tasks: this process's own reads plus the workers' messages."""

    def __init__(self, tasks: list[_Task], progress: Progress | None, queue) -> None:
        self.tasks, self.progress, self.queue = tasks, progress, queue
        self.total = sum(t.size for t in tasks)
        self.seen: dict[int, tuple[int, int]] = {}  # task number -> (bytes read, packets)
        self.done: set[int] = set()

    def run_here(self, k: int) -> _Part:
        """Read task k in this process, showing its progress with the workers'."""
        report = None
        if self.progress is not None:

            def report(position: int, packets: int) -> None:
                self.seen[k] = (position, packets)
                self.show()

        part = _run_task(self.tasks[k], report)
        self.finished(k, _packets(part))
        return part

    def finished(self, k: int, packets: int) -> None:
        self.done.add(k)
        self.seen[k] = (self.tasks[k].size, packets)

    def wait(self, futures: dict) -> None:
        """Until every worker's task is done, showing progress every _PROGRESS_EVERY s."""
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_for

        pending = set(futures)
        while pending:
            done, pending = wait_for(pending, timeout=_PROGRESS_EVERY, return_when=FIRST_COMPLETED)
            for fut in done:
                if fut.exception() is None:
                    self.finished(futures[fut], _packets(fut.result()))
            self.show()

    def show(self) -> None:
        if self.progress is None:
            return
        self._drain()
        position = sum(p for p, _ in self.seen.values())
        self.progress(min(position, self.total), self.total, sum(n for _, n in self.seen.values()))

    def _drain(self) -> None:
        """Latest (bytes, packets) per task from the workers' messages."""
        import queue as queue_mod

        while True:
            try:
                k, position, packets = self.queue.get_nowait()
            except queue_mod.Empty:
                return
            if k not in self.done:
                self.seen[k] = (position, packets)


def _init_worker(queue) -> None:
    import signal

    global _QUEUE
    _QUEUE = queue
    signal.signal(signal.SIGINT, signal.default_int_handler)  # bootstrap is over


@contextmanager
def _sigint_ignored():
    """SIGINT ignored while workers are spawned, so they inherit SIG_IGN across exec.

    Why: Ctrl-C reaches the whole process group; a worker still importing
    (a split capture starts its workers right after the parent opened the
    file) would die with a "Fatal Python error" traceback. `_init_worker`
    restores the handler once the worker is up.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    before = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)


def _stop(pool) -> None:
    """Ctrl-C: do not wait for workers that missed it while they were starting."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    for proc in procs:
        proc.terminate()
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.join(1)


def _work(k: int, task: _Task) -> _Part:
    """Worker: read one task; progress at most every _PROGRESS_EVERY seconds."""
    import time

    report = None
    if _QUEUE is not None:
        last = [0.0]

        def report(position: int, packets: int) -> None:
            now = time.monotonic()
            if now - last[0] >= _PROGRESS_EVERY:
                last[0] = now
                _QUEUE.put((k, position, packets))

    with _fewer_gc_passes():
        return _run_task(task, report)


def _run_task(task: _Task, report: Callable[[int, int], None] | None) -> _Part:
    if task.plan is not None:
        ((index, _),) = task.captures
        return _read_range(index, task.plan, task.part, load_parsers(), report)
    captures = [(index, open_capture(path)) for index, path in task.captures]
    return _read_captures(captures, load_parsers(), report)


def _packets(part: _Part) -> int:
    return sum(stats.packets for stats in part.inputs)


def _count_unsupported(pk, stats: InputStats) -> int:
    """Packets of link types the decoder lacks are errors; how many there were."""
    bad = ~pk.supported
    if not bad.any():
        return 0
    count = int(bad.sum())
    stats.errors += count
    for linktype in np.unique(pk.linktype[bad]).tolist():
        stats.warn(f"link type {linktype} is not supported: its packets are counted as errors")
    return count


def _size(path: str | Path) -> int:
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0
