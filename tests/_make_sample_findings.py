"""Build a realistic findings document (CONTRACT section 2 plus "flows") for report tests.

Why a generator and not a fixture file: the report tests need both a demo-sized
terminal (a few zones, ~30 assets, ~10 findings, ~100 flows) and a 2,000-asset one for
the scale check, and both must be the same every run (seeded, no clock).

    python tests/_make_sample_findings.py out.json [n_assets]
"""

from __future__ import annotations

import json
import random
import sys
from typing import Any

T0 = 1_700_000_000.0
SPAN = 6 * 3600.0

# (vendor, OUI, role, protocols, product) for the devices of a crane network.
CRANE_KINDS = [
    ("Siemens AG", "00:1b:1b", "plc", ["s7comm", "profinet"], "S7-1500"),
    ("Siemens AG", "00:1b:1b", "hmi", ["s7comm", "http"], "TP1500 Comfort"),
    ("ABB", "00:02:a3", "drive", ["profinet"], "ACS880"),
    ("ABB", "00:02:a3", "drive", ["profinet"], "ACS880"),
    ("Axis Communications AB", "00:40:8c", "camera", ["rtsp", "http"], "P1455-LE"),
    ("Hirschmann Automation and Control GmbH", "00:80:63", "switch", ["lldp", "snmp"], "RSP30"),
    ("Rockwell Automation", "00:00:bc", "plc", ["enip", "cip"], "ControlLogix 5580"),
    ("Moxa Technologies Co., Ltd.", "00:90:e8", "sensor", ["modbus"], "ioLogik E1242"),
]
IT_KINDS = [
    ("Dell Inc.", "00:14:22", "server", ["https", "ssh", "s7comm"], "PowerEdge R650"),
    ("Hewlett Packard", "00:1b:78", "workstation", ["https", "rdp", "dns"], "EliteDesk 800"),
    ("Cisco Systems, Inc", "00:1b:54", "router", ["ospf", "snmp"], "IR1101"),
]
SERVICE_PORTS = {
    "s7comm": ("tcp", 102),
    "modbus": ("tcp", 502),
    "enip": ("tcp", 44818),
    "cip": ("udp", 2222),
    "https": ("tcp", 443),
    "http": ("tcp", 80),
    "rtsp": ("tcp", 554),
    "snmp": ("udp", 161),
    "ssh": ("tcp", 22),
    "rdp": ("tcp", 3389),
    "profinet": ("udp", 34964),
}


def _mac(oui: str, n: int) -> str:
    return f"{oui}:{(n >> 16) & 255:02x}:{(n >> 8) & 255:02x}:{n & 255:02x}"


