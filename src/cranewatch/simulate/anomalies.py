"""The planted anomalies (one or more of every finding kind) and their benign look-alikes.

Every detail a detector could key on - which crane, which maker, addresses,
timing, tool, transport - is drawn from the seeded RNG. `plant` runs before the
background traffic (it adds devices and conduits that site.yaml must show);
`benign` runs after it and lists what must never be flagged.
"""

from __future__ import annotations

import json
import random
import string

from . import catalog, edifact, iso6346
from . import proto_app as app
from . import proto_ics as ics
from . import proto_net as net
from .scenario import Device, Scenario, Zone
from .sessions import (
    MS,
    S,
    arp_resolve,
    dhcp_dora,
    dns_lookup,
    ephemeral,
    http_session,
    tls_session,
)
from .traffic import dcp_discovery, enip_discovery
from .wire import Node, TcpConn, Wire

KINDS = (
    "cellular-modem",
    "rogue-gateway",
    "undeclared-device",
    "remote-access",
    "container-data-leak",
    "beaconing",
    "policy-violation",
)


def _peer(node: Node | Device | None, port: int | None) -> dict | None:
    if node is None:
        return None
    ip = node.ip
    return {"ip": ip, "port": port}


def _anomaly(kind: str, asset: Device, peer: dict | None, note: str, **extra) -> dict:
    return {"kind": kind, "asset": asset.ref(), "peer": peer, "note": note, **extra}


def _word(rng: random.Random, n: int = 6) -> str:
    return "".join(rng.choice(string.ascii_lowercase) for _ in range(n))


def plant(sc: Scenario, w: Wire) -> list[dict]:
    """Add the anomalies and the declared modem; return truth.json's `anomalies`."""
    rng = sc.rng
    rogue_zone, declared_zone = rng.sample(sc.cranes, 2)
    makers = list(catalog.CELLULAR_MAKERS)
    rogue_maker = rng.choice(makers)
    declared_maker = rng.choice([m for m in makers if m is not rogue_maker])
    out: list[dict] = []
    declared_modem(sc, w, declared_zone, declared_maker)
    modem, modem_facts = rogue_modem(sc, w, rogue_zone, rogue_maker)
    out += modem_facts
    out += laptop(
        sc,
        w,
        rogue_zone
        if modem.info["dhcp_server"] or rng.random() < 0.5
        else rng.choice([z for z in sc.cranes if z is not rogue_zone]),
        modem,
    )
    out += remote_access(sc, w)
    out += container_leak(sc, w)
    out += beaconing(sc, w)
    out += policy_violations(sc, w)
    wrong_check_digits(sc, w)
    return out


# --- cellular modems -------------------------------------------------------------------


def declared_modem(sc: Scenario, w: Wire, z: Zone, maker: dict) -> Device:
    """A modem the operator knows about: declared, cloud traffic allowed by a conduit."""
    rng = sc.rng
    model = rng.choice(maker["models"])
    host = sc.free_host(z, 200, 249)
    dev = sc.add_device(
        z,
        "modem",
        "modem",
        maker["maker"],
        model,
        maker["org"],
        host,
        asset_id=f"{z.name}-cell-modem",
    )
    cloud = sc.public(
        f"{maker['maker']} cloud (declared)", "203.0.113.0/24", dns_name=maker["cloud"]
    )
    port = maker["cloud_port"]
    sc.conduit(dev.id, "internet", [f"tcp/{port}"])
    _modem_cloud_session(sc, w, dev, cloud, maker["cloud"], port)
    sc.notes["declared_modem"] = (dev, cloud, port)
    return dev


def _modem_cloud_session(
    sc: Scenario, w: Wire, dev: Device, cloud: Node, name: str, port: int
) -> None:
    """The modem's management link (wired WAN as primary uplink): DNS, then one
    long-lived TLS session with a keepalive record every 30-90 s."""
    rng = sc.rng
    dc = sc.by_id("dc01")
    t = sc.t0 + rng.randint(2, 40) * S
    t = dns_lookup(w, rng, t, dev.node, dc.node, name, cloud.ip)
    t, conn = tls_session(w, rng, t + 5 * MS, dev.node, cloud, port, name, records=1, close=False)
    t += rng.randint(30, 90) * S
    while t < sc.t_end:
        conn.send(t, True, app.tls_app_data(rng, rng.randint(40, 120)), ack=False)
        conn.send(t + conn.rtt, False, app.tls_app_data(rng, rng.randint(40, 200)), ack=True)
        t += rng.randint(30, 90) * S


