"""Hostile sizes stay bounded: big random files, lying lengths, loops and long header chains.

Each case ends in bounded time with a clear, one-line message; the 50 MB
files also run in a child process whose peak memory is measured.
"""

from __future__ import annotations

import resource
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cranewatch.cli import app
from cranewatch.decode import dns, tls
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.sources.batch import PAD, RawBatch

PCAP_HEADER = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")
SHB = struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
IDB = struct.pack("<IIHHII", 1, 20, 1, 0, 65535, 20)
FIFTY_MB = 50 << 20
SECONDS = 20  # per 50 MB run, including interpreter start
PEAK_MB = 1024

UDP_FRAME = (
    bytes.fromhex("00112233445500aabbccddee0800")
    + bytes.fromhex("4500002600004000401100000a000001c0a80001")
    + struct.pack(">HHHH", 40000, 9999, 18, 0)
    + b"0123456789"
)


def _cli(*args: str):
    """The CLI in process (fast); stderr apart from stdout."""
    return CliRunner().invoke(app, list(args))


def _lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def _assert_clear(stderr: str) -> None:
    """Every message is one line starting with 'cranewatch: ', never a traceback."""
    assert "Traceback" not in stderr
    for line in _lines(stderr):
        assert line.startswith("cranewatch: "), f"wrapped or stray line: {line!r}"


def _pcap_record(data: bytes, caplen: int | None = None) -> bytes:
    n = len(data) if caplen is None else caplen
    return struct.pack("<IIII", 1_700_000_000, 0, n, len(data)) + data


def _epb(data: bytes, blen: int | None = None, trailer: int | None = None) -> bytes:
    body = struct.pack("<IIIII", 0, 0, 0, len(data), len(data)) + data + bytes(-len(data) % 4)
    size = 12 + len(body)
    head = struct.pack("<II", 6, size if blen is None else blen)
    return head + body + struct.pack("<I", size if trailer is None else trailer)


# ---------------------------------------------------------------- 50 MB of random bytes


def _run_child(path: Path, tmp_path: Path) -> tuple[subprocess.CompletedProcess, float, float]:
    """`cranewatch analyze` in a child; (result, seconds, peak MB of children so far)."""
    out = tmp_path / "out.json"
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "cranewatch", "analyze", str(path), "--json", str(out), "-q"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    took = time.monotonic() - start
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return proc, took, peak_mb


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_50mb_random_behind_a_valid_header(tmp_path: Path, kind: str) -> None:
    head = PCAP_HEADER if kind == "pcap" else SHB + IDB
    path = tmp_path / f"random.{kind}"
    path.write_bytes(head + np.random.default_rng(6).bytes(FIFTY_MB))
    proc, took, peak_mb = _run_child(path, tmp_path)
    assert proc.returncode in (0, 2), proc.stderr
    _assert_clear(proc.stderr)
    assert took < SECONDS, f"{took:.1f} s"
    assert peak_mb < PEAK_MB, f"peak {peak_mb:.0f} MB"
    warnings = [ln for ln in _lines(proc.stderr) if ln.startswith("cranewatch: warning: ")]
    assert warnings and f"{path}: offset {len(head)}: " in warnings[0], proc.stderr
    assert f"{FIFTY_MB} bytes skipped" in warnings[0]


def test_random_records_with_plausible_lengths(tmp_path: Path) -> None:
    """8 MB of well-framed records full of random bytes: every packet is decoded, bounded."""
    rng = np.random.default_rng(7)
    sizes = rng.integers(0, 1515, size=10_000)
    blob = rng.bytes(int(sizes.sum()))
    parts, pos = [PCAP_HEADER], 0
    for size in sizes.tolist():
        parts.append(_pcap_record(blob[pos : pos + size]))
        pos += size
    path = tmp_path / "records.pcap"
    path.write_bytes(b"".join(parts))
    start = time.monotonic()
    result = _cli("analyze", str(path), "--json", str(tmp_path / "out.json"), "-q")
    assert result.exit_code == 0, result.stderr
    assert time.monotonic() - start < SECONDS
    _assert_clear(result.stderr)
    assert (tmp_path / "out.json").stat().st_size > 0


# ---------------------------------------------------------------- lying capture lengths


