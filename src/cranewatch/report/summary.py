"""Counts both the terminal and the HTML report show, counted once so they agree."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

OUTSIDE_ZONES = "(outside zones)"


def zone_counts(
    assets: Iterable[tuple[str | None, str | None]], not_seen_zones: Iterable[str | None]
) -> dict[str, Counter]:
    """Per zone: assets seen, declared, undeclared and declared but not seen.

    `assets` are (zone, declared_id) pairs. The terminal and the HTML summary both
    count with this, so the two reports cannot disagree.
    """
    counts: dict[str, Counter] = defaultdict(Counter)
    for zone, declared_id in assets:
        row = counts[zone or OUTSIDE_ZONES]
        row["seen"] += 1
        row["declared" if declared_id else "undeclared"] += 1
    for zone in not_seen_zones:
        counts[zone or OUTSIDE_ZONES]["not seen"] += 1
    return {zone: counts[zone] for zone in sorted(counts)}
