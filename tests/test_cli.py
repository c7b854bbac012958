"""The command line as a user meets it: exit codes, one-line errors, the JSON contract."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cranewatch.report.json_out import validate

CLI = [sys.executable, "-m", "cranewatch"]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    proc = run("demo", "--out", str(out), "--seed", "3")
    assert proc.returncode == 0, proc.stderr
    return out


def test_help_teaches():
    proc = run("analyze", "--help")
    assert proc.returncode == 0
    for word in ("--site", "--json", "--fail-on", "--quiet", "Examples"):
        assert word in proc.stdout
    # what each option takes, in the words of tcpdump and zeek, not Python's types
    assert "<str>" not in proc.stdout and "<path>" not in proc.stdout
    for metavar in ("CAPTURE", "FILE", "DIR", "N"):
        assert f" {metavar} " in proc.stdout


def test_version():
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("cranewatch ")


def test_demo_writes_valid_findings(demo_dir):
    doc = json.loads((demo_dir / "findings.json").read_text())
    validate(doc)
    assert doc["schema"] == "cranewatch/findings-v1"
    assert doc["inputs"][0]["packets"] > 1000
    assert doc["findings"], "the demo plants anomalies; none found"
    kinds = {f["kind"] for f in doc["findings"]}
    assert "undeclared-device" in kinds


def test_analyze_json_stdout_and_fail_on(demo_dir):
    proc = run(
        "analyze",
        str(demo_dir / "capture.pcap"),
        "--site",
        str(demo_dir / "site.yaml"),
        "--json",
        "-",
        "--quiet",
        "--fail-on",
        "critical",
    )
    doc = json.loads(proc.stdout)
    validate(doc)
    critical = [f for f in doc["findings"] if f["severity"] == "critical"]
    assert proc.returncode == (1 if critical else 0), proc.stderr


def test_analyze_without_site_still_inventories(demo_dir, tmp_path):
    out = tmp_path / "f.json"
    proc = run("analyze", str(demo_dir / "capture.pcap"), "--json", str(out), "--quiet")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    validate(doc)
    assert doc["site"] is None
    assert len(doc["assets"]) > 10
    assert all(f["kind"] != "undeclared-device" for f in doc["findings"])


def test_not_a_capture_is_one_line_exit_2(tmp_path):
    bogus = tmp_path / "notes.pcap"
    bogus.write_text("this is not a capture\n")
    proc = run("analyze", str(bogus), "--quiet")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(bogus) in lines[0]
    assert "Traceback" not in proc.stderr


def _pcap(path: Path, linktype: int, frames: list[bytes]) -> Path:
    import struct

    records = b"".join(struct.pack("<IIII", 1, 0, len(f), len(f)) + f for f in frames)
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype) + records)
    return path


def test_capture_of_an_unsupported_link_type_is_an_error(demo_dir, tmp_path):
    """Nothing decodable is not "analysed, nothing found": one error line, exit 2."""
    usb = _pcap(tmp_path / "usb.pcap", 189, [bytes(48)] * 3)  # LINKTYPE_USB_LINUX
    out = tmp_path / "f.json"
    proc = run("analyze", str(usb), str(demo_dir / "capture.pcap"), "--json", str(out), "-q")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"cranewatch: error: {usb}: no packet could be decoded (link type 189 is not supported)"
    ]
    doc = json.loads(out.read_text())  # the other capture is still analysed and reported
    assert [i["packets"] for i in doc["inputs"]][0] == 3 and doc["findings"]


def test_some_unsupported_packets_are_a_warning(tmp_path):
    """A capture with some packets read stays exit 0; the others are counted and named."""
    from _sources_helpers import epb, idb, shb

    ipv4 = bytes.fromhex("4500001c000100004011f97a0a0000010a000002") + bytes(8)
    mixed = tmp_path / "mixed.pcapng"  # interface 0 raw IP, interface 1 USB
    mixed.write_bytes(
        shb() + idb("<", 101) + idb("<", 189) + epb("<", 0, 1, ipv4) + epb("<", 1, 2, bytes(48))
    )
    proc = run("analyze", str(mixed), "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"cranewatch: warning: {mixed}: link type 189 is not supported: "
        "its packets are counted as errors"
    ]


def test_missing_capture_is_one_line_exit_2(tmp_path):
    proc = run("analyze", str(tmp_path / "nope.pcap"))
    assert proc.returncode == 2
    assert "nope.pcap" in proc.stderr and "Traceback" not in proc.stderr


def test_site_error_exits_2_before_reading(demo_dir, tmp_path):
    site = tmp_path / "site.yaml"
    site.write_text("site: x\nzones:\n  - name: a\n    cidrs: [10.0.0.0/33]\n")
    proc = run(
        "analyze",
        str(demo_dir / "capture.pcap"),
        "--site",
        str(site),
        "--json",
        str(tmp_path / "o.json"),
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert f"{site}:4:" in proc.stderr
    assert not (tmp_path / "o.json").exists()


def test_terminal_report_shows_sections(demo_dir):
    proc = run("analyze", str(demo_dir / "capture.pcap"), "--site", str(demo_dir / "site.yaml"))
    assert proc.returncode == 0, proc.stderr
    for heading in ("Inputs", "Assets per zone", "Findings"):
        assert heading in proc.stdout
    # a finding names its asset as the site file does, with inventory id and zone
    doc = json.loads((demo_dir / "findings.json").read_text())
    declared = {a["mac"]: a for a in doc["assets"] if a.get("declared_id")}
    f = next(f for f in doc["findings"] if f["asset"].get("mac") in declared)
    a = declared[f["asset"]["mac"]]
    assert f"asset {a['declared_id']} ({a['id']}, {a['zone']}) " in " ".join(proc.stdout.split())


def test_simulate_same_seed_same_bytes(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert run("simulate", "--out", str(a), "--seed", "7", "--duration", "60").returncode == 0
    assert run("simulate", "--out", str(b), "--seed", "7", "--duration", "60").returncode == 0
    assert (a / "capture.pcap").read_bytes() == (b / "capture.pcap").read_bytes()


def test_missing_output_folder_is_refused_before_reading(demo_dir, tmp_path):
    target = tmp_path / "no-such-folder" / "findings.json"
    proc = run("analyze", str(demo_dir / "capture.pcap"), "--json", str(target), "-q")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and str(target) in lines[0] and "does not exist" in lines[0]


def test_jobs_sets_the_worker_processes_and_keeps_the_result(demo_dir, tmp_path):
    """--jobs 1 reads in this process, --jobs 2 on a pool: the findings file is the same."""
    cap, site = str(demo_dir / "capture.pcap"), str(demo_dir / "site.yaml")
    docs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"f{jobs}.json"
        proc = run("analyze", cap, cap, "--site", site, "--json", str(out), "-q", "--jobs", jobs)
        assert proc.returncode == 0, proc.stderr
        docs.append(json.loads(out.read_text()))
    assert docs[0] == docs[1]
    proc = run("analyze", cap, "--jobs", "0")
    assert proc.returncode == 2 and "--jobs" in proc.stderr


def test_out_of_memory_is_one_line(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    import cranewatch.run as run_mod
    from cranewatch.cli import app

    def exhausted(*_args, **_kwargs):
        raise MemoryError

    monkeypatch.setattr(run_mod, "analyze", exhausted)
    cap = tmp_path / "x.pcap"
    cap.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    result = CliRunner().invoke(app, ["analyze", str(cap), "-q"])
    assert result.exit_code == 2
    assert result.stderr == "cranewatch: error: out of memory; try --jobs 1 or fewer captures\n"


def test_dash_is_standard_io_for_json_only(demo_dir, tmp_path):
    """`analyze --json - | report -` pipes; '-' elsewhere would be a file named '-'."""
    analyzed = run("analyze", str(demo_dir / "capture.pcap"), "--json", "-", "-q")
    assert analyzed.returncode == 0
    html = tmp_path / "r.html"
    piped = subprocess.run(
        [*CLI, "report", "-", "--html", str(html)],
        input=analyzed.stdout,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert piped.returncode == 0, piped.stderr
    assert html.read_text().startswith("<!DOCTYPE html>")
    for option in ("--html", "--csv", "--stix", "--evidence"):
        proc = run("analyze", str(demo_dir / "capture.pcap"), option, "-", "-q", cwd=tmp_path)
        assert proc.returncode == 2
        assert proc.stderr.strip() == (
            f"cranewatch: error: {option} -: only --json writes to standard output;"
            " give a file or folder name"
        )
    assert not (tmp_path / "-").exists()


def test_report_errors_name_the_file_and_the_problem(tmp_path):
    proc = run("report", str(tmp_path / "nosuch.json"), "--html", str(tmp_path / "r.html"))
    assert proc.returncode == 2 and proc.stderr.strip().endswith(
        "nosuch.json: no such findings file"
    )
    empty = tmp_path / "e.json"
    empty.write_text("{}")
    proc = run("report", str(empty), "--html", str(tmp_path / "r.html"))
    assert proc.stderr.strip().endswith(
        "e.json: not a cranewatch findings file: 'schema' is a required property"
    )


def test_h_is_help():
    assert run("analyze", "-h").stdout == run("analyze", "--help").stdout


def test_an_output_that_is_an_input_or_another_output_is_refused_before_reading(demo_dir, tmp_path):
    import shutil

    capture = shutil.copy(demo_dir / "capture.pcap", tmp_path / "cap.pcap")
    site = shutil.copy(demo_dir / "site.yaml", tmp_path / "site.yaml")
    size, text = Path(capture).stat().st_size, Path(site).read_text()
    cases = [
        (["--json", str(capture)], f"{capture}: --json would overwrite an input"),
        (["--html", str(site)], f"{site}: --html would overwrite an input"),
        (["--json", str(tmp_path / "o"), "--stix", str(tmp_path / "o")],
         f"{tmp_path / 'o'}: --stix would overwrite the --json output"),
    ]  # fmt: skip
    for extra, message in cases:
        proc = run("analyze", str(capture), "--site", str(site), "-q", *extra)
        assert proc.returncode == 2 and proc.stderr.strip() == f"cranewatch: error: {message}"
    assert Path(capture).stat().st_size == size and Path(site).read_text() == text
    assert not (tmp_path / "o").exists()


def test_an_unwritable_output_folder_is_found_before_reading(demo_dir, tmp_path, monkeypatch):
    """Root may write anywhere but a read-only mount: the check creates a file, not os.access."""
    import errno
    import tempfile

    from cranewatch.errors import CranewatchError
    from cranewatch.run import Outputs, run_analysis

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    with pytest.raises(CranewatchError, match="cannot write here \\(Read-only file system\\)"):
        run_analysis([demo_dir / "capture.pcap"], None, Outputs(html=tmp_path / "r.html"),
                     quiet=True)  # fmt: skip
