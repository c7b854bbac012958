"""site.yaml as CONTRACT.md section 1 defines it, written by hand for stable bytes.

Scalars are emitted as JSON strings (a JSON string is a valid YAML
double-quoted scalar), so MACs and names never need YAML quoting rules.
"""

from __future__ import annotations

import json

from .scenario import Scenario


def _q(value: str) -> str:
    return json.dumps(value)


def _flow(items: list[str]) -> str:
    return "[" + ", ".join(_q(i) for i in items) + "]"


def site_yaml(sc: Scenario) -> str:
    """The operator's declaration of the simulated terminal."""
    out = [
        f"# Site file of the simulated terminal (cranewatch simulate). {sc.site_name}",
        f"site: {_q(sc.site_name)}",
        "zones:",
    ]
    for z in sc.zones:
        out.append(f"  - name: {_q(z.name)}")
        out.append(f"    cidrs: {_flow([z.cidr])}")
        out.append(f"    gateways: {_flow([z.gateway.ip] if z.gateway else [])}")
    out.append("assets:")
    for d in sc.devices:
        if not d.declared:
            continue
        out.append(f"  - id: {_q(d.id)}")
        out.append(f"    mac: {_q(d.mac)}")
        out.append(f"    ip: {_q(d.ip)}")
        out.append(f"    zone: {_q(d.node.zone)}")
        out.append(f"    vendor: {_q(d.vendor)}")
        out.append(f"    model: {_q(d.model)}")
        out.append(f"    role: {_q(d.role)}")
    out.append("conduits:")
    for c in sc.conduits:
        out.append(f"  - from: {_q(c['from'])}")
        out.append(f"    to: {_q(c['to'])}")
        out.append(f"    ports: {_flow(c['ports'])}")
        if c.get("remote_access"):
            out.append("    remote_access: true")
    out.append(f"container_data_to: {_flow(sc.container_data_to)}")
    return "\n".join(out) + "\n"
