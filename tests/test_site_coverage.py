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


def test_without_a_site_file_a_plant_on_public_addresses_is_said_to_be_unjudged(captures):
    """mb2.pcap's plant is numbered in 141.81.0.0/24: without zones, all of it is 'internet'."""
    plant = pipeline.analyze([captures / "iti-ics-security-tools/ModbusTCP/mb2.pcap"])
    (warning,) = [w for w in plant.warnings if w.startswith("no site file:")]
    assert warning.startswith(
        "no site file: 46 of the 46 addresses on the captured segment are public"
        " (141.81.0.9, 141.81.0.10, 141.81.0.11 and 43 more; 141.81.0.0/24"
    )
    home = pipeline.analyze([captures / "ndpi/vnc.pcap"])  # a LAN behind a router: judged
    assert not [w for w in home.warnings if w.startswith("no site file:")]


def test_ipv4_and_ipv6_hosts_together_are_ordered_not_compared():
    """Sorting IPv4 with IPv6 addresses by value raised TypeError on mixed captures."""
    from cranewatch.inventory.coverage import coverage_warnings
    from cranewatch.inventory.model import Asset

    hosts = [
        Asset(id=f"a-{i}", mac=f"02:00:00:00:00:{i:02x}", ips=[ip])
        for i, ip in enumerate(["8.8.8.8", "2606:4700::1111", "1.1.1.1", "fd00::1", "10.1.1.1"])
    ]
    (public,) = coverage_warnings(None, hosts)
    assert "(1.1.1.1, 8.8.8.8, 2606:4700::1111;" in public
    site = loads_site(SITE.format(cidr="10.9.0.0/24"), "site.yaml")
    (unzoned,) = coverage_warnings(site, hosts)
    assert "(10.1.1.1, fd00::1;" in unzoned


def test_a_host_holding_two_declared_addresses_leaves_neither_unseen():
    """One IED answers on .6 and .8: it matches one declaration, but both were seen."""
    from cranewatch.inventory.coverage import declared_not_seen
    from cranewatch.inventory.model import Asset

    site = loads_site(
        SITE.format(cidr="172.16.201.0/24")
        + "assets:\n  - {id: ied-6, ip: 172.16.201.6}\n  - {id: ied-8, ip: 172.16.201.8}\n"
        "  - {id: ghost, ip: 172.16.201.99}\n  - {id: spare, mac: '00:1b:1b:00:00:01'}\n",
        "site.yaml",
    )
    ied = Asset(id="a-1", mac="00:1b:21:0a:e8:eb", ips=["172.16.201.8", "172.16.201.6"],
                declared_id="ied-8")  # fmt: skip
    assert [d["id"] for d in declared_not_seen(site, [ied])] == ["ghost", "spare"]
