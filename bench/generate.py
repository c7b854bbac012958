"""Seeded generator of a large OT-like pcap for the capture-scale benchmark.

Why not dpkt per packet: five million dpkt objects take minutes; the benchmark
file must be cheap to rebuild. Each packet *kind* (Modbus request, RTP frame,
TLS ClientHello, ...) is built once as a byte template with dpkt; the traffic
schedule (timestamps, template, conversation, direction, counter) is numpy
arrays, and each block of the file is one gather from the template pool plus
vectorised patches of addresses, ports, VLAN tags, sequence numbers, counters
and IPv4 header checksums.

The network: SCADA masters polling PLCs over Modbus/TCP, EtherNet/IP cyclic
I/O and ListIdentity, camera RTP streams (some over IPv6), DNS, DHCP, TLS and
HTTP sessions, NTP, ARP, LLDP from switches; a few percent of the traffic is
802.1Q-tagged and a few percent IPv6. Rates are per second of capture; the
capture lasts as long as it takes to reach `--packets`.

    python bench/generate.py --packets 5000000 --out bench/data/ot5m.pcap
"""

from __future__ import annotations

import argparse
import struct
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import dpkt
import numpy as np

T0 = 1_700_000_000.0
BLOCK = 1 << 15  # packets written per block

# ----------------------------------------------------------------------------- templates


@dataclass
class Template:
    """One packet kind: its bytes with placeholder addresses, and where to patch them."""

    raw: bytes
    l3: int  # offset of the IP header (or L2 payload), -1 for none
    ipv: int  # 4, 6 or 0
    l4: int  # offset of the TCP/UDP header, -1 for none
    tcp: bool = False
    seglen: int = 0  # TCP sequence space this packet uses (payload, +1 for SYN/FIN)
    ctr16: list[int] = field(default_factory=list)  # offsets of 16-bit counters
    ctr32: list[int] = field(default_factory=list)  # offsets of 32-bit counters
    vlan: bool = False


class Pool:
    """Templates registered once, looked up by name."""

    def __init__(self) -> None:
        self.items: list[Template] = []
        self.names: dict[str, int] = {}

    def add(self, name: str, tpl: Template) -> int:
        if name not in self.names:
            self.names[name] = len(self.items)
            self.items.append(tpl)
        return self.names[name]


_ZERO_MAC = b"\x00" * 6


def _frame(payload: bytes, ethertype: int, vlan: bool, dst: bytes = _ZERO_MAC) -> tuple[bytes, int]:
    tag = struct.pack(">HH", 0x8100, 0) if vlan else b""
    head = dst + _ZERO_MAC + tag + struct.pack(">H", ethertype)
    return head + payload, len(head)


def ip_template(
    proto: int,
    sport: int,
    dport: int,
    app: bytes,
    *,
    v6: bool = False,
    vlan: bool = False,
    flags: int = dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH,
    ctr16=(),
    ctr32=(),
) -> Template:
    """A TCP or UDP packet; `ctr16`/`ctr32` are offsets into `app`."""
    if proto == 6:
        l4 = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, win=8192, data=app)
        l4len = 20
    else:
        l4 = dpkt.udp.UDP(sport=sport, dport=dport, data=app)
        l4.ulen = 8 + len(app)
        l4len = 8
    if v6:
        ip = dpkt.ip6.IP6(src=b"\0" * 16, dst=b"\0" * 16, nxt=proto, hlim=64, data=l4)
        ip.plen = len(bytes(l4))
        iplen, ethertype = 40, 0x86DD
    else:
        ip = dpkt.ip.IP(src=b"\0" * 4, dst=b"\0" * 4, p=proto, ttl=64, data=l4)
        iplen, ethertype = 20, 0x0800
    raw = bytearray(_frame(bytes(ip), ethertype, vlan)[0])
    l3 = 18 if vlan else 14
    l4off = l3 + iplen
    _zero_l4_checksum(raw, proto, l4off)
    app_off = l4off + l4len
    syn_fin = 1 if flags & (dpkt.tcp.TH_SYN | dpkt.tcp.TH_FIN) else 0
    return Template(
        bytes(raw),
        l3,
        6 if v6 else 4,
        l4off,
        proto == 6,
        len(app) + syn_fin if proto == 6 else 0,
        [app_off + o for o in ctr16],
        [app_off + o for o in ctr32],
        vlan,
    )


def _zero_l4_checksum(raw: bytearray, proto: int, l4off: int) -> None:
    """Checksums over patched addresses are not recomputed; 0 says 'none' for UDP/IPv4."""
    at = l4off + (16 if proto == 6 else 6)
    raw[at : at + 2] = b"\0\0"


def l2_template(payload: bytes, ethertype: int, dst: bytes, vlan: bool = False) -> Template:
    raw, l3 = _frame(payload, ethertype, vlan, dst)
    return Template(raw, l3, 0, -1, vlan=vlan)


# ----------------------------------------------------------------------------- app payloads


def modbus_req(unit: int, addr: int, qty: int) -> bytes:
    return struct.pack(">HHHBBHH", 0, 0, 6, unit, 3, addr, qty)


