"""The detectors: one module per finding kind, run together by `run_all`.

Each module exports `detect(ctx: DetectContext) -> list[Finding]`. A detector
that fails (a bug, odd data) must not cost the user the other findings, so
`run_all` catches, records a warning in `ctx.extra['warnings']` and goes on.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable

from cranewatch.detect import (
    beaconing,
    cellular,
    container_leak,
    policy,
    remote_access,
    rogue_gateway,
    undeclared,
)
from cranewatch.detect.context import DetectContext
from cranewatch.detect.model import Finding, merge_findings

Detector = Callable[[DetectContext], list[Finding]]

# kind -> detector, in the order they run.
REGISTRY: dict[str, Detector] = {
    "undeclared-device": undeclared.detect,
    "cellular-modem": cellular.detect,
    "rogue-gateway": rogue_gateway.detect,
    "remote-access": remote_access.detect,
    "container-data-leak": container_leak.detect,
    "beaconing": beaconing.detect,
    "policy-violation": policy.detect,
}


def run_all(ctx: DetectContext, only: list[str] | None = None) -> list[Finding]:
    """Run every detector (or those named in `only`) and merge to one finding per key."""
    if ctx.knowledge is None:
        from cranewatch.knowledge import load

        ctx.knowledge = load()
    findings: list[Finding] = []
    for kind, fn in REGISTRY.items():
        if only is not None and kind not in only:
            continue
        try:
            findings.extend(fn(ctx))
        except Exception as exc:  # noqa: BLE001 - one detector must not stop the rest
            where = traceback.extract_tb(exc.__traceback__)[-1]
            ctx.extra.setdefault("warnings", []).append(
                f"detector {kind} failed: {type(exc).__name__}: {exc} "
                f"({where.filename.rsplit('/', 1)[-1]}:{where.lineno}); its findings are missing"
            )
    return merge_findings(findings)


__all__ = ["REGISTRY", "run_all", "DetectContext", "Finding"]
