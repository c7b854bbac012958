"""Findings of different kinds about one device are linked, so one problem reads as one."""

from __future__ import annotations

import csv

from _make_sample_findings import make_findings
from cranewatch.detect.model import Evidence, Finding, merge_findings
from cranewatch.report.csv_out import write_csv

MODEM, HMI, CLOUD = "ec:6e:79:40:b3:d0", "00:01:e3:3b:ab:6c", "203.0.113.109"


def _f(kind: str, mac: str, peer: str | None = None, severity: str = "high") -> Finding:
    return Finding(kind, severity, 0.9, f"{kind} {mac}", asset_mac=mac, peer_ip=peer,
                   evidence=[Evidence(1.0, "x")])  # fmt: skip


def test_one_device_one_peer_links_every_kind_and_no_other():
    found = merge_findings([
        _f("cellular-modem", MODEM, CLOUD, "critical"),
        _f("policy-violation", MODEM, CLOUD),
        _f("policy-violation", MODEM, "198.51.100.9"),  # another peer: another matter
        _f("undeclared-device", MODEM),
        _f("rogue-gateway", MODEM),
        _f("policy-violation", HMI, CLOUD),  # another device
    ])  # fmt: skip
    by = {(f.kind, f.asset_mac, f.peer_ip): f for f in found}
    ids = {k: f.id for k, f in by.items()}
    modem = by[("cellular-modem", MODEM, CLOUD)]
    assert modem.related == sorted([ids[("policy-violation", MODEM, CLOUD)],
                                    ids[("undeclared-device", MODEM, None)],
                                    ids[("rogue-gateway", MODEM, None)]])  # fmt: skip
    assert by[("policy-violation", MODEM, "198.51.100.9")].related == sorted(
        [ids[("undeclared-device", MODEM, None)], ids[("rogue-gateway", MODEM, None)]]
    )  # in finding order
    assert by[("policy-violation", HMI, CLOUD)].related == []
    assert "related" not in by[("policy-violation", HMI, CLOUD)].to_json()
    assert by[("undeclared-device", MODEM, None)].to_json()["related"][0] == modem.id


def test_csv_has_the_links(tmp_path):
    doc = make_findings(n_assets=10)
    doc["findings"][0]["related"] = ["f-0002", "f-0003"]
    written = write_csv(doc, tmp_path)
    with written["findings.csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["related"] == "f-0002;f-0003"
