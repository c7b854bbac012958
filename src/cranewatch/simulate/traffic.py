"""Normal life of the terminal over the capture window.

Cranes: HMI polling of the PLC (S7comm or Modbus/TCP), the PLC polling the
anemometer gateway, drive I/O (PROFINET RT or CIP class 1 on udp/2222), device
discovery (PROFINET DCP, EtherNet/IP ListIdentity), camera streams to the VMS,
OCR container reads to the TOS, NTP. Site: LLDP, ARP, DNS, DHCP, workstation
web use, NTP upstream, and the approved vendor VPN with its RDP hop.

Cyclic traffic is the bulk of the capture; its frames are built from
templates with only counters patched.
"""

from __future__ import annotations

import json
import struct

from . import frames as fr
from . import iso6346
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
    ntp_exchange,
    tls_session,
)
from .wire import TcpConn, Wire

WEB_SITES = (
    "outlook.office365.com",
    "login.microsoftonline.com",
    "teams.microsoft.com",
    "www.msc.com",
    "www.maersk.com",
    "www.marinetraffic.com",
    "www.bing.com",
    "edge.microsoft.com",
    "www.hapag-lloyd.com",
    "www.cma-cgm.com",
)
NTP_POOL = ("0.pool.ntp.org", "1.pool.ntp.org", "2.pool.ntp.org")


def generate(sc: Scenario, w: Wire) -> None:
    """All background traffic, crane by crane, then the site-wide services."""
    lldp_all(sc, w)
    arp_all(sc, w)
    for z in sc.cranes:
        if z.family == "siemens":
            s7_hmi_poll(sc, w, z)
            profinet_io(sc, w, z)
            dcp_discovery(sc, w, z, z.devices["plc"])
        else:
            modbus_hmi_poll(sc, w, z)
            cip_io(sc, w, z)
            enip_discovery(sc, w, z)
        wind_poll(sc, w, z)
        cameras(sc, w, z)
        ocr_moves(sc, w, z)
        for key in ("plc", "hmi"):
            ntp_client(sc, w, z.devices[key], 64 if key == "plc" else 128)
    it_background(sc, w)
    ntp_upstream(sc, w)
    vendor_vpn(sc, w)


def _times(sc: Scenario, period_us: int, jitter_us: int, start: int | None = None):
    """Instants from `start` (random phase by default) every period, until the end."""
    rng = sc.rng
    t = start if start is not None else sc.t0 + rng.randrange(period_us)
    while t < sc.t_end:
        yield t
        t += period_us + (rng.randint(-jitter_us, jitter_us) if jitter_us else 0)


# --- layer 2 ----------------------------------------------------------------------------


def lldp_all(sc: Scenario, w: Wire) -> None:
    """Each managed switch announces itself every 30 s."""
    for z in sc.zones:
        sw = z.devices.get("sw")
        if sw is None:
            continue
        desc = {
            "SCALANCE XC208": "Siemens, SIMATIC NET, SCALANCE XC208, 6GK5 208-0BA00-2AC2, "
            "HW: Version 1, FW: Version V4.4.0",
            "Stratix 5700": "Allen-Bradley Stratix 5700, Cisco IOS Software, Version 15.2(8)E3",
        }.get(
            sw.model,
            "Cisco IOS Software [Cupertino], Catalyst L3 Switch Software "
            "(CAT9K_IOSXE), Version 17.9.4",
        )
        port = f"{sw.info.get('port_prefix', 'P1.')}{sc.rng.randint(1, 8)}"
        payload = net.lldp(
            sw.node.mac_b,
            port,
            f"uplink {z.label}",
            f"{sw.id}.{sc.domain}",
            desc,
            sw.node.ip_b,
            caps=0x0004 if z.kind == "crane" else 0x0014,
        )
        for t in _times(sc, 30 * S, 2 * MS):
            w.l2(t, net.LLDP_MULTICAST, sw.node.mac_b, fr.ETH_LLDP, payload)


