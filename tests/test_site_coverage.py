"""A site file that leaves a host of the captured segment out of every zone is said so."""

from __future__ import annotations

import pytest

from cranewatch.inventory.site import loads_site

pipeline = pytest.importorskip("cranewatch.pipeline")

SITE = """\
site: T
zones:
  - name: ot
    cidrs: [{cidr}]
"""


def _run(captures, cidr):
    site = loads_site(SITE.format(cidr=cidr), "site.yaml")
    return pipeline.analyze([captures / "ndpi/vnc.pcap"], site)


def test_a_host_in_no_zone_is_named_with_its_network(captures):
    result = _run(captures, "10.10.20.0/24")  # the capture's LAN is 192.168.2.0/24
    assert [w for w in result.warnings if w.startswith("site file:")] == [
        "site file: 1 host with a local address is in no zone (192.168.2.110; 192.168.2.0/24):"
        " their traffic counts as outside the site, and their sessions with the internet are"
        " not judged; declare a zone for them"
    ]
    # the inbound VNC session is between two outsiders then: nothing judges it
    assert not [f for f in result.findings if f.kind == "remote-access"]


def test_once_zoned_the_host_is_judged_and_nothing_is_said(captures):
    result = _run(captures, "192.168.2.0/24")
    assert not [w for w in result.warnings if w.startswith("site file:")]
    found = [f for f in result.findings if f.kind == "remote-access"]
    assert [(f.severity, f.asset_ip) for f in found] == [("critical", "192.168.2.110")]
