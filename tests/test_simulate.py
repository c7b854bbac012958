"""The terminal simulator: determinism, real protocol bytes, contract files, planted truth."""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from cranewatch.simulate import SimulationResult, iso6346, simulate

KINDS = {
    "undeclared-device",
    "cellular-modem",
    "rogue-gateway",
    "remote-access",
    "container-data-leak",
    "beaconing",
    "policy-violation",
}
ROLES = {
    "plc",
    "hmi",
    "drive",
    "camera",
    "sensor",
    "router",
    "modem",
    "server",
    "workstation",
    "switch",
    "other",
}
TSHARK = shutil.which("tshark")
CHECKSUMS = [
    "-o",
    "tcp.check_checksum:TRUE",
    "-o",
    "udp.check_checksum:TRUE",
    "-o",
    "ip.check_checksum:TRUE",
]


@pytest.fixture(scope="module")
def full(tmp_path_factory) -> SimulationResult:
    """The default demo: seed 1, 10 minutes, scale 1."""
    return simulate(tmp_path_factory.mktemp("sim1"), seed=1)


@pytest.fixture(scope="module")
def short_runs(tmp_path_factory) -> dict[int, SimulationResult]:
    """Two-minute captures of seeds 1..6 (different anomaly variants)."""
    return {
        s: simulate(tmp_path_factory.mktemp(f"short{s}"), seed=s, duration=120.0)
        for s in range(1, 7)
    }


def truth(r: SimulationResult) -> dict:
    return json.loads(r.truth.read_text())


def site(r: SimulationResult) -> dict:
    return YAML(typ="safe").load(r.site.read_text())


def frames(path: Path) -> list[tuple[float, bytes]]:
    """Classic pcap records as (timestamp, frame bytes)."""
    data = path.read_bytes()
    assert struct.unpack_from("<I", data)[0] == 0xA1B2C3D4
    out, off = [], 24
    while off < len(data):
        sec, usec, incl, _ = struct.unpack_from("<IIII", data, off)
        out.append((sec + usec / 1e6, data[off + 16 : off + 16 + incl]))
        off += 16 + incl
    return out


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def ip_bytes(ip: str) -> bytes:
    return ipaddress.ip_address(ip).packed


def tshark(path: Path, *args: str) -> str:
    res = subprocess.run(
        [TSHARK, "-r", str(path), *args], capture_output=True, text=True, timeout=120, check=True
    )
    return res.stdout


# --- determinism ------------------------------------------------------------------------


def test_same_seed_gives_identical_files(tmp_path):
    a = simulate(tmp_path / "a", seed=7, duration=60.0)
    b = simulate(tmp_path / "b", seed=7, duration=60.0)
    for name in ("capture.pcap", "site.yaml", "truth.json"):
        assert (a.out_dir / name).read_bytes() == (b.out_dir / name).read_bytes(), name


def test_different_seeds_plant_different_details(short_runs):
    pcaps = {r.capture.read_bytes() for r in short_runs.values()}
    assert len(pcaps) == len(short_runs)
    # the planted details (which host, which peer, which tool/maker) differ between seeds
    signatures = set()
    for r in short_runs.values():
        t = truth(r)
        signatures.add(
            json.dumps(
                sorted(
                    (a["kind"], a["asset"]["mac"], json.dumps(a["peer"])) for a in t["anomalies"]
                )
            )
        )
    assert len(signatures) == len(short_runs)
    makers = {
        next(a["maker"] for a in truth(r)["anomalies"] if a["kind"] == "cellular-modem")
        for r in short_runs.values()
    }
    tools = {
        next(a["tool"] for a in truth(r)["anomalies"] if a["kind"] == "remote-access")
        for r in short_runs.values()
    }
    assert len(makers) > 1 and len(tools) > 1