def arp_all(sc: Scenario, w: Wire) -> None:
    """Hosts refresh their gateway's (and, in cranes, their peer's) ARP entry."""
    rng = sc.rng
    for z in sc.zones:
        gw = z.gateway
        for d in list(z.devices.values()):
            if d is gw or not d.declared:
                continue
            targets = [gw]
            if d.role == "hmi":
                targets.append(z.devices["plc"])
            for tgt in targets:
                for t in _times(
                    sc, rng.randint(150, 300) * S, 20 * S, sc.t0 + rng.randrange(90 * S)
                ):
                    arp_resolve(w, t, d.node, tgt.ip, tgt.mac)
            # the router asks for the host as well, now and then
            t = sc.time(0.0, 0.9)
            arp_resolve(w, t, gw.node, d.ip, d.mac)


# --- crane control -----------------------------------------------------------------------


def s7_hmi_poll(sc: Scenario, w: Wire, z: Zone) -> None:
    """Cabin HMI connects to the S7-1500 (COTP, setup, SZL) and reads DBs cyclically."""
    rng = sc.rng
    hmi, plc = z.devices["hmi"], z.devices["plc"]
    period = hmi.info["poll_ms"] * MS
    conn = TcpConn(w, hmi.node, plc.node, ephemeral(rng), 102, rng)
    t = conn.open(sc.t0 + rng.randint(50 * MS, 3 * S))
    src_ref = rng.getrandbits(15) | 1
    rack, slot = plc.info["rack_slot"]
    t = conn.exchange(
        t + 300,
        ics.cotp_cr(src_ref, 0x0100, 0x0300 | (rack << 5) | slot),
        ics.cotp_cc(src_ref, 0x0001, 0x0100, 0x0300 | (rack << 5) | slot),
        900,
    )
    ref = rng.getrandbits(16)
    t = conn.exchange(t + 400, ics.s7_setup(ref), ics.s7_setup(ref, 480, ack=True), 1200)
    ref += 1
    t = conn.exchange(
        t + 600,
        ics.s7_szl_request(ref),
        ics.s7_szl_0011_response(ref, plc.info["order_no"], 0x0000_0003, plc.info["firmware"]),
        2500,
        ack=True,
    )
    items = [(10, 0, 64), (11, 0, 32), (20, 0, 16)]
    state = bytearray(rng.randbytes(112))
    ack = period > 200 * MS
    for tp in _times(sc, period, 3 * MS, t + period):
        ref = (ref + 1) & 0xFFFF
        state[rng.randrange(112)] = rng.getrandbits(8)
        values = [bytes(state[0:64]), bytes(state[64:96]), bytes(state[96:112])]
        conn.exchange(
            tp,
            ics.s7_read_db(ref, items),
            ics.s7_read_db_ack(ref, values),
            rng.randint(1500, 6000),
            ack=ack,
        )


def modbus_hmi_poll(sc: Scenario, w: Wire, z: Zone) -> None:
    """Cabin HMI polls holding registers of the Logix PLC over Modbus/TCP."""
    rng = sc.rng
    hmi, plc = z.devices["hmi"], z.devices["plc"]
    period = hmi.info["poll_ms"] * MS
    conn = TcpConn(w, hmi.node, plc.node, ephemeral(rng), 502, rng)
    t = conn.open(sc.t0 + rng.randint(50 * MS, 3 * S))
    regs = bytearray(rng.randbytes(80))
    ack = period > 200 * MS
    tid = rng.getrandbits(16)
    for tp in _times(sc, period, 3 * MS, t + 2 * MS):
        tid = (tid + 1) & 0xFFFF
        regs[rng.randrange(80)] = rng.getrandbits(8)
        conn.exchange(
            tp,
            ics.modbus_read_req(tid, 1, 0, 40),
            ics.modbus_read_resp(tid, 1, bytes(regs)),
            rng.randint(800, 4000),
            ack=ack,
        )


