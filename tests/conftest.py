"""Shared fixtures: where the real public captures live."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("CRANEWATCH_SHARED", PROJECT_ROOT.parent / "shared"))
CAPTURES = SHARED / "captures"


def manifest_rows() -> list[dict[str, str]]:
    """MANIFEST.tsv as dicts (empty when shared/ is absent)."""
    path = CAPTURES / "MANIFEST.tsv"
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


@pytest.fixture(scope="session")
def captures() -> Path:
    if not CAPTURES.is_dir():
        pytest.skip("shared captures not present (../shared/captures)")
    return CAPTURES