def test_default_size_and_time_window(full):
    assert 50_000 <= full.packets <= 200_000
    recs = frames(full.capture)
    assert len(recs) == full.packets
    ts = [t for t, _ in recs]
    assert ts == sorted(ts)
    assert ts[0] >= 1_772_438_400  # 2026-03-02 08:00 UTC
    assert 590 <= ts[-1] - ts[0] <= 700
    assert min(len(f) for _, f in recs) >= 60  # padded like a SPAN port delivers


# --- real protocol bytes ----------------------------------------------------------------


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_tshark_finds_no_malformed_or_error_frames(full):
    out = tshark(full.capture, *CHECKSUMS, "-Y", "_ws.malformed || _ws.expert.severity >= error")
    assert out.strip() == ""


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_tshark_dissects_every_claimed_protocol(full):
    out = tshark(full.capture, "-T", "fields", "-e", "frame.protocols")
    seen = set()
    for line in set(out.splitlines()):
        seen.update(line.split(":"))
    expected = {
        "arp",
        "lldp",
        "dhcp",
        "dns",
        "ntp",
        "tls",
        "http",
        "s7comm",
        "cotp",
        "mbtcp",
        "enip",
        "cipio",
        "pn_dcp",
        "pn_rt",
        "rtsp",
        "rtp",
        "rtcp",
        "openvpn",
        "rdp",
        "nbns",
        "llmnr",
        "ssdp",
    }
    assert expected <= seen, expected - seen


@pytest.mark.skipif(TSHARK is None, reason="tshark not installed")
def test_tshark_sees_each_seeds_variant_protocols(short_runs):
    """Remote-access tools and leak transports differ per seed; each must dissect."""
    want = {
        "rdp": "rdp",
        "vnc": "vnc",
        "ssh": "ssh",
        "anydesk": "tls",
        "mqtt": "mqtt",
        "http-json": "json",
        "edifact": "http",
    }
    for seed, r in short_runs.items():
        t = truth(r)
        out = tshark(
            r.capture,
            *CHECKSUMS,
            "-d",
            "tcp.port==7070,tls",
            "-T",
            "fields",
            "-e",
            "frame.protocols",
            "-e",
            "_ws.malformed",
            "-e",
            "_ws.expert.severity",
        )
        rows = [ln.split("\t") + ["", ""] for ln in out.splitlines()]
        assert not any(r[1].strip() for r in rows)  # no malformed frame
        severities = [int(v) for r in rows for v in r[2].split(",") if v.strip()]
        assert all(v < 0x00800000 for v in severities)  # no expert error (PI_ERROR)
        protos = {p for ln in out.splitlines() for p in ln.split("\t")[0].split(":")}
        ra = next(a for a in t["anomalies"] if a["kind"] == "remote-access")
        leak = next(a for a in t["anomalies"] if a["kind"] == "container-data-leak")
        for key in (ra["tool"], leak["variant"]):
            if key in want:
                assert want[key] in protos, (seed, key)


def test_teamviewer_and_ssh_bytes_when_chosen(short_runs):
    """Tools without a tshark dissector still carry their real framing bytes."""
    for r in short_runs.values():
        ra = next(a for a in truth(r)["anomalies"] if a["kind"] == "remote-access")
        payloads = _payloads_to(r, ra["peer"]["ip"], ra["peer"]["port"])
        assert payloads, ra
        if ra["tool"] == "teamviewer":
            assert payloads[0][:2] == b"\x17\x24"
        if ra["tool"] == "ssh":
            assert payloads[0].startswith(b"SSH-2.0-")
        if ra["tool"] == "rdp":
            assert b"Cookie: mstshash=" in payloads[0]


def _payloads_to(r: SimulationResult, ip: str, port: int) -> list[bytes]:
    """TCP payloads sent to ip:port (IPv4 over Ethernet, no options beyond what TCP says)."""
    dst, out = ip_bytes(ip), []
    for _, f in frames(r.capture):
        if f[12:14] != b"\x08\x00" or f[23] != 6 or f[30:34] != dst:
            continue
        ihl = (f[14] & 0x0F) * 4
        tcp = f[14 + ihl :]
        if struct.unpack("!H", tcp[2:4])[0] != port:
            continue
        total = struct.unpack("!H", f[16:18])[0]
        data = tcp[(tcp[12] >> 4) * 4 : total - ihl]
        if data:
            out.append(data)
    return out


