"""What `analyze` and `demo` do between parsing options and exiting.

Order matters for the user: the site file is validated before any capture is
read (a typo costs seconds, not a 40 GB read), outputs are written atomically,
and every problem is one line on stderr.
"""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from cranewatch.detect.model import SEVERITIES
from cranewatch.errors import EXIT_FAIL_ON, EXIT_USAGE, CranewatchError
from cranewatch.pipeline import Analysis, analyze
from cranewatch.report.atomic import make_folder
from cranewatch.sources.folders import expand


@dataclass(frozen=True)
class Outputs:
    """Where the user asked for reports; None means not wanted."""

    json: str | None = None
    html: Path | None = None
    csv: Path | None = None
    stix: Path | None = None
    evidence: Path | None = None


def run_analysis(
    captures: Sequence[Path],
    site_path: Path | None,
    outputs: Outputs = Outputs(),
    fail_on: str | None = None,
    quiet: bool = False,
    jobs: int | None = None,
) -> int:
    """Analyze captures and write the requested outputs; returns the exit code."""
    site = None
    if site_path is not None:  # pydantic models cost ~0.1 s to import: only with --site
        from cranewatch.inventory.site import load_site

        site = load_site(site_path)
    expanded = expand(captures, [outputs.evidence] if outputs.evidence else [])
    captures = expanded.files
    _check_outputs(outputs, [*captures, *([site_path] if site_path else [])])
    for note in expanded.notes:
        _say(f"warning: {note}")
    err = Console(stderr=True)
    reached = _Reached(captures)
    try:
        analysis = _analyze_with_progress(
            captures, site, show=not quiet and err.is_terminal, reached=reached, jobs=jobs
        )
    except KeyboardInterrupt:
        raise Interrupted(reached.describe()) from None
    for problem in analysis.not_captures:
        _say(f"error: {problem}")
    undecodable = _undecodable(analysis)
    for stats in analysis.inputs:
        if stats.path in undecodable:
            _say(f"error: {stats.path}: {undecodable[stats.path]}")
            continue
        for warning in stats.warnings:
            _say(f"warning: {stats.path}: {warning}")
    for warning in analysis.warnings:
        if not any(warning in s.warnings for s in analysis.inputs):
            _say(f"warning: {warning}")
    written = _Written()
    try:
        _write_outputs(analysis, outputs, written, show=not quiet and err.is_terminal)
    except KeyboardInterrupt:
        raise Interrupted(
            f"{reached.describe()}, while writing reports", written.done, written.doing
        ) from None
    try:
        if not quiet:
            from cranewatch.report.terminal import render

            render(analysis, _report_console(stderr=outputs.json == "-"))
    except KeyboardInterrupt:  # every report is on disk: say so
        raise Interrupted(f"{reached.describe()}, after writing reports", written.done) from None
    return _exit_code(analysis, fail_on, bool(undecodable))


def _check_outputs(outputs: Outputs, inputs: Sequence[Path]) -> None:
    """Refuse, before reading hours of capture, an output that cannot or must not be written.

    '-' is standard output for --json only: elsewhere it would be a file named '-'.
    An output that is one of the inputs (a capture, the site file) would destroy
    it; two outputs to one path would leave only the last; a folder that exists
    but cannot be written to would fail only after the whole analysis.
    """
    named = (("--html", outputs.html), ("--csv", outputs.csv),
             ("--stix", outputs.stix), ("--evidence", outputs.evidence))  # fmt: skip
    for option, value in named:
        if value is not None and str(value) == "-":
            raise CranewatchError(
                f"{option} -: only --json writes to standard output; give a file or folder name"
            )
    files = [("--json", Path(outputs.json))] if outputs.json not in (None, "-") else []
    files += [(o, Path(v)) for o, v in (("--html", outputs.html), ("--stix", outputs.stix)) if v]
    if outputs.csv is not None:
        from cranewatch.report.csv_out import CSV_FILES

        files += [("--csv", Path(outputs.csv) / name) for name in CSV_FILES]
    taken = {Path(p).resolve(): "an input" for p in inputs}
    for option, target in files:
        where = target.resolve()
        if where in taken:
            raise CranewatchError(f"{option} would overwrite {taken[where]}", path=str(target))
        taken[where] = f"the {option} output"
        if option != "--csv" and not where.parent.is_dir():
            raise CranewatchError("the folder for this output does not exist", path=str(target))
    for folder in {t.resolve().parent for _, t in files} | _output_dirs(outputs):
        _writable(folder)