def modbus_resp(unit: int, qty: int, rng) -> bytes:
    data = rng.integers(0, 256, 2 * qty, dtype=np.uint8).tobytes()
    return struct.pack(">HHHBBB", 0, 0, 3 + 2 * qty, unit, 3, 2 * qty) + data


def enip_io(conn_id: int, size: int, rng) -> bytes:
    """CIP class-1 I/O over UDP 2222: sequenced address item + connected data item."""
    data = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    return (
        struct.pack("<HHHII", 2, 0x8002, 8, conn_id, 0)
        + struct.pack("<HH", 0x00B1, 2 + size)
        + struct.pack("<H", 0)
        + data
    )


def enip_list_identity_req() -> bytes:
    return struct.pack("<HHII8sI", 0x63, 0, 0, 0, b"\0" * 8, 0)


def enip_list_identity_resp(vendor: int, dtype: int, code: int, serial: int, name: str) -> bytes:
    nm = name.encode()
    item = (
        struct.pack("<H", 1)
        + struct.pack(">HHI8s", 2, 44818, 0, b"\0" * 8)  # sockaddr (big-endian)
        + struct.pack("<HHHBBHI", vendor, dtype, code, 20, 11, 0x0030, serial)
        + bytes([len(nm)])
        + nm
        + b"\x03"
    )
    cpf = struct.pack("<HHH", 1, 0x000C, len(item)) + item
    return struct.pack("<HHII8sI", 0x63, len(cpf), 0, 0, b"\0" * 8, 0) + cpf


def rtp(size: int, marker: bool, rng) -> bytes:
    head = struct.pack(">BBHII", 0x80, (0x80 if marker else 0) | 96, 0, 0, 0x1234ABCD)
    return head + rng.integers(0, 256, size, dtype=np.uint8).tobytes()


def dns_query(name: str, qtype: int = 1) -> bytes:
    q = dpkt.dns.DNS(id=0, qd=[dpkt.dns.DNS.Q(name=name, type=qtype)])
    return bytes(q)


def dns_answer(name: str, ip: bytes) -> bytes:
    r = dpkt.dns.DNS(id=0, op=0x8180)  # response, recursion desired and available
    r.qd = [dpkt.dns.DNS.Q(name=name, type=1)]
    r.an = [dpkt.dns.DNS.RR(name=name, type=1, ttl=300, rlen=4, rdata=ip)]
    return bytes(r)


def dhcp(msg: int, mac: bytes, host: str, vendor: str, yiaddr: bytes = b"\0" * 4) -> bytes:
    opts = [(dpkt.dhcp.DHCP_OPT_MSGTYPE, bytes([msg])), (12, host.encode()), (60, vendor.encode())]
    d = dpkt.dhcp.DHCP(
        op=1 if msg in (1, 3) else 2,
        chaddr=mac,
        xid=0x3903F326,
        yiaddr=int.from_bytes(yiaddr),
        opts=opts,
    )
    return bytes(d)


def tls_client_hello(sni: str, rng) -> bytes:
    name = sni.encode()
    sni_ext = struct.pack(">HHHBH", 0, len(name) + 5, len(name) + 3, 0, len(name)) + name
    body = (
        b"\x03\x03"
        + rng.integers(0, 256, 32, dtype=np.uint8).tobytes()
        + b"\x00"
        + struct.pack(">H", 4)
        + b"\x13\x01\xc0\x2f"
        + b"\x01\x00"
        + struct.pack(">H", len(sni_ext))
        + sni_ext
    )
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack(">H", len(hs)) + hs


def tls_server_hello(rng) -> bytes:
    body = b"\x03\x03" + rng.integers(0, 256, 32, dtype=np.uint8).tobytes() + b"\x00\x13\x01\x00"
    body += b"\x00\x00"
    hs = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack(">H", len(hs)) + hs


def tls_data(size: int, rng) -> bytes:
    return (
        b"\x17\x03\x03" + struct.pack(">H", size) + rng.integers(0, 256, size, np.uint8).tobytes()
    )


def lldp(chassis: bytes, port: str, sysname: str, descr: str) -> bytes:
    def tlv(t: int, v: bytes) -> bytes:
        return struct.pack(">H", (t << 9) | len(v)) + v

    return (
        tlv(1, b"\x04" + chassis)
        + tlv(2, b"\x05" + port.encode())
        + tlv(3, b"\x00\x78")
        + tlv(5, sysname.encode())
        + tlv(6, descr.encode())
        + tlv(0, b"")
    )


def arp(op: int, smac: bytes, sip: bytes, tip: bytes) -> bytes:
    return struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, smac, sip, b"\0" * 6, tip)


def ntp(mode: int) -> bytes:
    return bytes([0x20 | mode]) + b"\0" * 47


# ----------------------------------------------------------------------------- network


