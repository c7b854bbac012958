"""Who started a flow: the client and server sides, from the handshake or the ports.

`Flow.orig_*` is whoever sent the first packet the capture saw, which is the
client only when the capture began before the connection did. Detectors that
judge "inbound" or "initiator" ask `direction()`, which uses the TCP handshake
when it is there and the ports otherwise, and says how sure it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from cranewatch.inventory.model import Flow
from cranewatch.inventory.services import service_for_port

SYN, ACK = 0x02, 0x10
EPHEMERAL = 49152  # IANA dynamic range start (RFC 6335)
MAX_KNOWN_RANGE = 4  # port ranges wider than this do not mark a server side


@dataclass(frozen=True, slots=True)
class Direction:
    client_ip: str
    client_port: int
    client_mac: str | None
    server_ip: str
    server_port: int
    server_mac: str | None
    certain: bool  # from a seen handshake, not guessed from ports
    swapped: bool  # the client is the flow's responder


def _as_is(f: Flow, certain: bool) -> Direction:
    return Direction(
        f.orig_ip, f.orig_port, f.orig_mac, f.resp_ip, f.resp_port, f.resp_mac, certain, False
    )


def _swapped(f: Flow, certain: bool) -> Direction:
    return Direction(
        f.resp_ip, f.resp_port, f.resp_mac, f.orig_ip, f.orig_port, f.orig_mac, certain, True
    )


def direction(f: Flow) -> Direction:
    """Client and server of a flow, with whether that is known or guessed."""
    if f.proto == 6:
        o_syn, r_syn = bool(f.orig_flags & SYN), bool(f.resp_flags & SYN)
        if o_syn and (r_syn or f.resp_pkts == 0):
            return _as_is(f, True)  # SYN then SYN-ACK, or an unanswered SYN
        if r_syn and not o_syn:
            return _swapped(f, True)  # only the responder opened: it is the client
    if f.orig_port == 0 and f.resp_port == 0:
        return _as_is(f, False)
    return _by_ports(f)


def _by_ports(f: Flow) -> Direction:
    """Who serves, from the ports, strongest clue first.

    1. a well-known port (< 1024) against a higher one;
    2. a port the knowledge files name for a service or remote-access tool
       (44818 EtherNet/IP, 51820 WireGuard ...) against one they do not name -
       many such services sit in or near the dynamic range, where rule 4 alone
       would turn them round;
    3. one-way traffic (an RTP or syslog stream, a trap): the only sender is
       the one acting, whatever port its silent peer listens on;
    4. an ephemeral port (>= 49152) against a lower one.
    """
    o, r = f.orig_port, f.resp_port
    if r < 1024 <= o:
        return _as_is(f, False)
    if o < 1024 <= r:
        return _swapped(f, False)
    ko, kr = known_port(f.l4, o), known_port(f.l4, r)
    if kr and not ko:
        return _as_is(f, False)
    if ko and not kr:
        return _swapped(f, False)
    if f.resp_pkts == 0:
        return _as_is(f, False)
    if o >= EPHEMERAL > r:
        return _as_is(f, False)
    if r >= EPHEMERAL > o:
        return _swapped(f, False)
    return _as_is(f, False)


@lru_cache(maxsize=8192)
def known_port(l4: str, port: int) -> bool:
    """A port the knowledge files name: a service (services.yaml) or a remote-access tool's.

    Wide ranges (more than MAX_KNOWN_RANGE ports) are left out: a client's
    ephemeral port lands in them too often to tell the sides apart.
    """
    if not port:
        return False
    return bool(service_for_port(l4, port)) or (l4, port) in _tool_ports()


@lru_cache(maxsize=1)
def _tool_ports() -> frozenset[tuple[str, int]]:
    """(l4, port) of every remote-access tool's narrow port ranges, expanded once.

    Why not scan the tools per call: random ports (a scan, spoofed traffic)
    miss any cache, and the scan of every tool's ranges was most of the time.
    """
    from cranewatch.knowledge import load

    return frozenset(
        (p, port)
        for t in load().tools
        for p, lo, hi in t.ports
        if hi - lo < MAX_KNOWN_RANGE
        for port in range(lo, hi + 1)
    )
