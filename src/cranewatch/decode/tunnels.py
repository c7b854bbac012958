"""Columnar tunnel and shim headers: where the inner frame of a tunnel starts, and what it is.

Field engineers capture remote SPAN over GRE/ERSPAN, VXLAN or Geneve fabrics,
MPLS cores, PPPoE access lines and CAPWAP from WLAN controllers: the hosts of
interest are inside. Each function here reads one header kind for a subset of
packets (absolute row indexes `idx` into the header window, offsets relative to
each packet start) and answers, per row, whether the header is sound, where the
inner frame starts and which *kind* of frame it is. l2l4 then decodes those
inner frames with the same code as outer ones.

Kinds are link types (1 Ethernet, 9 PPP, 105 802.11) or KIND_ETHERTYPE | e: a
bare payload of EtherType e with no link header (GRE IPv4, MPLS over UDP, CDP
over GRE). All reads go through the window's reader; nothing loops per packet.
"""

from __future__ import annotations

import numpy as np

ETH_IP4 = 0x0800
ETH_IP6 = 0x86DD
ETH_MPLS = 0x8847
ETH_MPLS_MC = 0x8848
ETH_PPPOE = 0x8864
ETH_CDP = 0x2000  # Cisco HDLC and GRE carry CDP under this protocol number
ETH_CMD = 0x8909  # Cisco MetaData (TrustSec SGT): 8 bytes holding the next EtherType

KIND_ETHERNET = 1
KIND_PPP = 9
KIND_WIFI = 105
KIND_ETHERTYPE = 1 << 16  # kind = KIND_ETHERTYPE | EtherType: a bare payload
KIND_WIFI_SWAPPED = 1 << 17  # 802.11 with its frame control bytes swapped (Cisco CAPWAP)

MAX_MPLS_LABELS = 8
MAX_GTP_EXT = 4

# PPP protocol numbers -> EtherType (RFC 1661 assigned numbers).
_PPP = {0x0021: ETH_IP4, 0x0057: ETH_IP6, 0x0281: ETH_MPLS, 0x0283: ETH_MPLS_MC}

# GRE protocol types decapsulated as a bare payload of that EtherType.
_GRE_BARE = (ETH_IP4, ETH_IP6, ETH_MPLS, ETH_MPLS_MC, ETH_CDP, 0x0806)
_GRE_TEB = 0x6558  # transparent Ethernet bridging
_GRE_ERSPAN2 = 0x88BE  # ERSPAN type II, or type I when the S bit is clear
_GRE_ERSPAN3 = 0x22EB
_GRE_PPP = 0x880B  # PPTP (enhanced GRE, version 1)

PORT_VXLAN = (4789, 8472)  # IANA, and the Linux kernel's old default
PORT_GENEVE = 6081
PORT_CAPWAP_DATA = 5247
PORT_TEREDO = 3544
PORT_AYIYA = 5072
PORT_GTPU = 2152
PORT_MPLS_UDP = 6635
PORT_GRE_UDP = 4754

_CANDIDATE_PORTS = [0, *PORT_VXLAN, PORT_GENEVE, PORT_CAPWAP_DATA, PORT_TEREDO, PORT_AYIYA]
_CANDIDATE_PORTS += [PORT_GTPU, PORT_MPLS_UDP, PORT_GRE_UDP]
# True for each block of 16 ports holding a tunnel port; block 0 too, so that the same
# lookup flags the port-less packets (GRE, IP-in-IP) for the exact checks. 4 KiB: it
# stays in L1 cache, where a 64 KiB per-port table would miss on every batch.
PORT_BLOCKS = np.zeros(4096, dtype=bool)
PORT_BLOCKS[np.array(_CANDIDATE_PORTS) >> 4] = True
# The exact ports, for the few packets in those blocks.
TUNNEL_PORTS = np.zeros(65536, dtype=bool)
TUNNEL_PORTS[_CANDIDATE_PORTS] = True


def bare(ethertype: int | np.ndarray) -> int | np.ndarray:
    """The kind of a bare payload of this EtherType."""
    return KIND_ETHERTYPE | ethertype


def ppp_ethertype(proto: np.ndarray) -> np.ndarray:
    """EtherType of a PPP protocol number (0 for protocols we do not follow)."""
    out = np.zeros(len(proto), dtype=np.uint16)
    for number, ethertype in _PPP.items():
        out[proto == number] = ethertype
    return out


