"""Columnar L2-L4 view of a RawBatch: one numpy array per header field.

`decode_l2l4` (in decode/l2l4.py) fills this from a RawBatch with whole-array
numpy operations; everything downstream (flows, hosts, masks for deep parsing)
reads these columns. Absent values are 0 with a flag column saying presence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(slots=True)
class Packets:
    """Decoded header fields, all arrays of len(batch).

    ts, caplen, wirelen, linktype: copied from the batch.
    supported:  bool, the link type is one we decode (else counted as an error).
    has_mac:    bool, the innermost frame carried Ethernet-style addresses.
    src_mac, dst_mac: uint64, 48-bit MAC in the low bits (0 when absent).
    vlan:       uint16 outermost 802.1Q/802.1ad VLAN id (0 none).
    ethertype:  uint16 innermost EtherType after tags (0 for raw IP link types,
                which set it to 0x0800/0x86DD as appropriate).
    l3_off:     int64 absolute offset of the L3 header in batch.data (-1 none).
    ip_ver:     uint8 4, 6 or 0.
    src_hi, src_lo, dst_hi, dst_lo: uint64 the 128-bit address; IPv4 is stored
                IPv4-mapped (hi=0, lo=0x0000FFFF_00000000 | addr).
    ttl:        uint8 TTL or hop limit.
    proto:      uint8 L4 protocol number (after IPv6 extension headers), 0 none.
    frag:       bool, an IP fragment (any fragment: MF set or offset > 0).
    sport, dport: uint16 (0 when not TCP/UDP/SCTP, or a non-first fragment).
    tcp_flags:  uint8.
    l4_off:     int64 absolute offset of the L4 header (-1 none).
    payload_off: int64 absolute offset of the L4 payload (-1 none).
    payload_len: int32 captured payload bytes available (0 none).
    ip_len:     int32 IP total length from the header (what flows count as bytes
                is wirelen; this is kept for checks).
    """

    ts: np.ndarray
    caplen: np.ndarray
    wirelen: np.ndarray
    linktype: np.ndarray
    supported: np.ndarray
    has_mac: np.ndarray
    src_mac: np.ndarray
    dst_mac: np.ndarray
    vlan: np.ndarray
    ethertype: np.ndarray
    l3_off: np.ndarray
    ip_ver: np.ndarray
    src_hi: np.ndarray
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    ttl: np.ndarray
    proto: np.ndarray
    frag: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    tcp_flags: np.ndarray
    l4_off: np.ndarray
    payload_off: np.ndarray
    payload_len: np.ndarray
    ip_len: np.ndarray

    def __len__(self) -> int:
        return len(self.ts)
