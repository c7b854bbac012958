"""beaconing: timing must be regular on its own, and evidence spans the whole series."""

from __future__ import annotations

import numpy as np
import pytest

from _detect_helpers import ctx, flow
from cranewatch.detect import beaconing

HMI, HMI_MAC = "10.50.1.20", "00:0c:29:00:00:20"
CLOUD = "203.0.113.11"


def _sessions(starts, size: int = 883, port: int = 443, proto: int = 6) -> list:
    """One separate connection per start, each sending the same bytes (one fixed TLS exchange)."""
    return [
        flow(HMI, CLOUD, proto=proto, sport=40000 + i, dport=port, ts=float(t), orig_bytes=size,
             orig_mac=HMI_MAC)
        for i, t in enumerate(starts)
    ]  # fmt: skip


def _from_gaps(gaps) -> np.ndarray:
    return 1000.0 + np.concatenate([[0.0], np.cumsum(gaps)])


# Gaps between connection starts that once scored >= 0.8 on identical sizes alone:
# bench/generate.py's TLS sessions (random start times) and the seed-4 demo's DNS
# lookups through the hidden modem (20 s + exponential(150 s)).
RANDOM_GAPS = {
    "ot5m 10.50.0.59, 3 of 5 gaps near the median": [131.4, 156.4, 83.4, 284.1, 145.4],
    "ot5m 10.50.0.16": [210.0, 174.4, 62.0, 45.8, 94.5, 58.7, 75.7, 76.8, 2.5],
    "ot5m 10.50.0.22": [108.1, 110.8, 120.2, 3.3, 333.2],
}


@pytest.mark.parametrize("gaps", RANDOM_GAPS.values(), ids=RANDOM_GAPS.keys())
def test_randomly_timed_sessions_of_one_size_are_not_beaconing(gaps):
    flows = _sessions(_from_gaps(gaps))
    assert beaconing.detect(ctx(None, flows=flows)) == []


def test_dns_lookups_at_random_times_are_not_beaconing():
    # demo --seed 4: the OCR's lookups through the hidden modem, 20 s + exponential(150 s) apart
    flows = _sessions(_from_gaps([102.4, 40.4, 134.5, 22.2, 187.6]), size=92, port=53, proto=17)
    assert beaconing.detect(ctx(None, flows=flows)) == []


def test_poisson_starts_of_one_size_are_not_beaconing():
    flagged = []
    for seed in range(20):
        gaps = np.random.default_rng(seed).exponential(80.0, 9)
        if beaconing.detect(ctx(None, flows=_sessions(_from_gaps(gaps)))):
            flagged.append(seed)
    assert flagged == []


def test_jittered_beacon_with_missed_callbacks_is_still_beaconing():
    # 60 s +/- 10 %, two callbacks of 14 missed (two 120 s gaps): a quarter may stray
    rng = np.random.default_rng(3)
    gaps = 60.0 + rng.uniform(-6.0, 6.0, 12)
    gaps[[4, 9]] += 60.0
    found = beaconing.detect(ctx(None, flows=_sessions(_from_gaps(gaps))))
    assert [(f.asset_ip, f.peer_ip) for f in found] == [(HMI, CLOUD)]
    assert "every 6" in found[0].title


def test_spread_is_the_deviation_three_intervals_in_four_stay_within():
    assert beaconing.spread(np.array([100.0, 100.0, 100.0, 100.0])) == 0.0
    # median 100; deviations 0, 0, 5, 10, 60: the 75th percentile is 10, whatever the outlier
    assert beaconing.spread(np.array([100.0, 105.0, 90.0, 160.0, 100.0])) == pytest.approx(0.1)
    assert beaconing.spread(np.array([100.0, 105.0, 90.0, 9e5, 100.0])) == pytest.approx(0.1)
    assert beaconing.spread(np.array([131.4, 156.4, 83.4, 284.1, 145.4])) > beaconing.MAX_SPREAD


def test_evidence_spans_every_connection_start():
    starts = 1000.0 + 60.0 * np.arange(30)
    (b,) = beaconing.detect(ctx(None, flows=_sessions(starts)))
    ts = [e.ts for e in b.evidence]
    assert ts == [starts[0], starts[1], starts[-1]]
    assert b.evidence[0].detail.startswith("30 connection starts over 1740 s, every 60.0 s")
    assert b.evidence[-1].detail == (
        f"last of 30 connection starts to {CLOUD}:443/tcp, 1740 s after the first"
    )
    # what the HTML timeline, STIX last_seen and CSV last_evidence read
    assert b.to_json()["evidence"][-1]["ts"] == starts[-1]
