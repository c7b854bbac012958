"""Ctrl-C during a long analysis: no half-written output, a line saying how far it got, exit 130."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

PCAP_HEADER = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")


def _big_capture(path: Path, packets: int) -> None:
    """Many small Modbus-looking UDP frames with varying addresses: slow enough to interrupt."""
    frame = (
        bytes.fromhex("00112233445500aabbccddee0800")
        + bytes.fromhex("4500003200004000401100000a000001c0a80001")
        + struct.pack(">HHHH", 40000, 502, 30, 0)
        + bytes(22)
    )
    record = struct.pack("<IIII", 1_700_000_000, 0, len(frame), len(frame)) + frame
    rows = np.frombuffer(record * packets, dtype=np.uint8).reshape(packets, len(record)).copy()
    i = np.arange(packets, dtype=np.uint32)
    rows[:, 4:8] = (i % 1_000_000).view(np.uint8).reshape(packets, 4)
    rows[:, 16 + 29] = (i % 250).astype(np.uint8)  # source IP, last byte
    rows[:, 16 + 34] = (i >> 8).astype(np.uint8)  # source port, high byte
    path.write_bytes(PCAP_HEADER + rows.tobytes())


def _has_open(pid: int, path: Path) -> bool:
    """True once process `pid` or a child of it has `path` open (reading has started)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        if any(os.readlink(fds / fd) == str(path) for fd in os.listdir(fds)):
            return True
        children = []
        for task in Path(f"/proc/{pid}/task").iterdir():
            children += (task / "children").read_text().split()
    except OSError:
        return False
    return any(_has_open(int(child), path) for child in children)


PACKETS = 900_000  # 72 MB: above the size at which several captures are read by a pool