def ppp_header(win, idx: np.ndarray, pos: np.ndarray, end: np.ndarray):
    """PPP: optional FF 03 address/control, then a 1-byte (compressed) or 2-byte protocol.

    Returns (ethertype, payload position); ethertype 0 when unknown or cut short.
    """
    pos = pos.astype(np.int32)
    lead = win.read(2, idx, pos)
    pos = pos + np.where(lead == 0xFF03, 2, 0)
    first = win.read(1, idx, pos)
    short = (first & 1) == 1  # protocol field compression: odd first byte
    proto = np.where(short, first, win.read(2, idx, pos)).astype(np.int64)
    size = np.where(short, 1, 2)
    et = ppp_ethertype(proto)
    et[pos + size > end] = 0
    return et, pos + size


def pppoe(win, idx: np.ndarray, pos: np.ndarray, end: np.ndarray):
    """PPPoE session header (ver/type 0x11, code 0) and its PPP protocol: (ethertype, pos)."""
    word = win.read(8, idx, pos)
    ok = ((word >> 48) == 0x1100) & (pos + 8 <= end)
    et = ppp_ethertype((word & 0xFFFF).astype(np.int64))
    et[~ok] = 0
    return et, pos + 8


def mpls(win, idx: np.ndarray, pos: np.ndarray, end: np.ndarray):
    """Walk an MPLS label stack; guess the payload from its first nibble.

    Returns (ethertype, payload position, pseudo-wire): ethertype 0x0800/0x86DD for
    IP payloads, 0 otherwise; pseudo-wire marks an Ethernet PW with a control word
    (first nibble 0), whose frame starts 4 bytes after the stack.
    """
    pos = pos.astype(np.int32).copy()
    bottom = np.zeros(len(idx), dtype=bool)
    active = pos + 4 <= end
    for _ in range(MAX_MPLS_LABELS):
        sel = np.flatnonzero(active)
        if not len(sel):
            break
        label = win.read(4, idx[sel], pos[sel])
        pos[sel] += 4
        last = (label & 0x100) != 0
        bottom[sel[last]] = True
        active[sel[last]] = False
        more = sel[~last]
        active[more] = pos[more] + 4 <= end[more]
    nibble = win.read(1, idx, pos) >> 4
    reached = bottom & (pos + 1 <= end)
    et = np.zeros(len(idx), dtype=np.uint16)
    et[reached & (nibble == 4)] = ETH_IP4
    et[reached & (nibble == 6)] = ETH_IP6
    pw = reached & (nibble == 0) & (pos + 4 + 14 <= end)
    return et, pos, pw


def cisco_metadata(win, idx, rows, et: np.ndarray, pos: np.ndarray, in_gre: bool = False):
    """Skip a Cisco MetaData header on `rows`: (EtherType after it, position after it).

    After an EtherType the header is version, length, option, SGT, EtherType;
    under GRE the EtherType comes first (as Wireshark's packet-cisco-metadata.c).
    """
    after = win.read(2, idx, pos, 0 if in_gre else 6).astype(et.dtype)
    return np.where(rows, after, et), pos + np.where(rows, 8, 0).astype(pos.dtype)


