"""Every input the fuzzers (or hand-made hostile files) ever broke something with, kept working.

Each file under fuzz/regressions/<target>/ goes through its fuzz target (the
function-level promises: no exception, well-formed output) and through the
real CLI, as a capture or a site file: exit 0 or 2, one clean line per
message, no traceback. A short mutation run over every target is the CI
fuzz smoke.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cranewatch.cli import app

FUZZ = Path(__file__).resolve().parents[1] / "fuzz"
sys.path.insert(0, str(FUZZ))

import run as fuzz_run  # noqa: E402
import targets  # noqa: E402

SMOKE_SECONDS = 12.0  # the whole CI fuzz smoke, shared by all targets
PER_INPUT_SECONDS = 5.0
SEED = int(os.environ.get("CRANEWATCH_FUZZ_SEED", "1"))  # same mutations on every run


def _regressions() -> list[tuple[str, Path]]:
    out = []
    for folder in sorted((FUZZ / "regressions").glob("*")):
        if folder.is_dir():
            out += [(folder.name, p) for p in sorted(folder.iterdir()) if p.is_file()]
    return out


REGRESSIONS = _regressions()
IDS = [f"{t}/{p.name}" for t, p in REGRESSIONS]


def test_every_target_has_a_harness_and_seeds() -> None:
    for name in targets.TARGETS:
        assert (FUZZ / f"fuzz_{name}.py").is_file(), name
        seeds = list((FUZZ / "corpus" / name).iterdir())
        assert seeds, name
        assert all(p.stat().st_size <= 16384 for p in seeds), name


def test_regression_folders_name_real_targets() -> None:
    assert REGRESSIONS, "no regression inputs kept"
    assert {t for t, _ in REGRESSIONS} <= set(targets.TARGETS)


@pytest.mark.parametrize(("target", "path"), REGRESSIONS, ids=IDS)
def test_regression_input_through_its_target(target: str, path: Path) -> None:
    one = targets.load(target)
    start = time.monotonic()
    one(path.read_bytes())
    assert time.monotonic() - start < PER_INPUT_SECONDS


def _cli(*args: str):
    return CliRunner().invoke(app, list(args))


def _assert_clean(result) -> list[str]:
    assert result.exit_code in (0, 2), (result.exit_code, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception
    )
    assert "Traceback" not in result.stdout + result.stderr
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    for line in lines:
        assert line.startswith("cranewatch: "), f"stray stderr line: {line!r}"
    return lines


@pytest.mark.parametrize(("target", "path"), REGRESSIONS, ids=IDS)
def test_regression_input_through_the_cli(target: str, path: Path, tmp_path: Path) -> None:
    data = path.read_bytes()
    out = tmp_path / "findings.json"
    if target == "site":
        site = tmp_path / "site.yaml"
        site.write_bytes(data)
        capture = tmp_path / "empty.pcap"
        capture.write_bytes(targets.pcap_file([]))
        result = _cli("analyze", str(capture), "--site", str(site), "--json", str(out), "-q")
        lines = _assert_clean(result)
        if result.exit_code == 2:  # exactly one line: file:line: message
            assert len(lines) == 1, lines
            assert lines[0].startswith(f"cranewatch: error: {site}:"), lines[0]
            line_no = lines[0][len(f"cranewatch: error: {site}:") :].split(":", 1)[0]
            assert line_no.isdigit(), lines[0]
        else:
            assert lines == []
        return
    capture = tmp_path / "input.pcap"
    if target in targets.READERS:
        from cranewatch.sources.pcap import MAGICS

        if target == "pcap" and data[:4] not in MAGICS:  # as the target does
            data = targets.PCAP_HEADER + data
        capture.write_bytes(data)
    else:
        capture.write_bytes(targets.pcap_file(targets.as_frames(target, data)))
    result = _cli("analyze", str(capture), "--json", str(out), "-q")
    lines = _assert_clean(result)
    if result.exit_code == 2:
        assert len([ln for ln in lines if ln.startswith("cranewatch: error: ")]) == 1


def test_fuzz_smoke_every_target() -> None:
    """A seeded mutation run over every target; stops at the first broken promise."""
    share = SMOKE_SECONDS / len(targets.TARGETS)
    failures = []
    for name in targets.TARGETS:
        ok, info = fuzz_run.run_mutate(name, share, seed=SEED, save=False)
        if not ok:
            failures.append(f"{name}: {info}")
    assert not failures, "\n\n".join(failures)