class Net:
    """Hosts (MAC, IPv4, optional IPv6) and the conversations between them."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.mac: list[bytes] = []
        self.ip4: list[bytes] = []
        self.ip6: list[bytes] = []
        # conversation columns: host a, host b, port a, port b, vlan, v6
        self.conv: list[tuple[int, int, int, int, int, int]] = []
        self.router = self.host("10.0.0.1", oui=b"\x00\x1b\x1b")

    def host(self, ip: str, oui: bytes = b"\x00\x80\xf4") -> int:
        tail = self.rng.integers(0, 256, 3, dtype=np.uint8).tobytes()
        self.mac.append(oui + tail)
        self.ip4.append(bytes(int(x) for x in ip.split(".")))
        self.ip6.append(b"\x20\x01\x0d\xb8" + b"\0" * 8 + self.ip4[-1])
        return len(self.mac) - 1

    def remote(self, ip: str) -> int:
        """An address beyond the router: its frames carry the router's MAC."""
        h = self.host(ip)
        self.mac[h] = self.mac[self.router]
        return h

    def conversation(self, a: int, b: int, pa: int, pb: int, vlan: int = 0, v6: bool = False):
        self.conv.append((a, b, pa, pb, vlan, int(v6)))
        return len(self.conv) - 1

    def conversations(self, a, b, pa, pb, vlan: int = 0, v6: bool = False) -> np.ndarray:
        """Many conversations at once (arrays broadcast); their ids."""
        a, b, pa, pb = np.broadcast_arrays(
            np.asarray(a), np.asarray(b), np.asarray(pa), np.asarray(pb)
        )
        start = len(self.conv)
        self.conv.extend(
            zip(
                a.tolist(),
                b.tolist(),
                pa.tolist(),
                pb.tolist(),
                [vlan] * a.size,
                [int(v6)] * a.size,
                strict=True,
            )
        )
        return np.arange(start, len(self.conv))


@dataclass
class Sched:
    """Per-packet schedule columns, appended per traffic class."""

    ts: list[np.ndarray] = field(default_factory=list)
    tpl: list[np.ndarray] = field(default_factory=list)
    conv: list[np.ndarray] = field(default_factory=list)
    dir: list[np.ndarray] = field(default_factory=list)
    ctr: list[np.ndarray] = field(default_factory=list)

    def add(self, ts, tpl, conv, d, ctr) -> None:
        ts = np.asarray(ts, dtype=np.float64)
        n = ts.size
        for name, v, dt in (
            ("tpl", tpl, np.int32),
            ("conv", conv, np.int32),
            ("dir", d, np.uint8),
            ("ctr", ctr, np.uint32),
        ):
            getattr(self, name).append(
                np.broadcast_to(np.asarray(v, dtype=dt), ts.shape).ravel().copy()
            )
        self.ts.append(ts.ravel())
        assert all(len(getattr(self, k)[-1]) == n for k in ("tpl", "conv", "dir", "ctr"))

    def cat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate(getattr(self, k)) for k in ("ts", "tpl", "conv", "dir", "ctr")}


def _periodic(rng, duration: float, period: float, jitter: float, count: int) -> np.ndarray:
    """(count, k) timestamps: `count` independent cyclic sources with random phase."""
    k = int(duration / period)
    phase = rng.uniform(0, period, (count, 1))
    t = phase + np.arange(k)[None, :] * period + rng.normal(0, jitter, (count, k))
    return np.clip(t, 0, None)


def _events(rng, duration: float, rate: float) -> np.ndarray:
    """Poisson arrival times over `duration`."""
    return np.sort(rng.uniform(0, duration, rng.poisson(rate * duration)))


def _exchange(sched, pool_ids, starts, conv, dirs, gaps, ctr=None):
    """A fixed packet sequence per start time (a session or request/response)."""
    starts = np.asarray(starts)[:, None]
    ts = starts + np.cumsum(gaps)[None, :]
    k = len(pool_ids)
    conv = np.broadcast_to(np.asarray(conv)[:, None] if np.ndim(conv) else conv, ts.shape)
    c = np.zeros(ts.shape) if ctr is None else np.broadcast_to(np.asarray(ctr)[:, None], ts.shape)
    sched.add(
        ts,
        np.broadcast_to(np.array(pool_ids), ts.shape),
        conv,
        np.broadcast_to(np.array(dirs), ts.shape),
        c,
    )
    return k


PLC_NAMES = ("1756-L83E/B", "1769-L33ER/A", "5069-L320ER", "1756-EN2T/D", "TM251MESE")
CLOUD_NAMES = (
    "telemetry.crane-vendor.example.com",
    "update.vendor-plc.example.net",
    "api.tos-cloud.example.org",
    "ocsp.ca.example.com",
    "time.windows.example.com",
    "portal.remote-support.example.net",
    "cdn.hmi-vendor.example.com",
)


