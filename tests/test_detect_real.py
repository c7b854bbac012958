"""Detectors over real public captures, through the pipeline that feeds them."""

from __future__ import annotations

import struct
from pathlib import Path

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


def _remote(captures, rel):
    return [f for f in _findings(captures, rel) if f.kind == "remote-access"]


def test_openvpn_on_other_ports_is_found_by_its_hard_reset_structure(captures):
    # tls-auth off, SHA1, SHA512 hard resets on udp/443, 1234, 13680 and tcp/443: the
    # one-byte opcode used to count on 1194 only, so none of these was found
    found = {(f.asset_ip, f.peer_ip, f.peer_port) for f in _remote(captures, "ndpi/openvpn.pcap")}
    assert {
        ("192.168.75.18", "166.161.181.18", 443),
        ("192.168.12.156", "107.161.86.131", 443),
        ("192.168.12.156", "217.138.197.43", 1234),
        ("192.168.43.12", "139.59.151.137", 13680),
        ("192.168.43.18", "139.59.151.137", 13680),
        ("192.168.1.77", "46.101.231.218", 443),  # TCP, 2-byte length prefix
    } <= found
    spicy = _remote(captures, "zeek-spicy-openvpn/openvpn.pcap")
    assert [(f.asset_ip, f.peer_ip, f.peer_port, f.severity) for f in spicy] == [
        ("192.168.88.3", "46.246.122.61", 1198, "high")
    ]
    assert spicy[0].title.startswith("OpenVPN session from")


def test_openvpn_signature_needs_the_structure_not_the_opcode_byte():
    from cranewatch.knowledge import load

    strong = [s for s in load().tool("OpenVPN").signatures if s.strong]
    # the client's hard reset of zeek-spicy-openvpn/openvpn.pcap, frame 1
    reset = bytes.fromhex("389aa6b1e434889ad30000000000")
    assert any(s.matches(reset) for s in strong)
    acks_one = reset[:9] + b"\x01" + reset[10:]  # an ack array where a reset has none
    assert not any(s.matches(acks_one) for s in strong)
    assert not any(s.matches(reset + b"\x00") for s in strong)


def test_tailscale_is_found_by_its_disco_magic_on_an_ephemeral_port(captures):
    found = _remote(captures, "ndpi/tailscale.pcap")
    assert [(f.asset_ip, f.peer_ip, f.peer_port) for f in found] == [
        ("192.168.88.3", "18.196.71.179", 41641)
    ]
    assert found[0].title.startswith("Tailscale session from")


def test_softether_ddns_on_softether_network_net_is_found(captures):
    found = _remote(captures, "ndpi/softether.pcap")
    assert [(f.asset_ip, f.peer_ip, f.peer_port) for f in found] == [
        ("192.168.2.100", "130.158.75.45", 80)
    ]
    assert "SoftEther VPN session" in found[0].title
    assert found[0].peer_name.endswith(".ddns.softether-network.net")


def _handshake_turned_round(src: Path, dst: Path) -> None:
    """Copy a little-endian Ethernet/IPv4 pcapng with every SYN and SYN-ACK sent the other way.

    The rest of the session is left as it was, so the side that sends the RFB
    server banner becomes the one that opened the connection: reverse VNC
    made from a real session.
    """
    data = bytearray(src.read_bytes())
    off = 0
    while off < len(data):
        kind, length = struct.unpack_from("<II", data, off)
        frame = off + 28
        if kind == 6 and data[frame + 12 : frame + 14] == b"\x08\x00" and data[frame + 23] == 6:
            ip = frame + 14
            tcp = ip + (data[ip] & 0x0F) * 4
            if data[tcp + 13] & 0x02:  # SYN: swap MACs, addresses, ports (checksums hold)
                data[frame : frame + 12] = data[frame + 6 : frame + 12] + data[frame : frame + 6]
                data[ip + 12 : ip + 20] = data[ip + 16 : ip + 20] + data[ip + 12 : ip + 16]
                data[tcp : tcp + 4] = data[tcp + 2 : tcp + 4] + data[tcp : tcp + 2]
        off += length
    dst.write_bytes(bytes(data))


def test_vnc_server_that_opens_the_connection_is_reverse_vnc(captures, tmp_path):
    plain = _remote(captures, "ndpi/vnc.pcap")
    assert not any("Reverse" in f.title for f in plain)
    for rel in ("zeek/rfb/vncmac.pcap", "zeek/rfb/vnc-mac-to-linux.pcap"):
        assert not any("Reverse" in f.title for f in _remote(captures, rel))
    turned = tmp_path / "reverse-vnc.pcapng"
    _handshake_turned_round(captures / "ndpi/vnc.pcap", turned)
    found = [f for f in pipeline.analyze([turned]).findings if f.kind == "remote-access"]
    # the viewer now "listens" on the two client ports of the real sessions
    assert sorted(f.peer_port for f in found) == [51559, 59791]
    for f in found:
        assert f.title.startswith(
            "Reverse VNC: 192.168.2.110 serves its screen to 95.237.48.208,"
            " a listening viewer on tcp/"
        )
        assert f.severity == "critical"  # a viewer outside drives an inside screen
        assert (f.asset_ip, f.peer_ip) == ("192.168.2.110", "95.237.48.208")
        assert "T0883" in f.attack_ics
        assert any("sent the RFB server banner first" in e.detail for e in f.evidence)


def test_a_device_known_only_from_a_dhcp_payload_is_dated_by_that_packet(captures):
    """arkime_synthetic.pcap names 00:00:00:00:aa:bb in DHCP only: its evidence was dated 1970."""
    from cranewatch.inventory.site import loads_site

    site = loads_site(
        "site: ark\nzones:\n  - {name: lan, cidrs: [10.0.0.0/8]}\n"
        "  - {name: lab, cidrs: [192.168.0.0/16]}\n",
        "ark.yaml",
    )
    result = pipeline.analyze([captures / "arkime/arkime_synthetic.pcap"], site)
    first, last = min(s.first_ts for s in result.inputs), max(s.last_ts for s in result.inputs)
    for f in result.findings:
        assert all(first <= e.ts <= last for e in f.evidence), (f.id, f.title)
    (named,) = [a for a in result.assets if a.mac == "00:00:00:00:aa:bb"]
    assert named.packets == 0 and first <= named.first_seen <= last


def test_ruggedcom_switches_ttl_60_are_their_own_senders(captures):
    """RuggedCom ROS answers with TTL 60: read as 64 less four hops, two HIGH rogue gateways."""
    from cranewatch.inventory.site import loads_site

    site = loads_site(
        "site: substation\nzones:\n"
        "  - {name: station-bus, cidrs: [172.16.0.0/24], gateways: [172.16.0.1]}\n"
        "  - {name: bay-201, cidrs: [172.16.201.0/24], gateways: [172.16.201.1]}\n"
        "  - {name: bay-202, cidrs: [172.16.202.0/24], gateways: [172.16.202.1]}\n",
        "substation.yaml",
    )
    rel = "iti-ics-security-tools/IEC61850/Sample_File_MMS_and_GOOSE.pcap"
    found = pipeline.analyze([captures / rel], site).findings
    assert [f.title for f in found if f.kind == "rogue-gateway"] == []
