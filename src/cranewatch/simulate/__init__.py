"""Container-terminal traffic simulator behind `cranewatch simulate` and `cranewatch demo`.

`simulate(out_dir, seed)` writes three files:
- `capture.pcap`: ~10 minutes of a terminal with 3-4 STS crane networks,
  terminal IT and a vendor DMZ, with real protocol bytes (S7comm, Modbus/TCP,
  EtherNet/IP, PROFINET, RTSP/RTP, DHCP, DNS, NTP, LLDP, TLS, HTTP, MQTT,
  OpenVPN, remote-access tools);
- `site.yaml`: the operator's declaration (CONTRACT.md section 1);
- `truth.json`: every planted anomaly (one or more per finding kind) and the
  benign look-alikes that must not be flagged.

The same seed gives byte-identical files; everything random comes from one
`random.Random(seed)`.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

from cranewatch.report.atomic import make_folder

from . import anomalies, scenario, traffic
from .sitefile import site_yaml
from .wire import Timeline, Wire
from .writer import write_pcap

__all__ = ["SimulationResult", "simulate"]


@dataclass(frozen=True)
class SimulationResult:
    """Where the files went and what is in them."""

    out_dir: Path
    capture: Path
    site: Path
    truth: Path
    seed: int
    packets: int
    bytes: int
    first_ts: float
    last_ts: float
    anomalies: int
    benign: int
    kinds: tuple[str, ...] = field(default_factory=tuple)
    seconds: float = 0.0  # wall-clock generation time (not part of the files)


def simulate(
    out_dir: Path, seed: int = 1, duration: float = 600.0, scale: float = 1.0
) -> SimulationResult:
    """Generate capture.pcap, site.yaml and truth.json for one seeded terminal."""
    if duration <= 0 or scale <= 0:
        raise ValueError("duration and scale must be positive")
    started = time.perf_counter()
    out = make_folder(out_dir)
    rng = random.Random(seed)
    sc = scenario.build(rng, float(duration), float(scale))
    tl = Timeline()
    w = Wire(tl)
    planted = anomalies.plant(sc, w)
    traffic.generate(sc, w)
    look_alikes = anomalies.benign(sc)
    frames = tl.sorted()
    capture, site, truth = out / "capture.pcap", out / "site.yaml", out / "truth.json"
    size = write_pcap(capture, frames)
    site.write_text(site_yaml(sc), encoding="utf-8")
    doc = {
        "seed": seed,
        "site": sc.site_name,
        "duration": duration,
        "scale": scale,
        "first_ts": frames[0][0] / 1e6,
        "last_ts": frames[-1][0] / 1e6,
        "anomalies": planted,
        "benign": look_alikes,
    }
    truth.write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    return SimulationResult(
        out,
        capture,
        site,
        truth,
        seed,
        len(frames),
        size,
        frames[0][0] / 1e6,
        frames[-1][0] / 1e6,
        len(planted),
        len(look_alikes),
        tuple(sorted({a["kind"] for a in planted})),
        time.perf_counter() - started,
    )