def wind_poll(sc: Scenario, w: Wire, z: Zone) -> None:
    """The PLC reads wind speed/direction/gust from the Modbus gateway every second.

    The connection is older than the capture: no handshake is seen.
    """
    rng = sc.rng
    plc, wind = z.devices["plc"], z.devices["wind"]
    conn = TcpConn(w, plc.node, wind.node, ephemeral(rng), 502, rng)
    tid = rng.getrandbits(16)
    speed = rng.randint(30, 140)  # 0.1 m/s
    for t in _times(sc, 1 * S, 5 * MS):
        tid = (tid + 1) & 0xFFFF
        speed = max(0, min(300, speed + rng.randint(-6, 6)))
        regs = struct.pack("!HHHH", speed, rng.randint(0, 3599), speed + rng.randint(0, 40), 0x0001)
        conn.exchange(
            t,
            ics.modbus_read_req(tid, 1, 0, 4, fc=4),
            ics.modbus_read_resp(tid, 1, regs, fc=4),
            rng.randint(3 * MS, 15 * MS),
            ack=True,
        )


def _drives(z: Zone) -> list[Device]:
    return [d for k, d in z.devices.items() if k.startswith("drive-")]


def profinet_io(sc: Scenario, w: Wire, z: Zone) -> None:
    """RT_CLASS_1 cyclic frames PLC<->drive (PROFIdrive telegram 1) at a reduced rate."""
    rng = sc.rng
    plc = z.devices["plc"]
    period = rng.choice((128, 256)) * MS
    step = int(period / 31.25)
    for k, drv in enumerate(_drives(z)):
        for direction, (src, dst) in enumerate(((plc, drv), (drv, plc))):
            frame_id = 0x8000 + 2 * k + direction
            data = bytearray(40)
            data[0:2] = b"\x04\x7f"  # STW1/ZSW1: ready, operation enabled
            tmpl = bytearray(
                fr.ethernet(
                    dst.node.mac_b,
                    src.node.mac_b,
                    fr.ETH_PROFINET,
                    ics.pn_rt_cyclic(frame_id, bytes(data), 0),
                )
            )
            cyc_off = 14 + 2 + 40
            cycle = rng.getrandbits(16)
            speed = rng.randint(0, 0x4000)
            for t in _times(sc, period, 0):
                cycle = (cycle + step) & 0xFFFF
                speed = (speed + rng.randint(-64, 64)) & 0x3FFF
                tmpl[18:20] = speed.to_bytes(2, "big")
                tmpl[cyc_off : cyc_off + 2] = cycle.to_bytes(2, "big")
                w.tl.add(t, bytes(tmpl))


def cip_io(sc: Scenario, w: Wire, z: Zone) -> None:
    """CIP class 1 I/O on udp/2222 between the Logix PLC and its PowerFlex drives."""
    rng = sc.rng
    plc = z.devices["plc"]
    rpi = rng.choice((200, 250)) * MS
    for drv in _drives(z):
        for src, dst, run_idle in ((plc, drv, True), (drv, plc, False)):
            conn_id = rng.getrandbits(32)
            seq = rng.getrandbits(16)
            data = bytearray(rng.randbytes(16 if run_idle else 24))
            for t in _times(sc, rpi, 400):
                seq += 1
                data[2] = seq & 0xFF
                w.udp(
                    t,
                    src.node,
                    dst.node,
                    2222,
                    2222,
                    ics.cip_io(conn_id, seq, seq, bytes(data), run_idle),
                )