def _output_dirs(outputs: Outputs) -> set[Path]:
    return {Path(d).resolve() for d in (outputs.csv, outputs.evidence) if d is not None}


def _writable(folder: Path) -> None:
    """Create and remove a file in `folder` (or its nearest existing parent): the real test.

    Why not os.access: as root it says yes on a read-only mount.
    """
    while not folder.exists() and folder.parent != folder:
        folder = folder.parent
    if not folder.is_dir():
        return  # a file where a folder is wanted: make_folder says so, by name
    try:
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".cranewatch-probe-")
    except OSError as exc:
        raise CranewatchError(
            f"cannot write here ({exc.strerror or exc})", path=str(folder)
        ) from None
    os.close(fd)
    os.unlink(probe)


def run_report(findings_path: Path, outputs: Outputs) -> int:
    """Render HTML/CSV/STIX from a saved findings file."""
    import json

    from cranewatch.report.json_out import validate

    try:
        if str(findings_path) == "-":  # analyze --json - | cranewatch report - --html r.html
            text = sys.stdin.read()
        else:
            text = Path(findings_path).read_text(encoding="utf-8")
        doc = json.loads(text)
    except FileNotFoundError:
        raise CranewatchError("no such findings file", path=str(findings_path)) from None
    except UnicodeDecodeError as exc:
        raise CranewatchError(
            f"not JSON: not UTF-8 text ({exc.reason})", path=str(findings_path)
        ) from None
    except json.JSONDecodeError as exc:
        raise CranewatchError(
            f"not JSON: {exc.msg}", path=str(findings_path), line=exc.lineno
        ) from None
    try:
        validate(doc)
    except Exception as exc:  # jsonschema.ValidationError: one line, with where
        where = "/".join(str(p) for p in getattr(exc, "absolute_path", []))
        message = getattr(exc, "message", str(exc))
        raise CranewatchError(
            f"not a cranewatch findings file: {where + ': ' if where else ''}{message}",
            path=str(findings_path),
        ) from None
    if not (outputs.html or outputs.csv or outputs.stix):
        raise CranewatchError("nothing to do: give --html, --csv or --stix")
    _check_outputs(outputs, [findings_path] if str(findings_path) != "-" else [])
    _write_documents(doc, outputs)
    return 0


class _Written:
    """Which outputs are complete and which one is being written, for Ctrl-C's one line."""

    def __init__(self) -> None:
        self.done: list[str] = []
        self.doing: list[str] = []  # at most one: a file is then absent, a folder partial

    def start(self, target: object) -> None:
        self.doing = [str(target)]

    def end(self) -> None:
        self.done += self.doing
        self.doing = []


def _write_outputs(
    analysis: Analysis, outputs: Outputs, written: _Written, show: bool = False
) -> None:
    """Every requested file; each is written whole or not at all (see `_Written`)."""
    if not (outputs.json or outputs.html or outputs.csv or outputs.stix or outputs.evidence):
        return
    from cranewatch.report.json_out import findings_document, write_json

    doc = findings_document(analysis)
    if outputs.json is not None:
        written.start(outputs.json)
        write_json(doc, outputs.json)
        if outputs.json != "-":
            written.end()
    _write_documents(doc, outputs, written)
    if outputs.evidence is not None:
        from cranewatch.report.evidence import write_evidence

        written.start(outputs.evidence)
        # a second pass over the captures: say so, or the finished bar looks frozen
        status = f"writing evidence captures for {len(analysis.findings):,} findings..."
        with Console(stderr=True).status(status) if show else contextlib.nullcontext():
            write_evidence(analysis, outputs.evidence)
        written.end()


def _write_documents(doc: dict, outputs: Outputs, written: _Written | None = None) -> None:
    """HTML, CSV and STIX from the findings document; each writer imported only when asked for."""
    import importlib

    for target, module, writer in (
        (outputs.html, "html", "write_html"),
        (outputs.csv, "csv_out", "write_csv"),
        (outputs.stix, "stix_out", "write_stix"),
    ):
        if target is None:
            continue
        if written is not None:
            written.start(target)
        getattr(importlib.import_module(f"cranewatch.report.{module}"), writer)(doc, target)
        if written is not None:
            written.end()


