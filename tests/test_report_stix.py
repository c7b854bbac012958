"""STIX 2.1 bundle: parses back, every finding present, same input gives the same bundle.

Indicators name only what is suspicious: a site asset's own address would fire a SIEM on all
its normal traffic, so it is in the pattern only when the asset itself is the anomaly.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
import stix2
from stix2patterns.validator import run_validator

from _make_sample_findings import make_findings
from cranewatch.report.stix_out import stix_bundle, write_stix

PLC = {"mac": "00:01:e3:02:5b:41", "ip": "10.20.4.10"}
WORKSTATION = {"mac": "b0:83:fe:51:43:11", "ip": "10.50.0.105"}
MODEM = {"mac": "00:40:9d:78:25:5d", "ip": "10.20.6.231"}


@pytest.fixture(scope="module")
def doc() -> dict:
    return make_findings(30)


def by_type(bundle) -> dict[str, list]:
    out: dict[str, list] = {}
    for obj in bundle.objects:
        out.setdefault(obj.type, []).append(obj)
    return out


def ts(dt) -> float:
    return dt.timestamp()


def test_bundle_parses_and_holds_every_finding(doc: dict, tmp_path: Path) -> None:
    path = write_stix(doc, tmp_path / "findings.stix.json")
    bundle = stix2.parse(path.read_text(encoding="utf-8"), allow_custom=False)
    objs = by_type(bundle)
    index = {o.id: o for o in bundle.objects}
    (site,) = objs["identity"]
    assert site.name == doc["site"]
    records = {
        next(r.external_id for r in o.external_references if r.source_name == "cranewatch"): o
        for o in objs["indicator"] + objs.get("note", [])
    }
    assert sorted(records) == sorted(f["id"] for f in doc["findings"])
    sightings = {s.sighting_of_ref: s for s in objs["sighting"]}
    for f in doc["findings"]:
        ind = records[f["id"]]
        if f["severity"] in ("low", "info"):
            assert ind.type == "note"
            (obs_id, _) = ind.object_refs
            values = {index[r].value for r in index[obs_id].object_refs}
            assert f["asset"]["mac"] in values and f["asset"]["ip"] in values
            continue
        assert ind.type == "indicator"
        assert run_validator(ind.pattern, stix_version="2.1") == []
        if f["peer"] and f["peer"]["name"]:
            assert f"domain-name:value = '{f['peer']['name']}'" in ind.pattern
        assert f"severity:{f['severity']}" in ind.labels
        techniques = [
            r.external_id for r in ind.external_references if r.source_name == "mitre-ics-attack"
        ]
        assert techniques == f["attack_ics"]
        sighting = sightings[ind.id]
        times = [e["ts"] for e in f["evidence"]]
        assert sighting.count == len(times)
        assert ts(sighting.first_seen) == pytest.approx(min(times), abs=1e-3)
        if len(times) > 1:
            assert ts(sighting.last_seen) == pytest.approx(max(times), abs=1e-3)
        assert sighting.where_sighted_refs == [site.id]
        assert f["asset"]["ip"] in sighting.description
        (obs_id,) = sighting.observed_data_refs
        values = {index[r].value for r in index[obs_id].object_refs}
        assert f["asset"]["mac"] in values and f["asset"]["ip"] in values


def _finding(kind: str, severity: str, asset: dict, peer: dict | None, attack: list) -> dict:
    return {
        "id": "f-0001",
        "kind": kind,
        "severity": severity,
        "confidence": 0.9,
        "asset": asset,
        "peer": peer,
        "title": f"{kind} on {asset['ip']}",
        "evidence": [{"ts": 1772457380.17, "detail": "x"}, {"ts": 1772457390.5, "detail": "y"}],
        "attack_ics": attack,
    }


def _one(f: dict) -> dict[str, list]:
    """The bundle of one finding, parsed back strictly, every reference resolved."""
    doc = {"site": "Terminal", "inputs": [], "findings": [f]}
    bundle = stix2.parse(stix_bundle(doc).serialize(), allow_custom=False)
    ids = {o.id for o in bundle.objects}
    for o in bundle.objects:
        for name in o:
            refs = o[name] if name.endswith("_refs") else [o[name]] if name.endswith("_ref") else []
            assert set(refs) <= ids, (o.type, name)
    return by_type(bundle)


@pytest.mark.parametrize(
    ("kind", "peer", "expected"),
    [
        (
            "remote-access",
            {"ip": "198.51.100.39", "port": 7070, "name": "relay-b137e0b0.net.anydesk.com"},
            "[ipv4-addr:value = '198.51.100.39'] OR "
            "[domain-name:value = 'relay-b137e0b0.net.anydesk.com']",
        ),
        (
            "policy-violation",
            {"ip": "195.181.174.176", "port": 443, "name": None},
            "[ipv4-addr:value = '195.181.174.176']",
        ),
        (  # between two site addresses: only that pair on that service is out of place
            "policy-violation",
            {"ip": PLC["ip"], "port": 102, "name": None},
            "[network-traffic:src_ref.value = '10.50.0.105' AND "
            "network-traffic:dst_ref.value = '10.20.4.10' AND network-traffic:dst_port = 102]",
        ),
        (  # no port: the peer may be the client (an internal remote session into the asset)
            "remote-access",
            {"ip": PLC["ip"], "port": None, "name": None},
            "[network-traffic:src_ref.value = '10.50.0.105' AND "
            "network-traffic:dst_ref.value = '10.20.4.10'] OR "
            "[network-traffic:src_ref.value = '10.20.4.10' AND "
            "network-traffic:dst_ref.value = '10.50.0.105']",
        ),
    ],
)
def test_pattern_never_matches_a_site_address_alone(kind: str, peer: dict, expected: str) -> None:
    objs = _one(_finding(kind, "high", WORKSTATION, peer, ["T0822"]))
    (ind,) = objs["indicator"]
    assert ind.pattern == expected
    assert run_validator(ind.pattern, stix_version="2.1") == []
    (obs,) = objs["observed-data"]  # the asset stays in the evidence of the sighting
    (sighting,) = objs["sighting"]
    assert sighting.observed_data_refs == [obs.id]
    scos = {o.value for t in ("mac-addr", "ipv4-addr") for o in objs.get(t, [])}
    assert {WORKSTATION["mac"], WORKSTATION["ip"], peer["ip"]} <= scos
    assert "10.50.0.105 (b0:83:fe:51:43:11)" in sighting.description


def test_peerless_finding_matches_the_asset_itself() -> None:
    (ind,) = _one(_finding("undeclared-device", "high", MODEM, None, ["T0864"]))["indicator"]
    assert ind.pattern == (
        "[mac-addr:value = '00:40:9d:78:25:5d'] OR [ipv4-addr:value = '10.20.6.231']"
    )
    assert ind.indicator_types == ["anomalous-activity"]


@pytest.mark.parametrize(
    ("kind", "severity", "attack", "types"),
    [
        ("cellular-modem", "critical", ["T0883", "T0822"], ["anomalous-activity", "compromised"]),
        ("remote-access", "critical", ["T0822", "T0883"], ["anomalous-activity", "compromised"]),
        ("remote-access", "high", ["T0822"], ["anomalous-activity"]),
        ("beaconing", "medium", ["T0869"], ["anomalous-activity"]),
        ("container-data-leak", "high", ["T0882"], ["anomalous-activity"]),
    ],
)
def test_compromised_only_where_a_device_is_exposed(
    kind: str, severity: str, attack: list, types: list
) -> None:
    peer = {"ip": "203.0.113.13", "port": None, "name": None}
    (ind,) = _one(_finding(kind, severity, MODEM, peer, attack))["indicator"]
    assert ind.indicator_types == types


def test_declared_modem_is_a_note_not_an_indicator() -> None:
    peer = {"ip": "203.0.113.13", "port": 3199, "name": "remotemanager.digi.com"}
    objs = _one(_finding("cellular-modem", "low", MODEM, peer, ["T0883", "T0822"]))
    assert "indicator" not in objs and "sighting" not in objs
    (note,) = objs["note"]
    (obs,) = objs["observed-data"]
    assert note.object_refs[0] == obs.id
    assert "severity:low" in note.labels
    assert "10.20.6.231 (00:40:9d:78:25:5d), peer 203.0.113.13:3199" in note.content


def test_same_input_same_bundle_whatever_the_order(doc: dict) -> None:
    first = stix_bundle(doc).serialize(sort_keys=True)
    assert stix_bundle(copy.deepcopy(doc)).serialize(sort_keys=True) == first
    shuffled = copy.deepcopy(doc)
    shuffled["findings"].reverse()
    a = {o.id for o in stix_bundle(doc).objects}
    b = {o.id for o in stix_bundle(shuffled).objects}
    assert a == b  # ids come from finding content, not from list position


def test_ipv6_and_malformed_values(doc: dict) -> None:
    odd = copy.deepcopy(doc)
    odd["findings"] = [
        {
            "id": "f-0001",
            "kind": "remote-access",
            "severity": "high",
            "confidence": 0.9,
            "asset": {"mac": "00:1B:1B:AA:01:10", "ip": "fe80::21b:1bff:feaa:110"},
            "peer": {"ip": "2001:db8::7", "port": 443, "name": "it's.bad'] OR [x"},
            "title": "v6 session",
            "evidence": [{"ts": 1700000000.5, "detail": "x"}],
            "attack_ics": [],
        },
        {
            "id": "f-0002",
            "kind": "rogue-gateway",
            "severity": "medium",
            "confidence": 2.5,
            "asset": {"mac": "not-a-mac", "ip": "999.1.1.1"},
            "peer": None,
            "title": "nothing usable",
            "evidence": [{"ts": None, "detail": "?"}],
            "attack_ics": [],
        },
    ]
    bundle = stix2.parse(stix_bundle(odd).serialize(), allow_custom=False)
    objs = by_type(bundle)
    values = {o.value for t in ("mac-addr", "ipv6-addr", "domain-name") for o in objs.get(t, [])}
    assert values == {"00:1b:1b:aa:01:10", "fe80::21b:1bff:feaa:110", "2001:db8::7"}
    (ind,) = objs["indicator"]
    assert ind.pattern == "[ipv6-addr:value = '2001:db8::7']"  # the bad name left out
    assert run_validator(ind.pattern, stix_version="2.1") == []
    (note,) = objs["note"]
    assert note.content == "nothing usable"


def test_created_time_comes_from_the_capture(doc: dict) -> None:
    data = json.loads(stix_bundle(doc).serialize())
    end = max(i["last_ts"] for i in doc["inputs"])
    expected = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert {o["created"][:19] for o in data["objects"] if "created" in o} == {expected}
