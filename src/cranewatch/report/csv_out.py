"""Three CSV files from a findings document: assets.csv, flows.csv, findings.csv.

Why CSV at all: the people receiving a report open it in a spreadsheet or load it into an
asset register. So one row per thing, fixed documented columns (docs/reports.md), list
values joined with ';', times both as epoch seconds (exact, for scripts) and as UTC ISO 8601
(for people). Cells that a spreadsheet would run as a formula are defused, because
hostnames, SNI and HTTP Host values come off the wire and may be hostile.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cranewatch.inventory.model import identity_pairs
from cranewatch.report.atomic import atomic_write, make_folder

LIST_SEP = ";"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

ASSET_COLUMNS = [
    "id",
    "mac",
    "ips",
    "vendor",
    "hostnames",
    "declared_id",
    "zone",
    "role",
    "protocols",
    "product",
    "firmware",
    "identity",
    "first_seen",
    "first_seen_utc",
    "last_seen",
    "last_seen_utc",
    "packets",
    "bytes",
]
FLOW_COLUMNS = [
    "proto",
    "orig_ip",
    "orig_port",
    "resp_ip",
    "resp_port",
    "orig_mac",
    "resp_mac",
    "first_ts",
    "first_utc",
    "last_ts",
    "last_utc",
    "orig_pkts",
    "resp_pkts",
    "orig_bytes",
    "resp_bytes",
    "service",
    "name",
    "connections",
]
FINDING_COLUMNS = [
    "id",
    "kind",
    "severity",
    "confidence",
    "title",
    "asset_mac",
    "asset_ip",
    "peer_ip",
    "peer_port",
    "peer_name",
    "attack_ics",
    "evidence_count",
    "first_evidence_ts",
    "first_evidence_utc",
    "first_evidence_detail",
    "last_evidence_ts",
    "last_evidence_utc",
    "asset_id",
    "asset_zone",
    "asset_declared_id",
    "related",
]


def utc(ts: Any) -> str:
    """Epoch seconds as '2023-11-14T22:13:20.000Z', '' when absent or not a time."""
    try:
        return datetime.fromtimestamp(float(ts), UTC).isoformat(timespec="milliseconds")[:-6] + "Z"
    except (TypeError, ValueError, OverflowError, OSError):
        return ""


def cell(value: Any) -> str | int | float:
    """One CSV cell: lists joined, None empty, formula-like text prefixed with a quote."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int | float):
        return value
    if isinstance(value, list | tuple):
        value = LIST_SEP.join(str(v) for v in value if v is not None)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def _get(d: Any, key: str) -> Any:
    return d.get(key) if isinstance(d, dict) else None


# Asset columns computed from other fields rather than copied from the JSON.
_DERIVED_ASSET_COLUMNS = frozenset(
    {"product", "firmware", "identity", "first_seen_utc", "last_seen_utc"}
)


def asset_row(a: dict[str, Any]) -> dict[str, Any]:
    ident = a.get("identity") if isinstance(a.get("identity"), dict) else {}
    return {
        **{k: a.get(k) for k in ASSET_COLUMNS if k not in _DERIVED_ASSET_COLUMNS},
        "product": ident.get("product"),
        "firmware": ident.get("firmware"),
        "identity": identity_pairs(ident),
        "first_seen_utc": utc(a.get("first_seen")),
        "last_seen_utc": utc(a.get("last_seen")),
    }


def flow_row(f: dict[str, Any]) -> dict[str, Any]:
    row = {k: f.get(k) for k in FLOW_COLUMNS}
    row["first_utc"] = utc(f.get("first_ts"))
    row["last_utc"] = utc(f.get("last_ts"))
    return row


def finding_row(
    f: dict[str, Any], assets: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    """One finding; `assets` (from `asset_index`) adds its asset's id, zone and declared id."""
    evidence = [e for e in (f.get("evidence") or []) if isinstance(e, dict)]
    timed = sorted(
        (e for e in evidence if isinstance(e.get("ts"), int | float)), key=lambda e: e["ts"]
    )
    first = timed[0] if timed else (evidence[0] if evidence else {})
    last_ts = timed[-1]["ts"] if timed else None
    asset, peer = f.get("asset"), f.get("peer")
    return {
        **{
            k: f.get(k)
            for k in ("id", "kind", "severity", "confidence", "title", "attack_ics", "related")
        },
        "asset_mac": _get(asset, "mac"),
        "asset_ip": _get(asset, "ip"),
        "peer_ip": _get(peer, "ip"),
        "peer_port": _get(peer, "port"),
        "peer_name": _get(peer, "name"),
        "evidence_count": len(evidence),
        "first_evidence_ts": first.get("ts"),
        "first_evidence_utc": utc(first.get("ts")),
        "first_evidence_detail": first.get("detail"),
        "last_evidence_ts": last_ts,
        "last_evidence_utc": utc(last_ts),
        **_asset_of(asset, assets or {}),
    }


def asset_index(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The document's assets by MAC and by IP, so a finding's row can name its asset's zone.

    Why in findings.csv: a finding gives the asset's addresses only; the zone and
    the site file's id are what a reader sorts and assigns work by.
    """
    index: dict[str, dict[str, Any]] = {}
    for a in doc.get("assets") or []:
        if not isinstance(a, dict):
            continue
        for key in [a.get("mac"), *(a.get("ips") or [])]:
            if isinstance(key, str):
                index.setdefault(key.lower(), a)
    return index


def _asset_of(asset: Any, index: dict[str, dict[str, Any]]) -> dict[str, Any]:
    found = None
    for key in (_get(asset, "mac"), _get(asset, "ip")):
        if isinstance(key, str) and found is None:
            found = index.get(key.lower())
    found = found or {}
    return {
        "asset_id": found.get("id"),
        "asset_zone": found.get("zone"),
        "asset_declared_id": found.get("declared_id"),
    }


def to_csv(rows: Iterable[dict[str, Any]], columns: list[str]) -> str:
    """CSV text (RFC 4180 quoting, CRLF line ends) with a header row."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: cell(row.get(k)) for k in columns})
    return out.getvalue()


RowMaker = Callable[[dict[str, Any]], dict[str, Any]]
ASSETS_CSV, FLOWS_CSV, FINDINGS_CSV = CSV_FILES = ("assets.csv", "flows.csv", "findings.csv")


def _tables(doc: dict[str, Any]) -> dict[str, tuple[str, list[str], RowMaker]]:
    """File name -> (document key, columns, row maker) for one document."""
    assets = asset_index(doc)
    return {
        ASSETS_CSV: ("assets", ASSET_COLUMNS, asset_row),
        FLOWS_CSV: ("flows", FLOW_COLUMNS, flow_row),
        FINDINGS_CSV: ("findings", FINDING_COLUMNS, lambda f: finding_row(f, assets)),
    }


def write_csv(doc: dict[str, Any], out_dir: str | Path) -> dict[str, Path]:
    """Write assets.csv, flows.csv and findings.csv (UTF-8) into out_dir; returns the paths.

    A document without "flows" still gets a flows.csv with only the header, so scripts can
    rely on all three files being there.
    """
    out = make_folder(out_dir)
    written = {}
    for name, (key, columns, to_row) in _tables(doc).items():
        items = [x for x in (doc.get(key) or []) if isinstance(x, dict)]
        path = out / name
        atomic_write(path, to_csv((to_row(x) for x in items), columns))
        written[name] = path
    return written
