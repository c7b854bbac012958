"""Evidence pcaps: tshark reads them, they hold only the finding's packets, they are reproducible.

The packets are checked with tshark (an independent decoder), not with cranewatch's own
columns, and the expected counts on real captures come from tshark display filters.
"""

from __future__ import annotations

import csv
import dataclasses
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import dpkt
import numpy as np
import pytest

from cranewatch.detect.model import Evidence, Finding
from cranewatch.errors import CranewatchError
from cranewatch.inventory.site import load_site
from cranewatch.pipeline import analyze
from cranewatch.report.evidence import write_evidence
from cranewatch.simulate import simulate

TSHARK = shutil.which("tshark")
needs_tshark = pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
FIELDS = [
    "frame.time_epoch",
    "eth.src",
    "eth.dst",
    "ip.src",
    "ip.dst",
    "ipv6.src",
    "ipv6.dst",
    "tcp.srcport",
    "tcp.dstport",
    "udp.srcport",
    "udp.dstport",
]
SMALL_CAP = 6


def tshark_rows(path: Path, display_filter: str | None = None) -> list[dict[str, str]]:
    """One dict per packet; outermost header values only (occurrence=f)."""
    cmd = [TSHARK, "-n", "-r", str(path), "-T", "fields", "-E", "occurrence=f"]
    for name in FIELDS:
        cmd += ["-e", name]
    if display_filter:
        cmd += ["-Y", display_filter]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [dict(zip(FIELDS, line.split("\t"), strict=True)) for line in done.stdout.splitlines()]


def tshark_all(paths: list[Path]) -> dict[Path, list[dict[str, str]]]:
    """tshark over many files at once: its start-up, not the reading, is what costs."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(paths, pool.map(tshark_rows, paths), strict=True))


def index_rows(folder: Path) -> list[dict[str, str]]:
    with (folder / "index.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def ips(row: dict[str, str]) -> set[str]:
    return {row[k] for k in ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst") if row[k]}


def ports(row: dict[str, str]) -> set[int]:
    keys = ("tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport")
    return {int(row[k]) for k in keys if row[k]}


def belongs(row: dict[str, str], f: Finding, site) -> bool:
    """The packet is between the finding's asset and its peer, or the asset's at an evidence
    time, as the docs promise."""
    macs = {row["eth.src"], row["eth.dst"]}
    asset = (f.asset_mac is not None and f.asset_mac in macs) or (
        f.asset_ip is not None and f.asset_ip in ips(row)
    )
    if not asset:
        return False
    if evidence_times_in([f"{float(row['frame.time_epoch']):.6f}"], f):
        return True
    if f.peer_ip is not None:
        if f.peer_ip not in ips(row):
            return False
        return f.peer_port is None or f.peer_port in ports(row)
    if f.kind == "rogue-gateway":
        src = row["ip.src"] or row["ipv6.src"]
        dst = row["ip.dst"] or row["ipv6.dst"]
        return bool(src and dst) and site.zone_of(src) != site.zone_of(dst)
    return True


def evidence_times_in(times: list[str], f: Finding) -> int:
    wanted = {f"{e.ts:.6f}" for e in f.evidence}
    return sum(1 for t in times if t in wanted)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    """A simulated terminal analysed once, evidence written twice with the default cap
    and once with a small cap."""
    base = tmp_path_factory.mktemp("evidence")
    sim = simulate(base / "sim", seed=2)
    site = load_site(sim.site)
    analysis = analyze([sim.capture], site)
    runs = {}
    for name, cap in (("a", 2000), ("b", 2000), ("small", SMALL_CAP)):
        runs[name] = (base / name, write_evidence(analysis, base / name, max_packets=cap))
    return analysis, site, runs


@pytest.fixture(scope="module")
def decoded(simulated):
    """tshark's view of every file of run "a", read once."""
    if TSHARK is None:
        pytest.skip("tshark not installed")
    _, _, runs = simulated
    return tshark_all(list(runs["a"][1].values()))


def dpkt_times(path: Path) -> list[str]:
    """Packet times read with dpkt (a second independent reader, cheaper than tshark)."""
    with path.open("rb") as fh:
        reader = dpkt.pcapng.Reader(fh) if path.suffix == ".pcapng" else dpkt.pcap.Reader(fh)
        return [f"{ts:.6f}" for ts, _ in reader]


