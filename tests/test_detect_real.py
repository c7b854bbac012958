"""Detectors over real public captures, through the pipeline that feeds them."""

from __future__ import annotations

import pytest

pipeline = pytest.importorskip("cranewatch.pipeline")


def _findings(captures, rel):
    return pipeline.analyze([captures / rel]).findings


def test_vpn_keepalive_every_26_s_is_beaconing(captures):
    # SoftEther's NAT-traversal keep-alive: a 9-byte UDP datagram every ~26 s from one 5-tuple
    found = [f for f in _findings(captures, "ndpi/softether.pcap") if f.kind == "beaconing"]
    assert {(f.asset_ip, f.peer_port) for f in found} == {("192.168.2.100", 5004)}
    assert all(f.peer_ip.startswith("130.158.6.") for f in found)
    assert all(f.severity == "medium" and "every 2" in f.title for f in found)


@pytest.mark.parametrize("rel", ["ndpi/nest_log_sink.pcap", "zeek/mqtt.pcap"])
def test_keepalives_inside_long_tcp_sessions_are_not_beaconing(captures, rel):
    # Nest's log uplink and an MQTT client ping every 60 s / 5 s inside few long connections:
    # a connection start is a new connection, not an idle restart inside one
    assert [f for f in _findings(captures, rel) if f.kind == "beaconing"] == []


def test_scanners_on_an_exposed_modbus_port_are_inbound_connections_not_tools(captures):
    rel = "zeek/modbus/modbus-and-non-modbus-p502.pcap"
    found = [f for f in _findings(captures, rel) if f.kind == "remote-access"]
    # five scanners completed a handshake with the Modbus servers; one was reset at once
    assert len(found) == 5 and "198.74.56.135" not in {f.peer_ip for f in found}
    assert {f.severity for f in found} == {"high"}
    assert all(f.title.startswith("Inbound connection from public address") for f in found)
    assert all("tcp/502" in f.title for f in found)
    rdp = next(f for f in found if f.peer_ip == "62.122.184.123")
    assert any("probe" in e.detail for e in rdp.evidence)


def test_wireguard_seen_mid_session_is_outbound_to_its_server_port(captures):
    found = [f for f in _findings(captures, "ndpi/wireguard.pcap") if f.kind == "remote-access"]
    assert [(f.asset_ip, f.peer_ip, f.peer_port) for f in found] == [
        ("192.168.0.14", "139.162.192.157", 51820)
    ]
    assert "WireGuard session from" in found[0].title


def test_anydesk_relay_session_without_sni_is_found_by_alpn(captures):
    found = [f for f in _findings(captures, "ndpi/anydesk.pcapng") if f.kind == "remote-access"]
    by_asset = {(f.asset_ip, f.peer_ip) for f in found}
    assert ("192.168.1.128", "195.181.174.176") in by_asset


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


def test_siemens_plcs_ttl_30_are_their_own_senders_not_routers(captures, tmp_path):
    """S7 stacks send with TTL 30; read as 32 - 2 hops, every PLC became a 'rogue gateway'."""
    from cranewatch.inventory.site import load_site

    site = tmp_path / "site.yaml"  # a zone carved out of the plant /24: the PLCs are off-subnet
    site.write_text(
        "site: mb2\nzones:\n"
        "  - {name: scada, cidrs: [141.81.0.9/32, 141.81.0.10/31]}\n"
        "  - {name: cell, cidrs: [141.81.0.0/24], gateways: [141.81.0.1]}\n"
    )
    rel = "iti-ics-security-tools/ModbusTCP/mb2.pcap"
    result = pipeline.analyze([captures / rel], load_site(site))
    assert [f for f in result.findings if f.kind == "rogue-gateway"] == []
    plc = next(a for a in result.assets if a.mac == "00:0e:8c:f7:ad:97")
    assert plc.ips == ["141.81.0.31"]
