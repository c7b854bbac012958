"""Capture readers on the real public captures, checked against dpkt, tshark and capinfos."""

from __future__ import annotations

import gzip
import io
import re
import shutil
import subprocess

import dpkt
import numpy as np
import pytest

from _sources_helpers import check_cut, pcap_layout, pcapng_layout, read_all
from conftest import manifest_rows
from cranewatch.errors import NotACaptureError
from cranewatch.sources import open_capture
from cranewatch.sources.pcap import MAGICS

SKIP_SUFFIXES = {".txt", ".md", ".tsv"}
CUT_SHORT = "truncated in the middle"


def _capture_files(captures):
    return [
        p
        for p in sorted(captures.rglob("*"))
        if p.is_file() and "LICENSES" not in p.parts and p.suffix not in SKIP_SUFFIXES
    ]


def _rows_with_counts():
    """MANIFEST rows whose description gives capinfos' packet count."""
    out = []
    for row in manifest_rows():
        m = re.search(r"(\d+) pkts", row["description"])
        if m:
            out.append((row["path"], int(m.group(1)), row["description"]))
    return out


def test_every_shared_file_reads_or_is_refused_cleanly(captures):
    files = _capture_files(captures)
    assert len(files) > 500
    seen_formats = set()
    for path in files:
        try:
            cap = open_capture(path)
        except NotACaptureError:
            continue
        total = sum(len(b) for b in cap.batches())
        st = cap.stats
        seen_formats.add(cap.format)
        assert st.packets == total, path
        assert (st.skipped_bytes > 0) <= (st.errors > 0), path
        assert len(st.warnings) >= (st.errors > 0), path
    assert {"pcap", "pcap-ns", "pcapng", "pcap+gzip", "pcapng+gzip"} <= seen_formats


def test_packet_counts_match_capinfos(captures):
    rows = _rows_with_counts()
    assert len(rows) > 500
    for rel, count, description in rows:
        cap = open_capture(captures / rel)
        for _ in cap.batches():
            pass
        if CUT_SHORT in description:
            assert cap.stats.packets <= count and cap.stats.errors == 1, rel
        else:
            assert (cap.stats.packets, cap.stats.errors) == (count, 0), rel


def test_gzip_files_are_unwrapped(captures):
    gz = [r["path"] for r in manifest_rows() if "gzip-compressed" in r["description"]]
    assert len(gz) >= 4
    for rel in gz:
        cap = open_capture(captures / rel)
        assert cap.format.endswith("+gzip")
        plain = gzip.decompress((captures / rel).read_bytes())
        want = _dpkt_read(plain)
        cols = read_all(cap)
        assert len(cols.ts) == len(want[0]) > 0, rel
        assert np.allclose(cols.ts, want[0], rtol=0, atol=2e-6), rel


def _dpkt_read(raw: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(timestamps, captured lengths) as dpkt reads them."""
    reader = dpkt.pcapng.Reader if raw[:4] == b"\n\r\r\n" else dpkt.pcap.Reader
    ts, lens = [], []
    for t, buf in reader(io.BytesIO(raw)):
        ts.append(float(t))
        lens.append(len(buf))
    return np.array(ts), np.array(lens)


def _dpkt_sample(captures) -> list:
    """Classic pcap files (not cut short) and tcpdump's pcapng files.

    dpkt's pcapng reader applies the first interface's timestamp resolution to
    all interfaces, so multi-interface pcapng files are checked with tshark.
    """
    cut = {r["path"] for r in manifest_rows() if CUT_SHORT in r["description"]}
    out = []
    for path in _capture_files(captures):
        rel = str(path.relative_to(captures))
        head = path.read_bytes()[:4]
        if (head in MAGICS and rel not in cut) or (
            rel.startswith("tcpdump/") and path.suffix == ".pcapng"
        ):
            out.append(path)
    return out


def test_same_packets_as_dpkt(captures):
    sample = _dpkt_sample(captures)
    assert len(sample) > 400
    for path in sample:
        want_ts, want_len = _dpkt_read(path.read_bytes())
        cols = read_all(open_capture(path))
        assert len(cols.ts) == len(want_ts), path
        assert np.allclose(cols.ts, want_ts, rtol=0, atol=2e-6), path
        assert np.array_equal(cols.caplens, want_len), path


TSHARK_FILES = [
    "zeek/pcapng-multi-interface.pcapng",
    "icsnpp-profinet-io-cm/profinet_io_cm.pcap",
    "pcapng-test-generator/output_le/advanced/test102.pcapng",
    "pcapng-test-generator/output_be/difficult/test202.pcapng",
    "pcapng-test-generator/output_le/basic/test018.pcapng",
]


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("rel", TSHARK_FILES)
def test_tricky_pcapng_matches_tshark(captures, rel):
    """Several IDBs with own tsresol, SPB/OPB, sections of both byte orders."""
    out = subprocess.run(
        ["tshark", "-r", str(captures / rel), "-Y", "!frame.cb_pen", "-T", "fields"]
        + ["-e", "frame.time_epoch", "-e", "frame.cap_len"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    rows = [line.split("\t") for line in out.splitlines() if line.strip()]
    want_ts = np.array([float(t) if t else np.nan for t, _ in rows])
    want_len = np.array([int(n) for _, n in rows])
    cols = read_all(open_capture(captures / rel))
    assert np.array_equal(cols.caplens, want_len)
    timed = ~np.isnan(want_ts)  # simple packet blocks carry no timestamp
    assert np.allclose(cols.ts[timed], want_ts[timed], rtol=0, atol=2e-6)


def test_empty_captures(captures):
    for rel in ("zeek/empty.pcap", "tcpdump/empty.pcapng", "pcapng-test-generator/empty.pcap"):
        cap = open_capture(captures / rel)
        assert read_all(cap).batches == 0
        assert (cap.stats.packets, cap.stats.errors, cap.stats.warnings) == (0, 0, [])


@pytest.mark.parametrize(
    "rel",
    [
        "arkime/bigendian.pcap",
        "tcpdump/msnlb2.pcapng",
        "pcapng-test-generator/output_be/difficult/test202.pcapng",
    ],
)
def test_real_capture_cut_at_every_byte(captures, tmp_path, rel):
    data = (captures / rel).read_bytes()
    layout = pcapng_layout if data[:4] == b"\n\r\r\n" else pcap_layout
    units, packet_ends = layout(data)
    assert len(packet_ends) >= 2
    for cut in range(len(data) + 1):
        path = tmp_path / "cut"
        path.write_bytes(data[:cut])
        check_cut(path, cut, units, packet_ends)
