"""The inventory: hosts and flows, as detectors and reports read them."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

_SYN = 0x02
STARTS_CAP = 2000  # start times kept per flow and direction, and per folded record


def pair_key(proto: object, a_ip: str | None, a_port: int, b_ip: str | None, b_port: int) -> tuple:
    """Both addresses (either order) and the lower port: every connection of a client to a service.

    Why the lower port: the client's ephemeral port is what varies between its
    connections; `proto` may be a number or a name, as long as a caller is consistent.
    """
    ips = sorted((a_ip or "", b_ip or ""))
    return (proto, *ips, min(a_port, b_port))


@dataclass(slots=True)
class Flow:
    """Both directions of one 5-tuple.

    The originator is the sender of the first packet seen (the SYN sender for
    TCP when the SYN is in the capture). MACs are as seen on the wire: for an
    off-subnet peer, `resp_mac` is the router's MAC, which is exactly what the
    rogue-gateway detector wants.
    """

    proto: int  # 6 tcp, 17 udp, 1 icmp, 58 icmpv6, other IP protocol numbers
    orig_ip: str
    resp_ip: str
    orig_port: int
    resp_port: int
    first_ts: float
    last_ts: float
    orig_pkts: int = 0
    resp_pkts: int = 0
    orig_bytes: int = 0  # wire bytes of frames sent by the originator
    resp_bytes: int = 0
    orig_flags: int = 0  # OR of TCP flags sent by the originator
    resp_flags: int = 0
    orig_mac: str | None = None  # L2 source of orig->resp frames
    orig_next_hop: str | None = None  # L2 destination of orig->resp frames
    resp_mac: str | None = None  # L2 source of resp->orig frames
    orig_ttl: int = 0  # TTL/hop limit of the first orig->resp packet
    resp_ttl: int = 0
    vlan: int = 0
    starts: Sequence[float] = field(default_factory=list)  # (re)starts after >= 1 s idle, capped
    service: str | None = None  # protocol recognised by a parser or the port table
    name: str | None = None  # the responder's name: TLS SNI, HTTP Host, or DNS answer
    # Above 1: idle flows folded into one record per conversation (inventory/fold.py);
    # ports are the first member's, `starts` are the members' connection starts and
    # `sizes` the bytes each single-start member's client sent (both capped, and kept
    # as arrays: 8 bytes an entry, where a list takes 32).
    connections: int = 1
    sizes: Sequence[int] = field(default_factory=list)

    @property
    def l4(self) -> str:
        return {6: "tcp", 17: "udp", 1: "icmp", 58: "icmpv6", 132: "sctp"}.get(
            self.proto, str(self.proto)
        )

    @property
    def packets(self) -> int:
        return self.orig_pkts + self.resp_pkts

    def connection_starts(self) -> list[float]:
        """When each connection this record stands for began: what beaconing counts.

        TCP: one connection, one start (its first packet, when a SYN was seen
        either way); a long-lived session that idles between keep-alives is
        not reconnecting. A TCP flow without any SYN began before the capture,
        or is the tail of a session folded while idle (inventory/fold.py): its
        first packet is no connection start. UDP has no connections: a 5-tuple
        reused after >= 1 s of silence (NTP polling from port 123, a DNS
        forwarder's fixed source port) starts again. A folded record already
        holds its members' starts.
        """
        if self.connections > 1:
            return sorted(self.starts)
        if self.proto == 6:
            return [self.first_ts] if (self.orig_flags | self.resp_flags) & _SYN else []
        return sorted({self.first_ts, *self.starts})

    @property
    def bytes(self) -> int:
        return self.orig_bytes + self.resp_bytes


def ip_key(ip: str | None) -> tuple[int, int]:
    """Sort key of an address by value (.9 before .10), IPv4 first, none or junk last."""
    try:
        addr = ipaddress.ip_address(ip or "")
    except ValueError:
        return (9, 0)
    return (addr.version, int(addr))


def identity_pairs(identity: dict[str, Any] | None) -> list[str]:
    """`key=value` texts of an asset's identity, keys sorted, list values joined by commas.

    Why one function: the CSV and the findings' evidence both print identities,
    and a list printed as Python ("['switch3']") is not what a report shows.
    """
    out = []
    for key, value in sorted((identity or {}).items()):
        if isinstance(value, list | tuple):
            value = ",".join(str(v) for v in value if v not in (None, ""))
        if value not in (None, ""):
            out.append(f"{key}={value}")
    return out


@dataclass(slots=True)
class Asset:
    """One device: a MAC on the captured segment, or an IP seen only behind a router."""

    id: str
    mac: str | None
    ips: list[str] = field(default_factory=list)
    vendor: str | None = None  # IEEE registry organisation of the MAC
    hostnames: list[str] = field(default_factory=list)
    declared_id: str | None = None
    zone: str | None = None
    role: str | None = None
    protocols: list[str] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)
    first_seen: float | None = None
    last_seen: float | None = None
    packets: int = 0
    bytes: int = 0
    # Not in the findings file: facts detectors use.
    locally_administered: bool = False
    router: bool = False  # forwards for many IPs (seen as L2 hop of off-subnet traffic)
    behind_router: bool = False  # IP-only asset

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "mac": self.mac,
            "ips": self.ips,
            "vendor": self.vendor,
            "hostnames": self.hostnames,
            "declared_id": self.declared_id,
            "zone": self.zone,
            "role": self.role,
            "protocols": self.protocols,
            "identity": self.identity,
            "first_seen": self.first_seen,
            "last_seen": self.last_seen,
            "packets": self.packets,
            "bytes": self.bytes,
        }