# --- site.yaml follows CONTRACT.md section 1 --------------------------------------------


def test_site_yaml_has_contract_keys_only(full):
    doc = site(full)
    assert set(doc) == {"site", "zones", "assets", "conduits", "container_data_to"}
    zone_names = {z["name"] for z in doc["zones"]}
    for z in doc["zones"]:
        assert set(z) <= {"name", "cidrs", "gateways"}
        nets = [ipaddress.ip_network(c) for c in z["cidrs"]]
        assert all(any(ipaddress.ip_address(g) in n for n in nets) for g in z["gateways"])
    ids = [a["id"] for a in doc["assets"]]
    assert len(ids) == len(set(ids))
    for a in doc["assets"]:
        assert set(a) <= {"id", "mac", "ip", "zone", "vendor", "model", "role"}
        assert re.fullmatch(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", a["mac"])
        assert a["role"] in ROLES and a["zone"] in zone_names
        zone = next(z for z in doc["zones"] if z["name"] == a["zone"])
        assert ipaddress.ip_address(a["ip"]) in ipaddress.ip_network(zone["cidrs"][0])
    names = zone_names | set(ids) | {"internet"}
    for c in doc["conduits"]:
        assert set(c) <= {"from", "to", "ports", "remote_access"}
        assert c["from"] in names and c["to"] in names
        assert all(re.fullmatch(r"(tcp|udp)/\d+(-\d+)?|any", p) for p in c["ports"])
    assert any(c.get("remote_access") for c in doc["conduits"])
    assert set(doc["container_data_to"]) <= names


def test_site_yaml_loads_with_the_site_loader(full):
    site_mod = pytest.importorskip("cranewatch.inventory.site")
    s = site_mod.load_site(full.site)
    assert len(s.zones) == len(site(full)["zones"])


def test_every_mac_on_the_wire_is_declared_or_planted(full):
    """No accidental undeclared device: unknown source MACs are exactly the planted ones."""
    declared = {mac_bytes(a["mac"]) for a in site(full)["assets"]}
    t = truth(full)
    planted = {
        mac_bytes(a["asset"]["mac"])
        for a in t["anomalies"]
        if a["kind"] in ("undeclared-device", "cellular-modem")
    }
    sources = {f[6:12] for _, f in frames(full.capture)}
    assert sources - declared == planted
    assert not planted & declared


# --- truth.json is complete and consistent ----------------------------------------------


def test_truth_lists_every_kind_with_assets_on_the_wire(full):
    t = truth(full)
    assert t["seed"] == 1
    assert {a["kind"] for a in t["anomalies"]} == KINDS
    blob = full.capture.read_bytes()
    for a in t["anomalies"]:
        assert set(a) >= {"kind", "asset", "peer", "note"}
        assert mac_bytes(a["asset"]["mac"]) in blob and ip_bytes(a["asset"]["ip"]) in blob
        if a["peer"]:
            assert ip_bytes(a["peer"]["ip"]) in blob
    for b in t["benign"]:
        assert set(b) >= {"what", "asset", "peer", "note", "not"}
        assert set(b["not"]) <= KINDS


def test_leaked_numbers_pass_and_lookalikes_fail_the_check_digit(short_runs):
    for r in short_runs.values():
        t = truth(r)
        leak = next(a for a in t["anomalies"] if a["kind"] == "container-data-leak")
        assert leak["containers"] and all(iso6346.is_valid(n) for n in leak["containers"])
        sent = b"".join(_payloads_to(r, leak["peer"]["ip"], leak["peer"]["port"]))
        assert all(n.encode() in sent for n in leak["containers"])
        if leak["variant"] == "edifact":
            assert b"UNH+" in sent and b"EQD+CN+" in sent
        fake = next(b for b in t["benign"] if b["what"] == "wrong-check-digits")
        assert fake["strings"] and not any(iso6346.is_valid(s) for s in fake["strings"])
        sent = b"".join(_payloads_to(r, fake["peer"]["ip"], fake["peer"]["port"]))
        assert all(s.encode() in sent for s in fake["strings"])


def test_modems_rogue_one_undeclared_and_routing_declared_one_allowed(full):
    t, doc = truth(full), site(full)
    modem = next(a for a in t["anomalies"] if a["kind"] == "cellular-modem")
    rogue = next(a for a in t["anomalies"] if a["kind"] == "rogue-gateway")
    assert rogue["asset"] == modem["asset"]
    declared = next(b for b in t["benign"] if b["what"] == "declared-modem")
    roles = {a["mac"]: a["role"] for a in doc["assets"]}
    assert modem["asset"]["mac"] not in roles and roles[declared["asset"]["mac"]] == "modem"
    assert any(
        c["from"] == next(a["id"] for a in doc["assets"] if a["mac"] == declared["asset"]["mac"])
        and c["to"] == "internet"
        for c in doc["conduits"]
    )
    # hosts send packets for off-site addresses to the modem's MAC
    inside = [ipaddress.ip_network(c) for z in doc["zones"] for c in z["cidrs"]]
    mm = mac_bytes(rogue["asset"]["mac"])
    routed = [
        f
        for _, f in frames(full.capture)
        if f[0:6] == mm
        and f[12:14] == b"\x08\x00"
        and not any(ipaddress.ip_address(f[30:34]) in n for n in inside)
    ]
    assert routed
    assert {ipaddress.ip_address(f[26:30]).compressed for f in routed} <= set(
        rogue["routed_hosts"]
        + [a["asset"]["ip"] for a in t["anomalies"] if a["kind"] == "undeclared-device"]
    )


def test_beacon_is_machine_timed(full):
    b = next(a for a in truth(full)["anomalies"] if a["kind"] == "beaconing")
    src, dst = ip_bytes(b["asset"]["ip"]), ip_bytes(b["peer"]["ip"])
    syns = [
        ts
        for ts, f in frames(full.capture)
        if f[12:14] == b"\x08\x00"
        and f[23] == 6
        and f[26:30] == src
        and f[30:34] == dst
        and f[14 + 20 + 13] == 0x02
    ]
    assert len(syns) >= 6
    gaps = [b - a for a, b in zip(syns, syns[1:], strict=False)]
    mean = sum(gaps) / len(gaps)
    assert abs(mean - b["period_s"]) / b["period_s"] < 0.05
    assert max(abs(g - mean) for g in gaps) / mean < 0.08


def test_conduits_match_benign_flows_and_miss_violations(full):
    site_mod = pytest.importorskip("cranewatch.inventory.site")
    s = site_mod.load_site(full.site)
    t = truth(full)
    udp = {53, 123, 1194}
    for b in t["benign"]:
        if "policy-violation" not in b["not"] or not b["peer"] or b["peer"]["port"] is None:
            continue
        a, p = b["asset"]["ip"], b["peer"]
        if s.zone_of(a) == s.zone_of(p["ip"]):
            continue
        proto = "udp" if p["port"] in udp else "tcp"
        assert s.conduit_for(a, p["ip"], proto, p["port"]) is not None, b["what"]
    vpn = next(b for b in t["benign"] if b["what"] == "approved-vpn")
    c = s.conduit_for(vpn["peer"]["ip"], vpn["asset"]["ip"], "udp", 1194)
    assert c is not None and c.remote_access
    for a in t["anomalies"]:
        if a["kind"] == "policy-violation":
            assert s.zone_of(a["asset"]["ip"]) != s.zone_of(a["peer"]["ip"])
            assert (
                s.conduit_for(a["asset"]["ip"], a["peer"]["ip"], "tcp", a["peer"]["port"]) is None
            )


def test_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError):
        simulate(tmp_path, seed=1, duration=0)
