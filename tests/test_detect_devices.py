"""undeclared-device, cellular-modem and rogue-gateway on hand-built inventories."""

from __future__ import annotations

from _detect_helpers import GW_MAC, asset, ctx, event, flow, site
from cranewatch.detect import cellular, rogue_gateway, undeclared

PLC = "00:1b:1b:00:00:10"  # Siemens, declared crane-a-plc
HMI = "00:0c:29:00:00:20"  # declared crane-a-hmi
TELTONIKA = "00:1e:42:aa:bb:cc"  # registry org "Teltonika"
DECLARED_LTE = "00:1e:42:11:22:33"
HUAWEI = "00:e0:fc:12:34:56"
DELL = "00:14:22:01:02:03"
PUB = ["198.51.100.7", "203.0.113.9", "192.0.2.44", "198.51.100.80"]


def _gateway():
    return asset(GW_MAC, "10.50.1.1")


def _routed(host_ip, host_mac, hop, n=4, ttl=63, ts=1000.0):
    return [
        flow(host_ip, ip, orig_mac=host_mac, resp_mac=hop, ts=ts + i, resp_ttl=ttl)
        for i, ip in enumerate(PUB[:n])
    ]


# ------------------------------------------------------------------ undeclared-device


def test_undeclared_device_reports_identity():
    laptop = asset(DELL, "10.50.1.77", hostnames=["eng-laptop"], identity={"vendor_class": "MSFT 5.0"},
                   protocols=["dhcp", "smb"])  # fmt: skip
    found = undeclared.detect(ctx(site(), [laptop, asset(PLC, "10.50.1.10"), _gateway()]))
    assert len(found) == 1
    f = found[0]
    assert (f.kind, f.asset_mac, f.asset_ip, f.severity) == (
        "undeclared-device",
        DELL,
        "10.50.1.77",
        "high",
    )
    text = " ".join(e.detail for e in f.evidence)
    assert "Dell" in text and "eng-laptop" in text and "MSFT 5.0" in text and "smb" in text
    assert all(e.ts >= 1000.0 for e in f.evidence)
    assert f.attack_ics == ["T0864"]


def test_declared_gateway_group_and_far_assets_are_not_undeclared():
    assets = [
        asset(PLC, "10.50.1.10"),  # declared by MAC
        _gateway(),  # holds the zone gateway IP
        asset("01:80:c2:00:00:0e"),  # LLDP multicast
        asset(None, "198.51.100.7", behind_router=True),  # far address seen through a router
        asset(None, "10.60.0.5", behind_router=True),  # declared by IP
    ]
    assert undeclared.detect(ctx(site(), assets)) == []
    assert undeclared.detect(ctx(None, [asset(DELL, "10.50.1.77")])) == []


# ------------------------------------------------------------------ cellular-modem


def test_undeclared_cellular_router_by_vendor_is_critical():
    modem = asset(TELTONIKA, "10.50.1.99")
    found = cellular.detect(ctx(site(), [modem, asset(PLC, "10.50.1.10")]))
    assert [(f.asset_mac, f.severity) for f in found] == [(TELTONIKA, "critical")]
    assert "Teltonika" in found[0].evidence[0].detail
    assert found[0].attack_ics == ["T0883", "T0822"]


def test_declared_modem_is_low():
    found = cellular.detect(ctx(site(), [asset(DECLARED_LTE, "10.50.1.250")]))
    assert [(f.asset_mac, f.severity) for f in found] == [(DECLARED_LTE, "low")]


def test_mixed_vendor_alone_or_with_routing_is_not_enough():
    huawei = asset(HUAWEI, "10.50.1.5")
    flows = _routed("10.50.1.10", PLC, HUAWEI)
    assert cellular.detect(ctx(None, [huawei])) == []
    assert cellular.detect(ctx(None, [huawei, asset(PLC, "10.50.1.10")], flows)) == []


def test_mixed_vendor_with_cellular_identity_counts():
    huawei = asset(HUAWEI, "10.50.1.5")
    snmp = event("snmp", "10.50.1.5", "10.50.1.20", {"identity": {"description": "LTE industrial gateway"}},
                 src_mac=HUAWEI)  # fmt: skip
    found = cellular.detect(ctx(None, [huawei], events=[snmp]))
    assert len(found) == 1 and found[0].severity == "high"
    assert any("LTE" in e.detail for e in found[0].evidence)


