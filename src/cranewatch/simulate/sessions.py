"""Reusable conversations: ARP, DNS lookup, NTP, DHCP, TLS and HTTP sessions.

Each recipe writes complete, well-formed exchanges through a `Wire` and
returns the time of its last frame, so callers can chain them.
"""

from __future__ import annotations

import random

from . import frames as fr
from . import proto_app as app
from . import proto_net as net
from .wire import BROADCAST_MAC, Node, TcpConn, Wire

MS = 1_000
S = 1_000_000


def ephemeral(rng: random.Random, windows: bool = True) -> int:
    """A client port from the OS's ephemeral range."""
    return rng.randint(49152, 65500) if windows else rng.randint(32768, 60999)


def arp_resolve(w: Wire, t: int, asker: Node, target_ip: str, target_mac: str | None) -> int:
    """Broadcast who-has and (when the target exists) its unicast reply."""
    tip = fr.ip_bytes(target_ip)
    w.l2(
        t,
        BROADCAST_MAC,
        asker.mac_b,
        fr.ETH_ARP,
        net.arp(1, asker.mac_b, asker.ip_b, bytes(6), tip),
    )
    if target_mac is None:
        return t
    tmac = fr.mac_bytes(target_mac)
    t += 300
    w.l2(t, asker.mac_b, tmac, fr.ETH_ARP, net.arp(2, tmac, tip, asker.mac_b, asker.ip_b))
    return t


def dns_lookup(
    w: Wire,
    rng: random.Random,
    t: int,
    client: Node,
    server: Node,
    name: str,
    answer: str | None,
    local: Node | None = None,
) -> int:
    """A query and its answer (NXDOMAIN when `answer` is None)."""
    txid = rng.getrandbits(16)
    sport = ephemeral(rng)
    w.udp(t, client, server, sport, 53, net.dns_query(txid, name), local)
    t += rng.randint(300, 4000)
    addrs = [fr.ip_bytes(answer)] if answer else []
    w.udp(t, server, client, 53, sport, net.dns_response(txid, name, addrs, 300), local)
    return t


def ntp_exchange(
    w: Wire,
    rng: random.Random,
    t: int,
    client: Node,
    server: Node,
    stratum: int,
    refid: bytes,
    local: Node | None = None,
    sport: int = 123,
) -> int:
    req = net.ntp_client(t)
    w.udp(t, client, server, sport, 123, req, local)
    t += rng.randint(400, 2500) if server.inside else rng.randint(15_000, 60_000)
    w.udp(t, server, client, 123, sport, net.ntp_server(t, req[40:48], stratum, refid), local)
    return t


def dhcp_dora(
    w: Wire,
    rng: random.Random,
    t: int,
    client: Node,
    server: Node,
    offer_ip: str,
    router: str,
    dns: str,
    hostname: str,
    domain: str | None,
    relay: Node | None = None,
    lease: int = 86400,
) -> int:
    """DISCOVER, OFFER, REQUEST, ACK; a relay (the zone gateway) answers for a remote server.

    `client.ip` is only used after the ACK; the exchange itself runs from 0.0.0.0.
    """
    xid = rng.getrandbits(32)
    ch = client.mac_b
    answer_from = relay or server
    oip, rip, dip = fr.ip_bytes(offer_ip), fr.ip_bytes(router), fr.ip_bytes(dns)
    mask = b"\xff\xff\xff\x00"
    w.udp_raw(
        t,
        client,
        "255.255.255.255",
        BROADCAST_MAC,
        68,
        67,
        net.dhcp(
            1,
            xid,
            ch,
            net.DHCP_DISCOVER,
            hostname=hostname,
            vendor_class="MSFT 5.0",
            broadcast=False,
        ),
        src_ip="0.0.0.0",
        ttl=128,
    )
    t += rng.randint(2 * MS, 40 * MS)
    giaddr = relay.ip_b if relay else bytes(4)
    opts = dict(server_id=server.ip_b, router=rip, dns=dip, mask=mask, lease=lease, domain=domain)
    w.tl.add(
        t,
        _dhcp_reply(
            answer_from,
            client,
            net.dhcp(2, xid, ch, net.DHCP_OFFER, yiaddr=oip, giaddr=giaddr, **opts),
        ),
    )
    t += rng.randint(1 * MS, 8 * MS)
    w.udp_raw(
        t,
        client,
        "255.255.255.255",
        BROADCAST_MAC,
        68,
        67,
        net.dhcp(
            1,
            xid,
            ch,
            net.DHCP_REQUEST,
            requested=oip,
            server_id=server.ip_b,
            hostname=hostname,
            vendor_class="MSFT 5.0",
        ),
        src_ip="0.0.0.0",
        ttl=128,
    )
    t += rng.randint(2 * MS, 40 * MS)
    w.tl.add(
        t,
        _dhcp_reply(
            answer_from,
            client,
            net.dhcp(2, xid, ch, net.DHCP_ACK, yiaddr=oip, giaddr=giaddr, **opts),
        ),
    )
    return t


