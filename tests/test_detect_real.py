"""Detectors over real public captures, through the pipeline that feeds them."""

from __future__ import annotations

import pytest

pipeline = pytest.importorskip("cranewatch.pipeline")


def _findings(captures, rel):
    return pipeline.analyze([captures / rel]).findings


def test_iot_uplink_every_minute_is_beaconing(captures):
    found = [f for f in _findings(captures, "ndpi/nest_log_sink.pcap") if f.kind == "beaconing"]
    assert [(f.asset_ip, f.peer_ip, f.peer_port) for f in found] == [
        ("192.168.242.15", "35.174.82.237", 11095)
    ]
    assert "every 60.1 s" in found[0].evidence[0].detail


def test_vnc_from_the_internet_is_inbound_remote_access(captures):
    found = [f for f in _findings(captures, "ndpi/vnc.pcap") if f.kind == "remote-access"]
    assert len(found) == 1
    assert found[0].severity == "critical" and "VNC" in found[0].title
    assert found[0].asset_ip == "192.168.2.110"


@pytest.mark.parametrize(
    "rel", ["iti-ics-security-tools/ModbusTCP/mb2.pcap", "ndpi/iphone.pcap", "ndpi/android.pcap"]
)
def test_plant_and_phone_lans_raise_nothing_without_a_site(captures, rel):
    kinds = {f.kind for f in _findings(captures, rel)}
    assert not kinds & {"cellular-modem", "rogue-gateway", "container-data-leak", "beaconing"}
