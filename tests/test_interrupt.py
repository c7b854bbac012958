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
    """True once process `pid` has `path` open (it is reading the capture)."""
    fds = Path(f"/proc/{pid}/fd")
    try:
        return any(os.readlink(fds / fd) == str(path) for fd in os.listdir(fds))
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to see the read start")
def test_ctrl_c_leaves_no_output_and_says_how_far(tmp_path: Path) -> None:
    big = tmp_path / "big.pcap"
    _big_capture(big, 900_000)
    out = tmp_path / "out" / "findings.json"
    out.parent.mkdir()
    cmd = [sys.executable, "-m", "cranewatch", "analyze", str(big), "--json", str(out), "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not _has_open(proc.pid, big) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(1.5)  # well into reading: at least one batch is done
    assert proc.poll() is None, "analysis ended before it could be interrupted"
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=30)

    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("cranewatch: interrupted after "), line
    assert f"packets of {big}" in line and "no output file was written" in line
    packets = int(line.split("after ", 1)[1].split(" packets", 1)[0].replace(",", ""))
    assert 0 < packets < 900_000
    assert list(out.parent.iterdir()) == []  # neither the file nor a temp file


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