def _dhcp_reply(sender: Node, client: Node, payload: bytes) -> bytes:
    """Server (or relay) answer sent to the client's MAC and the offered address."""
    yiaddr = payload[16:20]
    l4 = fr.udp(sender.ip_b, yiaddr, 67, 68, payload)
    ip = fr.ipv4(sender.ip_b, yiaddr, fr.PROTO_UDP, l4, sender.next_ident(), sender.ttl, False)
    return fr.ethernet(client.mac_b, sender.mac_b, fr.ETH_IPV4, ip)


def tls_session(
    w: Wire,
    rng: random.Random,
    t: int,
    client: Node,
    server: Node,
    port: int,
    sni: str | None,
    records: int = 2,
    size: tuple[int, int] = (80, 900),
    local: Node | None = None,
    close: bool = True,
    alpn: tuple[str, ...] = (),
) -> tuple[int, TcpConn]:
    """TCP handshake, TLS 1.3 ClientHello/ServerHello, a few records each way, FIN."""
    conn = TcpConn(w, client, server, ephemeral(rng), port, rng, local)
    t = conn.open(t)
    t += rng.randint(100, 900)
    t = conn.send(t, True, app.tls_client_hello(rng, sni, alpn), ack=False)
    t += conn.delay(True) + rng.randint(200, 3000)
    t = conn.send(t, False, app.tls_server_hello(rng), ack=True)
    t += rng.randint(200, 1500)
    t = conn.send(t, True, app.tls_client_finish(rng), ack=False)
    for _ in range(records):
        t += rng.randint(1 * MS, 20 * MS)
        t = conn.send(t, True, app.tls_app_data(rng, rng.randint(*size)), ack=False)
        t += conn.delay(True) + rng.randint(500, 20 * MS)
        t = conn.send(t, False, app.tls_app_data(rng, rng.randint(*size)), ack=True)
    if close:
        t += rng.randint(5 * MS, 200 * MS)
        t = conn.close(t, True)
    return t, conn


def http_session(
    w: Wire,
    rng: random.Random,
    t: int,
    client: Node,
    server: Node,
    port: int,
    request: bytes,
    response: bytes,
    local: Node | None = None,
    think_us: int | None = None,
) -> int:
    """One HTTP/1.1 request and response on a fresh connection, then FIN."""
    conn = TcpConn(w, client, server, ephemeral(rng), port, rng, local)
    t = conn.open(t)
    t += rng.randint(100, 900)
    t = conn.send(t, True, request, ack=False)
    t += conn.delay(True) + (think_us if think_us is not None else rng.randint(1 * MS, 30 * MS))
    t = conn.send(t, False, response, ack=True)
    t += rng.randint(1 * MS, 50 * MS)
    return conn.close(t, True)