def test_web_title_naming_a_router_model():
    dev = asset("00:0c:29:77:77:77", "10.50.1.66")
    http = event("http", "10.50.1.66", "10.50.1.20", {"status": 200, "title": "RUTX11 - Login"},
                 src_mac="00:0c:29:77:77:77", l4="tcp", sport=80, dport=51000)  # fmt: skip
    found = cellular.detect(ctx(site(), [dev], events=[http]))
    assert [f.severity for f in found] == ["critical"]


def test_ip_passthrough_cgnat_host_points_at_its_modem():
    hop = "00:0c:29:99:88:77"  # no cellular vendor: only the behaviour gives it away
    host = asset("00:0c:29:00:00:20", "100.71.3.7")
    flows = _routed("100.71.3.7", "00:0c:29:00:00:20", hop)
    found = cellular.detect(ctx(None, [host, asset(hop)], flows))
    assert [f.asset_mac for f in found] == [hop]
    assert any("carrier-grade NAT" in e.detail for e in found[0].evidence)


def test_dhcp_hostname_and_cloud_with_routing():
    dev = "00:0c:29:55:44:33"
    dhcp = event("dhcp", "0.0.0.0", "255.255.255.255",
                 {"msg_type": "request", "chaddr": dev, "hostname": "RUT955"}, src_mac=dev)  # fmt: skip
    found = cellular.detect(ctx(None, [asset(dev, "192.168.8.1")], events=[dhcp]))
    assert len(found) == 1
    dns = event("dns", "192.168.8.1", "192.168.8.53", {"qr": 0, "queries": [["rms.teltonika-networks.com", "A"]]},
                src_mac=dev)  # fmt: skip
    flows = _routed("192.168.8.10", "00:0c:29:00:00:01", dev)
    found = cellular.detect(ctx(None, [asset(dev, "192.168.8.1")], flows, [dns]))
    assert len(found) == 1 and found[0].peer_name == "rms.teltonika-networks.com"


def test_plain_pc_is_no_modem():
    pc = asset(DELL, "10.50.1.77", hostnames=["DESKTOP-4X2"])
    dns = event(
        "dns",
        "10.50.1.77",
        "10.60.0.53",
        {"qr": 0, "queries": [["www.example.com", "A"]]},
        src_mac=DELL,
    )
    assert cellular.detect(ctx(site(), [pc], _routed("10.50.1.77", DELL, GW_MAC), [dns])) == []


# ------------------------------------------------------------------ rogue-gateway


def test_off_subnet_through_an_undeclared_router():
    rogue = "00:0c:29:de:ad:01"
    assets = [asset(PLC, "10.50.1.10"), _gateway(), asset(rogue, "10.50.1.200")]
    flows = _routed("10.50.1.10", PLC, GW_MAC) + _routed("10.50.1.10", PLC, rogue, ts=1500.0)
    found = rogue_gateway.detect(ctx(site(), assets, flows))
    assert [(f.asset_mac, f.asset_ip, f.severity) for f in found] == [
        (rogue, "10.50.1.200", "high")
    ]
    text = " ".join(e.detail for e in found[0].evidence)
    assert "10.50.1.1" in text and "TTL 63" in text
    assert found[0].attack_ics[0] == "T0884"


def test_traffic_through_the_declared_gateway_is_fine():
    assets = [asset(PLC, "10.50.1.10"), _gateway()]
    assert rogue_gateway.detect(ctx(site(), assets, _routed("10.50.1.10", PLC, GW_MAC))) == []


def test_untouched_ttl_lowers_confidence():
    rogue = "00:0c:29:de:ad:01"
    assets = [asset(PLC, "10.50.1.10"), _gateway(), asset(rogue, "10.50.1.200")]
    hopped = rogue_gateway.detect(ctx(site(), assets, _routed("10.50.1.10", PLC, rogue, ttl=63)))
    direct = rogue_gateway.detect(ctx(site(), assets, _routed("10.50.1.10", PLC, rogue, ttl=64)))
    assert direct[0].confidence < hopped[0].confidence


def test_without_site_a_second_forwarding_mac():
    main, second = "00:0c:29:00:00:01", "00:0c:29:00:00:02"
    flows = _routed("192.168.1.10", "00:0c:29:00:00:10", main) * 3 + _routed(
        "192.168.1.11", "00:0c:29:00:00:11", second
    )
    found = rogue_gateway.detect(
        ctx(None, [asset(main, "192.168.1.1"), asset(second, "192.168.1.254")], flows)
    )
    assert [f.asset_mac for f in found] == [second]
    assert (
        rogue_gateway.detect(
            ctx(
                None,
                [asset(main, "192.168.1.1")],
                _routed("192.168.1.10", "00:0c:29:00:00:10", main),
            )
        )
        == []
    )
