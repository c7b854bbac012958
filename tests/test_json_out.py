"""The findings file: built from the pipeline's objects, checked by the shipped schema."""

from __future__ import annotations

import copy
import json
import os
import re
from pathlib import Path
from types import SimpleNamespace

import jsonschema
import numpy as np
import pytest

import cranewatch
from cranewatch.detect.model import KINDS, SEVERITIES, Evidence, Finding
from cranewatch.inventory.model import Asset, Flow
from cranewatch.inventory.site import loads_site
from cranewatch.report.json_out import (
    SCHEMA_PATH,
    dumps,
    findings_document,
    load_schema,
    validate,
    write_json,
)
from cranewatch.sources.batch import InputStats

# CONTRACT.md section 2, verbatim.
CONTRACT_DOC = """
{
  "schema": "cranewatch/findings-v1",
  "tool": {"name": "cranewatch", "version": "0.1.0"},
  "site": "Example Container Terminal",
  "inputs": [{"path": "capture.pcap", "packets": 123456, "bytes": 9876543,
              "first_ts": 1700000000.0, "last_ts": 1700021600.0, "errors": 0}],
  "assets": [{"id": "a-0001", "mac": "00:1b:1b:aa:01:10", "ips": ["10.20.1.10"],
              "vendor": "Siemens AG", "hostnames": [], "declared_id": "sts-01-plc",
              "zone": "sts-01", "role": "plc", "protocols": ["s7comm", "profinet"],
              "identity": {"product": "S7-1500", "firmware": "V2.9"},
              "first_seen": 1700000000.0, "last_seen": 1700021600.0,
              "packets": 1234, "bytes": 567890}],
  "findings": [{"id": "f-0001", "kind": "cellular-modem", "severity": "critical",
                "confidence": 0.95,
                "asset": {"mac": "00:1e:42:00:00:01", "ip": "10.20.1.250"},
                "peer": {"ip": "198.51.100.7", "port": 443, "name": "rms.example.net"},
                "title": "Undeclared cellular router on crane STS-01 network",
                "evidence": [{"ts": 1700000123.4, "detail": "MAC vendor is a cellular router maker"}],
                "attack_ics": ["T0822", "T0883"]}]
}
"""


def _contract_doc() -> dict:
    return json.loads(CONTRACT_DOC)


def _invalid(doc: dict) -> jsonschema.ValidationError:
    with pytest.raises(jsonschema.ValidationError) as info:
        validate(doc)
    return info.value


def test_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    finding = schema["$defs"]["finding"]["properties"]
    assert finding["kind"]["enum"] == list(KINDS)
    assert finding["severity"]["enum"] == list(SEVERITIES)


def test_contract_example_validates() -> None:
    validate(_contract_doc())


def test_contract_file_example_validates() -> None:
    """The example in the shared CONTRACT.md itself, when present."""
    root = Path(__file__).resolve().parents[1]
    shared = Path(os.environ.get("CRANEWATCH_SHARED", root.parent / "shared"))
    contract = shared / "spec" / "CONTRACT.md"
    if not contract.exists():
        pytest.skip("CONTRACT.md not present")
    block = re.search(r"```json\n(.*?)```", contract.read_text(encoding="utf-8"), re.S).group(1)
    validate(json.loads(block))


MUTATIONS = [
    ("bad kind", lambda d: d["findings"][0].update(kind="modem"), ["findings", 0, "kind"]),
    (
        "bad severity",
        lambda d: d["findings"][0].update(severity="urgent"),
        ["findings", 0, "severity"],
    ),
    (
        "confidence 2",
        lambda d: d["findings"][0].update(confidence=2),
        ["findings", 0, "confidence"],
    ),
    (
        "confidence < 0",
        lambda d: d["findings"][0].update(confidence=-0.1),
        ["findings", 0, "confidence"],
    ),
    ("empty evidence", lambda d: d["findings"][0].update(evidence=[]), ["findings", 0, "evidence"]),
    (
        "evidence ts text",
        lambda d: d["findings"][0]["evidence"][0].update(ts="yesterday"),
        ["findings", 0, "evidence", 0, "ts"],
    ),
    (
        "evidence without detail",
        lambda d: d["findings"][0]["evidence"][0].pop("detail"),
        ["findings", 0, "evidence", 0],
    ),
    ("peer text", lambda d: d["findings"][0].update(peer="198.51.100.7"), ["findings", 0, "peer"]),
    (
        "asset mac number",
        lambda d: d["findings"][0]["asset"].update(mac=7),
        ["findings", 0, "asset", "mac"],
    ),
    ("no findings key", lambda d: d.pop("findings"), []),
    ("wrong schema id", lambda d: d.update(schema="cranewatch/findings-v2"), ["schema"]),
    ("negative packets", lambda d: d["inputs"][0].update(packets=-1), ["inputs", 0, "packets"]),
    ("input without path", lambda d: d["inputs"][0].pop("path"), ["inputs", 0]),
    ("asset ips text", lambda d: d["assets"][0].update(ips="10.20.1.10"), ["assets", 0, "ips"]),
    ("asset without id", lambda d: d["assets"][0].pop("id"), ["assets", 0]),
    (
        "technique id",
        lambda d: d["findings"][0].update(attack_ics=["initial access"]),
        ["findings", 0, "attack_ics", 0],
    ),
]


@pytest.mark.parametrize(
    ("mutate", "where"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS]
)
def test_mutated_documents_fail(mutate, where) -> None:
    doc = _contract_doc()
    mutate(doc)
    err = _invalid(doc)
    assert list(err.absolute_path) == where