def rogue_modem(sc: Scenario, w: Wire, z: Zone, maker: dict) -> tuple[Device, list[dict]]:
    """An undeclared cellular router in a crane cabinet, used as a gateway by crane hosts."""
    rng = sc.rng
    model = rng.choice(maker["models"])
    host = sc.free_host(z, 200, 254)
    dev = sc.add_device(
        z,
        "hidden-router",
        "modem",
        maker["maker"],
        model,
        maker["org"],
        host,
        declared=False,
        ttl=64,
        model_name=model,
    )
    dev.info["dhcp_server"] = rng.random() < 0.6
    dev.info["maker"] = maker
    cgnat = f"100.{rng.randint(64, 127)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    dev.info["wan_ip"] = cgnat
    cloud = sc.public(f"{maker['maker']} cloud", "203.0.113.0/24", dns_name=maker["cloud"])
    port = maker["cloud_port"]
    _modem_cloud_session(sc, w, dev, cloud, maker["cloud"], port)

    # a declared crane host was pointed at the modem for its internet-bound traffic
    victim = rng.choice([z.devices["hmi"], z.devices["ocr"]])
    victim.node.inet_gw_mac = dev.mac
    victim.node.refresh()
    portal_name = rng.choice(
        (
            "remote.crane-service.example.com",
            "portal.liftcare.example.net",
            "support.quayside-oem.example.org",
        )
    )
    portal = sc.public("crane vendor portal", "198.51.100.0/24", dns_name=portal_name)
    dc = sc.by_id("dc01")
    use_carrier_dns = rng.random() < 0.5
    carrier_dns = Node(
        "carrier-dns", f"100.{rng.randint(64, 127)}.{rng.randint(0, 255)}.53", ttl=64, hops=3
    )
    dev.info["carrier_dns"] = carrier_dns.ip if use_carrier_dns else None
    t = sc.time(0.05, 0.2)
    while t < sc.t_end:
        resolver = carrier_dns if use_carrier_dns else dc.node
        t = dns_lookup(w, rng, t, victim.node, resolver, portal_name, portal.ip)
        t, _ = tls_session(
            w, rng, t + 3 * MS, victim.node, portal, 443, portal_name, records=rng.randint(1, 3)
        )
        t += int(rng.expovariate(1 / 150) * S) + 20 * S
    note = (
        f"{maker['maker']} {model} hidden in {z.label}; management link to "
        f"{maker['cloud']}; {victim.id} routes internet traffic through it"
    )
    facts = [
        _anomaly(
            "cellular-modem",
            dev,
            _peer(cloud, port),
            note,
            maker=maker["maker"],
            model=model,
            cloud=maker["cloud"],
            wan_ip=cgnat,
        ),
        _anomaly(
            "rogue-gateway",
            dev,
            None,
            f"{victim.id} sends off-subnet traffic via the "
            f"{maker['maker']} router instead of {z.gateway.ip}",
            routed_hosts=[victim.ip],
        ),
    ]
    sc.notes["rogue_modem"] = dev
    return dev, facts


def _modem_web_page(dev: Device) -> bytes:
    maker = dev.info["maker"]
    title = maker["title"].format(model=dev.info["model_name"])
    body = (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
        f"<div id='status'>Mobile: connected (LTE) WAN IP {dev.info['wan_ip']}</div>"
        "<form action='/cgi-bin/login' method='post'><input name='username'>"
        "<input name='password' type='password'></form></body></html>"
    ).encode()
    return app.http_response(200, "OK", body, maker["server"])


# --- undeclared laptop -----------------------------------------------------------------