def dcp_discovery(sc: Scenario, w: Wire, z: Zone, requester: Device) -> None:
    """PROFINET DCP Identify All and the answers of every PROFINET device of the crane."""
    rng = sc.rng
    for _ in range(rng.randint(1, 2)):
        t = sc.time(0.02, 0.95)
        xid = rng.getrandbits(32)
        w.l2(
            t,
            ics.PN_DCP_MULTICAST,
            requester.node.mac_b,
            fr.ETH_PROFINET,
            ics.pn_dcp_identify_req(xid),
        )
        for d in z.devices.values():
            if d is requester or d.role not in ("plc", "drive", "switch") or not d.declared:
                continue
            t2 = t + rng.randint(1 * MS, 400 * MS)
            station = d.info.get("station", d.id)
            dev_id = d.info.get("pn_device_id", d.info.get("device_code", 0x0A01))
            w.l2(
                t2,
                requester.node.mac_b,
                d.node.mac_b,
                fr.ETH_PROFINET,
                ics.pn_dcp_identify_resp(
                    xid,
                    station,
                    d.model,
                    0x002A,
                    dev_id,
                    d.node.ip_b,
                    b"\xff\xff\xff\x00",
                    z.gateway.node.ip_b,
                    role=2 if d.role == "plc" else 1,
                ),
            )


def enip_discovery(sc: Scenario, w: Wire, z: Zone) -> None:
    """The HMI browses the crane with a broadcast ListIdentity; Logix devices answer."""
    rng = sc.rng
    hmi = z.devices["hmi"]
    for _ in range(rng.randint(1, 3)):
        t = sc.time(0.02, 0.95)
        ctx = rng.randbytes(8)
        sport = ephemeral(rng)
        w.udp_raw(
            t,
            hmi.node,
            z.addr(255),
            b"\xff" * 6,
            sport,
            ics.ENIP_PORT,
            ics.enip_list_identity_req(ctx),
        )
        for d in z.devices.values():
            if d.role not in ("plc", "drive"):
                continue
            t2 = t + rng.randint(1 * MS, 80 * MS)
            if d.role == "plc":
                code, dtype, rev = d.info["product_code"], 14, d.info["revision"]
            else:
                code, dtype, rev = d.info["device_code"], 2, (16, 3)
            w.udp(
                t2,
                d.node,
                hmi.node,
                ics.ENIP_PORT,
                sport,
                ics.enip_list_identity_resp(
                    ctx, d.node.ip_b, 1, dtype, code, rev, d.info["serial"], d.model
                ),
            )