@pytest.mark.parametrize(
    ("caplen", "stops"),
    [(70_000, False), (262_145, True), (0xFFFFFFFF, True)],
    ids=["above-snaplen", "above-256KiB", "u32-max"],
)
def test_pcap_caplen_above_snaplen_or_256kib(tmp_path: Path, caplen: int, stops: bool) -> None:
    good = _pcap_record(UDP_FRAME)
    big = _pcap_record(UDP_FRAME + bytes(max(0, min(caplen, 70_000) - len(UDP_FRAME))), caplen)
    path = tmp_path / "big.pcap"
    path.write_bytes(PCAP_HEADER + good + big + good)
    result = _cli("analyze", str(path), "--json", str(tmp_path / "o.json"), "-q")
    assert result.exit_code == 0
    _assert_clear(result.stderr)
    if stops:  # the damaged record and all after it are skipped, the first packet kept
        offset = len(PCAP_HEADER) + len(good)
        assert f"offset {offset}: record caplen {caplen} exceeds 262144" in result.stderr
    else:  # above snaplen but within the 256 KiB floor: read (jumbo frames, odd writers)
        assert result.stderr == ""


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (_epb(UDP_FRAME, blen=0xFFFFFFFC), "length 4294967292 exceeds"),
        (_epb(UDP_FRAME, blen=0x7FFFFFF0), "exceeds"),
        (_epb(UDP_FRAME, blen=30), "invalid length 30"),
        (_epb(UDP_FRAME, trailer=12345), "block trailer length 12345 != "),
    ],
    ids=["u32-overflow", "huge", "not-multiple-of-4", "trailer-mismatch"],
)
def test_pcapng_block_lengths_that_lie(tmp_path: Path, block: bytes, message: str) -> None:
    good = _epb(UDP_FRAME)
    path = tmp_path / "lie.pcapng"
    path.write_bytes(SHB + IDB + good + block + good)
    out = tmp_path / "o.json"
    result = _cli("analyze", str(path), "--json", str(out), "-q")
    assert result.exit_code == 0
    _assert_clear(result.stderr)
    assert message in result.stderr, result.stderr
    import json

    assert json.loads(out.read_text())["inputs"][0]["packets"] == 1  # the one before the lie


# ---------------------------------------------------------------- parsers that could loop


def _timed(fn, *args):
    start = time.perf_counter()
    got = fn(*args)
    return got, time.perf_counter() - start


def test_dns_compression_loops_end_quickly() -> None:
    header = struct.pack(">HHHHHH", 1, 0x8180, 1, 1, 0, 0)
    cases = {
        "self": header + b"\xc0\x0c\x00\x01\x00\x01",
        "pair": header + b"\x01a\xc0\x0e\x01b\xc0\x0c\x00\x01\x00\x01",
        "forward": header + b"\xc0\x0e\xc0\x0c",
    }
    # A chain of 5000 pointers, each to the one before: long, but not a loop.
    chain = bytearray(header + b"\x01a\x00")
    for _ in range(5000):
        target = len(chain) - 2 if len(chain) > 15 else 12
        chain += bytes([0xC0 | (target >> 8), target & 0xFF])
    cases["chain"] = bytes(chain) + b"\x00\x01\x00\x01"
    for name, data in cases.items():
        got, took = _timed(dns.parse, data)
        assert got is None or isinstance(got, dict), name
        assert took < 0.5, f"{name}: {took:.2f} s"


def test_tls_records_that_lie_about_lengths() -> None:
    hello = b"\x01\x00\x00\x2c\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00"
    sni = b"\x00\x00\xff\xf0\x00\xff\xf0\x00\xff\xf0cranes.example"
    cases = [
        b"\x16\x03\x01\xff\xff" + hello,  # record longer than the bytes
        b"\x16\x03\x01\x00\x30\x01\xff\xff\xff" + hello[4:],  # handshake longer than the record
        b"\x16\x03\x01\x00\x40" + hello[:-1] + b"\xff\xff" + sni,  # extensions overrun
        b"\x16\x03\x01\x00\x00",  # empty record
        b"\x16\x03\x01\x00\x04\x01\x00\x00\x00" * 2000,  # thousands of tiny records
    ]
    for data in cases:
        got, took = _timed(tls.parse, data)
        assert got is None or isinstance(got, dict)
        assert took < 0.5


