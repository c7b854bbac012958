"""The same capture gives the same findings file in every run, whatever Python's hash seed.

Python randomises string hashing per process, so anything built by iterating a
set of strings can change order between runs. An auditor comparing two runs
must see the same inventory: an asset's address list (and so its first
address) once came from a set and differed from run to run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

CLI = [sys.executable, "-m", "cranewatch"]
CASES = [
    "iti-ics-security-tools/profinet/PROFINET-RT-DCP/ChangeIPUsingDCP.pcap",  # DCP sets an IP
    "arkime/arkime_synthetic.pcap",
]


@pytest.mark.parametrize("name", CASES)
def test_same_output_whatever_the_hash_seed(captures, tmp_path, name):
    docs = []
    for seed in ("1", "2", "3"):
        out = tmp_path / f"f{seed}.json"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [*CLI, "analyze", str(captures / name), "--json", str(out), "-q"],
            capture_output=True,
            text=True,
            env=env,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr
        doc = json.loads(out.read_text())
        docs.append({k: doc[k] for k in ("assets", "findings", "flows")})
    assert docs[0] == docs[1] == docs[2]