def laptop(sc: Scenario, w: Wire, z: Zone, modem: Device) -> list[dict]:
    """A service laptop plugged into a crane switch: DHCP, Windows chatter, engineering."""
    rng = sc.rng
    maker = rng.choice(catalog.LAPTOP_MAKERS)
    modem_here = modem.node.zone == z.name
    via_modem = modem_here and modem.info["dhcp_server"]
    host = sc.free_host(z, 100, 199) if via_modem else sc.free_host(z, 180, 199)
    dev = sc.add_device(
        z,
        "laptop",
        "workstation",
        maker["vendor"],
        maker["model"],
        maker["org"],
        host,
        declared=False,
        ttl=128,
    )
    hostname = rng.choice(
        (
            "DESKTOP-"
            + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(7)),
            "LAPTOP-"
            + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(8)),
            f"{rng.choice(('KC', 'ZPMC', 'LHM', 'KAL'))}-SVC-NB{rng.randint(1, 40):02d}",
        )
    )
    dev.info["hostname"] = hostname
    dc = sc.by_id("dc01")
    t = sc.time(0.12, 0.4)
    if via_modem:
        dev.node.gw_mac = modem.mac
        dev.node.refresh()
        t = dhcp_dora(
            w,
            rng,
            t,
            dev.node,
            modem.node,
            dev.ip,
            modem.ip,
            modem.ip,
            hostname,
            "lan",
            lease=43200,
        )
        dns_server, router = modem.node, modem
    else:
        t = dhcp_dora(
            w,
            rng,
            t,
            dev.node,
            dc.node,
            dev.ip,
            z.gateway.ip,
            dc.ip,
            hostname,
            sc.domain,
            relay=z.gateway.node,
        )
        dns_server, router = dc.node, z.gateway
    t += 300 * MS
    arp_resolve(w, t, dev.node, dev.ip, None)  # ARP probe for its own address
    t = arp_resolve(w, t + 1 * S, dev.node, router.ip, router.mac)
    w.udp_raw(
        t + 50 * MS,
        dev.node,
        z.addr(255),
        b"\xff" * 6,
        137,
        137,
        net.nbns_register(rng.getrandbits(16), hostname, dev.node.ip_b),
    )
    w.udp_raw(
        t + 80 * MS,
        dev.node,
        "224.0.0.252",
        bytes.fromhex("01005e0000fc"),
        ephemeral(rng),
        5355,
        net.llmnr_query(rng.getrandbits(16), "wpad"),
    )
    for k in range(rng.randint(2, 4)):
        w.udp_raw(
            t + (k + 1) * 3 * S,
            dev.node,
            "239.255.255.250",
            bytes.fromhex("01005e7ffffa"),
            ephemeral(rng),
            1900,
            net.ssdp_msearch(),
        )
    t += 400 * MS
    domain = "lan" if via_modem else sc.domain
    dns_lookup(w, rng, t, dev.node, dns_server, f"wpad.{domain}", None)
    if via_modem:
        check = sc.public("msftconnecttest", "198.51.100.0/24", dns_name="www.msftconnecttest.com")
        t = dns_lookup(
            w, rng, t + 20 * MS, dev.node, dns_server, "www.msftconnecttest.com", check.ip
        )
        t = http_session(
            w,
            rng,
            t + 2 * MS,
            dev.node,
            check,
            80,
            app.http_request(
                "GET", "www.msftconnecttest.com", "/connecttest.txt", user_agent="Microsoft NCSI"
            ),
            app.http_response(
                200, "OK", b"Microsoft Connect Test", "Microsoft-IIS/10.0", "text/plain"
            ),
        )
    if modem_here:
        # the technician opens the router's web page
        maker_info = modem.info["maker"]
        t = http_session(
            w,
            rng,
            t + 5 * S,
            dev.node,
            modem.node,
            maker_info["web_port"],
            app.http_request(
                "GET", modem.ip, "/", user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
            ),
            _modem_web_page(modem),
        )
    else:
        _hmi_opens_modem_page(sc, w, modem)
    # engineering: go online with the PLC
    plc = z.devices["plc"]
    t += rng.randint(20, 90) * S
    if z.family == "siemens":
        dcp_discovery(sc, w, z, dev)
        conn = TcpConn(w, dev.node, plc.node, ephemeral(rng), 102, rng)
        t = conn.open(t)
        t = conn.exchange(
            t + MS,
            ics.cotp_cr(0x0011, 0x0100, 0x0101),
            ics.cotp_cc(0x0011, 0x0002, 0x0100, 0x0101),
            MS,
        )
        t = conn.exchange(t + MS, ics.s7_setup(1, 960), ics.s7_setup(1, 960, True), MS)
        t = conn.exchange(
            t + MS,
            ics.s7_szl_request(2),
            ics.s7_szl_0011_response(2, plc.info["order_no"], 3, plc.info["firmware"]),
            3 * MS,
            ack=True,
        )
        for k in range(rng.randint(20, 60)):
            t = conn.exchange(
                t + 500 * MS,
                ics.s7_read_db(3 + k, [(1, 0, 32)]),
                ics.s7_read_db_ack(3 + k, [rng.randbytes(32)]),
                2 * MS,
                ack=True,
            )
        conn.close(t + 2 * S)
    else:
        enip_discovery(sc, w, z)
        conn = TcpConn(w, dev.node, plc.node, ephemeral(rng), 44818, rng)
        t = conn.open(t)
        handle = rng.getrandbits(32)
        t = conn.exchange(
            t + MS,
            ics.enip_register_session(),
            ics.enip_register_session(handle, reply=True),
            2 * MS,
            ack=True,
        )
        conn.close(t + rng.randint(5, 30) * S)
    how = f"DHCP from the {modem.vendor} router" if via_modem else "DHCP via the gateway relay"
    return [
        _anomaly(
            "undeclared-device",
            dev,
            None,
            f"{maker['vendor']} laptop '{hostname}' on {z.label} ({how})",
            hostname=hostname,
        )
    ]


