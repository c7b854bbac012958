"""Small formatting helpers for flow evidence."""

from __future__ import annotations

from cranewatch.inventory.direction import Direction
from cranewatch.inventory.model import Flow


def service_of(f: Flow, d: Direction) -> str:
    """'tcp/502 (modbus)' style label of what the client used."""
    label = f"{f.l4}/{d.server_port}" if d.server_port else f.l4
    return f"{label} ({f.service})" if f.service else label


def size_text(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n} B"