def test_simulated_findings_produce_evidence(simulated):
    analysis, _, runs = simulated
    folder, written = runs["a"]
    assert analysis.findings, "the simulated capture must give findings"
    rows = index_rows(folder)
    assert [r["id"] for r in rows] == [f.id for f in analysis.findings]
    assert set(written) == {r["id"] for r in rows if r["file"]}
    for r in rows:
        if r["file"]:
            assert (folder / r["file"]).name == written[r["id"]].name
            assert r["file"] == f"{r['id']}-{r['kind']}.pcap"
    # every planted kind the detectors found has evidence; all but address-less ones do
    assert len(written) >= len(analysis.findings) - 1


def test_simulated_evidence_holds_only_the_findings_packets(simulated, decoded):
    analysis, site, runs = simulated
    folder, written = runs["a"]
    counts = {r["id"]: int(r["packets"]) for r in index_rows(folder)}
    for f in analysis.findings:
        if f.id not in written:
            continue
        rows = decoded[written[f.id]]
        assert 1 <= len(rows) <= 2000
        assert len(rows) == counts[f.id]
        bad = [r for r in rows if not belongs(r, f, site)]
        assert not bad, (f.id, f.kind, bad[:3])


def test_cap_keeps_packets_at_evidence_times(simulated, decoded):
    analysis, _, runs = simulated
    full = runs["a"][1]
    small = runs["small"][1]
    assert set(small) == set(full)
    moved = 0
    for f in analysis.findings:
        if f.id not in full:
            continue
        full_times = [f"{float(r['frame.time_epoch']):.6f}" for r in decoded[full[f.id]]]
        small_times = dpkt_times(small[f.id])
        assert 1 <= len(small_times) <= SMALL_CAP
        assert set(small_times) <= set(full_times)
        if evidence_times_in(full_times, f):
            assert evidence_times_in(small_times, f) >= 1, f.id
        moved += any(t not in full_times[:SMALL_CAP] for t in small_times)
    # at least one finding (beaconing: evidence spread over the capture) needed the rule
    assert moved >= 1


def test_evidence_files_are_byte_identical_across_runs(simulated):
    _, _, runs = simulated
    a_dir, b_dir = runs["a"][0], runs["b"][0]
    assert sorted(p.name for p in a_dir.iterdir()) == sorted(p.name for p in b_dir.iterdir())
    for path in a_dir.iterdir():
        assert path.read_bytes() == (b_dir / path.name).read_bytes(), path.name
    assert not [p for p in a_dir.iterdir() if p.name.endswith(".tmp")]


def _with_findings(analysis, findings: list[Finding]):
    return dataclasses.replace(analysis, findings=findings)


@needs_tshark
def test_remote_access_like_finding_on_real_teamviewer_capture(captures, tmp_path):
    path = captures / "ndpi" / "teamviewer.pcap"
    analysis = analyze([path])
    flow = max(analysis.flows, key=lambda fl: fl.orig_pkts + fl.resp_pkts)
    finding = Finding(
        kind="remote-access",
        severity="high",
        confidence=0.9,
        title="test",
        asset_ip=flow.orig_ip,
        peer_ip=flow.resp_ip,
        peer_port=flow.resp_port,
        evidence=[Evidence(flow.first_ts, "session")],
        id="f-0001",
    )
    written = write_evidence(_with_findings(analysis, [finding]), tmp_path)
    rows = tshark_rows(written["f-0001"])
    l4 = "tcp" if flow.proto == 6 else "udp"
    expected = tshark_rows(
        path,
        f"ip.addr=={flow.orig_ip} && ip.addr=={flow.resp_ip} && {l4}.port=={flow.resp_port}",
    )
    assert len(rows) == len(expected) >= 1
    assert [r["frame.time_epoch"] for r in rows] == [r["frame.time_epoch"] for r in expected]
    assert all({flow.orig_ip, flow.resp_ip} <= ips(r) for r in rows)