def gre(win, idx: np.ndarray, pos: np.ndarray, end: np.ndarray):
    """GRE (RFC 2784/2890) and enhanced GRE (PPTP): (ok, inner position, inner kind).

    Version 0: C/R add 4 bytes (checksum + reserved), K and S 4 each; routing (R)
    with source routes is not followed. Version 1 (PPTP) has K always and an
    optional acknowledgment (A bit) and carries PPP.
    """
    word = win.read(4, idx, pos)
    flags = (word >> 16).astype(np.int64)
    proto = (word & 0xFFFF).astype(np.int64)
    version = flags & 7
    has_s = (flags & 0x1000) != 0
    v0 = (version == 0) & ((flags & 0x4000) == 0)
    hdr0 = 4 + 4 * ((flags & 0x8000) != 0) + 4 * ((flags & 0x2000) != 0) + 4 * has_s
    v1 = (version == 1) & (proto == _GRE_PPP) & ((flags & 0x2000) != 0)
    hdr1 = 8 + 4 * has_s + 4 * ((flags & 0x0080) != 0)
    inner = pos + np.where(v1, hdr1, hdr0)
    cmd = v0 & (proto == ETH_CMD)
    if cmd.any():
        proto, inner = cisco_metadata(win, idx, cmd, proto, inner, in_gre=True)
    kind = np.zeros(len(idx), dtype=np.int64)
    bare_rows = v0 & np.isin(proto, _GRE_BARE)
    kind[bare_rows] = KIND_ETHERTYPE | proto[bare_rows]
    kind[v0 & (proto == _GRE_TEB)] = KIND_ETHERNET
    kind[(v0 | v1) & (proto == _GRE_PPP)] = KIND_PPP
    erspan2 = v0 & (proto == _GRE_ERSPAN2)
    kind[erspan2] = KIND_ETHERNET
    inner = inner + np.where(erspan2 & has_s, 8, 0)  # type II header; type I has none
    erspan3 = v0 & (proto == _GRE_ERSPAN3)
    if erspan3.any():
        tail = win.read(2, idx, inner, 10)  # P, frame type(5), hw id, D, gra, O
        ethernet = ((tail >> 10) & 0x1F) == 0
        kind[erspan3 & ethernet] = KIND_ETHERNET
        inner = inner + np.where(erspan3, 12 + 8 * (tail & 1).astype(np.int32), 0)
    ok = (kind != 0) & (pos + 4 <= end) & (inner <= end)
    return ok, inner.astype(np.int32), kind


def vxlan(win, idx, pos, end):
    """VXLAN (RFC 7348): 8 bytes (I flag set, last byte reserved 0), then an Ethernet frame.

    Either port: some switches send from 4789 to another port (as Wireshark, we accept it).
    """
    flags = win.read(1, idx, pos)
    ok = ((flags & 0x08) != 0) & (win.read(1, idx, pos, 7) == 0) & (pos + 8 <= end)
    return ok, pos + 8, np.full(len(idx), KIND_ETHERNET, dtype=np.int64)


def geneve(win, idx, pos, end):
    """Geneve (RFC 8926): 8 bytes + options (length in 4-byte words), then its protocol."""
    word = win.read(4, idx, pos)
    proto = (word & 0xFFFF).astype(np.int64)
    version = word >> 30
    inner = pos + 8 + ((word >> 24) & 0x3F).astype(np.int32) * 4
    kind = np.where(proto == _GRE_TEB, KIND_ETHERNET, KIND_ETHERTYPE | proto)
    ok = (version == 0) & np.isin(proto, (_GRE_TEB, ETH_IP4, ETH_IP6)) & (inner <= end)
    return ok, inner, kind


def capwap(win, idx, pos, end):
    """CAPWAP data (RFC 5415): HLEN words of header, then 802.3 or native 802.11 (T bit).

    DTLS-protected data (preamble type 1), keep-alives and non-first fragments are left.
    """
    word = win.read(4, idx, pos)
    hlen = ((word >> 19) & 0x1F).astype(np.int32) * 4
    wbid = (word >> 9) & 0x1F
    native = ((word >> 8) & 1) == 1
    fragment = ((word >> 7) & 1) == 1
    keepalive = ((word >> 3) & 1) == 1
    frag_off = win.read(2, idx, pos, 6) >> 3
    # Cisco APs send the 802.11 frame control byte-swapped (Wireshark swaps by default):
    # when the second byte reads as a data frame's first, take it as swapped.
    fc1 = win.read(1, idx, pos + hlen, 1)
    swapped = (fc1 & 0x0F) == 0x08
    wifi_kind = np.where(swapped, KIND_WIFI_SWAPPED, KIND_WIFI)
    kind = np.where(native, wifi_kind, KIND_ETHERNET).astype(np.int64)
    ok = ((word >> 24) == 0) & (hlen >= 8) & ~keepalive & (~native | (wbid == 1))
    ok &= ~(fragment & (frag_off != 0)) & (pos + hlen <= end)
    return ok, pos + hlen, kind


