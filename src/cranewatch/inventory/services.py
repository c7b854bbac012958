"""Name a flow's service from its port when no parser recognised it."""

from __future__ import annotations

from functools import cache
from importlib import resources

from ruamel.yaml import YAML


@cache
def _ports() -> dict[tuple[str, int], str]:
    text = resources.files("cranewatch.knowledge").joinpath("services.yaml").read_text()
    data = YAML(typ="safe").load(text)
    table: dict[tuple[str, int], str] = {}
    for entry in data["services"]:
        for spec in entry["ports"]:
            l4, port = spec.split("/")
            table[(l4, int(port))] = entry["name"]
    return table


def service_for_port(l4: str, port: int) -> str | None:
    """The well-known service on this port, or None."""
    return _ports().get((l4, port))
