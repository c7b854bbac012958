"""Selectors: the cheap, whole-array test that picks packets for a deep parser."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Selector:
    """Which packets a parser wants; a packet matching any one clause is selected.

    ethertypes: innermost EtherType values (L2 protocols: LLDP 0x88CC, ARP 0x0806,
                PROFINET 0x8892). The parser gets the bytes after the EtherType.
    dst_macs:   destination MACs (as 48-bit ints) of 802.3/LLC frames (CDP).
    l4:         'tcp', 'udp' or None (both) for `ports` and `prefixes`.
    ports:      source or destination port numbers.
    prefixes:   first payload bytes (1 to 4 bytes each), on any port.
    l2_prefixes: with `ethertypes`, the first bytes after the EtherType must
                start with one of these (PROFINET DCP frame ids among cyclic I/O).
    per_flow:   at most this many packets per flow are parsed by one process's
                run over consecutive captures (chatty cyclic protocols need only
                the first few); 0 = all.
    always:     (payload offset, byte value) pairs; a packet matching one is parsed
                even past `per_flow` (a Modbus FC43 identification reply late in
                a polling flow).
    """

    ethertypes: tuple[int, ...] = ()
    dst_macs: tuple[int, ...] = ()
    l4: str | None = None
    ports: tuple[int, ...] = ()
    prefixes: tuple[bytes, ...] = ()
    l2_prefixes: tuple[bytes, ...] = ()
    per_flow: int = 16
    always: tuple[tuple[int, int], ...] = ()
