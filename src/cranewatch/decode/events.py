"""Facts that deep parsers report about single selected packets.

Mechanism, not policy: an Event says what a packet shows (a DHCP hostname, a
TLS server name, a PLC's product name); inventory and detectors decide what it
means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Event:
    """One deep-parsed packet.

    proto:   parser name: 'dhcp', 'dns', 'tls', 'http', 'snmp', 'ssh', 'lldp',
             'cdp', 'enip', 's7comm', 'modbus', 'pn-dcp', 'rfb', 'nbns', 'mdns',
             'ssdp', 'arp', ...
    src_mac/dst_mac: 'aa:bb:..' or None when the link had no MACs.
    src_ip/dst_ip:   text or None.
    l4:      'tcp', 'udp' or None; sport/dport 0 when absent.
    fields:  what the parser returned (see docs/architecture.md for the shared
             keys `identity`, `subject_mac`, `subject_ip`, `names`).
    """

    ts: float
    proto: str
    src_mac: str | None
    dst_mac: str | None
    src_ip: str | None
    dst_ip: str | None
    l4: str | None
    sport: int
    dport: int
    fields: dict[str, Any] = field(default_factory=dict)
    # index of the packet in its input (for evidence pcaps): (input index, packet number)
    ref: tuple[int, int] = (0, 0)
