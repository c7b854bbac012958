"""Identities that MANIFEST.tsv lists for real captures appear in cranewatch's inventory."""

from __future__ import annotations

import re

import pytest

from conftest import CAPTURES, manifest_rows
from cranewatch.pipeline import analyze

# kind -> the MANIFEST keys whose values must show up (name-like keys only: tshark's
# vendor and type tables are its own wording).
CHECKED = {
    "lldp": ("sysname",),
    "cdp": ("device", "platform"),
    "dhcp": ("hostname", "vendor_class"),
    "enip-lir": ("product",),
    "cip-id": ("product",),
    "s7-szl": ("order", "plc_name", "module_name"),
    "pn-dcp": ("name",),
    "modbus-devid": ("objects",),
    "opcua": ("app_uri", "product_uri"),
    "bacnet-iam": ("device",),
}


def _expected() -> list[tuple[str, str, str, str]]:
    items = []
    for row in manifest_rows():
        for item in row["identities"].split(";"):
            item = item.strip()
            kind, _, rest = item.partition(":")
            if kind not in CHECKED:
                continue
            for pair in re.split(r",(?=\w+=)", rest):
                key, _, value = pair.partition("=")
                if key in CHECKED[kind]:
                    for one in value.split("|"):
                        if one.strip() and one.strip() != "Boot Loader":
                            items.append((row["path"], kind, key, one.strip()))
    return sorted(set(items))


def _norm(text: str) -> str:
    return " ".join(str(text).split()).lower()


def _inventory_strings(path) -> set[str]:
    analysis = analyze([path])
    found: set[str] = set()
    for asset in analysis.assets:
        found.update(_norm(h) for h in asset.hostnames)
        found.update(_flatten(asset.identity))
    return found


def _flatten(value) -> set[str]:
    if isinstance(value, dict):
        return set().union(*(_flatten(v) for v in value.values())) if value else set()
    if isinstance(value, list | tuple):
        return set().union(*(_flatten(v) for v in value)) if value else set()
    return {_norm(value)}


_CACHE: dict[str, set[str]] = {}
EXPECTED = _expected()


@pytest.mark.parametrize(
    ("path", "kind", "key", "value"),
    EXPECTED,
    ids=[f"{p}:{k}.{key}={v}"[:90] for p, k, key, v in EXPECTED],
)
def test_manifest_identity_in_inventory(captures, path, kind, key, value):
    if path not in _CACHE:
        _CACHE[path] = _inventory_strings(captures / path)
    found = _CACHE[path]
    want = _norm(value)
    # short values (BACnet device instances) must match whole; names may sit inside a longer string
    exact = len(want) < 6
    assert any(want == f or (not exact and want in f) for f in found), (
        f"{kind} {key}={value!r} not in inventory of {path}; have {sorted(found)[:30]}"
    )


def test_manifest_has_identities():
    if not CAPTURES.is_dir():
        pytest.skip("shared captures not present")
    assert len(EXPECTED) > 50
