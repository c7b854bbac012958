"""Hosts on the wire and the frames they exchange, as seen from one capture point.

A `Node` is one IP host (inside the site or on the internet). `Wire` turns
"A sends these bytes to B" into a full Ethernet frame the way a SPAN port on
the inside host's segment sees it: off-subnet packets carry the MAC of the
router the host uses (its `gw_mac`, which is how a rogue gateway shows up),
and packets from far away arrive with a lower TTL. `TcpConn` keeps sequence
numbers so that sessions have real handshakes, ACKs and FINs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from . import frames as fr

BROADCAST_MAC = b"\xff" * 6


@dataclass(eq=False)
class Node:
    """One IP host. `inside` is False for internet hosts (no MAC, no subnet)."""

    name: str
    ip: str
    mac: str | None = None
    zone: str | None = None
    cidr: str | None = None
    gw_mac: str | None = None
    inet_gw_mac: str | None = None  # a different router for internet-bound traffic
    ttl: int = 64
    hops: int = 0  # routers between the capture point and an internet host
    ident: int = 0
    ip_b: bytes = field(init=False, repr=False)
    mac_b: bytes = field(init=False, repr=False)
    gw_b: bytes = field(init=False, repr=False)
    inet_gw_b: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Recompute the byte forms after an address change."""
        self.ip_b = fr.ip_bytes(self.ip)
        self.mac_b = fr.mac_bytes(self.mac) if self.mac else b""
        self.gw_b = fr.mac_bytes(self.gw_mac) if self.gw_mac else b""
        self.inet_gw_b = fr.mac_bytes(self.inet_gw_mac) if self.inet_gw_mac else self.gw_b

    @property
    def inside(self) -> bool:
        return self.mac is not None

    def next_ident(self) -> int:
        """IPv4 identification: a per-host counter, as most stacks do."""
        self.ident = (self.ident + 1) & 0xFFFF
        return self.ident


def same_link(a: Node, b: Node) -> bool:
    """Both hosts are on one Ethernet segment (no router between them)."""
    return a.inside and b.inside and a.cidr is not None and a.cidr == b.cidr


class Timeline:
    """Frames with integer-microsecond timestamps; sorted stably when written."""

    def __init__(self) -> None:
        self.frames: list[tuple[int, bytes]] = []

    def add(self, ts_us: int, frame: bytes) -> None:
        self.frames.append((ts_us, frame))

    def sorted(self) -> list[tuple[int, bytes]]:
        return sorted(self.frames, key=lambda f: f[0])


class Wire:
    """Builds IPv4 frames between nodes into a Timeline."""

    def __init__(self, timeline: Timeline):
        self.tl = timeline

    def macs(self, src: Node, dst: Node, local: Node) -> tuple[bytes, bytes]:
        """(src MAC, dst MAC) of a src->dst packet seen on `local`'s segment."""
        if same_link(src, dst):
            return src.mac_b, dst.mac_b
        remote = dst if src is local else src
        gw = local.gw_b if remote.inside else local.inet_gw_b
        if src is local:
            return local.mac_b, gw
        return gw, local.mac_b

    def ttl(self, src: Node, dst: Node, local: Node) -> int:
        """TTL as captured: decremented by each router between sender and capture."""
        if src is local or same_link(src, dst):
            return src.ttl
        return max(1, src.ttl - (src.hops if not src.inside else 1))

    def ip_frame(
        self,
        ts: int,
        src: Node,
        dst: Node,
        proto: int,
        l4: bytes,
        local: Node | None = None,
        df: bool = True,
    ) -> None:
        """Emit one IPv4 packet src->dst seen on `local`'s segment (default: src's)."""
        local = local or (src if src.inside else dst)
        smac, dmac = self.macs(src, dst, local)
        ip = fr.ipv4(src.ip_b, dst.ip_b, proto, l4, src.next_ident(), self.ttl(src, dst, local), df)
        self.tl.add(ts, fr.ethernet(dmac, smac, fr.ETH_IPV4, ip))

    def udp(
        self,
        ts: int,
        src: Node,
        dst: Node,
        sport: int,
        dport: int,
        payload: bytes,
        local: Node | None = None,
    ) -> None:
        l4 = fr.udp(src.ip_b, dst.ip_b, sport, dport, payload)
        self.ip_frame(ts, src, dst, fr.PROTO_UDP, l4, local, df=False)

    def udp_raw(
        self,
        ts: int,
        src: Node,
        dst_ip: str,
        dst_mac: bytes,
        sport: int,
        dport: int,
        payload: bytes,
        src_ip: str | None = None,
        ttl: int | None = None,
    ) -> None:
        """UDP to a broadcast/multicast address (or from 0.0.0.0 when src_ip is given)."""
        sip = fr.ip_bytes(src_ip) if src_ip else src.ip_b
        dip = fr.ip_bytes(dst_ip)
        l4 = fr.udp(sip, dip, sport, dport, payload)
        ip = fr.ipv4(sip, dip, fr.PROTO_UDP, l4, src.next_ident(), ttl or src.ttl, df=False)
        self.tl.add(ts, fr.ethernet(dst_mac, src.mac_b, fr.ETH_IPV4, ip))

    def l2(self, ts: int, dst_mac: bytes, src_mac: bytes, ethertype: int, payload: bytes) -> None:
        self.tl.add(ts, fr.ethernet(dst_mac, src_mac, ethertype, payload))


