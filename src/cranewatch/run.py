"""What `analyze` and `demo` do between parsing options and exiting.

Order matters for the user: the site file is validated before any capture is
read (a typo costs seconds, not a 40 GB read), outputs are written atomically,
and every problem is one line on stderr.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from cranewatch.detect.model import SEVERITIES
from cranewatch.errors import EXIT_FAIL_ON, EXIT_USAGE, CranewatchError
from cranewatch.pipeline import Analysis, analyze


def run_analysis(
    captures: Sequence[Path],
    site_path: Path | None,
    json_out: str | None = None,
    fail_on: str | None = None,
    quiet: bool = False,
) -> int:
    """Analyze captures and write the requested outputs; returns the exit code."""
    from cranewatch.inventory.site import load_site

    site = load_site(site_path) if site_path is not None else None
    for path in captures:
        if not Path(path).is_file():
            raise CranewatchError("no such capture file", path=str(path))
    err = Console(stderr=True)
    analysis = _analyze_with_progress(captures, site, show=not quiet and err.is_terminal)
    for problem in analysis.not_captures:
        err.print(f"cranewatch: error: {problem}", markup=False, highlight=False)
    for stats in analysis.inputs:
        for warning in stats.warnings:
            err.print(
                f"cranewatch: warning: {stats.path}: {warning}", markup=False, highlight=False
            )
    for warning in analysis.warnings:
        if not any(warning in s.warnings for s in analysis.inputs):
            err.print(f"cranewatch: warning: {warning}", markup=False, highlight=False)
    if json_out is not None:
        from cranewatch.report.json_out import findings_document, write_json

        write_json(findings_document(analysis), json_out)
    if not quiet:
        from cranewatch.report.terminal import render

        out = Console(stderr=json_out == "-")
        render(analysis, out)
    return _exit_code(analysis, fail_on)


def run_demo(out: Path | None, seed: int) -> int:
    """Simulate a terminal, analyze it, show the result; keep files only when asked."""
    console = Console(stderr=True)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="cranewatch-demo-") as tmp:
            return _demo_in(Path(tmp), seed, console, keep=False)
    out.mkdir(parents=True, exist_ok=True)
    return _demo_in(out, seed, console, keep=True)


def _demo_in(folder: Path, seed: int, console: Console, keep: bool) -> int:
    from cranewatch.simulate import simulate

    with console.status(f"simulating a container terminal (seed {seed})..."):
        result = simulate(folder, seed=seed)
    console.print(
        f"simulated {result.packets:,} packets: {result.capture.name}, {result.site.name}"
        + (f" in {folder}" if keep else "")
    )
    json_out = str(folder / "findings.json") if keep else None
    code = run_analysis([result.capture], result.site, json_out=json_out)
    if keep:
        console.print(f"findings written to {folder / 'findings.json'}")
    else:
        console.print("run `cranewatch demo --out DIR` to keep the capture, site file and findings")
    return code


def _analyze_with_progress(captures: Sequence[Path], site, show: bool) -> Analysis:
    if not show:
        return analyze(captures, site)
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    columns = (
        TextColumn("reading"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn("{task.fields[pps]}"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("read", total=None, pps="")
        import time

        start = time.monotonic()

        def update(done: int, total: int, packets: int) -> None:
            rate = packets / max(time.monotonic() - start, 1e-6)
            bar.update(task, completed=done, total=total or None, pps=f"{rate:,.0f} pkt/s")

        return analyze(captures, site, progress=update)


def _exit_code(analysis: Analysis, fail_on: str | None) -> int:
    if analysis.not_captures:
        return EXIT_USAGE
    if fail_on is not None:
        limit = SEVERITIES.index(fail_on)
        if any(SEVERITIES.index(f.severity) <= limit for f in analysis.findings):
            return EXIT_FAIL_ON
    return 0
