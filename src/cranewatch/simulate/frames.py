"""Ethernet / IPv4 / TCP / UDP / ICMP frame builders with correct checksums.

The simulator emits ~10^5 frames in a few seconds, so these builders avoid a
dpkt object per packet: headers are packed with `struct` and the Internet
checksum is computed with one big-integer modulo (the ones' complement sum of
16-bit words equals the number's value modulo 0xFFFF, because 2**16 == 1 mod
0xFFFF), which runs in C.
"""

from __future__ import annotations

import struct

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_LLDP = 0x88CC
ETH_PROFINET = 0x8892

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

_IP_HDR = struct.Struct("!BBHHHBBH4s4s")
_TCP_HDR = struct.Struct("!HHIIBBHHH")
_UDP_HDR = struct.Struct("!HHHH")
MIN_FRAME = 60  # Ethernet minimum without FCS, as a SPAN port delivers it


def mac_bytes(mac: str) -> bytes:
    """'00:1b:1b:aa:01:10' -> 6 bytes."""
    return bytes.fromhex(mac.replace(":", "").replace("-", ""))


def ip_bytes(ip: str) -> bytes:
    """Dotted quad -> 4 bytes (no validation: the scenario only builds valid ones)."""
    return bytes(int(p) for p in ip.split("."))


def checksum(data: bytes) -> int:
    """Internet checksum (RFC 1071) of `data`; 0xFFFF stands for a zero sum."""
    if len(data) & 1:
        data += b"\0"
    n = int.from_bytes(data, "big")
    s = n % 0xFFFF
    if s == 0:  # the sum is +0 (all zero words) or -0 (0xFFFF)
        return 0 if n else 0xFFFF
    return 0xFFFF ^ s


def ethernet(dst: bytes, src: bytes, ethertype: int, payload: bytes) -> bytes:
    """Ethernet II frame, zero-padded to the 60-byte minimum."""
    frame = dst + src + ethertype.to_bytes(2, "big") + payload
    if len(frame) < MIN_FRAME:
        frame += bytes(MIN_FRAME - len(frame))
    return frame


def ipv4(
    src: bytes,
    dst: bytes,
    proto: int,
    payload: bytes,
    ident: int,
    ttl: int = 64,
    df: bool = True,
    tos: int = 0,
) -> bytes:
    """IPv4 header (no options) + payload, header checksum filled in."""
    hdr = _IP_HDR.pack(
        0x45, tos, 20 + len(payload), ident & 0xFFFF, 0x4000 if df else 0, ttl, proto, 0, src, dst
    )
    return hdr[:10] + checksum(hdr).to_bytes(2, "big") + hdr[12:] + payload


def tcp(
    src: bytes,
    dst: bytes,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    payload: bytes = b"",
    window: int = 64240,
    options: bytes = b"",
) -> bytes:
    """TCP segment with its pseudo-header checksum."""
    off = (20 + len(options)) // 4
    hdr = (
        _TCP_HDR.pack(
            sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, off << 4, flags, window, 0, 0
        )
        + options
    )
    seg_len = len(hdr) + len(payload)
    pseudo = src + dst + bytes((0, PROTO_TCP)) + seg_len.to_bytes(2, "big")
    cs = checksum(pseudo + hdr + payload)
    return hdr[:16] + cs.to_bytes(2, "big") + hdr[18:] + payload


def udp(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes) -> bytes:
    """UDP datagram with checksum (0 is sent as 0xFFFF, as RFC 768 says)."""
    length = 8 + len(payload)
    hdr = _UDP_HDR.pack(sport, dport, length, 0)
    pseudo = src + dst + bytes((0, PROTO_UDP)) + length.to_bytes(2, "big")
    cs = checksum(pseudo + hdr + payload) or 0xFFFF
    return hdr[:6] + cs.to_bytes(2, "big") + payload


def icmp(icmp_type: int, code: int, rest: bytes, payload: bytes) -> bytes:
    """ICMP message: type, code, checksum, 4 bytes `rest`, payload."""
    body = bytes((icmp_type, code, 0, 0)) + rest + payload
    cs = checksum(body)
    return body[:2] + cs.to_bytes(2, "big") + body[4:]


def tcp_syn_options(mss: int = 1460, wscale: int = 8) -> bytes:
    """MSS, NOP, WS, NOP, NOP, SACK-permitted: what Windows and Linux send in a SYN."""
    return (
        b"\x02\x04"
        + mss.to_bytes(2, "big")
        + b"\x01\x03\x03"
        + bytes((wscale,))
        + b"\x01\x01\x04\x02"
    )