def build(total: int, seed: int):
    """The network, template pool and packet schedule for about `total` packets."""
    rng = np.random.default_rng(seed)
    net, pool, s = Net(rng), Pool(), Sched()
    # Traffic below is ~6.1k packets per second; the capture lasts long enough.
    duration = total / 6100.0 * 1.02
    area = {}

    # --- Modbus/TCP: 6 SCADA masters x 16 PLCs, poll 100 ms; area 3 is on VLAN 30
    masters = [net.host(f"10.10.0.{10 + i}", oui=b"\x00\x0c\x29") for i in range(6)]
    plcs = [net.host(f"10.10.{1 + i // 16}.{20 + i % 16}") for i in range(96)]
    for i, m in enumerate(masters):
        vlan = 30 if i == 3 else 0
        qty = 10 + 5 * i
        req = pool.add(
            f"mb-req{i}",
            ip_template(6, 0, 502, modbus_req(1, 100, qty), vlan=bool(vlan), ctr16=(0,)),
        )
        rsp = pool.add(
            f"mb-rsp{i}",
            ip_template(6, 502, 0, modbus_resp(1, qty, rng), vlan=bool(vlan), ctr16=(0,)),
        )
        cs = net.conversations(m, plcs[16 * i : 16 * i + 16], 49152 + np.arange(16), 502, vlan)
        t = _periodic(rng, duration, 0.1, 0.002, 16)
        tid = np.broadcast_to(np.arange(t.shape[1]) & 0xFFFF, t.shape)
        lat = rng.uniform(0.002, 0.012, t.shape)
        s.add(t, req, cs[:, None], 0, tid)
        s.add(t + lat, rsp, cs[:, None], 1, tid)
    area["modbus"] = 6 * 16 * 2 * 10

    # --- EtherNet/IP class-1 I/O, RPI 10 ms both ways, 16 pairs
    scanners = [net.host(f"10.20.0.{10 + i}", oui=b"\x00\x00\xbc") for i in range(4)]
    adapters = [net.host(f"10.20.1.{20 + i}", oui=b"\x00\x00\xbc") for i in range(16)]
    for j, ad in enumerate(adapters):
        vlan = 0
        o2t = pool.add(
            f"io-o2t{j}",
            ip_template(
                17,
                2222,
                2222,
                enip_io(0x1000 + j, 32, rng),
                vlan=bool(vlan),
                ctr16=(18,),
                ctr32=(10,),
            ),
        )
        t2o = pool.add(
            f"io-t2o{j}",
            ip_template(
                17,
                2222,
                2222,
                enip_io(0x2000 + j, 64, rng),
                vlan=bool(vlan),
                ctr16=(18,),
                ctr32=(10,),
            ),
        )
        c = net.conversation(scanners[j % 4], ad, 2222, 2222, vlan)
        for d, tp in ((0, o2t), (1, t2o)):
            t = _periodic(rng, duration, 0.01, 0.0003, 1)[0]
            s.add(t, tp, c, d, np.arange(len(t)) & 0xFFFF)
    # ListIdentity broadcast every 30 s from scanner 0; every adapter and PLC answers
    bcast = net.host("10.20.255.255")
    net.mac[bcast] = b"\xff" * 6
    li_req = pool.add("li-req", ip_template(17, 44818, 44818, enip_list_identity_req()))
    c = net.conversation(scanners[0], bcast, 44818, 44818)
    t = np.arange(1.0, duration, 30.0)
    s.add(t, li_req, c, 0, 0)
    for j, ad in enumerate(adapters + plcs[:8]):
        name = PLC_NAMES[j % len(PLC_NAMES)]
        tp = pool.add(
            f"li-rsp{j}",
            ip_template(
                17, 44818, 44818, enip_list_identity_resp(1, 14, 100 + j, 0x60000000 + j, name)
            ),
        )
        cj = net.conversation(scanners[0], ad, 44818, 44818)
        s.add(t + 0.001 + 0.0005 * j, tp, cj, 1, 0)

    # --- cameras: 14 RTP streams (2 over IPv6) to 2 NVRs, ~55 frames/s, RTCP every 5 s
    nvr = [net.host(f"10.30.0.{2 + i}", oui=b"\x00\x11\x32") for i in range(2)]
    cams = [net.host(f"10.30.1.{10 + i}", oui=b"\x00\x40\x8c") for i in range(14)]
    sizes = (1388, 1388, 1388, 1100, 640)
    for k, cam in enumerate(cams):
        v6 = k < 2
        tps = [
            pool.add(
                f"rtp{z}{v6}",
                ip_template(17, 0, 0, rtp(z, z == 640, rng), v6=v6, ctr16=(2,), ctr32=(4,)),
            )
            for z in sizes
        ]
        c = net.conversation(cam, nvr[k % 2], 50000 + 2 * k, 40000 + 2 * k, 0, v6)
        t = np.sort(_periodic(rng, duration, 1 / 55, 0.002, 1)[0])
        which = rng.choice(len(tps), len(t), p=(0.3, 0.3, 0.2, 0.1, 0.1))
        s.add(t, np.array(tps)[which], c, 0, np.arange(len(t)) & 0xFFFF)
        rtcp = pool.add(f"rtcp{v6}", ip_template(17, 0, 0, b"\x81\xc9\x00\x07" + b"\0" * 28, v6=v6))
        c2 = net.conversation(nvr[k % 2], cam, 40001 + 2 * k, 50001 + 2 * k, 0, v6)
        s.add(np.arange(rng.uniform(0, min(5.0, duration)), duration, 5.0), rtcp, c2, 0, 0)

    # --- office / IT side: clients, DNS server, cloud services behind the router
    clients = [net.host(f"10.50.0.{10 + i}", oui=b"\x3c\x52\x82") for i in range(60)]
    dns_srv = net.host("10.50.0.2")
    clouds = [net.remote(f"203.0.113.{10 + i}") for i in range(len(CLOUD_NAMES))]
    v6_clients = set(range(0, 60, 15))  # 4 dual-stack clients speak IPv6 to the DNS server
    # DNS: 30 queries/s, a fresh source port each (one flow per query)
    tq = _events(rng, duration, 30.0)
    who = rng.integers(0, 60, len(tq))
    name = rng.integers(0, len(CLOUD_NAMES), len(tq))
    sport = rng.integers(1024, 65535, len(tq))
    for v6 in (False, True):
        sel = np.isin(who, list(v6_clients)) == v6
        q = np.array(
            [
                pool.add(
                    f"dnsq{n}{v6}",
                    ip_template(17, 0, 53, dns_query(CLOUD_NAMES[n]), v6=v6, ctr16=(0,)),
                )
                for n in range(len(CLOUD_NAMES))
            ]
        )
        a = np.array(
            [
                pool.add(
                    f"dnsa{n}{v6}",
                    ip_template(
                        17, 53, 0, dns_answer(CLOUD_NAMES[n], net.ip4[clouds[n]]), v6=v6, ctr16=(0,)
                    ),
                )
                for n in range(len(CLOUD_NAMES))
            ]
        )
        cs = net.conversations(np.array(clients)[who[sel]], dns_srv, sport[sel], 53, 0, v6)
        txid = rng.integers(0, 65536, sel.sum())
        s.add(tq[sel], q[name[sel]], cs, 0, txid)
        s.add(tq[sel] + rng.uniform(0.001, 0.02, sel.sum()), a[name[sel]], cs, 1, txid)

    # TLS: 2.5 sessions/s, 16 packets each
    syn = pool.add("syn443", ip_template(6, 0, 443, b"", flags=dpkt.tcp.TH_SYN))
    synack = pool.add(
        "synack443", ip_template(6, 443, 0, b"", flags=dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)
    )
    ack = pool.add("ack443", ip_template(6, 0, 443, b"", flags=dpkt.tcp.TH_ACK))
    ack_r = pool.add("ack443r", ip_template(6, 443, 0, b"", flags=dpkt.tcp.TH_ACK))
    fin = pool.add("fin443", ip_template(6, 0, 443, b"", flags=dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK))
    fin_r = pool.add(
        "fin443r", ip_template(6, 443, 0, b"", flags=dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK)
    )
    sh = pool.add("tls-sh", ip_template(6, 443, 0, tls_server_hello(rng)))
    big = pool.add("tls-big", ip_template(6, 443, 0, tls_data(1395, rng)))
    small = pool.add("tls-small", ip_template(6, 0, 443, tls_data(300, rng)))
    ch = np.array(
        [
            pool.add(f"ch{n}", ip_template(6, 0, 443, tls_client_hello(CLOUD_NAMES[n], rng)))
            for n in range(len(CLOUD_NAMES))
        ]
    )
    tt = _events(rng, duration, 2.5)
    who = rng.integers(0, 60, len(tt))
    srv = rng.integers(0, len(CLOUD_NAMES), len(tt))
    cs = net.conversations(
        np.array(clients)[who], np.array(clouds)[srv], rng.integers(1024, 65535, len(tt)), 443
    )
    seq = [syn, synack, ack, -1, sh, ack, small, big, big, big, ack, big, ack, fin, fin_r, ack]
    dirs = [0, 1, 0, 0, 1, 0, 0, 1, 1, 1, 0, 1, 0, 0, 1, 0]
    gaps = [
        0,
        0.02,
        0.02,
        0.0001,
        0.03,
        0.001,
        0.01,
        0.03,
        0.0002,
        0.0002,
        0.001,
        0.05,
        0.001,
        1.5,
        0.02,
        0.02,
    ]
    ts = tt[:, None] + np.cumsum(gaps)[None, :]
    tpl = np.broadcast_to(np.array(seq), ts.shape).copy()
    tpl[:, 3] = ch[srv]
    s.add(
        ts,
        tpl,
        np.broadcast_to(cs[:, None], ts.shape),
        np.broadcast_to(np.array(dirs), ts.shape),
        0,
    )
    _ = ack_r

    # HTTP to a web HMI and to a TOS server that ships container lists: 1 session/s, 8 packets
    hmi = net.host("10.40.0.5", oui=b"\x00\x0e\x8c")
    get = pool.add(
        "http-get",
        ip_template(
            6,
            0,
            80,
            (
                b"GET /status.json HTTP/1.1\r\nHost: hmi-crane4.local\r\nUser-Agent: curl/8.4\r\n\r\n"
            ),
        ),
    )
    body = b'{"moves":[' + b",".join(b'"MSCU123456%d"' % (i % 10) for i in range(40)) + b"]}"
    resp = pool.add(
        "http-resp",
        ip_template(
            6,
            80,
            0,
            (
                b"HTTP/1.1 200 OK\r\nServer: lighttpd/1.4.59\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body)
            )
            + body,
        ),
    )
    syn80 = pool.add("syn80", ip_template(6, 0, 80, b"", flags=dpkt.tcp.TH_SYN))
    synack80 = pool.add(
        "synack80", ip_template(6, 80, 0, b"", flags=dpkt.tcp.TH_SYN | dpkt.tcp.TH_ACK)
    )
    ack80 = pool.add("ack80", ip_template(6, 0, 80, b"", flags=dpkt.tcp.TH_ACK))
    fin80 = pool.add("fin80", ip_template(6, 0, 80, b"", flags=dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK))
    fin80r = pool.add("fin80r", ip_template(6, 80, 0, b"", flags=dpkt.tcp.TH_FIN | dpkt.tcp.TH_ACK))
    th = _events(rng, duration, 1.0)
    cs = net.conversations(
        np.array(clients)[rng.integers(0, 60, len(th))], hmi, rng.integers(1024, 65535, len(th)), 80
    )
    _exchange(
        s,
        [syn80, synack80, ack80, get, resp, ack80, fin80, fin80r, ack80],
        th,
        cs,
        [0, 1, 0, 0, 1, 0, 0, 1, 0],
        [0, 0.001, 0.001, 0.0001, 0.01, 0.001, 0.2, 0.001, 0.001],
    )

    # DHCP: each client renews (request + ack) about every 10 minutes
    srv = net.host("10.50.0.1")
    for i, cl in enumerate(clients):
        host = f"hmi-ws{i:02d}"
        tps = [
            pool.add(
                f"dhcp{m}-{i}",
                ip_template(
                    17,
                    68 if m in (1, 3) else 67,
                    67 if m in (1, 3) else 68,
                    dhcp(m, net.mac[cl], host, "MSFT 5.0"),
                ),
            )
            for m in (3, 5)
        ]
        c = net.conversation(cl, srv, 68, 67)
        t = np.arange(rng.uniform(0, min(600.0, duration)), duration, 600.0)
        s.add(t, tps[0], c, 0, 0)
        s.add(t + 0.002, tps[1], c, 1, 0)

    # NTP: every PLC and camera asks the router every 64 s
    nq = pool.add("ntpq", ip_template(17, 123, 123, ntp(3)))
    nr = pool.add("ntpr", ip_template(17, 123, 123, ntp(4)))
    for h in plcs + cams:
        c = net.conversation(h, net.router, 123, 123)
        t = np.arange(rng.uniform(0, min(64.0, duration)), duration, 64.0)
        s.add(t, nq, c, 0, 0)
        s.add(t + 0.001, nr, c, 1, 0)

    # ARP: every host asks for the router every 60 s; LLDP from 24 switch ports every 30 s
    every = [
        h
        for h in range(1, len(net.mac))
        if net.mac[h] not in (b"\xff" * 6,) and net.mac[h] != net.mac[net.router]
    ]
    for h in every:
        tp = pool.add(
            f"arp{h}",
            l2_template(arp(1, net.mac[h], net.ip4[h], net.ip4[net.router]), 0x0806, b"\xff" * 6),
        )
        c = net.conversation(h, h, 0, 0)
        s.add(np.arange(rng.uniform(0, min(60.0, duration)), duration, 60.0), tp, c, 0, 0)
    lldp_dst = b"\x01\x80\xc2\x00\x00\x0e"
    for k in range(24):
        sw = net.host(f"10.0.1.{10 + k}", oui=b"\x00\x1d\xa2")
        tp = pool.add(
            f"lldp{k}",
            l2_template(
                lldp(net.mac[sw], f"Gi1/0/{k + 1}", f"crane{k // 4}-sw", "Cisco IE-4000"),
                0x88CC,
                lldp_dst,
            ),
        )
        c = net.conversation(sw, sw, 0, 0)
        s.add(np.arange(rng.uniform(0, min(30.0, duration)), duration, 30.0), tp, c, 0, 0)
    return net, pool, s.cat(), duration