def _zones(n_assets: int) -> list[tuple[str, str]]:
    """Crane zones of ~60 devices each plus terminal IT; (name, /16-ish prefix)."""
    cranes = max(3, n_assets // 90)
    out = [
        (f"sts-{i + 1:02d}" if i % 3 != 2 else f"rtg-{i + 1:02d}", f"10.20.{i + 1}")
        for i in range(cranes)
    ]
    out.append(("terminal-it", "10.30.0"))
    return out


def _assets(rng: random.Random, n_assets: int) -> list[dict[str, Any]]:
    zones = _zones(n_assets)
    it_share = max(4, n_assets // 3)
    assets: list[dict[str, Any]] = []
    for i in range(n_assets):
        if i < it_share:
            zone, prefix = zones[-1]
            vendor, oui, role, protos, product = IT_KINDS[i % len(IT_KINDS)]
            host_no = 10 + i
        else:
            j = i - it_share
            zone, prefix = zones[j % (len(zones) - 1)]
            vendor, oui, role, protos, product = CRANE_KINDS[
                (j // (len(zones) - 1)) % len(CRANE_KINDS)
            ]
            host_no = 10 + j // (len(zones) - 1)
        ip = (
            f"{prefix}.{host_no}"
            if host_no < 255
            else f"{prefix[:-2]}{host_no // 250}.{host_no % 250}"
        )
        first = T0 + rng.uniform(0, 60)
        pk = rng.randint(200, 90_000)
        assets.append(
            {
                "id": f"a-{i + 1:04d}",
                "mac": _mac(oui, i + 1),
                "ips": [ip],
                "vendor": vendor,
                "hostnames": [f"{zone}-{role}-{host_no}"]
                if role in ("server", "workstation", "hmi")
                else [],
                "declared_id": f"{zone}-{role}-{host_no}",
                "zone": zone,
                "role": role,
                "protocols": list(protos),
                "identity": {
                    "product": product,
                    "firmware": f"V{rng.randint(1, 4)}.{rng.randint(0, 9)}",
                },
                "first_seen": round(first, 3),
                "last_seen": round(T0 + SPAN - rng.uniform(0, 60), 3),
                "packets": pk,
                "bytes": pk * rng.randint(70, 900),
            }
        )
    # Undeclared hosts: one in twenty, never the first crane PLC; plus the hidden modem.
    for a in assets[it_share + 1 :: 20]:
        a["declared_id"] = None
        a["role"] = None
    modem_zone, modem_prefix = zones[0]
    assets.append(
        {
            "id": f"a-{n_assets + 1:04d}",
            "mac": "00:1e:42:00:00:01",
            "ips": [f"{modem_prefix}.250"],
            "vendor": "Teltonika",
            "hostnames": ["RUT955"],
            "declared_id": None,
            "zone": modem_zone,
            "role": "modem",
            "protocols": ["https", "dns", "mqtt"],
            "identity": {"product": "RUT955", "firmware": "RUT9_R_00.07.04"},
            "first_seen": T0 + 5.0,
            "last_seen": T0 + SPAN - 3.0,
            "packets": 4321,
            "bytes": 987_654,
        }
    )
    return assets


def _flow(
    rng: random.Random,
    a: dict,
    b: dict | None,
    peer_ip: str,
    service: str,
    name: str | None = None,
    gw_mac: str | None = None,
) -> dict[str, Any]:
    proto, port = SERVICE_PORTS.get(service, ("tcp", 443))
    first = T0 + rng.uniform(0, SPAN / 2)
    op, rp = rng.randint(4, 5000), rng.randint(4, 5000)
    return {
        "proto": proto,
        "orig_ip": a["ips"][0],
        "orig_port": rng.randint(49152, 65000),
        "resp_ip": peer_ip,
        "resp_port": port,
        "orig_mac": a["mac"],
        "resp_mac": b["mac"] if b else gw_mac,
        "first_ts": round(first, 3),
        "last_ts": round(first + rng.uniform(1, SPAN / 2), 3),
        "orig_pkts": op,
        "resp_pkts": rp,
        "orig_bytes": op * rng.randint(60, 1400),
        "resp_bytes": rp * rng.randint(60, 1400),
        "service": service,
        "name": name,
    }


def _flows(rng: random.Random, assets: list[dict], n_flows: int) -> list[dict[str, Any]]:
    by_zone: dict[str, list[dict]] = {}
    for a in assets:
        by_zone.setdefault(a["zone"], []).append(a)
    it = by_zone["terminal-it"]
    router = next(a for a in it if a["role"] == "router")
    crane_zones = [z for z in by_zone if z != "terminal-it"]
    modem = assets[-1]
    flows = [
        _flow(rng, modem, None, "198.51.100.7", "https", "rms.example.net", router["mac"]),
        _flow(rng, modem, None, "198.51.100.53", "dns", None, router["mac"]),
        _flow(rng, it[1], None, "203.0.113.80", "https", "remote.example.com", router["mac"]),
        _flow(
            rng,
            by_zone[crane_zones[0]][0],
            None,
            "203.0.113.50",
            "http",
            "edi.example.org",
            router["mac"],
        ),
    ]
    while len(flows) < n_flows:
        r = rng.random()
        zone = rng.choice(crane_zones)
        local = by_zone[zone]
        if r < 0.6 and len(local) > 1:  # inside one crane network
            a, b = rng.sample(local, 2)
            service = rng.choice(a["protocols"])
        elif r < 0.85:  # terminal IT polling a crane
            a, b = rng.choice(it), rng.choice(local)
            service = rng.choice(["s7comm", "modbus", "enip", "snmp"])
        else:  # inside terminal IT
            a, b = rng.sample(it, 2)
            service = rng.choice(["https", "ssh", "rdp", "snmp"])
        flows.append(_flow(rng, a, b, b["ips"][0], service))
    return flows


def _evidence(rng: random.Random, n: int, detail: str, period: float | None = None) -> list[dict]:
    start = T0 + rng.uniform(30, SPAN / 3)
    if period:
        return [
            {
                "ts": round(start + k * period + rng.uniform(-0.2, 0.2), 3),
                "detail": f"{detail} (#{k + 1})",
            }
            for k in range(n)
        ]
    return sorted(
        ({"ts": round(start + rng.uniform(0, SPAN / 2), 3), "detail": detail} for _ in range(n)),
        key=lambda e: e["ts"],
    )


def _finding(
    kind: str,
    severity: str,
    conf: float,
    asset: dict,
    peer: dict | None,
    title: str,
    evidence: list[dict],
    attack: list[str],
) -> dict[str, Any]:
    return {
        "id": "",
        "kind": kind,
        "severity": severity,
        "confidence": conf,
        "asset": {"mac": asset["mac"], "ip": asset["ips"][0] if asset["ips"] else None},
        "peer": peer,
        "title": title,
        "evidence": evidence,
        "attack_ics": attack,
    }


def _findings(rng: random.Random, assets: list[dict], flows: list[dict]) -> list[dict]:
    modem = assets[-1]
    it = [a for a in assets if a["zone"] == "terminal-it"]
    router = next(a for a in it if a["role"] == "router")
    plc = next(a for a in assets if a["zone"] != "terminal-it" and a["role"] == "plc")
    out = [
        _finding(
            "cellular-modem",
            "critical",
            0.95,
            modem,
            {"ip": "198.51.100.7", "port": 443, "name": "rms.example.net"},
            f"Undeclared cellular router on crane {modem['zone'].upper()} network",
            _evidence(rng, 3, "MAC vendor is a cellular router maker; talks to its cloud"),
            ["T0822", "T0883"],
        ),
        _finding(
            "beaconing",
            "high",
            0.88,
            modem,
            {"ip": "198.51.100.7", "port": 443, "name": "rms.example.net"},
            "Machine-timed connections every 60 s to rms.example.net",
            _evidence(rng, 12, "TLS session start", period=60.0),
            ["T0869"],
        ),
        _finding(
            "remote-access",
            "high",
            0.9,
            it[1],
            {"ip": "203.0.113.80", "port": 443, "name": "remote.example.com"},
            "Remote-access tool session outside every approved conduit",
            _evidence(rng, 4, "TLS SNI matches a remote-access vendor"),
            ["T0822"],
        ),
        _finding(
            "container-data-leak",
            "high",
            0.8,
            plc,
            {"ip": "203.0.113.50", "port": 80, "name": "edi.example.org"},
            "Container numbers sent in clear to a public address",
            _evidence(rng, 5, "ISO 6346 container number MSCU1234565 in HTTP body"),
            [],
        ),
        _finding(
            "rogue-gateway",
            "medium",
            0.7,
            router,
            None,
            "Hosts route off-subnet through a MAC that is no declared gateway",
            _evidence(rng, 2, "off-subnet traffic via this MAC from 6 hosts"),
            ["T0830"],
        ),
    ]
    for f in flows[4:]:
        za = next((a["zone"] for a in assets if a["ips"][0] == f["orig_ip"]), None)
        zb = next((a["zone"] for a in assets if a["ips"][0] == f["resp_ip"]), None)
        if za != zb and f["service"] in ("modbus", "snmp") and len(out) < 8 + len(assets) // 400:
            src = next(a for a in assets if a["ips"][0] == f["orig_ip"])
            out.append(
                _finding(
                    "policy-violation",
                    "medium",
                    0.75,
                    src,
                    {"ip": f["resp_ip"], "port": f["resp_port"], "name": None},
                    f"{f['service']} from {za} to {zb} that no conduit allows",
                    _evidence(
                        rng, 2, f"{f['proto']}/{f['resp_port']} {f['orig_ip']} -> {f['resp_ip']}"
                    ),
                    ["T0886"],
                )
            )
    for a in assets:
        if a["declared_id"] is None:
            out.append(
                _finding(
                    "undeclared-device",
                    "low" if a is not modem else "medium",
                    0.99,
                    a,
                    None,
                    f"Device {a['mac']} ({a['vendor']}) is not in the site file",
                    _evidence(rng, 1, "first frame from this MAC"),
                    [],
                )
            )
    order = ["critical", "high", "medium", "low", "info"]
    out.sort(key=lambda f: (order.index(f["severity"]), -f["confidence"]))
    for i, f in enumerate(out, 1):
        f["id"] = f"f-{i:04d}"
    return out


def make_findings(n_assets: int = 30, n_flows: int | None = None, seed: int = 7) -> dict[str, Any]:
    """A findings document with ~n_assets assets (+1 hidden modem) and ~4 flows per asset."""
    rng = random.Random(seed)
    assets = _assets(rng, n_assets - 1)
    flows = _flows(rng, assets, n_flows if n_flows is not None else max(100, 4 * n_assets))
    findings = _findings(rng, assets, flows)
    return {
        "schema": "cranewatch/findings-v1",
        "tool": {"name": "cranewatch", "version": "0.1.0"},
        "site": "Example Container Terminal",
        "inputs": [
            {
                "path": "captures/sts-span-port.pcapng",
                "packets": 1_234_567,
                "bytes": 987_654_321,
                "first_ts": T0,
                "last_ts": T0 + SPAN,
                "errors": 0,
            },
            {
                "path": "captures/it-core.pcap.gz",
                "packets": 345_678,
                "bytes": 123_456_789,
                "first_ts": T0 + 60.0,
                "last_ts": T0 + SPAN - 60.0,
                "errors": 2,
            },
        ],
        "assets": assets,
        "findings": findings,
        "declared_not_seen": [
            {
                "id": "sts-02-spare-io",
                "zone": "sts-02",
                "mac": None,
                "ip": "10.20.2.99",
                "role": "plc",
            }
        ],
        "flows": flows,
    }


if __name__ == "__main__":
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    with open(sys.argv[1], "w", encoding="utf-8") as fh:
        json.dump(make_findings(n), fh, indent=1)
