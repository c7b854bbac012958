"""HTTP, SSH, SNMP, SSDP, ARP, DHCP, LLDP and CDP fields against tshark on real packets."""

from __future__ import annotations

import pytest

from _decode_it_helpers import CAPTURES, ether_payload, frames, l4_packets, port_payloads, tshark
from cranewatch.decode import arp, cdp, dhcp, http, lldp, snmp, ssdp, ssh


def _need(rel: str):
    path = CAPTURES / rel
    if not path.is_file():
        pytest.skip("shared captures not present")
    return path


def _by_frame(path, mod) -> dict[int, dict]:
    """Parser output per frame for every TCP/UDP payload the parser accepts."""
    out = {}
    for pkt in l4_packets(path):
        got = mod.parse(pkt.payload) if pkt.payload else None
        if got:
            out[pkt.frame] = got
    return out


@pytest.mark.parametrize("rel", ["zeek/web.pcap", "zeek/http/proxy.pcap", "zeek/www-odd-url.pcap"])
def test_http_requests_and_responses_equal_tshark(rel):
    path = _need(rel)
    fields = ["frame.number", "http.request.method", "http.request.uri", "http.host"]
    fields += ["http.user_agent", "http.response.code", "http.server"]
    rows = tshark(path, fields, "http && (http.request || http.response)", "|")
    assert rows
    mine = _by_frame(path, http)
    for row in rows:
        frame, method, uri, host, ua, code, server = row + [""] * (7 - len(row))
        got = mine[int(frame)]
        if method:
            assert (got["method"], got["uri"]) == (method, uri)
            assert got.get("host", "") == host and got.get("user_agent", "") == ua
            if host:
                assert got["server_name"] == host.split(":")[0]
        else:
            assert got["status"] == int(code) and got.get("server", "") == server
            if server:
                assert got["identity"]["http_server"] == server


def test_http_title_and_body_kept():
    path = _need("zeek/http/proxy.pcap")
    responses = [g for g in _by_frame(path, http).values() if "status" in g]
    titled = [g for g in responses if "title" in g]
    assert titled
    for got in titled:
        assert got["identity"]["http_title"] == got["title"]
        assert f"<title>{got['title']}</title>".lower() in got["body"].lower()
        assert len(got["body"]) <= http.BODY_KEEP


@pytest.mark.parametrize(
    "rel",
    [
        "zeek/ssh/single-conn.pcap",
        "zeek/ssh/server-pre-banner-data.pcap",
        "zeek/ssh/sshguess.pcap",
        "zeek/ssh/ssh_version_199.pcap",
        "zeek/ssh/ssh1-ssh2-fingerprints.pcap",
    ],
)
def test_ssh_banner_equals_tshark(rel):
    path = _need(rel)
    rows = tshark(path, ["frame.number", "ssh.protocol"], "ssh.protocol")
    assert rows
    mine = {f: g for f, g in _by_frame(path, ssh).items() if g.get("banner")}
    for frame, proto in rows:
        got = mine[int(frame)]
        assert got["banner"] == proto.strip() == got["identity"]["ssh_banner"]
        assert proto.startswith(f"SSH-{got['proto_version']}-{got['software']}")


@pytest.mark.parametrize(
    "rel",
    [
        "ndpi/snmp.pcap",
        "arkime/snmpv3_synthetic.pcap",
        "zeek/snmp/snmpv1_get.pcap",
        "zeek/snmp/snmpv1_trap.pcap",
        "zeek/snmp/snmpv2_get_bulk.pcap",
    ],
)
def test_snmp_equals_tshark(rel):
    path = _need(rel)
    fields = ["frame.number", "snmp.community", "snmp.name", "snmp.msgUserName"]
    rows = tshark(path, fields, "snmp", "|")
    assert rows
    mine = {p.frame: snmp.parse(p.payload) for p in port_payloads(path, "udp", (161, 162))}
    for row in rows:
        frame, community, names, user = row + [""] * (4 - len(row))
        got = mine[int(frame)]
        assert got is not None
        if got["version"] != "2u":  # tshark reads v2u's second field as 'parameters'
            assert got.get("community", "") == community
        assert got.get("user", "") == user
        assert [oid for oid, _ in got.get("varbinds", [])] == [n for n in names.split("|") if n]


def test_snmp_response_names_agent():
    path = _need("ndpi/snmp.pcap")
    rows = tshark(
        path,
        ["frame.number", "snmp.value.octets"],
        "snmp.name == 1.3.6.1.2.1.1.5.0 && snmp.value.octets",
    )
    assert rows
    mine = {p.frame: snmp.parse(p.payload) for p in port_payloads(path, "udp", (161,))}
    for frame, octets in rows:
        got = mine[int(frame)]
        assert got["pdu"] == "response" and got["subject"] == "src"
        assert got["identity"]["hostname"] == bytes.fromhex(octets.replace(":", "")).decode()


def test_ssdp_server_and_usn_equal_tshark():
    path = _need("ndpi/anyconnect-vpn.pcap")
    rows = tshark(path, ["frame.number", "http.server", "http.location"], "ssdp && http.server")
    assert rows
    mine = {p.frame: ssdp.parse(p.payload) for p in port_payloads(path, "udp", (1900,))}
    for frame, server, location in rows:
        got = mine[int(frame)]
        assert got["identity"] == {"ssdp_server": server} and got["location"] == location
        assert got["usn"].startswith("uuid:")
    searches = [g for g in mine.values() if g and g.get("method") == "M-SEARCH"]
    assert searches and all("identity" not in g for g in searches)