# ----------------------------------------------------------------------------- writing


def finish_schedule(sched: dict, pool: Pool, total: int) -> dict:
    """Time order, cut to `total` packets, and TCP sequence/ack numbers per conversation."""
    order = np.argsort(sched["ts"], kind="stable")[:total]
    sched = {k: v[order] for k, v in sched.items()}
    seglen = np.array([t.seglen for t in pool.items], dtype=np.int64)[sched["tpl"]]
    is_tcp = np.array([t.tcp for t in pool.items])[sched["tpl"]]
    seq = np.zeros(len(order), dtype=np.uint32)
    ackn = np.zeros(len(order), dtype=np.uint32)
    idx = np.flatnonzero(is_tcp)
    if len(idx):
        conv = sched["conv"][idx]
        by = np.argsort(conv, kind="stable")
        i, c, d = idx[by], conv[by], sched["dir"][idx][by]
        ln = seglen[i]
        start = np.r_[True, c[1:] != c[:-1]]
        grp = np.cumsum(start) - 1
        sums = []
        for dd in (0, 1):
            x = np.cumsum(np.where(d == dd, ln, 0))
            base = np.r_[0, x][np.flatnonzero(start)][grp]
            sums.append(x - base)  # inclusive bytes of direction dd up to this packet
        isn = (c.astype(np.int64) * 2654435761) & 0xFFFFFFFF
        isn_d = [(isn + dd * 0x40000000) & 0xFFFFFFFF for dd in (0, 1)]
        mine = np.where(d == 0, sums[0], sums[1]) - ln
        theirs = np.where(d == 0, sums[1], sums[0])
        seq[i] = ((np.where(d == 0, isn_d[0], isn_d[1]) + mine) & 0xFFFFFFFF).astype(np.uint32)
        ackn[i] = ((np.where(d == 0, isn_d[1], isn_d[0]) + theirs) & 0xFFFFFFFF).astype(np.uint32)
    sched["seq"], sched["ack"] = seq, ackn
    return sched


