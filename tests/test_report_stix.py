"""STIX 2.1 bundle: parses back, every finding present, same input gives the same bundle."""

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
    indicators = {
        next(r.external_id for r in i.external_references if r.source_name == "cranewatch"): i
        for i in objs["indicator"]
    }
    assert sorted(indicators) == sorted(f["id"] for f in doc["findings"])
    sightings = {s.sighting_of_ref: s for s in objs["sighting"]}
    for f in doc["findings"]:
        ind = indicators[f["id"]]
        assert run_validator(ind.pattern, stix_version="2.1") == []
        assert f["asset"]["mac"] in ind.pattern and f["asset"]["ip"] in ind.pattern
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
        (obs_id,) = sighting.observed_data_refs
        values = {index[r].value for r in index[obs_id].object_refs}
        assert f["asset"]["mac"] in values and f["asset"]["ip"] in values


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
    assert run_validator(ind.pattern, stix_version="2.1") == []
    (note,) = objs["note"]
    assert note.content == "nothing usable"


def test_created_time_comes_from_the_capture(doc: dict) -> None:
    data = json.loads(stix_bundle(doc).serialize())
    end = max(i["last_ts"] for i in doc["inputs"])
    expected = datetime.fromtimestamp(end, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    assert {o["created"][:19] for o in data["objects"] if "created" in o} == {expected}