def cameras(sc: Scenario, w: Wire, z: Zone) -> None:
    """The VMS pulls each camera's H.264 stream over RTSP; RTP/RTCP over UDP."""
    rng = sc.rng
    vms = sc.by_id("vms01")
    pool = rng.randbytes(1 << 16)
    for k in [k for k in z.devices if k.startswith("cam-")]:
        cam = z.devices[k]
        url = f"rtsp://{cam.ip}{cam.info['path']}"
        conn = TcpConn(w, vms.node, cam.node, ephemeral(rng), 554, rng, local=cam.node)
        t = conn.open(sc.t0 + rng.randint(100 * MS, 5 * S))
        cport = rng.randrange(50000, 59990, 2)
        sport = rng.randrange(6970, 6998, 2)
        session = f"{rng.getrandbits(32):08X}"
        ssrc = rng.getrandbits(32)
        steps = [
            (
                app.rtsp_request("OPTIONS", url, 1),
                app.rtsp_response(
                    1, (("Public", "OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER"),)
                ),
            ),
            (
                app.rtsp_request("DESCRIBE", url, 2, (("Accept", "application/sdp"),)),
                app.rtsp_response(
                    2,
                    (("Content-Base", url + "/"),),
                    app.sdp_h264(rng.getrandbits(31), cam.ip, cam.info["server"]),
                ),
            ),
            (
                app.rtsp_request(
                    "SETUP",
                    url + "/trackID=1",
                    3,
                    (("Transport", f"RTP/AVP;unicast;client_port={cport}-{cport + 1}"),),
                ),
                app.rtsp_response(
                    3,
                    (
                        (
                            "Transport",
                            f"RTP/AVP;unicast;client_port={cport}-"
                            f"{cport + 1};server_port={sport}-{sport + 1};"
                            f"ssrc={ssrc:08X}",
                        ),
                        ("Session", f"{session};timeout=60"),
                    ),
                ),
            ),
            (
                app.rtsp_request(
                    "PLAY", url + "/", 4, (("Session", session), ("Range", "npt=0.000-"))
                ),
                app.rtsp_response(
                    4, (("Session", session), ("RTP-Info", f"url={url}/trackID=1;seq=1;rtptime=0"))
                ),
            ),
        ]
        for req, resp in steps:
            t = conn.exchange(
                t + rng.randint(1 * MS, 10 * MS), req, resp, rng.randint(2, 30) * MS, ack=True
            )
        fps = rng.choice((4, 5, 6))
        gop = fps * 2
        seq, rtp_ts = rng.getrandbits(16), rng.getrandbits(32)
        packets = octets = 0
        next_rtcp, next_keep, cseq = t + 5 * S, t + rng.randint(30, 50) * S, 5
        for frame, ft in enumerate(_times(sc, S // fps, 2 * MS, t + 20 * MS)):
            n = 5 if frame % gop == 0 else 1
            for i in range(n):
                size = 1200 if n > 1 else rng.randint(200, 700)
                off = rng.randrange(len(pool) - size)
                if n == 1:
                    nal = b"\x41" + pool[off : off + size]
                else:
                    fu = (0x80 if i == 0 else 0x40 if i == n - 1 else 0) | 5
                    nal = bytes((0x7C, fu)) + pool[off : off + size]
                seq = (seq + 1) & 0xFFFF
                w.udp(
                    ft + i * 150,
                    cam.node,
                    vms.node,
                    sport,
                    cport,
                    app.rtp(seq, rtp_ts, ssrc, nal, marker=i == n - 1),
                    local=cam.node,
                )
                packets += 1
                octets += len(nal)
            rtp_ts += 90000 // fps
            if ft >= next_rtcp:
                sec, us = divmod(ft, S)
                w.udp(
                    ft + 500,
                    cam.node,
                    vms.node,
                    sport + 1,
                    cport + 1,
                    app.rtcp_sr(
                        ssrc,
                        sec + net.NTP_EPOCH_OFFSET,
                        (us << 32) // S,
                        rtp_ts,
                        packets,
                        octets,
                        f"{cam.id}@{cam.ip}",
                    ),
                    local=cam.node,
                )
                next_rtcp += 5 * S
            if ft >= next_keep:
                conn.exchange(
                    ft + 3 * MS,
                    app.rtsp_request("GET_PARAMETER", url + "/", cseq, (("Session", session),)),
                    app.rtsp_response(cseq, (("Session", session),)),
                    4 * MS,
                    ack=True,
                )
                cseq += 1
                next_keep += rng.randint(30, 50) * S


def ocr_moves(sc: Scenario, w: Wire, z: Zone) -> None:
    """Each crane move: the OCR reads the box numbers and posts them to the TOS (allowed)."""
    rng = sc.rng
    ocr, tos = z.devices["ocr"], sc.by_id("tos-app")
    for t in _times(sc, rng.randint(80, 140) * S, 25 * S):
        boxes = [iso6346.valid_number(rng) for _ in range(rng.choice((1, 1, 2)))]
        body = json.dumps(
            {
                "crane": z.label,
                "event": "discharge" if rng.random() < 0.5 else "load",
                "moves": [
                    {
                        "container": b,
                        "iso": rng.choice(("22G1", "45G1", "42G1", "45R1")),
                        "confidence": round(rng.uniform(0.9, 0.999), 3),
                    }
                    for b in boxes
                ],
            }
        ).encode()
        req = app.http_request(
            "POST", f"{tos.ip}:8080", "/n4/api/ocr/moves", body, "application/json", "CraneOCR/4.2"
        )
        resp = app.http_response(
            201, "Created", b'{"status":"accepted"}', "Jetty(9.4.51)", "application/json"
        )
        http_session(w, rng, t, ocr.node, tos.node, 8080, req, resp)


def ntp_client(sc: Scenario, w: Wire, dev: Device, poll_s: int) -> None:
    ntp = sc.by_id("ntp01")
    for t in _times(sc, poll_s * S, 0):
        ntp_exchange(w, sc.rng, t, dev.node, ntp.node, 1, b"PPS\x00")


# --- terminal IT ------------------------------------------------------------------------


def it_background(sc: Scenario, w: Wire) -> None:
    """Operator workstations: DHCP, DNS, TOS client sessions and some web browsing."""
    rng = sc.rng
    it = sc.it
    dc, tos, gw = sc.by_id("dc01"), sc.by_id("tos-app"), it.gateway
    resolver = sc.public("upstream-dns", "192.0.2.0/24", ttl=64)
    sites = {
        name: sc.public(name, rng.choice(("203.0.113.0/24", "198.51.100.0/24")), dns_name=name)
        for name in WEB_SITES
    }
    workstations = [d for d in it.devices.values() if d.role == "workstation"]
    booted = rng.choice(workstations)
    dhcp_dora(
        w,
        rng,
        sc.time(0.05, 0.5),
        booted.node,
        dc.node,
        booted.ip,
        gw.ip,
        dc.ip,
        booted.info["hostname"],
        sc.domain,
    )
    cached: set[str] = set()
    for ws in workstations:
        t = sc.t0 + rng.randint(1, 60) * S
        while t < sc.t_end:
            if rng.random() < 0.45:
                name = f"tos-app.{sc.domain}"
                t = dns_lookup(w, rng, t, ws.node, dc.node, name, tos.ip)
                t, _ = tls_session(
                    w,
                    rng,
                    t + 2 * MS,
                    ws.node,
                    tos.node,
                    443,
                    name,
                    records=rng.randint(2, 6),
                    size=(200, 1400),
                )
            else:
                name = rng.choice(WEB_SITES)
                node = sites[name]
                tq = t
                if name not in cached:
                    cached.add(name)
                    dns_lookup(w, rng, t + 500, dc.node, resolver, name, node.ip)
                    tq = t + 60 * MS
                t = dns_lookup(w, rng, tq, ws.node, dc.node, name, node.ip)
                t, _ = tls_session(
                    w,
                    rng,
                    t + 2 * MS,
                    ws.node,
                    node,
                    443,
                    name,
                    records=rng.randint(1, 4),
                    size=(100, 1400),
                    alpn=("h2", "http/1.1"),
                )
            t += int(rng.expovariate(1 / 45) * S) + S
    dc_ntp = sc.by_id("ntp01")
    for t in _times(sc, 128 * S, 0):
        ntp_exchange(w, rng, t, dc.node, dc_ntp.node, 1, b"PPS\x00")


def ntp_upstream(sc: Scenario, w: Wire) -> None:
    """The site NTP server checks two pool servers every 64 s (allowed by a conduit)."""
    rng = sc.rng
    ntp, dc = sc.by_id("ntp01"), sc.by_id("dc01")
    resolver = sc.public_nodes["upstream-dns"]
    for name in NTP_POOL[:2]:
        server = sc.public(name, "203.0.113.0/24", dns_name=name)
        t = sc.t0 + rng.randint(1, 20) * S
        dns_lookup(w, rng, t, ntp.node, dc.node, name, server.ip)
        dns_lookup(w, rng, t + 300, dc.node, resolver, name, server.ip)
        sc.notes.setdefault("ntp_upstream", []).append(server)
        for tp in _times(sc, 64 * S, 0, t + 40 * MS):
            ntp_exchange(w, rng, tp, ntp.node, server, 2, b"\xc0\x00\x02\x01")


# --- approved vendor remote maintenance ------------------------------------------------


def vendor_vpn(sc: Scenario, w: Wire) -> None:
    """Vendor engineer: OpenVPN to jump01 (approved conduit), then RDP to one crane HMI."""
    rng = sc.rng
    jump = sc.by_id("jump01")
    vendor = sc.public("vendor-vpn-client", "198.51.100.0/24", ttl=128)
    crane = rng.choice(sc.cranes)
    hmi = crane.devices["hmi"]
    t = sc.time(0.08, 0.3)
    t_stop = min(sc.t_end - 5 * S, t + int((sc.t_end - sc.t0) * rng.uniform(0.4, 0.6)))
    vport = rng.choice((1194, ephemeral(rng)))
    csid, ssid = rng.randbytes(8), rng.randbytes(8)

    def up(ts: int, payload: bytes) -> None:
        w.udp(ts, vendor, jump.node, vport, 1194, payload, local=jump.node)

    def down(ts: int, payload: bytes) -> None:
        w.udp(ts, jump.node, vendor, 1194, vport, payload, local=jump.node)

    up(t, app.openvpn_control(app.OVPN_HARD_RESET_CLIENT_V2, csid, 0))
    t += 300
    down(t, app.openvpn_control(app.OVPN_HARD_RESET_SERVER_V2, ssid, 0, (0,), csid))
    t += 40 * MS
    up(t, app.openvpn_control(app.OVPN_ACK_V1, csid, None, (0,), ssid))
    t += 2 * MS
    up(
        t,
        app.openvpn_control(app.OVPN_CONTROL_V1, csid, 1, (), b"", app.tls_client_hello(rng, None)),
    )
    t += 400
    hello = app.tls_server_hello(rng)
    down(t, app.openvpn_control(app.OVPN_CONTROL_V1, ssid, 1, (1,), csid, hello[:1100]))
    down(t + 200, app.openvpn_control(app.OVPN_CONTROL_V1, ssid, 2, (), b"", hello[1100:2200]))
    t += 45 * MS
    up(t, app.openvpn_control(app.OVPN_ACK_V1, csid, None, (1, 2), ssid))
    up(
        t + 300,
        app.openvpn_control(app.OVPN_CONTROL_V1, csid, 2, (), b"", app.tls_client_finish(rng)),
    )
    t += 42 * MS
    down(t, app.openvpn_control(app.OVPN_ACK_V1, ssid, None, (2,), csid))
    peer_id = rng.randint(0, 15)
    sc.notes["vpn"] = {"vendor": vendor, "jump": jump, "hmi": hmi}

    # RDP from the jump host to the HMI, carried inside the tunnel
    conn = TcpConn(w, jump.node, hmi.node, ephemeral(rng), 3389, rng, local=hmi.node)
    tr = conn.open(t + 3 * S)
    tr = conn.exchange(
        tr + MS,
        app.rdp_connection_request(rng.choice(("svc-vendor", "kranservice", "eng01"))),
        app.rdp_connection_confirm(),
        3 * MS,
        ack=False,
    )
    tr, _ = _tls_on(conn, w, rng, tr + 2 * MS, None)
    tt = t + 1 * S
    while tt < t_stop:
        burst = rng.randint(2, 8)
        for i in range(burst):
            up(tt + i * 3 * MS, app.openvpn_data(peer_id, rng.randbytes(rng.randint(90, 260))))
            down(
                tt + 40 * MS + i * 4 * MS,
                app.openvpn_data(peer_id, rng.randbytes(rng.randint(120, 1300))),
            )
        if tt > tr + 60 * MS:
            conn.send(tt + 20 * MS, True, app.tls_app_data(rng, rng.randint(60, 200)), ack=False)
            conn.send(tt + 25 * MS, False, app.tls_app_data(rng, rng.randint(300, 1300)), ack=True)
        tt += rng.randint(150, 1200) * MS
    conn.close(t_stop + 50 * MS, True)


def _tls_on(conn: TcpConn, w: Wire, rng, t: int, sni: str | None) -> tuple[int, TcpConn]:
    """TLS handshake on an already open connection (RDP upgrades to TLS after X.224)."""
    t = conn.send(t, True, app.tls_client_hello(rng, sni), ack=False)
    t += conn.delay(True) + rng.randint(200, 2000)
    t = conn.send(t, False, app.tls_server_hello(rng), ack=True)
    t = conn.send(t + 500, True, app.tls_client_finish(rng), ack=False)
    return t, conn