class Writer:
    """Writes blocks of scheduled packets as pcap records from the template pool."""

    def __init__(self, net: Net, pool: Pool) -> None:
        items = pool.items
        lens = np.array([len(t.raw) for t in items], dtype=np.int64)
        self.blob = np.frombuffer(b"".join(t.raw for t in items), dtype=np.uint8)
        self.start = np.r_[0, np.cumsum(lens)[:-1]]
        self.len = lens
        self.l3 = np.array([t.l3 for t in items])
        self.ipv = np.array([t.ipv for t in items])
        self.l4 = np.array([t.l4 for t in items])
        self.tcp = np.array([t.tcp for t in items])
        self.vlan = np.array([t.vlan for t in items])
        self.c16 = _slots(items, "ctr16")
        self.c32 = _slots(items, "ctr32")
        conv = np.array(net.conv, dtype=np.int64).reshape(-1, 6)
        mac = np.frombuffer(b"".join(net.mac), np.uint8).reshape(-1, 6)
        ip4 = np.frombuffer(b"".join(net.ip4), np.uint8).reshape(-1, 4)
        ip6 = np.frombuffer(b"".join(net.ip6), np.uint8).reshape(-1, 16)
        self.conv_hosts = conv[:, :2]
        self.conv_ports = conv[:, 2:4]
        self.conv_vlan = conv[:, 4]
        self.mac, self.ip4, self.ip6 = mac, ip4, ip6

    def block(self, s: dict, lo: int, hi: int) -> bytes:
        tpl = s["tpl"][lo:hi]
        n = hi - lo
        caplen = self.len[tpl]
        rec = caplen + 16
        off = np.r_[0, np.cumsum(rec)[:-1]]
        size = int(rec.sum())
        # one gather from the template pool: source = template start + position in record
        src = np.repeat(self.start[tpl] - off - 16, rec) + np.arange(size)
        out = self.blob[np.clip(src, 0, len(self.blob) - 1)]
        pkt = off + 16
        ts = s["ts"][lo:hi] + T0
        sec = np.floor(ts)
        usec = np.minimum(np.round((ts - sec) * 1e6), 999_999)
        head = np.stack([sec, usec, caplen, caplen], axis=1).astype("<u4").view(np.uint8)
        out[off[:, None] + np.arange(16)] = head
        conv = s["conv"][lo:hi]
        d = s["dir"][lo:hi].astype(np.int64)
        hosts = self.conv_hosts[conv]
        sh = hosts[np.arange(n), d]
        dh = hosts[np.arange(n), 1 - d]
        l3 = self.l3[tpl]
        ipv = self.ipv[tpl]
        is_l2 = ipv == 0
        # MACs (L2 templates keep their own destination: broadcast / LLDP multicast)
        _put(out, pkt + 6, self.mac[sh])
        ipm = ~is_l2
        _put(out, pkt[ipm], self.mac[dh[ipm]])
        vl = self.vlan[tpl]
        if vl.any():
            _put(out, pkt[vl] + 14, _be16(self.conv_vlan[conv[vl]]))
        for ver, table, at, width in ((4, self.ip4, 12, 4), (6, self.ip6, 8, 16)):
            m = ipv == ver
            if m.any():
                base = pkt[m] + l3[m]
                _put(out, base + at, table[sh[m]])
                _put(out, base + at + width, table[dh[m]])
        l4m = self.l4[tpl] >= 0
        if l4m.any():
            ports = self.conv_ports[conv[l4m]]
            dd = d[l4m]
            sp = ports[np.arange(len(dd)), dd]
            dp = ports[np.arange(len(dd)), 1 - dd]
            base = pkt[l4m] + self.l4[tpl[l4m]]
            _put(out, base, _be16(sp))
            _put(out, base + 2, _be16(dp))
        tcp = self.tcp[tpl]
        if tcp.any():
            base = pkt[tcp] + self.l4[tpl[tcp]]
            _put(out, base + 4, _be32(s["seq"][lo:hi][tcp]))
            _put(out, base + 8, _be32(s["ack"][lo:hi][tcp]))
        ctr = s["ctr"][lo:hi].astype(np.int64)
        for slots, conv_fn in ((self.c16, _be16), (self.c32, _be32)):
            for t_mask_off in slots:
                t_ids, rel = t_mask_off
                m = np.isin(tpl, t_ids)
                if m.any():
                    value = ctr[m] if conv_fn is _be16 else ctr[m] * 3000
                    _put(out, pkt[m] + rel[np.searchsorted(t_ids, tpl[m])], conv_fn(value))
        self._udp6_checksums(out, pkt, tpl, caplen)
        v4 = ipv == 4
        if v4.any():
            base = pkt[v4] + l3[v4]
            _put(out, base + 4, _be16(np.arange(lo, hi)[v4]))  # IP id
            out[base[:, None] + np.array([10, 11])] = 0
            words = out[base[:, None] + np.arange(20)].astype(np.uint32)
            total = (words[:, 0::2] << 8 | words[:, 1::2]).sum(axis=1)
            total = (total & 0xFFFF) + (total >> 16)
            total = (total & 0xFFFF) + (total >> 16)
            _put(out, base + 10, _be16(~total & 0xFFFF))
        return out.tobytes()

    def _udp6_checksums(self, out: np.ndarray, pkt, tpl, caplen) -> None:
        """UDP over IPv6 must carry a checksum (RFC 8200): one reduceat over those packets."""
        m = (self.ipv[tpl] == 6) & ~self.tcp[tpl] & (self.l4[tpl] >= 0)
        if not m.any():
            return
        l3 = pkt[m] + self.l3[tpl[m]]
        l4 = pkt[m] + self.l4[tpl[m]]
        seglen = caplen[m] - self.l4[tpl[m]]
        _put(out, l4 + 6, np.zeros((len(l4), 2), np.uint8))
        starts = np.r_[0, np.cumsum(seglen)[:-1]]
        rel = np.arange(int(seglen.sum())) - np.repeat(starts, seglen)
        byte = out[np.repeat(l4, seglen) + rel].astype(np.int64)
        total = np.add.reduceat(np.where(rel % 2 == 0, byte << 8, byte), starts)
        addr = out[l3[:, None] + np.arange(8, 40)].astype(np.int64)
        total += (addr[:, 0::2] << 8 | addr[:, 1::2]).sum(axis=1) + seglen + 17
        for _ in range(3):
            total = (total & 0xFFFF) + (total >> 16)
        value = ~total & 0xFFFF
        _put(out, l4 + 6, _be16(np.where(value == 0, 0xFFFF, value)))