def _batch(frames: list[bytes], linktype: int = 1) -> RawBatch:
    lens = [len(f) for f in frames]
    offsets = np.concatenate([[0], np.cumsum(lens)[:-1]]).astype(np.int64)
    data = np.frombuffer(b"".join(frames) + bytes(PAD), dtype=np.uint8)
    n = len(frames)
    return RawBatch(
        data=data,
        offsets=offsets,
        caplens=np.array(lens, dtype=np.int32),
        wirelens=np.array(lens, dtype=np.int32),
        ts=np.zeros(n),
        linktypes=np.full(n, linktype, dtype=np.uint16),
    )


def test_long_vlan_and_ipv6_extension_chains_are_cut_short() -> None:
    ip4 = UDP_FRAME[14:]
    vlans = b"".join(struct.pack(">HH", 0x8100, 5) for _ in range(300))
    many_tags = UDP_FRAME[:12] + vlans + b"\x08\x00" + ip4
    few_tags = UDP_FRAME[:12] + vlans[:8] + b"\x08\x00" + ip4
    ext = b"".join(bytes([0, 0]) + bytes(6) for _ in range(300))  # hop-by-hop x 300
    ip6 = struct.pack(">IHBB", 0x60000000, len(ext) + 8, 0, 64) + bytes(32) + ext
    ip6 = ip6[: 40 + len(ext) - 8] + b"\x11\x00" + bytes(6) + struct.pack(">HHHH", 1, 2, 8, 0)
    many_ext = UDP_FRAME[:12] + b"\x86\xdd" + ip6
    batch = _batch([many_tags, few_tags, many_ext] * 200)
    pk, took = _timed(decode_l2l4, batch)
    assert took < 2.0
    assert pk.ip_ver[1] == 4 and pk.dport[1] == 9999  # two tags: walked
    assert pk.dport[0] == 0 and pk.dport[2] == 0  # 300 tags / headers: given up, no crash
    assert (pk.payload_off[[0, 2]] == -1).all()


# ---------------------------------------------------------------- site file forms via the CLI

SITE = """\
site: T
zones:
  - name: yard
    cidrs: [10.0.0.0/24]
assets:
  - id: plc1
    mac: 00:1b:1b:aa:01:10
    ip: 10.0.0.5
conduits:
  - from: yard
    to: internet
    ports: [tcp/443]
"""

# Nine levels of ten aliases each: 10**9 values once expanded.
ALIAS_BOMB = "site: T\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10)
)
# (form, site text, line, words the message holds)
SITE_FORMS = [
    ("not-yaml", SITE + "  - id: [\n", 14, ["not valid YAML"]),  # reported at the end
    ("tab-indent", SITE.replace("    mac:", "\tmac:"), 7, ["not valid YAML"]),
    ("control-char", SITE.replace("plc1", "plc\x001"), 6, ["not valid YAML", "#x0000"]),
    ("yaml-duplicate-key", SITE.replace("    ip:", "    mac: 1\n    ip:"), 8, ["duplicate key"]),
    ("impossible-date", SITE.replace("site: T", "site: 2020-13-45"), 1, ["quote it"]),
    ("list-as-key", SITE + "? [a, [b]]\n: 1\n", 13, ["key must be plain text"]),
    ("empty", "# only a comment\n", 1, ["empty"]),
    ("top-level-list", "- yard\n", 1, ["top level must be a mapping"]),
    ("list-for-text", SITE.replace("site: T", "site: [T]"), 1, ["site:", "expected text"]),
    ("text-for-list", SITE.replace("[10.0.0.0/24]", "10.0.0.0/24"), 4, ["expected a list"]),
    ("number-for-list", SITE.replace("[tcp/443]", "443"), 12, ["expected a list"]),
    ("mapping-for-list", "site: T\nzones:\n  name: yard\n", 2, ["expected a list"]),
    ("unknown-top-key", SITE + "zone: []\n", 13, ["unknown key 'zone'", "did you mean"]),
    ("unknown-asset-key", SITE.replace("    ip:", "    addr: 1\n    ip:"), 8, ["addr"]),
    (
        "duplicate-id",
        SITE.replace("conduits:", "  - id: plc1\n    ip: 10.0.0.6\nconduits:"),
        9,
        ["duplicate asset id 'plc1'"],
    ),  # fmt: skip
    ("bad-mac", SITE.replace("00:1b:1b:aa:01:10", "00:1b:1b:aa:01:zz"), 7, ["not a MAC"]),
    ("bad-ip", SITE.replace("10.0.0.5", "10.0.0.300"), 8, ["not an IP address"]),
    ("bad-cidr", SITE.replace("10.0.0.0/24", "10.0.0.0/33"), 4, ["not a CIDR"]),
    ("cidr-host-bits", SITE.replace("10.0.0.0/24", "10.0.0.7/24"), 4, ["host bits"]),
    (
        "dangling-zone",
        SITE.replace("    ip: 10.0.0.5", "    ip: 10.0.0.5\n    zone: yrd"),
        9,
        ["zone 'yrd' does not exist", "did you mean 'yard'"],
    ),  # fmt: skip
    ("dangling-conduit-name", SITE.replace("to: internet", "to: plc2"), 11, ["'plc2'"]),
    ("dangling-container-dest", SITE + "container_data_to: [cloud]\n", 13, ["'cloud'"]),
    ("deep-nesting", "site: " + "[" * 500 + "]" * 500 + "\n", 1, ["nested more than"]),
    ("alias-bomb", ALIAS_BOMB, 1, ["aliases"]),
]