def teredo(win, idx, pos, end):
    """Teredo (RFC 4380): optional authentication and origin indication, then IPv6."""
    pos = pos.astype(np.int32).copy()
    head = win.read(4, idx, pos)
    auth = (head >> 16) == 0x0001
    id_len = ((head >> 8) & 0xFF).astype(np.int32)
    au_len = (head & 0xFF).astype(np.int32)
    pos += np.where(auth, 4 + id_len + au_len + 9, 0)
    origin = win.read(2, idx, pos) == 0x0000
    pos += np.where(origin, 8, 0)
    ok = (win.read(1, idx, pos) >> 4 == 6) & (pos + 40 <= end)
    return ok, pos, np.full(len(idx), KIND_ETHERTYPE | ETH_IP6, dtype=np.int64)


def ayiya(win, idx, pos, end):
    """AYIYA (SixXS): 8 bytes, identity (2**n bytes), signature (4*n), then IPv4/IPv6."""
    word = win.read(4, idx, pos)
    id_len = np.left_shift(1, ((word >> 28) & 0xF).astype(np.int32))
    sig_len = ((word >> 20) & 0xF).astype(np.int32) * 4
    opcode = (word >> 8) & 0xF
    nh = word & 0xFF
    inner = pos + 8 + id_len + sig_len
    kind = np.where(nh == 41, KIND_ETHERTYPE | ETH_IP6, KIND_ETHERTYPE | ETH_IP4).astype(np.int64)
    ok = (opcode == 1) & ((nh == 4) | (nh == 41)) & (inner <= end)
    return ok, inner, kind


def gtpu(win, idx, pos, end):
    """GTP-U v1 G-PDU: 8 bytes (+4 with E/S/PN), extension headers, then IPv4/IPv6."""
    word = win.read(4, idx, pos)
    flags = word >> 24
    ok = ((flags >> 5) == 1) & ((flags & 0x10) != 0) & (((word >> 16) & 0xFF) == 0xFF)
    inner = (pos + 8 + 4 * ((flags & 7) != 0)).astype(np.int32)
    nxt = np.where((flags & 0x04) != 0, win.read(1, idx, pos, 11), 0)
    for _ in range(MAX_GTP_EXT):
        sel = np.flatnonzero(ok & (nxt != 0) & (inner < end))
        if not len(sel):
            break
        size = win.read(1, idx[sel], inner[sel]).astype(np.int32) * 4
        ok[sel[size == 0]] = False
        inner[sel] += size
        nxt[sel] = win.read(1, idx[sel], inner[sel] - 1)
    ok &= nxt == 0
    version = win.read(1, idx, inner) >> 4
    kind = np.where(version == 6, KIND_ETHERTYPE | ETH_IP6, KIND_ETHERTYPE | ETH_IP4)
    ok &= ((version == 4) | (version == 6)) & (inner < end)
    return ok, inner, kind.astype(np.int64)


def mpls_udp(win, idx, pos, end):
    """MPLS over UDP (RFC 7510): the label stack follows the UDP header."""
    kind = np.full(len(idx), KIND_ETHERTYPE | ETH_MPLS, dtype=np.int64)
    return pos + 4 <= end, pos, kind


# UDP tunnels: (ports that identify them, either end or destination only, header reader).
UDP_TUNNELS = (
    (PORT_VXLAN, True, vxlan),
    ((PORT_GENEVE,), False, geneve),
    ((PORT_GTPU,), False, gtpu),
    ((PORT_MPLS_UDP,), False, mpls_udp),
    ((PORT_GRE_UDP,), False, gre),
    ((PORT_CAPWAP_DATA,), True, capwap),
    ((PORT_TEREDO,), True, teredo),
    ((PORT_AYIYA,), True, ayiya),
)

# Port -> 1 + index in UDP_TUNNELS: a destination port names its tunnel first,
# else a source port of the tunnels recognised from either end.
BY_DPORT = np.zeros(65536, dtype=np.uint8)
BY_SPORT = np.zeros(65536, dtype=np.uint8)
for _number, (_ports, _either, _reader) in enumerate(UDP_TUNNELS, start=1):
    BY_DPORT[list(_ports)] = _number
    if _either:
        BY_SPORT[list(_ports)] = _number


def udp_tunnel_ids(sport: np.ndarray, dport: np.ndarray) -> np.ndarray:
    """1 + index in UDP_TUNNELS of each UDP packet's tunnel (0 none)."""
    by_dst = BY_DPORT.take(dport)
    return np.where(by_dst != 0, by_dst, BY_SPORT.take(sport))