@needs_tshark
def test_mixed_link_types_give_one_pcapng_interface_each(captures, tmp_path):
    path = captures / "pcapng-test-generator" / "output_le" / "advanced" / "test100.pcapng"
    analysis = analyze([path])
    finding = Finding(
        kind="undeclared-device",
        severity="low",
        confidence=0.5,
        title="test",
        asset_ip="255.255.255.255",
        evidence=[Evidence(analysis.inputs[0].first_ts, "seen")],
        id="f-0001",
    )
    written = write_evidence(_with_findings(analysis, [finding]), tmp_path)
    out = written["f-0001"]
    assert out.name == "f-0001-undeclared-device.pcapng"
    expected = tshark_rows(path, "ip.addr==255.255.255.255")
    rows = tshark_rows(out)
    assert len(rows) == len(expected) >= 2
    encaps = subprocess.run(
        [TSHARK, "-r", str(out), "-T", "fields", "-e", "frame.encap_type"],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.split()
    assert len(set(encaps)) == 2


def test_finding_without_packets_gets_an_index_row_only(captures, tmp_path):
    path = captures / "ndpi" / "teamviewer.pcap"
    analysis = analyze([path])
    finding = Finding(
        kind="beaconing",
        severity="low",
        confidence=0.5,
        title="test",
        asset_ip="192.0.2.1",
        peer_ip="192.0.2.2",
        evidence=[Evidence(0.0, "none")],
        id="f-0001",
    )
    written = write_evidence(_with_findings(analysis, [finding]), tmp_path)
    assert written == {}
    (row,) = index_rows(tmp_path)
    assert (row["file"], row["packets"], row["first_ts"]) == ("", "0", "")
    assert [p.name for p in tmp_path.iterdir()] == ["index.csv"]


def test_vanished_input_is_a_clear_error(captures, tmp_path):
    analysis = analyze([captures / "ndpi" / "teamviewer.pcap"])
    gone = dataclasses.replace(analysis.inputs[0], path=str(tmp_path / "gone.pcap"))
    flow = analysis.flows[0]
    finding = Finding("remote-access", "high", 0.9, "t", asset_ip=flow.orig_ip, id="f-0001")
    moved = dataclasses.replace(analysis, inputs=[gone], findings=[finding])
    with pytest.raises(CranewatchError, match="gone.pcap"):
        write_evidence(moved, tmp_path / "ev")


def test_identity_proof_is_in_the_modems_file(simulated, decoded):
    """The page that names the modem's model was served to an HMI, not to the modem's cloud."""
    analysis, _, runs = simulated
    written = runs["a"][1]
    checked = 0
    for f in analysis.findings:
        proofs = [e for e in f.evidence if " identity '" in e.detail]
        if f.kind != "cellular-modem" or f.id not in written or not proofs:
            continue
        times = {f"{float(r['frame.time_epoch']):.6f}" for r in decoded[written[f.id]]}
        assert {f"{e.ts:.6f}" for e in proofs} <= times, f.id
        checked += 1
    assert checked


def test_batch_index_rows_are_the_packets_a_full_comparison_finds(captures):
    """The per-batch index gives, for every address, exactly the rows a mask over all gives."""
    from cranewatch.decode.l2l4 import decode_l2l4
    from cranewatch.report.evidence import _BatchIndex, _ZoneCodes
    from cranewatch.sources import open_capture

    batch = next(open_capture(captures / "arkime/arkime_synthetic.pcap").batches())
    pk = decode_l2l4(batch)
    idx = _BatchIndex(pk, _ZoneCodes(None))
    for mac in set(pk.src_mac[pk.has_mac].tolist()):
        m = np.uint64(mac)
        want = np.flatnonzero(pk.has_mac & ((pk.src_mac == m) | (pk.dst_mac == m)))
        assert np.array_equal(np.unique(idx.mac_rows(mac)), want)
    ip4 = pk.ip_ver != 0
    for hi, lo in set(zip(pk.src_hi[ip4].tolist(), pk.src_lo[ip4].tolist(), strict=True)):
        h, low = np.uint64(hi), np.uint64(lo)
        want = np.flatnonzero(
            ip4
            & (((pk.src_hi == h) & (pk.src_lo == low)) | ((pk.dst_hi == h) & (pk.dst_lo == low)))
        )
        assert np.array_equal(np.unique(idx.ip_rows((hi, lo))), want)