def test_extra_keys_are_allowed_at_every_level() -> None:
    doc = _contract_doc()
    doc["x_top"] = 1
    doc["tool"]["build"] = "abc"
    doc["inputs"][0]["x"] = [1]
    doc["assets"][0]["x"] = {"a": 1}
    doc["findings"][0]["x"] = None
    doc["findings"][0]["asset"]["x"] = 1
    doc["findings"][0]["peer"]["x"] = 1
    doc["findings"][0]["evidence"][0]["packet"] = 17
    validate(doc)
    doc["findings"][0]["peer"] = None  # peer is nullable
    doc["findings"][0]["asset"] = {"mac": None, "ip": "10.0.0.1"}
    doc["site"] = None  # run without a site file
    validate(doc)


# ---------------------------------------------------------------- built from real objects

SITE = """\
site: Test Terminal
zones:
  - name: sts-01
    cidrs: [10.20.1.0/24]
"""


def _analysis(with_site: bool = True) -> SimpleNamespace:
    stats = InputStats(
        path="cap.pcapng",
        format="pcapng",
        packets=3,
        bytes=180,
        first_ts=1.5,
        last_ts=9.25,
        errors=1,
        skipped_bytes=12,
    )
    stats.warn("cut-off tail")
    empty = InputStats(path="empty.pcap", format="pcap")
    flow = Flow(
        proto=6,
        orig_ip="10.20.1.10",
        resp_ip="198.51.100.7",
        orig_port=np.int64(50123),
        resp_port=443,
        first_ts=np.float64(1.5),
        last_ts=9.25,
        orig_pkts=np.int32(2),
        resp_pkts=1,
        orig_bytes=120,
        resp_bytes=60,
        orig_mac="00:1b:1b:aa:01:10",
        resp_mac="02:00:00:00:00:01",
        service="tls",
        name="rms.example.net",
    )
    asset = Asset(
        id="a-0001",
        mac="00:1b:1b:aa:01:10",
        ips=["10.20.1.10"],
        vendor="Siemens AG",
        zone="sts-01",
        protocols=["tls"],
        identity={"product": "S7-1500"},
        first_seen=1.5,
        last_seen=np.float64(9.25),
        packets=np.int64(3),
        bytes=180,
    )
    finding = Finding(
        kind="beaconing",
        severity="medium",
        confidence=np.float64(0.8123456),
        title="Regular connections to 198.51.100.7",
        asset_mac=asset.mac,
        asset_ip="10.20.1.10",
        peer_ip="198.51.100.7",
        peer_port=443,
        evidence=[Evidence(ts=1.5, detail="every 60 s")],
        attack_ics=["T0869"],
        id="f-0001",
    )
    site = loads_site(SITE) if with_site else None
    return SimpleNamespace(
        site=site, inputs=[stats, empty], assets=[asset], findings=[finding], flows=[flow]
    )


def test_document_from_pipeline_objects_validates() -> None:
    doc = findings_document(_analysis())
    validate(doc)
    assert doc["schema"] == "cranewatch/findings-v1"
    assert doc["tool"] == {"name": "cranewatch", "version": cranewatch.__version__}
    assert doc["site"] == "Test Terminal"
    first, empty = doc["inputs"]
    assert first == {
        "path": "cap.pcapng",
        "format": "pcapng",
        "packets": 3,
        "bytes": 180,
        "first_ts": 1.5,
        "last_ts": 9.25,
        "errors": 1,
        "skipped_bytes": 12,
        "warnings": ["cut-off tail"],
    }
    assert empty["first_ts"] is None and empty["packets"] == 0
    assert doc["assets"][0]["packets"] == 3 and type(doc["assets"][0]["packets"]) is int
    assert "locally_administered" not in doc["assets"][0]
    assert doc["findings"][0]["confidence"] == 0.812
    assert doc["findings"][0]["peer"] == {"ip": "198.51.100.7", "port": 443, "name": None}
    (flow,) = doc["flows"]
    assert flow["proto"] == "tcp" and flow["orig_port"] == 50123 and type(flow["orig_port"]) is int
    assert (flow["orig_pkts"], flow["resp_pkts"], flow["orig_bytes"], flow["resp_bytes"]) == (
        2,
        1,
        120,
        60,
    )
    assert (flow["service"], flow["name"]) == ("tls", "rms.example.net")
    assert json.loads(dumps(doc)) == doc


def test_document_without_site_or_flows() -> None:
    analysis = _analysis(with_site=False)
    del analysis.flows
    doc = findings_document(analysis)
    validate(doc)
    assert doc["site"] is None and doc["flows"] == []


def test_write_json_to_file_and_stdout(tmp_path: Path, capsys) -> None:
    doc = findings_document(_analysis())
    out = tmp_path / "findings.json"
    write_json(doc, out)
    assert json.loads(out.read_text(encoding="utf-8")) == doc
    assert [p.name for p in tmp_path.iterdir()] == ["findings.json"]  # no temp file left
    write_json(doc, "-")
    assert json.loads(capsys.readouterr().out) == doc


def test_nan_never_reaches_the_file() -> None:
    analysis = _analysis()
    analysis.inputs[0].first_ts = float("nan")
    doc = findings_document(analysis)
    assert doc["inputs"][0]["first_ts"] is None
    with pytest.raises(ValueError):
        dumps({"x": float("nan")})


def test_schema_ships_as_package_data() -> None:
    assert SCHEMA_PATH.parent == Path(cranewatch.__file__).parent / "report"
    assert SCHEMA_PATH.is_file()


def test_document_is_a_copy() -> None:
    """Later changes to the analysis objects do not alter a document already built."""
    analysis = _analysis()
    doc = findings_document(analysis)
    before = copy.deepcopy(doc)
    analysis.assets[0].ips.append("10.20.1.11")
    assert doc == before