def _slots(items: list[Template], attr: str) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per slot rank k: (sorted template ids having a k-th slot, its offset per id)."""
    out = []
    for k in range(max((len(getattr(t, attr)) for t in items), default=0)):
        ids = np.array(
            [i for i, t in enumerate(items) if len(getattr(t, attr)) > k], dtype=np.int64
        )
        rel = np.array([getattr(items[i], attr)[k] for i in ids], dtype=np.int64)
        out.append((ids, rel))
    return out


def _put(out: np.ndarray, at: np.ndarray, rows: np.ndarray) -> None:
    if len(at):
        out[at[:, None] + np.arange(rows.shape[1])] = rows


def _be16(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=np.int64).astype(">u2").view(np.uint8).reshape(-1, 2)


def _be32(v: np.ndarray) -> np.ndarray:
    return (np.asarray(v, dtype=np.int64) & 0xFFFFFFFF).astype(">u4").view(np.uint8).reshape(-1, 4)


def generate(out: Path, packets: int, seed: int = 1, quiet: bool = False) -> dict:
    """Write the capture; returns a summary (packets, bytes, duration, VLAN and IPv6 shares)."""
    t0 = time.monotonic()
    net, pool, sched, _ = build(packets, seed)
    sched = finish_schedule(sched, pool, packets)
    n = len(sched["ts"])
    w = Writer(net, pool)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for lo in range(0, n, BLOCK):
            fh.write(w.block(sched, lo, min(n, lo + BLOCK)))
            if not quiet:
                print(f"\r{min(n, lo + BLOCK):,}/{n:,} packets", end="", file=sys.stderr)
    if not quiet:
        print(file=sys.stderr)
    tpl = sched["tpl"]
    return {
        "path": str(out),
        "packets": n,
        "bytes": out.stat().st_size,
        "duration_s": round(float(sched["ts"][-1] - sched["ts"][0]), 1),
        "flows": int(len(np.unique(sched["conv"]))),
        "vlan_share": round(float(w.vlan[tpl].mean()), 4),
        "ipv6_share": round(float((w.ipv[tpl] == 6).mean()), 4),
        "seconds": round(time.monotonic() - t0, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--packets", type=int, default=5_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "ot5m.pcap")
    ap.add_argument("-q", "--quiet", action="store_true")
    args = ap.parse_args(argv)
    summary = generate(args.out, args.packets, args.seed, args.quiet)
    print(" ".join(f"{k}={v}" for k, v in summary.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