def _arp_payloads(path):
    """(frame number, bytes after EtherType 0x0806) for Ethernet and Linux SLL captures."""
    for number, (linktype, frame) in enumerate(frames(path), start=1):
        if linktype == 1:
            got = ether_payload(frame)
            if got and got[0] == 0x0806:
                yield number, got[1]
        elif linktype == 113 and frame[14:16] == b"\x08\x06":
            yield number, frame[16:]


@pytest.mark.parametrize(
    "rel",
    [
        "zeek/arp-leak.pcap",
        "zeek/linuxsll-arp.pcap",
        "tcpdump/eapon1.pcap",
        "ndpi/iphone.pcap",
        "icsnpp-profinet-io-cm/profinet_io_cm_mixed_1.pcap",
    ],
)
def test_arp_equals_tshark(rel):
    path = _need(rel)
    fields = ["frame.number", "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4"]
    fields += ["arp.dst.hw_mac", "arp.dst.proto_ipv4", "arp.isgratuitous", "arp.isprobe"]
    rows = {int(r[0]): r for r in tshark(path, fields, "arp")}
    assert rows
    seen = 0
    for number, data in _arp_payloads(path):
        got = arp.parse(data)
        _, op, smac, sip, tmac, tip, grat, probe = rows[number] + [""] * (8 - len(rows[number]))
        assert got["op"] == arp.OPS[int(op)]
        if (data[4], data[5]) != (6, 4):  # odd address sizes (arp-leak.pcap): no binding
            assert "sender_mac" not in got and "subject_mac" not in got
            seen += 1
            continue
        assert (got["sender_mac"], got["sender_ip"]) == (smac, sip)
        assert (got["target_mac"], got["target_ip"]) == (tmac, tip)
        assert got["gratuitous"] == (grat == "1")
        if probe == "1":
            assert got["probe"] and "subject_ip" not in got and "arp_binding" not in got
        if not got["probe"]:
            assert got["subject_ip"] == sip and got["subject_mac"] == smac and got["arp_binding"]
        seen += 1
    assert seen == len(rows)


@pytest.mark.parametrize(
    "rel",
    [
        "zeek/dhcp/dhcp.pcap",
        "tcpdump/dhcp-mud.pcap",
        "suricata-verify/dhcp-option-52-overload/input.pcap",
        "zeek/dhcp/dhcp_time_and_nameserver.pcap",
        "ndpi/android.pcap",
    ],
)
def test_dhcp_fields_equal_tshark(rel):
    path = _need(rel)
    fields = ["frame.number", "dhcp.option.dhcp", "dhcp.hw.mac_addr", "dhcp.option.hostname"]
    fields += ["dhcp.option.request_list_item", "dhcp.option.requested_ip_address"]
    fields += ["dhcp.option.dhcp_server_id", "dhcp.option.router", "dhcp.option.domain_name_server"]
    fields += ["dhcp.option.ip_address_lease_time", "dhcp.ip.your"]
    rows = tshark(path, fields, "dhcp")
    assert rows
    mine = {p.frame: dhcp.parse(p.payload) for p in port_payloads(path, "udp", (67, 68))}
    for row in rows:
        row += [""] * (len(fields) - len(row))
        frame, mtype, mac, host, params, req, sid, router, dns_, lease, yi = row
        got = mine[int(frame)]
        assert got["msg_type"] == dhcp.MSG_TYPES[int(mtype)]
        assert got["chaddr"] == mac.split(",")[0] and got.get("hostname", "") == host
        assert got.get("param_list", "") == params
        assert got.get("requested_ip", "") == req and got.get("server_id", "") == sid
        assert ",".join(got.get("router", [])) == router
        assert ",".join(got.get("dns_servers", [])) == dns_
        assert str(got.get("lease_time", "")) == lease and got["yiaddr"] == yi


def test_lldp_fields_equal_tshark():
    path = _need("tcpdump/LLDP_and_CDP.pcap")
    fields = ["frame.number", "lldp.port.id", "lldp.time_to_live", "lldp.tlv.enable_system_cap"]
    rows = tshark(path, fields, "lldp")
    assert rows
    for number, (_, frame) in enumerate(frames(path), start=1):
        row = next((r for r in rows if int(r[0]) == number), None)
        if row is None:
            continue
        got = lldp.parse(ether_payload(frame)[1])
        assert got["port_id"] == row[1] and str(got["ttl"]) == row[2]
        bits = int(row[3], 16)
        assert got["capabilities_enabled"] == [
            n for i, n in enumerate(lldp.CAPABILITIES) if bits >> i & 1
        ]


@pytest.mark.parametrize(
    "rel",
    [
        "tcpdump/LLDP_and_CDP.pcap",
        "tcpdump/3560_CDP.pcap",
        "zeek/cdp-v1.pcap",
        "iti-ics-security-tools/openics/EIP-SoftwareUpload.pcap",
    ],
)
def test_cdp_fields_equal_tshark(rel):
    path = _need(rel)
    fields = ["frame.number", "cdp.deviceid", "cdp.portid", "cdp.platform", "cdp.nrgyz.ip_address"]
    rows = {int(r[0]): r + [""] * (5 - len(r)) for r in tshark(path, fields, "cdp")}
    assert rows
    for number, (_, frame) in enumerate(frames(path), start=1):
        if number not in rows:
            continue
        got = cdp.parse(frame[14:])  # 802.3 header, then LLC
        _, device, port, platform, addrs = rows[number]
        assert (got["device_id"], got["port_id"], got["platform"]) == (device, port, platform)
        mine = got.get("addresses", []) + got.get("management_addresses", [])
        assert mine == [a for a in addrs.split(",") if a]
        usable = [a for a in mine if a != "0.0.0.0"]
        assert got.get("subject_ip") == (usable[0] if usable else None)