def rtt_us(a: Node, b: Node, rng: random.Random) -> int:
    """Round-trip time between two nodes: LAN, routed site, or internet."""
    if same_link(a, b):
        return rng.randint(150, 600)
    if a.inside and b.inside:
        return rng.randint(500, 1500)
    return rng.randint(18_000, 90_000)


class TcpConn:
    """One TCP connection: handshake, data with ACKs, orderly close."""

    MSS = 1460

    def __init__(
        self,
        wire: Wire,
        client: Node,
        server: Node,
        cport: int,
        sport: int,
        rng: random.Random,
        local: Node | None = None,
    ):
        self.w = wire
        self.c, self.s = client, server
        self.cport, self.sport = cport, sport
        self.local = local or (client if client.inside else server)
        self.rtt = rtt_us(client, server, rng)
        self.cseq = rng.getrandbits(32)
        self.sseq = rng.getrandbits(32)
        self.cwin = rng.choice((64240, 65535, 29200, 8192))
        self.swin = rng.choice((64240, 65535, 28960, 8192, 4096))

    def seg(
        self, ts: int, from_client: bool, flags: int, payload: bytes = b"", options: bytes = b""
    ) -> None:
        """Emit one segment and advance the sender's sequence number."""
        if from_client:
            src, dst, sp, dp, seq, ack, win = (
                self.c,
                self.s,
                self.cport,
                self.sport,
                self.cseq,
                self.sseq,
                self.cwin,
            )
        else:
            src, dst, sp, dp, seq, ack, win = (
                self.s,
                self.c,
                self.sport,
                self.cport,
                self.sseq,
                self.cseq,
                self.swin,
            )
        if flags & fr.SYN and not flags & fr.ACK:
            ack = 0
        if not flags & fr.SYN:  # after the handshake the window is sent scaled down
            win >>= 8 if from_client else 7
        l4 = fr.tcp(src.ip_b, dst.ip_b, sp, dp, seq, ack, flags, payload, win, options)
        self.w.ip_frame(ts, src, dst, fr.PROTO_TCP, l4, self.local)
        adv = len(payload) + (1 if flags & (fr.SYN | fr.FIN) else 0)
        if from_client:
            self.cseq = (self.cseq + adv) & 0xFFFFFFFF
        else:
            self.sseq = (self.sseq + adv) & 0xFFFFFFFF

    def delay(self, from_client: bool) -> int:
        """Time from the capture point to the answer of the other side."""
        sender_local = (self.c if from_client else self.s) is self.local
        return self.rtt if sender_local else 40

    def open(self, ts: int) -> int:
        """Three-way handshake; returns the time of the final ACK."""
        self.seg(ts, True, fr.SYN, options=fr.tcp_syn_options())
        ts += self.delay(True)
        self.seg(ts, False, fr.SYN | fr.ACK, options=fr.tcp_syn_options(1460, 7))
        ts += self.delay(False)
        self.seg(ts, True, fr.ACK)
        return ts

    def send(self, ts: int, from_client: bool, data: bytes, ack: bool = True) -> int:
        """Send `data` in MSS-sized segments; the receiver ACKs unless ack=False.

        Returns the time of the last frame emitted.
        """
        for i in range(0, max(len(data), 1), self.MSS):
            chunk = data[i : i + self.MSS]
            last = i + self.MSS >= len(data)
            self.seg(ts, from_client, fr.ACK | (fr.PSH if last else 0), chunk)
            if not last:
                ts += 12
        if ack:
            ts += self.delay(from_client)
            self.seg(ts, not from_client, fr.ACK)
        return ts

    def exchange(
        self, ts: int, request: bytes, response: bytes, think_us: int, ack: bool = False
    ) -> int:
        """Client request, server response after `think_us`; returns the response time."""
        self.send(ts, True, request, ack=False)
        ts += self.delay(True) + think_us
        self.send(ts, False, response, ack=False)
        if ack:
            ts += self.delay(False)
            self.seg(ts, True, fr.ACK)
        return ts

    def close(self, ts: int, from_client: bool = True) -> int:
        """FIN/ACK, FIN/ACK, ACK; returns the time of the last ACK."""
        self.seg(ts, from_client, fr.FIN | fr.ACK)
        ts += self.delay(from_client)
        self.seg(ts, not from_client, fr.FIN | fr.ACK)
        ts += self.delay(not from_client)
        self.seg(ts, from_client, fr.ACK)
        return ts
