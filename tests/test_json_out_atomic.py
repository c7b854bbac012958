"""Report files are written whole or not at all, even when the run is interrupted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cranewatch.report.atomic import atomic_open, atomic_write, make_folder


def test_atomic_write_text_and_bytes(tmp_path: Path) -> None:
    target = tmp_path / "out.json"
    atomic_write(target, "héllo\n")
    assert target.read_bytes() == "héllo\n".encode()
    atomic_write(target, b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_replacing_keeps_the_old_mode(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    target.write_text("old")
    target.chmod(0o640)
    atomic_write(target, "new")
    assert target.read_text() == "new"
    assert target.stat().st_mode & 0o777 == 0o640


def test_new_file_gets_umask_mode(tmp_path: Path) -> None:
    target = tmp_path / "new.txt"
    atomic_write(target, "x")
    mask = os.umask(0)
    os.umask(mask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~mask


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError])
def test_interrupted_write_leaves_nothing(tmp_path: Path, exc: type[BaseException]) -> None:
    fresh = tmp_path / "fresh.json"
    with pytest.raises(exc), atomic_open(fresh, "w") as fh:
        fh.write('{"half": ')
        raise exc()
    assert list(tmp_path.iterdir()) == []

    kept = tmp_path / "kept.json"
    kept.write_text("complete")
    with pytest.raises(exc), atomic_open(kept, "wb") as fh:
        fh.write(b"partial")
        raise exc()
    assert kept.read_text() == "complete"
    assert [p.name for p in tmp_path.iterdir()] == ["kept.json"]


def test_sigint_during_write_leaves_nothing(tmp_path: Path) -> None:
    """A real Ctrl-C (SIGINT to the writing process) mid-write."""
    script = (
        "import os, signal, sys\n"
        "from cranewatch.report.atomic import atomic_open\n"
        "with atomic_open(sys.argv[1], 'w') as fh:\n"
        "    fh.write('x' * 100000)\n"
        "    fh.flush()\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    fh.write('never')\n"
    )
    target = tmp_path / "findings.json"
    proc = subprocess.run([sys.executable, "-c", script, str(target)], capture_output=True)
    assert proc.returncode != 0 and b"KeyboardInterrupt" in proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_bad_mode_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError), atomic_open(tmp_path / "x", "a"):
        pass
    assert list(tmp_path.iterdir()) == []


def test_errors_name_the_users_file_not_the_temp_file(tmp_path: Path) -> None:
    """A failed write names the output asked for: the temp file means nothing to the user."""
    import errno

    missing = tmp_path / "no-such-folder" / "report.html"
    with pytest.raises(OSError) as info:
        atomic_write(missing, "x")
    assert info.value.filename == str(missing) and info.value.errno == errno.ENOENT
    assert "cannot write it" in info.value.strerror

    target = tmp_path / "findings.json"  # a full disk: write() raises with no file name
    with pytest.raises(OSError) as info, atomic_open(target, "w"):
        raise OSError(errno.ENOSPC, "No space left on device")
    assert info.value.filename == str(target) and info.value.errno == errno.ENOSPC
    assert list(tmp_path.iterdir()) == []

    other = str(tmp_path / "capture.pcap")  # about another file: left as it was
    with pytest.raises(OSError) as info, atomic_open(target, "w"):
        raise OSError(errno.EIO, "Input/output error", other)
    assert info.value.filename == other


def test_output_folder_that_is_a_file_is_named_as_such(tmp_path: Path) -> None:
    """`--csv report.json` by mistake: mkdir alone says only "File exists"."""
    a_file = tmp_path / "report.json"
    a_file.write_text("{}")
    with pytest.raises(OSError) as info:
        make_folder(a_file)
    assert (info.value.filename, info.value.strerror) == (str(a_file), "exists and is not a folder")
    with pytest.raises(OSError) as info:
        make_folder(a_file / "sub")
    assert info.value.filename == str(a_file / "sub")
    assert info.value.strerror.startswith("cannot make this folder (")
    assert make_folder(tmp_path / "new" / "deeper").is_dir()