def run_demo(out: Path | None, seed: int) -> int:
    """Simulate a terminal, analyze it, show the result; keep files only when asked."""
    console = Console(stderr=True)
    if out is None:
        with tempfile.TemporaryDirectory(prefix="cranewatch-demo-") as tmp:
            return _demo_in(Path(tmp), seed, console, keep=False)
    make_folder(out)
    return _demo_in(out, seed, console, keep=True)


def _demo_in(folder: Path, seed: int, console: Console, keep: bool) -> int:
    from cranewatch.simulate import simulate

    with console.status(f"simulating a container terminal (seed {seed})..."):
        result = simulate(folder, seed=seed)
    console.print(
        f"simulated {result.packets:,} packets: {result.capture.name}, {result.site.name}"
        + (f" in {folder}" if keep else "")
    )
    outputs = Outputs()
    if keep:
        outputs = Outputs(json=str(folder / "findings.json"), html=folder / "report.html")
    code = run_analysis([result.capture], result.site, outputs)
    if keep:
        console.print(f"findings: {folder / 'findings.json'}, report: {folder / 'report.html'}")
    else:
        console.print("run `cranewatch demo --out DIR` to keep the capture, site file and findings")
    return code


def _report_console(stderr: bool) -> Console:
    """The terminal's width on a terminal; a wide page when piped to a file.

    No markup, emoji codes or highlighting: the report prints what the wire
    said (hostnames, banners, titles), and a DHCP hostname "[link=...]" or
    ":skull:" must print as those characters, as must a MAC holding ":cd:".
    """
    plain = {"markup": False, "emoji": False, "highlight": False}
    console = Console(stderr=stderr, **plain)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=stderr, width=160, **plain)
    return console


def _say(line: str) -> None:
    """One unwrapped line on stderr: greppable, one problem per line."""
    print(f"cranewatch: {line}", file=sys.stderr, flush=True)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, carrying how far it got and which outputs were complete, for the one-line message."""

    def __init__(self, progress: str, written: Sequence[str] = (), cut: Sequence[str] = ()) -> None:
        super().__init__(progress)
        self.progress = progress
        self.written = list(written)  # complete
        self.cut = list(cut)  # being written: absent if one file, part of its files if a folder


class _Reached:
    """Remembers the last progress report, so that Ctrl-C can say how far reading got."""

    def __init__(self, captures: Sequence[Path]) -> None:
        self.names = [str(c) for c in captures]
        self.done = self.total = self.packets = 0

    def __call__(self, done: int, total: int, packets: int) -> None:
        self.done, self.total, self.packets = done, total, packets

    def describe(self) -> str:
        where = self.names[0] if len(self.names) == 1 else f"{len(self.names)} captures"
        read = f" ({self.done / 1e6:,.1f} of {self.total / 1e6:,.1f} MB read)" if self.total else ""
        return f"{self.packets:,} packets of {where}{read}"


def _analyze_with_progress(
    captures: Sequence[Path],
    site,
    show: bool,
    reached: _Reached | None = None,
    jobs: int | None = None,
) -> Analysis:
    if not show:
        return analyze(captures, site, progress=reached, jobs=jobs)
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    what = f"reading {len(captures):,} captures" if len(captures) > 1 else "reading"
    columns = (
        TextColumn(what),
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
            if reached is not None:
                reached(done, total, packets)

        return analyze(captures, site, progress=update, jobs=jobs)


def _undecodable(analysis: Analysis) -> dict[str, str]:
    """Inputs of which no packet could be decoded, for want of their link type: why, per path.

    Why: such a capture was not analysed at all; a warning and exit 0 would
    tell a script that it was, and that it held nothing to report.
    """
    out = {}
    for stats in analysis.inputs:
        links = [w.split(":")[0] for w in stats.warnings if w.startswith("link type ")]
        if links and stats.errors >= stats.packets > 0:
            out[stats.path] = f"no packet could be decoded ({'; '.join(links)})"
    return out


def _exit_code(analysis: Analysis, fail_on: str | None, undecodable: bool) -> int:
    if analysis.not_captures or undecodable:
        return EXIT_USAGE
    if fail_on is not None:
        limit = SEVERITIES.index(fail_on)
        if any(SEVERITIES.index(f.severity) <= limit for f in analysis.findings):
            return EXIT_FAIL_ON
    return 0
