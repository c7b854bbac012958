"""CSV reports: load with the csv module, match the JSON, columns as documented."""

from __future__ import annotations

import copy
import csv
import re
from pathlib import Path

import pytest

from _make_sample_findings import make_findings
from cranewatch.report.csv_out import ASSET_COLUMNS, FINDING_COLUMNS, FLOW_COLUMNS, write_csv

DOC_MD = Path(__file__).resolve().parents[1] / "docs" / "reports.md"


@pytest.fixture(scope="module")
def doc() -> dict:
    return make_findings(30)


def load(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        return list(reader.fieldnames or []), list(reader)


def documented_columns(section: str) -> list[str]:
    """Column names from the docs table under '### <section>'."""
    text = DOC_MD.read_text(encoding="utf-8").split(f"### {section}", 1)[1].split("\n#", 1)[0]
    cols: list[str] = []
    for line in text.splitlines():
        m = re.match(r"\|\s*([a-z_, ]+?)\s*\|", line)
        if m and m.group(1) != "column":
            cols += [c.strip() for c in m.group(1).split(",")]
    return cols


def test_csv_files_match_the_json(doc: dict, tmp_path: Path) -> None:
    paths = write_csv(doc, tmp_path / "out")
    assert sorted(paths) == ["assets.csv", "findings.csv", "flows.csv"]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(paths)  # no temp files

    header, assets = load(paths["assets.csv"])
    assert header == ASSET_COLUMNS
    assert [r["id"] for r in assets] == [a["id"] for a in doc["assets"]]
    for row, a in zip(assets, doc["assets"], strict=True):
        assert row["mac"] == a["mac"]
        assert row["ips"].split(";") == a["ips"]
        assert row["protocols"].split(";") == a["protocols"]
        assert row["declared_id"] == (a["declared_id"] or "")
        assert int(row["bytes"]) == a["bytes"] and int(row["packets"]) == a["packets"]
        assert float(row["first_seen"]) == a["first_seen"]
        assert row["product"] == a["identity"]["product"]
        assert f"firmware={a['identity']['firmware']}" in row["identity"].split(";")

    header, flows = load(paths["flows.csv"])
    assert header == FLOW_COLUMNS and len(flows) == len(doc["flows"])
    for row, f in zip(flows, doc["flows"], strict=True):
        assert (row["orig_ip"], int(row["orig_port"]), row["resp_ip"], int(row["resp_port"])) == (
            f["orig_ip"],
            f["orig_port"],
            f["resp_ip"],
            f["resp_port"],
        )
        assert int(row["orig_bytes"]) + int(row["resp_bytes"]) == f["orig_bytes"] + f["resp_bytes"]
        assert row["name"] == (f["name"] or "")

    header, findings = load(paths["findings.csv"])
    assert header == FINDING_COLUMNS and len(findings) == len(doc["findings"])
    for row, f in zip(findings, doc["findings"], strict=True):
        first = min(f["evidence"], key=lambda e: e["ts"])
        assert row["id"] == f["id"] and row["kind"] == f["kind"]
        assert row["severity"] == f["severity"]
        assert int(row["evidence_count"]) == len(f["evidence"])
        assert float(row["first_evidence_ts"]) == first["ts"]
        assert row["first_evidence_detail"] == first["detail"]
        assert float(row["last_evidence_ts"]) == max(e["ts"] for e in f["evidence"])
        assert row["first_evidence_utc"].endswith("Z") and row["first_evidence_utc"][:2] == "20"
        assert row["attack_ics"].split(";") == (f["attack_ics"] or [""])
        assert row["peer_ip"] == ((f["peer"] or {}).get("ip") or "")


def test_columns_are_documented() -> None:
    assert documented_columns("assets.csv") == ASSET_COLUMNS
    assert documented_columns("flows.csv") == FLOW_COLUMNS
    assert documented_columns("findings.csv") == FINDING_COLUMNS


def test_spreadsheet_formulas_from_the_wire_are_defused(doc: dict, tmp_path: Path) -> None:
    bad = copy.deepcopy(doc)
    bad["assets"][0]["hostnames"] = ['=HYPERLINK("http://x","y")', 'plc,with;odd"chars\n']
    bad["findings"][0]["title"] = "@SUM(1+1)"
    paths = write_csv(bad, tmp_path)
    _, assets = load(paths["assets.csv"])
    assert assets[0]["hostnames"] == '\'=HYPERLINK("http://x","y");plc,with;odd"chars\n'
    _, findings = load(paths["findings.csv"])
    assert findings[0]["title"] == "'@SUM(1+1)"


def test_document_without_flows_still_gives_three_files(tmp_path: Path) -> None:
    paths = write_csv(
        {
            "assets": [],
            "findings": [
                {"id": "f-0001", "kind": "beaconing", "evidence": [], "asset": None, "peer": None}
            ],
        },
        tmp_path,
    )
    header, rows = load(paths["flows.csv"])
    assert header == FLOW_COLUMNS and rows == []
    _, findings = load(paths["findings.csv"])
    assert findings[0]["evidence_count"] == "0" and findings[0]["first_evidence_ts"] == ""


def test_identity_lists_are_joined_not_printed_as_python():
    from cranewatch.report.csv_out import asset_row

    row = asset_row({"id": "a-1", "identity": {"dcp_queried_names": ["switch3", "pn-io"],
                                               "product": "CPU 315", "empty": []}})  # fmt: skip
    assert row["identity"] == ["dcp_queried_names=switch3,pn-io", "product=CPU 315"]


def test_findings_name_their_assets_zone_and_site_id(tmp_path):
    doc = make_findings(n_assets=12)
    written = write_csv(doc, tmp_path)
    with written["findings.csv"].open(newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    by_mac = {a["mac"]: a for a in doc["assets"] if a.get("mac")}
    checked = 0
    for row in rows:
        asset = by_mac.get(row["asset_mac"])
        if asset is not None:
            assert (row["asset_id"], row["asset_zone"], row["asset_declared_id"]) == (
                asset["id"], asset["zone"] or "", asset["declared_id"] or ""
            )  # fmt: skip
            checked += 1
    assert checked >= 3