@pytest.mark.parametrize(
    ("text", "line", "words"), [f[1:] for f in SITE_FORMS], ids=[f[0] for f in SITE_FORMS]
)
def test_site_file_forms_exit_2_with_one_file_line_message(
    tmp_path: Path, text: str, line: int, words: list[str]
) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(text, encoding="utf-8")
    capture = tmp_path / "c.pcap"
    capture.write_bytes(PCAP_HEADER)
    out = tmp_path / "o.json"
    start = time.monotonic()
    result = _cli("analyze", str(capture), "--site", str(site), "--json", str(out), "-q")
    assert time.monotonic() - start < 5
    assert result.exit_code == 2
    lines = _lines(result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"cranewatch: error: {site}:{line}: "), lines[0]
    for word in words:
        assert word in lines[0]
    assert not out.exists()  # the site is checked before any capture is read


def test_site_file_not_utf8_or_missing(tmp_path: Path) -> None:
    capture = tmp_path / "c.pcap"
    capture.write_bytes(PCAP_HEADER)
    site = tmp_path / "site.yaml"
    site.write_bytes(SITE.encode() + b"  - id: \xff\xfe\n")
    result = _cli("analyze", str(capture), "--site", str(site), "-q")
    assert result.exit_code == 2
    assert result.stderr == f"cranewatch: error: {site}:13: not UTF-8 text\n"
    missing = tmp_path / "nope.yaml"
    result = _cli("analyze", str(capture), "--site", str(missing), "-q")
    assert result.exit_code == 2
    assert result.stderr.startswith(f"cranewatch: error: {missing}: cannot read the site file")


# ---------------------------------------------------------------- a new host in every packet


def _random_ipv4_capture(path: Path, packets: int) -> None:
    """Random frames made to look like IPv4 TCP/UDP: every packet a new MAC, address and flow."""
    rng = np.random.default_rng(11)
    parts = [PCAP_HEADER]
    for i in range(packets):
        frame = bytearray(rng.bytes(int(rng.integers(60, 200))))
        frame[12:15] = b"\x08\x00\x45"
        frame[20:22] = b"\x00\x00"  # not a fragment
        frame[23] = (6, 17)[i % 2]
        parts.append(_pcap_record(bytes(frame)))
    path.write_bytes(b"".join(parts))


def test_time_grows_linearly_with_random_hosts(tmp_path: Path) -> None:
    """Spoofed random sources must not make analysis quadratic (once 40k packets took 50 s).

    The rogue-gateway detector rebuilt an index of all assets for every local
    subnet; random addresses make thousands of each. Four times the packets
    must cost about four times the time, not sixteen.
    """
    from cranewatch.pipeline import analyze

    took = []
    for packets in (4_000, 16_000):
        path = tmp_path / f"random-{packets}.pcap"
        _random_ipv4_capture(path, packets)
        start = time.perf_counter()
        analysis = analyze([path])
        took.append(time.perf_counter() - start)
        assert len(analysis.assets) > packets // 3
    assert took[1] < 6 * took[0], f"{took[0]:.2f} s -> {took[1]:.2f} s"
