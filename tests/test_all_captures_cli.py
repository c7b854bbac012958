"""Every shared capture through the CLI: exit 0 or 2, one clean line per message, no traceback.

618 child processes would take minutes, so the CLI runs in process (typer's
test runner); a handful of the most damaged files, and
companion text files that are not captures, also run as real processes.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from conftest import CAPTURES
from cranewatch.cli import app

SKIP_SUFFIXES = {".txt", ".md", ".tsv"}
# Names that mark files written to break parsers (fuzzers, sanitizer reports, cut captures).
DAMAGED = ("oobr", "asan", "trunc", "fuzz", "cut", "crash", "bad", "malformed")


def _capture_files() -> list[Path]:
    if not CAPTURES.is_dir():
        return []
    return sorted(
        p
        for p in CAPTURES.rglob("*")
        if p.is_file() and p.suffix not in SKIP_SUFFIXES and "LICENSES" not in p.parts
    )


FILES = _capture_files()
GROUPS = sorted({p.relative_to(CAPTURES).parts[0] for p in FILES})


def _problems(path: Path, code: int, stdout: str, stderr: str, exc: BaseException | None):
    """What is wrong with one run, as text (empty when it behaved)."""
    out = []
    if code not in (0, 2):
        out.append(f"exit {code}")
    if exc is not None and not isinstance(exc, SystemExit):
        out.append(f"raised {type(exc).__name__}: {exc}")
    if "Traceback" in stdout + stderr:
        out.append("traceback printed")
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    stray = [ln for ln in lines if not ln.startswith("cranewatch: ")]
    if stray:
        out.append(f"message not on one 'cranewatch: ' line: {stray[0]!r}")
    errors = [ln for ln in lines if ln.startswith("cranewatch: error: ")]
    if code == 2 and len(errors) != 1:
        out.append(f"exit 2 with {len(errors)} error lines")
    if code == 0 and errors:
        out.append("error line but exit 0")
    return [f"{path.relative_to(CAPTURES)}: {p}" for p in out]


@pytest.mark.slow
@pytest.mark.parametrize("group", GROUPS or ["(none)"])
def test_every_capture_ends_in_0_or_2_in_process(captures: Path, group: str, tmp_path: Path):
    command = app
    runner = CliRunner()
    out = tmp_path / "findings.json"
    files = [p for p in FILES if p.relative_to(CAPTURES).parts[0] == group]
    assert files
    problems: list[str] = []
    for path in files:
        result = runner.invoke(command, ["analyze", str(path), "--json", str(out), "-q"])
        problems += _problems(
            path, result.exit_code, result.stdout, result.stderr, result.exception
        )
        if result.exit_code == 0 and not out.is_file():
            problems.append(f"{path.relative_to(CAPTURES)}: exit 0 but no findings file")
        out.unlink(missing_ok=True)
    assert not problems, "\n".join(problems)


def _damaged_sample() -> list[Path]:
    damaged = [p for p in FILES if any(word in p.name.lower() for word in DAMAGED)]
    step = max(1, len(damaged) // 8)
    texts = sorted(p for p in CAPTURES.rglob("*.txt") if "LICENSES" not in p.parts)[:2]
    return damaged[::step][:8] + texts if CAPTURES.is_dir() else []


def test_damaged_files_as_real_processes(captures: Path, tmp_path: Path):
    """Started together (they mostly wait on interpreter start-up), checked one by one."""
    sample = _damaged_sample()
    assert len(sample) >= 4
    procs = [
        (
            path,
            subprocess.Popen(
                [sys.executable, "-m", "cranewatch", "analyze", str(path), "-q"],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                cwd=tmp_path,
            ),
        )
        for path in sample
    ]
    problems: list[str] = []
    for path, proc in procs:
        stdout, stderr = proc.communicate(timeout=120)
        problems += _problems(path, proc.returncode, stdout, stderr, None)
        if path.suffix == ".txt":  # not a capture: exit 2 and the one line says why
            expected = f"cranewatch: error: {path}: not a pcap or pcapng file"
            if proc.returncode != 2 or not stderr.startswith(expected):
                problems.append(f"{path.name}: exit {proc.returncode}, {stderr!r}")
    assert not problems, "\n".join(problems)
