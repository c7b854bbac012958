"""Findings as the contract defines them, and the one-per-(kind, asset, peer) rule."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cranewatch.inventory.model import ip_key

SEVERITIES = ("critical", "high", "medium", "low", "info")
KINDS = (
    "undeclared-device",
    "cellular-modem",
    "rogue-gateway",
    "remote-access",
    "container-data-leak",
    "beaconing",
    "policy-violation",
)


@dataclass(slots=True)
class Evidence:
    ts: float
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"ts": self.ts, "detail": self.detail}


@dataclass(slots=True)
class Finding:
    kind: str
    severity: str
    confidence: float
    title: str
    asset_mac: str | None = None
    asset_ip: str | None = None
    peer_ip: str | None = None
    peer_port: int | None = None
    peer_name: str | None = None
    evidence: list[Evidence] = field(default_factory=list)
    attack_ics: list[str] = field(default_factory=list)
    id: str = ""
    related: list[str] = field(default_factory=list)  # ids of other kinds' findings, same device

    @property
    def key(self) -> tuple:
        """Findings with one key are one finding (CONTRACT: one per kind, asset, peer).

        The asset is its MAC when known, its IP otherwise: one device seen once
        with and once without its IP is one asset. (A router's MAC never stands
        for the hosts behind it: detectors fill the asset's own MAC, see
        `detect._hosts`.)
        """
        asset = self.asset_mac.lower() if self.asset_mac else self.asset_ip
        return (self.kind, asset, self.peer_ip, self.peer_port)

    def to_json(self) -> dict[str, Any]:
        peer = None
        if self.peer_ip is not None or self.peer_name is not None:
            peer = {"ip": self.peer_ip, "port": self.peer_port, "name": self.peer_name}
        return {
            "id": self.id,
            "kind": self.kind,
            "severity": self.severity,
            "confidence": round(float(self.confidence), 3),
            "asset": {"mac": self.asset_mac, "ip": self.asset_ip},
            "peer": peer,
            "title": self.title,
            "evidence": [e.to_json() for e in self.evidence],
            "attack_ics": self.attack_ics,
            **({"related": self.related} if self.related else {}),
        }


def merge_findings(findings: list[Finding], max_evidence: int = 20) -> list[Finding]:
    """Fold findings with the same key into one, keep the strongest, number them.

    Sorted by severity, then confidence; ids f-0001.. follow that order.
    """
    merged: dict[tuple, Finding] = {}
    for f in findings:
        have = merged.get(f.key)
        if have is None:
            merged[f.key] = f
            continue
        if SEVERITIES.index(f.severity) < SEVERITIES.index(have.severity):
            have.severity = f.severity
            have.title = f.title
        have.confidence = max(have.confidence, f.confidence)
        have.asset_ip = have.asset_ip or f.asset_ip
        have.peer_name = have.peer_name or f.peer_name
        for t in f.attack_ics:
            if t not in have.attack_ics:
                have.attack_ics.append(t)
        seen = {(e.ts, e.detail) for e in have.evidence}
        for e in f.evidence:
            if (e.ts, e.detail) not in seen and len(have.evidence) < max_evidence:
                have.evidence.append(e)
    out = sorted(
        merged.values(),
        key=lambda f: (
            SEVERITIES.index(f.severity),
            -f.confidence,
            f.kind,
            ip_key(f.asset_ip),
            f.asset_mac or "",
        ),
    )
    for i, f in enumerate(out, 1):
        f.id = f"f-{i:04d}"
        f.evidence.sort(key=lambda e: e.ts)
    _relate(out)
    return out


MAX_RELATED = 10


def _relate(findings: list[Finding]) -> None:
    """Link findings of different kinds about one device and the same peer (or no peer).

    Why: one hidden modem is a cellular-modem finding, a policy violation for
    its cloud session and an undeclared device; each is a fact of its own, but
    a reader must see that they are one problem, not three.
    """
    by_asset: dict[str, list[Finding]] = {}
    for f in findings:
        asset = f.asset_mac.lower() if f.asset_mac else f.asset_ip
        if asset:
            by_asset.setdefault(asset, []).append(f)
    for group in by_asset.values():
        for f in group:
            f.related = [
                g.id
                for g in group
                if g.kind != f.kind and (f.peer_ip is None or g.peer_ip in (None, f.peer_ip))
            ][:MAX_RELATED]