@pytest.fixture(scope="module")
def big(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.pcap"
    _big_capture(path, PACKETS)
    return path


def _interrupt(cmd: list[str], reading: Path) -> tuple[int, str]:
    """Start `cmd` in its own process group, Ctrl-C the group once it reads `reading`."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while not _has_open(proc.pid, reading) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.5)  # into reading
    assert proc.poll() is None, "analysis ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does: the whole group
    _, stderr = proc.communicate(timeout=60)
    return proc.returncode, stderr


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the read start")
def test_ctrl_c_leaves_no_output_and_says_how_far(big: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "findings.json"
    out.parent.mkdir()
    cmd = [sys.executable, "-m", "cranewatch", "analyze", str(big), "--json", str(out), "-q"]
    returncode, stderr = _interrupt(cmd, big)

    assert returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("cranewatch: interrupted after "), line
    assert f"packets of {big}" in line and "no output file was written" in line
    packets = int(line.split("after ", 1)[1].split(" packets", 1)[0].replace(",", ""))
    assert 0 <= packets <= PACKETS  # all of them when Ctrl-C lands after reading
    assert f" of {big.stat().st_size / 1e6:,.1f} MB read)" in line
    assert list(out.parent.iterdir()) == []  # neither the file nor a temp file


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the read start")
def test_ctrl_c_with_captures_read_by_worker_processes(big: Path, tmp_path: Path) -> None:
    """Workers get the Ctrl-C too: still one line, no traceback from any of them."""
    second = tmp_path / "second.pcap"
    os.link(big, second)
    out = tmp_path / "out" / "findings.json"
    out.parent.mkdir()
    cmd = [sys.executable, "-m", "cranewatch", "analyze", str(big), str(second)]
    returncode, stderr = _interrupt([*cmd, "--json", str(out), "-q"], big)
    assert returncode == 130, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines() == [stderr.strip()], stderr
    assert stderr.startswith("cranewatch: interrupted after ") and "of 2 captures" in stderr
    assert list(out.parent.iterdir()) == []


def test_interrupt_message_without_progress(monkeypatch, tmp_path: Path) -> None:
    """Ctrl-C before any batch is read still gives one line and 130 (in process)."""
    from typer.testing import CliRunner

    import cranewatch.run as run
    from cranewatch.cli import app

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(run, "analyze", interrupted)
    cap = tmp_path / "x.pcap"
    cap.write_bytes(PCAP_HEADER)
    out = tmp_path / "o.json"
    result = CliRunner().invoke(app, ["analyze", str(cap), "--json", str(out), "-q"])
    assert result.exit_code == 130
    assert result.stderr.strip() == (
        f"cranewatch: interrupted after 0 packets of {cap}; no output file was written"
    )
    assert not out.exists()


def _ctrl_c_in(monkeypatch, module, name: str, tmp_path: Path, *options: str):
    """Run `analyze` in process with Ctrl-C raised from `module.name`; (result, cap, json, html)."""
    from typer.testing import CliRunner

    from cranewatch.cli import app

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, name, interrupted)
    cap = tmp_path / "x.pcap"
    _big_capture(cap, 10)
    out, page = tmp_path / "o.json", tmp_path / "r.html"
    args = ["analyze", str(cap), "--json", str(out), "--html", str(page), *options]
    return CliRunner().invoke(app, args), cap, out, page


def test_interrupt_while_writing_names_the_complete_outputs(monkeypatch, tmp_path: Path) -> None:
    """Ctrl-C after the JSON was written, during the HTML: the line says which file exists."""
    import cranewatch.report.html as html

    result, cap, out, page = _ctrl_c_in(monkeypatch, html, "write_html", tmp_path, "-q")
    assert result.exit_code == 130
    assert result.stderr.strip() == (
        f"cranewatch: interrupted after 10 packets of {cap} (0.0 of 0.0 MB read), while writing"
        f" reports; complete before it: {out}; no other output was written"
    )
    assert out.exists() and not page.exists()


def test_progress_counts_packets_over_all_captures(tmp_path: Path) -> None:
    """Read one after the other, the packet count keeps growing from capture to capture."""
    from cranewatch.pipeline import analyze

    first, second = tmp_path / "a.pcap", tmp_path / "b.pcap"
    _big_capture(first, 50_000)
    _big_capture(second, 20_000)
    calls = []
    analyze([first, second], jobs=1, progress=lambda *a: calls.append(a))
    packets = [c[2] for c in calls]
    assert packets == sorted(packets) and packets[-1] == 70_000
    assert calls[-1][0] == calls[-1][1] == first.stat().st_size + second.stat().st_size


def test_interrupt_inside_a_folder_output_says_it_is_partial(monkeypatch, tmp_path: Path) -> None:
    """Ctrl-C after assets.csv, before flows.csv: the CSV folder holds part of its files."""
    from typer.testing import CliRunner

    import cranewatch.report.csv_out as csv_out
    from cranewatch.cli import app

    real = csv_out.atomic_write

    def second_file_interrupted(path, data):
        if Path(path).name == "flows.csv":
            raise KeyboardInterrupt
        real(path, data)

    monkeypatch.setattr(csv_out, "atomic_write", second_file_interrupted)
    cap = tmp_path / "x.pcap"
    _big_capture(cap, 10)
    out, folder = tmp_path / "o.json", tmp_path / "csv"
    result = CliRunner().invoke(
        app, ["analyze", str(cap), "--json", str(out), "--csv", str(folder), "-q"]
    )
    assert result.exit_code == 130
    assert result.stderr.strip().endswith(
        f"complete before it: {out}; no other output was written but part of {folder}"
    )
    assert [p.name for p in folder.iterdir()] == ["assets.csv"]


def test_interrupt_after_the_reports_says_they_are_all_there(monkeypatch, tmp_path: Path) -> None:
    """Ctrl-C while the terminal report prints: every file is complete, and the line says so."""
    import cranewatch.report.terminal as terminal

    result, _, out, page = _ctrl_c_in(monkeypatch, terminal, "render", tmp_path)
    assert result.exit_code == 130
    assert result.stderr.strip().endswith(
        f"after writing reports; complete before it: {out}, {page}; no other output was written"
    )
