"""A folder given to `analyze` stands for the captures below it, in the order they were written."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest

from cranewatch.errors import CranewatchError
from cranewatch.sources.folders import expand

CLI = [sys.executable, "-m", "cranewatch"]
PCAP_HEADER = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_rotated_names_in_the_order_tcpdump_wrote_them(tmp_path):
    # tcpdump -C names the first file `dump`, then dump1, dump2, ... dump10
    names = ["dump", "dump1", "dump2", "dump9", "dump10", "dump11"]
    for name in reversed(names):
        write(tmp_path / name, PCAP_HEADER)
    assert [p.name for p in expand([tmp_path]).files] == names


def test_sub_folders_captures_by_magic_and_hidden_files(tmp_path):
    write(tmp_path / "2024-05-02" / "b.pcapng", bytes.fromhex("0a0d0d0a"))
    write(tmp_path / "2024-05-01" / "a.cap", PCAP_HEADER)
    write(tmp_path / "2024-05-01" / "c.gz", gzip.compress(PCAP_HEADER))
    write(tmp_path / "2024-05-01" / "notes.txt", b"crane 3 span port")
    write(tmp_path / "2024-05-01" / "empty.pcap", b"")
    write(tmp_path / ".snapshots" / "old.pcap", PCAP_HEADER)
    write(tmp_path / ".partial.pcap", PCAP_HEADER)
    got = expand([tmp_path])
    rel = [p.relative_to(tmp_path).as_posix() for p in got.files]
    assert rel == ["2024-05-01/a.cap", "2024-05-01/c.gz", "2024-05-02/b.pcapng"]
    assert got.notes == [
        f"{tmp_path}: 3 capture files read, 2 other files left out"
        " (2024-05-01/empty.pcap, 2024-05-01/notes.txt)"
    ]


def test_files_and_folders_mixed_keep_the_order_given(tmp_path):
    one = write(tmp_path / "one.pcap", PCAP_HEADER)
    write(tmp_path / "ring" / "r2.pcap", PCAP_HEADER)
    write(tmp_path / "ring" / "r1.pcap", PCAP_HEADER)
    got = expand([tmp_path / "ring", one])
    assert [p.name for p in got.files] == ["r1.pcap", "r2.pcap", "one.pcap"]
    assert got.notes == []


def test_a_file_given_twice_is_read_once(tmp_path):
    """Twice the same file (by two names, or also inside a folder given) would double its counts."""
    one = write(tmp_path / "ring" / "one.pcap", PCAP_HEADER)
    got = expand([one, tmp_path / "ring" / ".." / "ring" / "one.pcap", tmp_path / "ring"])
    assert got.files == [one]
    assert got.notes == [
        f"{tmp_path / 'ring' / '..' / 'ring' / 'one.pcap'}: given more than once; read once",
        f"{tmp_path / 'ring' / 'one.pcap'}: given more than once; read once",
    ]


def test_a_damaged_gzip_in_a_folder_is_left_out_not_raised(tmp_path):
    """A .gz whose deflate data is corrupt right after the header (zlib.error, not OSError)."""
    good = gzip.compress(PCAP_HEADER * 50)
    write(tmp_path / "bad.gz", good[:10] + bytes(b ^ 0x5A for b in good[10:30]) + good[30:])
    write(tmp_path / "ok.pcap", PCAP_HEADER)
    got = expand([tmp_path])
    assert [p.name for p in got.files] == ["ok.pcap"]
    assert "bad.gz" in got.notes[0]


def test_missing_path_and_folder_without_captures(tmp_path):
    with pytest.raises(CranewatchError, match="no such capture file or folder"):
        expand([tmp_path / "nope.pcap"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(CranewatchError, match=r"in this folder \(the folder is empty\)"):
        expand([tmp_path / "empty"])
    write(tmp_path / "logs" / "conn.log", b"#separator \\x09\n")
    with pytest.raises(CranewatchError, match=r"in this folder \(1 other file\)"):
        expand([tmp_path / "logs"])


def test_cli_reads_a_folder_of_rotated_captures(tmp_path):
    """The simulator's capture cut in five files: same findings as the one file."""
    demo = tmp_path / "demo"
    proc = subprocess.run(
        [*CLI, "simulate", "--out", str(demo), "--seed", "2"], capture_output=True
    )
    assert proc.returncode == 0, proc.stderr
    data = (demo / "capture.pcap").read_bytes()
    offsets, p = [], 24
    while p + 16 <= len(data):
        offsets.append(p)
        p += 16 + int.from_bytes(data[p + 8 : p + 12], "little")
    cuts = [offsets[len(offsets) * k // 5] for k in range(5)] + [len(data)]
    ring = tmp_path / "ring"
    for k in range(5):
        write(ring / f"span{k + 1}.pcap", data[:24] + data[cuts[k] : cuts[k + 1]])
    write(ring / "SHA256SUMS", b"...")

    def findings(*args: str) -> tuple[list, subprocess.CompletedProcess, dict]:
        out = tmp_path / f"f{len(args)}.json"
        proc = subprocess.run(
            [*CLI, "analyze", *args, "--site", str(demo / "site.yaml"), "--json", str(out), "-q"],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(out.read_text())
        return [(f["kind"], f["title"]) for f in doc["findings"]], proc, doc

    whole, _, _ = findings(str(demo / "capture.pcap"))
    rotated, proc, doc = findings(str(ring))
    assert rotated == whole and whole
    assert [Path(i["path"]).name for i in doc["inputs"]] == [f"span{k}.pcap" for k in range(1, 6)]
    assert (
        proc.stderr.strip()
        == f"cranewatch: warning: {ring}: 5 capture files read, 1 other file left out (SHA256SUMS)"
    )


def test_this_runs_evidence_folder_is_not_read_as_captures(tmp_path):
    write(tmp_path / "span1.pcap", PCAP_HEADER)
    write(tmp_path / "evidence" / "f-0001.pcap", PCAP_HEADER)
    assert [p.name for p in expand([tmp_path]).files] == ["f-0001.pcap", "span1.pcap"]
    got = expand([tmp_path], outputs=[tmp_path / "evidence"])
    assert [p.name for p in got.files] == ["span1.pcap"]


def test_the_warning_names_the_first_files_left_out(tmp_path):
    write(tmp_path / "ring.pcap", PCAP_HEADER)
    for name in ("a.txt", "b.txt", "c.txt", "d.txt", "e.txt"):
        write(tmp_path / name, b"not a capture")
    (note,) = expand([tmp_path]).notes
    assert note.endswith("5 other files left out (a.txt, b.txt, c.txt and 2 more)")


def test_a_pipe_is_named_as_such_not_as_missing(tmp_path):
    import os

    fifo = tmp_path / "stream"
    os.mkfifo(fifo)
    with pytest.raises(CranewatchError, match="a pipe or device, not a file: save the stream"):
        expand([fifo])


def test_an_earlier_runs_evidence_below_the_folder_is_not_read_again(tmp_path):
    """`--evidence ring/ev`, then `analyze ring`: the evidence pcaps are the ring's packets again."""
    from cranewatch.report.evidence import INDEX_COLUMNS
    from cranewatch.sources.folders import EVIDENCE_INDEX

    assert EVIDENCE_INDEX[1] == ",".join(INDEX_COLUMNS)  # the two modules agree
    write(tmp_path / "ring" / "dump1.pcap", PCAP_HEADER)
    write(tmp_path / "ring" / "ev" / "f-0001-beaconing.pcap", PCAP_HEADER)
    write(tmp_path / "ring" / "ev" / "index.csv", (",".join(INDEX_COLUMNS) + "\r\n").encode())
    got = expand([tmp_path / "ring"])
    assert [p.name for p in got.files] == ["dump1.pcap"]
    assert got.notes == [
        f"{(tmp_path / 'ring' / 'ev').resolve()}: evidence captures of an earlier cranewatch run"
        " (its index.csv) left out; give that folder itself to read them"
    ]
    assert [p.name for p in expand([tmp_path / "ring" / "ev"]).files] == ["f-0001-beaconing.pcap"]