def _hmi_opens_modem_page(sc: Scenario, w: Wire, modem: Device) -> None:
    """When no laptop is on the modem's crane, the HMI browser shows its status page."""
    rng = sc.rng
    z = next(zz for zz in sc.cranes if zz.name == modem.node.zone)
    hmi = z.devices["hmi"]
    http_session(
        w,
        rng,
        sc.time(0.3, 0.8),
        hmi.node,
        modem.node,
        modem.info["maker"]["web_port"],
        app.http_request(
            "GET", modem.ip, "/", user_agent="Mozilla/5.0 (Windows NT 10.0; Win64; x64)"
        ),
        _modem_web_page(modem),
    )


# --- remote access ---------------------------------------------------------------------


def remote_access(sc: Scenario, w: Wire) -> list[dict]:
    """One remote-access session outside the approved VPN path, tool chosen per seed."""
    rng = sc.rng
    tool = rng.choice(catalog.REMOTE_TOOLS)
    ws = [d for d in sc.it.devices.values() if d.role == "workstation"]
    hmis = [z.devices["hmi"] for z in sc.cranes]
    inside = rng.choice(hmis + ws[:1]) if tool["tool"] != "rdp" else rng.choice(ws + hmis[:1])
    peer = sc.public(f"remote {tool['tool']} peer", "198.51.100.0/24")
    port = tool["port"]
    if tool["tool"] == "ssh":
        port = rng.choice((22, 443, 2222))
    t = sc.time(0.1, 0.55)
    t_end = min(sc.t_end - 2 * S, t + rng.randint(60, 240) * S)
    dc = sc.by_id("dc01")
    name = None
    if tool["tool"] == "teamviewer":
        name = f"router{rng.randint(1, 16)}.teamviewer.com"
    elif tool["tool"] == "anydesk":
        name = f"relay-{rng.getrandbits(32):08x}.net.anydesk.com"
    if name:
        sc.dns_names[name] = peer.ip
        t = dns_lookup(w, rng, t, inside.node, dc.node, name, peer.ip) + 3 * MS
    conn = TcpConn(w, inside.node, peer, ephemeral(rng), port, rng)
    t = conn.open(t)
    kind = tool["tool"]
    if kind == "teamviewer":
        t = conn.exchange(
            t + MS,
            app.teamviewer_frame(0x0A, rng.randbytes(20)),
            app.teamviewer_frame(0x0B, rng.randbytes(24)),
            5 * MS,
            ack=True,
        )
        from_peer = from_inside = lambda n: app.teamviewer_frame(0x1C, rng.randbytes(n))  # noqa: E731
    elif kind in ("anydesk", "rdp"):
        if kind == "rdp":
            t = conn.exchange(
                t + MS,
                app.rdp_connection_request(rng.choice(("administrator", "scada", "operator"))),
                app.rdp_connection_confirm(),
                5 * MS,
            )
        t = conn.send(t + MS, True, app.tls_client_hello(rng, name), ack=False)
        t = conn.send(t + conn.rtt, False, app.tls_server_hello(rng), ack=True)
        t = conn.send(t + MS, True, app.tls_client_finish(rng), ack=False)
        from_peer = from_inside = lambda n: app.tls_app_data(rng, n)  # noqa: E731
    elif kind == "vnc":
        # reverse VNC: the inside VNC server connects out to a listening viewer
        t = conn.exchange(t + MS, app.rfb_banner(), app.rfb_banner(), 3 * MS)
        t = conn.send(t + MS, True, b"\x01\x02", ack=False)
        t = conn.send(t + conn.rtt, False, b"\x02", ack=False)
        t = conn.send(t + MS, True, rng.randbytes(16), ack=False)
        t = conn.send(t + conn.rtt, False, rng.randbytes(16), ack=False)
        t = conn.send(t + MS, True, b"\x00\x00\x00\x00", ack=False)
        t = conn.send(t + conn.rtt, False, b"\x01", ack=False)
        t = conn.send(t + MS, True, app.rfb_server_init(1280, 800, f"{inside.id}"), ack=True)
        from_inside = lambda n: app.rfb_framebuffer_update(rng, n)  # noqa: E731
        from_peer = lambda n: app.rfb_client_events(rng)  # noqa: E731
    else:
        t = conn.exchange(
            t + MS,
            app.ssh_banner("OpenSSH_for_Windows_8.1"),
            app.ssh_banner("OpenSSH_8.9p1 Ubuntu-3ubuntu0.6"),
            8 * MS,
        )
        t = conn.exchange(t + MS, app.ssh_kexinit(rng), app.ssh_kexinit(rng), 2 * MS)
        t = conn.exchange(
            t + MS,
            app.ssh_packet(rng, app.ssh_ecdh_init(rng)),
            app.ssh_packet(rng, app.ssh_ecdh_reply(rng)) + app.ssh_packet(rng, b"\x15"),
            6 * MS,
        )
        t = conn.send(t + MS, True, app.ssh_packet(rng, b"\x15"), ack=False)
        from_peer = from_inside = lambda n: rng.randbytes(n)  # noqa: E731
    while t < t_end:
        t = conn.send(
            t + rng.randint(50, 900) * MS, False, from_peer(rng.randint(60, 1400)), ack=True
        )
        t = conn.send(
            t + rng.randint(5, 60) * MS, True, from_inside(rng.randint(40, 300)), ack=True
        )
    conn.close(max(t, t_end) + 20 * MS)
    return [
        _anomaly(
            "remote-access",
            inside,
            _peer(peer, port),
            f"{kind} session from {inside.id} to {peer.ip}:{port}",
            tool=kind,
        )
    ]


# --- container data ---------------------------------------------------------------------


def container_leak(sc: Scenario, w: Wire) -> list[dict]:
    """ISO 6346 numbers (valid check digits) or EDIFACT sent in clear to a public address."""
    rng = sc.rng
    variant = rng.choice(("http-json", "mqtt", "edifact"))
    crane = rng.choice(sc.cranes)
    sender = sc.by_id("tos-app") if variant == "edifact" else crane.devices["ocr"]
    numbers: list[str] = []
    host = rng.choice(
        (
            "ingest.boxvision.example.net",
            "api.quay-analytics.example.com",
            "edi.liner-portal.example.org",
        )
    )
    receiver = sc.public(
        "leak receiver", rng.choice(("198.51.100.0/24", "203.0.113.0/24")), dns_name=host
    )
    t = sc.time(0.05, 0.3)
    if variant == "mqtt":
        port = 1883
        conn = TcpConn(w, sender.node, receiver, ephemeral(rng), port, rng)
        t = conn.open(t)
        t = conn.exchange(
            t + MS,
            app.mqtt_connect(f"ocr-{crane.name}-{_word(rng, 4)}"),
            app.mqtt_connack(),
            2 * MS,
        )
        while t < sc.t_end - 30 * S:
            boxes = [iso6346.valid_number(rng) for _ in range(rng.randint(1, 2))]
            numbers += boxes
            payload = json.dumps({"crane": crane.label, "boxes": boxes, "ts": t // S}).encode()
            conn.send(t, True, app.mqtt_publish(f"terminal/{crane.name}/ocr", payload), ack=True)
            conn.exchange(t + 10 * S, app.mqtt_pingreq(), app.mqtt_pingresp(), MS, ack=False)
            t += rng.randint(60, 150) * S
        conn.send(t, True, app.mqtt_disconnect(), ack=False)
        conn.close(t + MS)
    else:
        port = rng.choice((80, 8080)) if variant == "http-json" else 80
        for _ in range(rng.randint(2, 4)):
            if variant == "http-json":
                boxes = [iso6346.valid_number(rng) for _ in range(rng.randint(1, 3))]
                body = json.dumps(
                    {
                        "site": sc.site_name,
                        "crane": crane.label,
                        "reads": [{"container": b} for b in boxes],
                    }
                ).encode()
                req = app.http_request(
                    "POST", host, "/v1/reads", body, "application/json", "CraneOCR/4.2"
                )
            else:
                boxes = [iso6346.valid_number(rng) for _ in range(rng.randint(4, 9))]
                stamp = f"20260302{rng.randint(6, 20):02d}{rng.randint(0, 59):02d}"
                site_code = sc.domain.split(".")[0].upper()
                ref = f"{rng.randint(10000, 99999)}"
                body = (
                    edifact.coprar(site_code, "LINERHQ", stamp, ref, boxes)
                    if rng.random() < 0.4
                    else edifact.baplie(
                        site_code,
                        "LINERHQ",
                        stamp,
                        ref,
                        "MSC AURORA",
                        [
                            (
                                b,
                                rng.choice(("22G1", "45G1")),
                                f"0{rng.randint(10, 99)}{rng.randint(1, 9)}0{rng.randint(2, 9)}",
                            )
                            for b in boxes
                        ],
                    )
                )
                req = app.http_request(
                    "POST", host, "/edi/inbound", body, "application/edifact", "Navis-EDI/3.8"
                )
            numbers += boxes
            http_session(
                w,
                rng,
                t,
                sender.node,
                receiver,
                port,
                req,
                app.http_response(200, "OK", b'{"ok":true}', "nginx", "application/json"),
            )
            t += rng.randint(60, 200) * S
            if t > sc.t_end - 10 * S:
                break
    return [
        _anomaly(
            "container-data-leak",
            sender,
            _peer(receiver, port),
            f"{variant}: {len(numbers)} container numbers to {host}",
            variant=variant,
            containers=numbers,
        )
    ]


def wrong_check_digits(sc: Scenario, w: Wire) -> None:
    """Benign: strings shaped like container numbers but with wrong check digits, sent out."""
    rng = sc.rng
    ws = rng.choice([d for d in sc.it.devices.values() if d.role == "workstation"])
    host = "parts.spares-shop.example.com"
    shop = sc.public("spare parts shop", "203.0.113.0/24", dns_name=host)
    refs = [iso6346.invalid_number(rng) for _ in range(rng.randint(3, 6))]
    body = json.dumps(
        {
            "order": f"PO-{rng.randint(100000, 999999)}",
            "items": [{"part_ref": r, "qty": rng.randint(1, 4)} for r in refs],
        }
    ).encode()
    t = sc.time(0.2, 0.8)
    http_session(
        w,
        rng,
        t,
        ws.node,
        shop,
        80,
        app.http_request(
            "POST",
            host,
            "/api/orders",
            body,
            "application/json",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64)",
        ),
        app.http_response(201, "Created", b'{"status":"received"}', "nginx", "application/json"),
    )
    sc.notes["wrong_digits"] = (ws, shop, refs)


# --- beaconing --------------------------------------------------------------------------


def beaconing(sc: Scenario, w: Wire) -> list[dict]:
    """Small machine-timed connections to one endpoint for the whole capture."""
    rng = sc.rng
    ws = [d for d in sc.it.devices.values() if d.role == "workstation"]
    crane = rng.choice(sc.cranes)
    host_dev = rng.choice(ws + [crane.devices["hmi"], crane.devices["ocr"]])
    duration = (sc.t_end - sc.t0) / S
    hi = min(300.0, duration / 8)
    period = rng.uniform(min(30.0, hi), hi)
    jitter = rng.uniform(0.005, 0.03)
    name = f"{_word(rng, 5)}.{rng.choice(('cdn-sync', 'telemetry', 'update-svc'))}.example.net"
    endpoint = sc.public(
        "beacon endpoint", rng.choice(("192.0.2.0/24", "203.0.113.0/24")), dns_name=name
    )
    use_tls = rng.random() < 0.7
    port = 443 if use_tls else 80
    dc = sc.by_id("dc01")
    t = sc.t0 + int(rng.uniform(0, period) * S)
    count = 0
    bot = _word(rng, 10)
    while t < sc.t_end:
        if count % 5 == 0:
            dns_lookup(w, rng, t - 30 * MS, host_dev.node, dc.node, name, endpoint.ip)
        if use_tls:
            tls_session(w, rng, t, host_dev.node, endpoint, 443, name, records=1, size=(60, 180))
        else:
            http_session(
                w,
                rng,
                t,
                host_dev.node,
                endpoint,
                80,
                app.http_request("GET", name, f"/c?id={bot}&n={count}", user_agent="Mozilla/5.0"),
                app.http_response(204, "No Content", b"", "nginx", "text/plain"),
            )
        count += 1
        t += int(period * S * (1 + rng.uniform(-jitter, jitter)))
    return [
        _anomaly(
            "beaconing",
            host_dev,
            _peer(endpoint, port),
            f"{count} connections every {period:.1f} s (+/-{jitter * 100:.1f}%) to {name}",
            period_s=round(period, 3),
            connections=count,
        )
    ]


# --- policy violations ------------------------------------------------------------------


def policy_violations(sc: Scenario, w: Wire) -> list[dict]:
    """One or two flows no conduit allows, chosen per seed."""
    rng = sc.rng
    variants = rng.sample(("cross-crane", "plc-internet", "it-to-plc"), rng.randint(1, 2))
    return [_VIOLATIONS[v](sc, w) for v in variants]


def _cross_crane(sc: Scenario, w: Wire) -> dict:
    """Crane A's HMI reads crane B's PLC directly (copied project, wrong IP)."""
    rng = sc.rng
    a, b = rng.sample(sc.cranes, 2)
    hmi, plc = a.devices["hmi"], b.devices["plc"]
    port = 102 if b.family == "siemens" else 502
    conn = TcpConn(w, hmi.node, plc.node, ephemeral(rng), port, rng)
    t = conn.open(sc.time(0.2, 0.6))
    if port == 102:
        t = conn.exchange(
            t + MS,
            ics.cotp_cr(0x0022, 0x0100, 0x0301),
            ics.cotp_cc(0x0022, 0x0003, 0x0100, 0x0301),
            MS,
        )
        t = conn.exchange(t + MS, ics.s7_setup(1), ics.s7_setup(1, 480, True), MS)
    for k in range(rng.randint(40, 120)):
        req = (
            ics.s7_read_db(k + 2, [(10, 0, 16)])
            if port == 102
            else ics.modbus_read_req(k + 1, 1, 0, 10)
        )
        resp = (
            ics.s7_read_db_ack(k + 2, [rng.randbytes(16)])
            if port == 102
            else ics.modbus_read_resp(k + 1, 1, rng.randbytes(20))
        )
        t = conn.exchange(t + 500 * MS, req, resp, 3 * MS, ack=True)
    conn.close(t + S)
    return _anomaly(
        "policy-violation",
        hmi,
        _peer(plc, port),
        f"{a.label} HMI reads {b.label} PLC on tcp/{port}",
        variant="cross-crane",
    )


def _plc_internet(sc: Scenario, w: Wire) -> dict:
    """A crane PLC opens OPC UA sessions to an internet address (cloud connector)."""
    rng = sc.rng
    z = rng.choice(sc.cranes)
    plc = z.devices["plc"]
    dest = sc.public("plc cloud connector", "192.0.2.0/24")
    port = rng.choice((4840, 4843))
    url = f"opc.tcp://{dest.ip}:{port}/"
    t = sc.time(0.05, 0.3)
    while t < sc.t_end - 10 * S:
        conn = TcpConn(w, plc.node, dest, ephemeral(rng), port, rng)
        tt = conn.open(t)
        tt = conn.exchange(tt + MS, ics.opcua_hello(url), ics.opcua_ack(), 2 * MS, ack=True)
        conn.close(tt + rng.randint(1, 5) * S)
        t += int(rng.expovariate(1 / 120) * S) + 15 * S
    return _anomaly(
        "policy-violation",
        plc,
        _peer(dest, port),
        f"{z.label} PLC connects to {dest.ip}:{port} (OPC UA)",
        variant="plc-internet",
    )


def _it_to_plc(sc: Scenario, w: Wire) -> dict:
    """An office workstation talks to a crane PLC directly, bypassing the jump host."""
    rng = sc.rng
    ws = rng.choice([d for d in sc.it.devices.values() if d.role == "workstation"])
    z = rng.choice(sc.cranes)
    plc = z.devices["plc"]
    port = 102 if z.family == "siemens" else 44818
    conn = TcpConn(w, ws.node, plc.node, ephemeral(rng), port, rng)
    t = conn.open(sc.time(0.3, 0.8))
    if port == 102:
        t = conn.exchange(
            t + MS,
            ics.cotp_cr(0x0033, 0x0100, 0x0101),
            ics.cotp_cc(0x0033, 0x0004, 0x0100, 0x0101),
            MS,
        )
        t = conn.exchange(t + MS, ics.s7_setup(1, 960), ics.s7_setup(1, 960, True), MS)
        t = conn.exchange(
            t + MS,
            ics.s7_szl_request(2),
            ics.s7_szl_0011_response(2, plc.info["order_no"], 3, plc.info["firmware"]),
            3 * MS,
            ack=True,
        )
    else:
        handle = rng.getrandbits(32)
        t = conn.exchange(
            t + MS,
            ics.enip_register_session(),
            ics.enip_register_session(handle, True),
            2 * MS,
            ack=True,
        )
    conn.close(t + rng.randint(10, 60) * S)
    return _anomaly(
        "policy-violation",
        ws,
        _peer(plc, port),
        f"{ws.id} connects to {z.label} PLC on tcp/{port}",
        variant="it-to-plc",
    )


_VIOLATIONS = {"cross-crane": _cross_crane, "plc-internet": _plc_internet, "it-to-plc": _it_to_plc}


# --- benign look-alikes -----------------------------------------------------------------


def benign(sc: Scenario) -> list[dict]:
    """What must not be flagged; `not` lists the finding kinds each would be mistaken for.

    `expect`, where present, lists findings that are right about a benign device
    all the same: a declared modem is still reported, as a low inventory note.
    """
    out = []

    def add(
        what: str,
        asset: Device,
        peer: dict | None,
        note: str,
        kinds: list[str],
        expect: list[dict] | None = None,
    ) -> None:
        entry = {"what": what, "asset": asset.ref(), "peer": peer, "note": note, "not": kinds}
        if expect:
            entry["expect"] = expect
        out.append(entry)

    dev, cloud, port = sc.notes["declared_modem"]
    add(
        "declared-modem",
        dev,
        _peer(cloud, port),
        f"declared {dev.vendor} {dev.model}; its cloud link is allowed by a conduit;"
        " reported as a low cellular-modem finding naming its declaration, no more",
        ["rogue-gateway", "undeclared-device", "policy-violation", "beaconing"],
        expect=[{"kind": "cellular-modem", "severity": "low"}],
    )
    vpn = sc.notes["vpn"]
    add(
        "approved-vpn",
        vpn["jump"],
        {"ip": vpn["vendor"].ip, "port": None},
        "vendor OpenVPN on udp/1194 inside the remote_access conduit",
        ["remote-access", "policy-violation"],
    )
    add(
        "approved-rdp-hop",
        vpn["jump"],
        _peer(vpn["hmi"], 3389),
        "RDP from the jump host to a crane HMI, allowed by a remote_access conduit",
        ["remote-access", "policy-violation"],
    )
    for z in sc.cranes:
        hmi, plc = z.devices["hmi"], z.devices["plc"]
        port = 102 if z.family == "siemens" else 502
        add(
            "plc-polling",
            hmi,
            _peer(plc, port),
            f"{z.label} HMI polls the PLC every {hmi.info['poll_ms']} ms",
            ["beaconing", "policy-violation"],
        )
        add(
            "ntp-to-declared-server",
            plc,
            _peer(sc.by_id("ntp01"), 123),
            "NTP to the site NTP server (conduit)",
            ["beaconing", "policy-violation"],
        )
        add(
            "container-numbers-to-tos",
            z.devices["ocr"],
            _peer(sc.by_id("tos-app"), 8080),
            "OCR posts container numbers to the TOS (container_data_to)",
            ["container-data-leak", "policy-violation"],
        )
        add(
            "declared-gateway",
            z.gateway,
            None,
            "the declared router of the zone",
            ["rogue-gateway", "undeclared-device", "cellular-modem"],
        )
    for server in sc.notes.get("ntp_upstream", []):
        add(
            "ntp-upstream",
            sc.by_id("ntp01"),
            _peer(server, 123),
            "site NTP server polling a pool server every 64 s (conduit)",
            ["beaconing", "policy-violation"],
        )
    resolver = sc.public_nodes.get("upstream-dns")
    if resolver is not None:
        add(
            "dns-upstream",
            sc.by_id("dc01"),
            _peer(resolver, 53),
            "site DNS server forwarding cache misses to its upstream resolver (conduit)",
            ["beaconing", "policy-violation"],
        )
    ws, shop, refs = sc.notes["wrong_digits"]
    add(
        "wrong-check-digits",
        ws,
        _peer(shop, 80),
        f"part references shaped like container numbers with wrong check digits: {', '.join(refs)}",
        ["container-data-leak", "policy-violation"],
    )
    out[-1]["strings"] = refs
    return out
