"""Columnar L2-L4 decode: one RawBatch in, one `Packets` of numpy columns out.

Every step works on whole arrays: the only Python loops are over a bounded
number of header layers (VLAN tags, IPv6 extension headers), each iteration
vectorised over the packets still walking.

How bytes are read. One gather copies the first WINDOW bytes of every packet
into a dense (packets x WINDOW) block; the batch's PAD zeros make that safe for
the last packet. A header field at the same offset in every packet (the usual
case: untagged Ethernet, 20-byte IPv4 header) is then a strided big-endian view
of the block, which costs about as much as reading a column. Fields at varying
offsets are gathered from the block, and the rare ones beyond the window from
the batch buffer. Reads may return bytes past a packet's end (the next packet,
or zeros); a field only counts when the captured length covers it.

All offsets below are relative to the packet start until written to `Packets`.

Tunnels. Each level of decode notes, for the few packets that have one, where
an inner frame starts and ends and what kind it is (radiotap and PPI payloads,
MPLS pseudo-wires, GRE/ERSPAN, VXLAN, Geneve, CAPWAP, Teredo, AYIYA, GTP-U,
IP-in-IP; see tunnels.py and wifi.py). Those packets are decoded again as a
sub-batch starting at the inner frame, with this same code, and the inner
columns replace the outer ones, up to MAX_DEPTH levels. Ordinary traffic pays
one ethertype comparison and one small table lookup per port for all this.

What the columns then say. They describe the innermost packet: the outer
transport is the network's, not the crane's. has_mac/src_mac/dst_mac are the
inner Ethernet or 802.11 addresses; when the inner packet is bare IP (GRE IPv4,
IP-in-IP, MPLS IP, GTP-U, Teredo, AYIYA) has_mac is False and MACs and VLAN are
0, since the outer MACs are the tunnel routers'. PPPoE and MPLS are walked in
place: PPPoE keeps the link's MACs and VLAN (client and concentrator share the
segment), MPLS keeps the VLAN but drops the MACs (label switch routers). caplen,
wirelen and ts stay the outer packet's. Non-first outer fragments are not
decapsulated (no L4 offset), and tunnels are recognised by their IANA ports.
"""

from __future__ import annotations

import numpy as np

from cranewatch.decode import tunnels, wifi
from cranewatch.decode.packets import Packets
from cranewatch.decode.tunnels import KIND_ETHERNET, KIND_ETHERTYPE, KIND_PPP, KIND_WIFI, bare
from cranewatch.sources.batch import RawBatch

ETH_IP4 = 0x0800
ETH_IP6 = 0x86DD
VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
MAX_VLAN_TAGS = 4
MAX_IP6_EXT = 8
WINDOW = 128  # bytes of each packet copied into the dense header block (== PAD)
V4_MAPPED = np.uint64(0x0000FFFF_00000000)

LINK_NULL = 0
LINK_ETHERNET = 1
LINK_RAW = (101, 12, 14)
LINK_IPV4 = 228
LINK_IPV6 = 229
LINK_LOOP = 108
LINK_SLL = 113
LINK_SLL2 = 276
LINK_PPP = 9
LINK_PPP_SERIAL = 50  # PPP in HDLC-like framing, or Cisco HDLC
LINK_CHDLC = 104
LINK_80211 = 105
LINK_RADIOTAP = 127
LINK_PPI = 192
LINK_NFLOG = 239  # Linux netfilter log (tcpdump -i nflog:N)
NFLOG_PAYLOAD = 9  # NFULA_PAYLOAD (linux/netfilter/nfnetlink_log.h): the packet itself
NFLOG_TLVS = 16  # TLVs walked per packet; the kernel writes about ten before the payload
MAX_DEPTH = 4  # nested frames decoded: radiotap/PPI payloads and tunnels, each one level

# AF_INET6 values seen in null/loop headers (Linux, NetBSD/OpenBSD, FreeBSD, Darwin).
_AF_INET6 = (10, 24, 28, 30)

# IPv6 extension headers we walk: hop-by-hop, routing, fragment, dest. options, AH, mobility.
_IP6_EXT = np.zeros(256, dtype=bool)
_IP6_EXT[[0, 43, 44, 51, 60, 135]] = True

_TCP, _UDP, _SCTP, _ICMP, _ICMP6 = 6, 17, 132, 1, 58
_BE = {1: np.dtype("u1"), 2: np.dtype(">u2"), 4: np.dtype(">u4"), 8: np.dtype(">u8")}
_NATIVE = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}

Rows = slice | np.ndarray  # rows of the batch: a full slice or an index array
Rel = int | np.ndarray  # an offset shared by all rows, or one per row


def _strided(buf: np.ndarray, width: int, count: int, offset: int, stride: int) -> np.ndarray:
    return np.ndarray((count,), dtype=_BE[width], buffer=buf, offset=offset, strides=(stride,))


class _Window:
    """The first WINDOW bytes of every packet, with big-endian readers."""

    def __init__(self, batch: RawBatch, off: np.ndarray) -> None:
        data = np.ascontiguousarray(batch.data, dtype=np.uint8)
        if len(data) < int(off.max()) + WINDOW:  # a batch without its PAD: add some
            data = np.concatenate([data, np.zeros(WINDOW, dtype=np.uint8)])
        self.n = len(off)
        self.off = off
        self.data = data
        blocks = np.ndarray(
            (len(data) - WINDOW + 1,), dtype=f"V{WINDOW}", buffer=data, strides=(1,)
        )
        self.flat = blocks[off].view(np.uint8)
        self._flat_views = {w: _strided(self.flat, w, len(self.flat) - w + 1, 0, 1) for w in _BE}
        self._data_views = {w: _strided(data, w, len(data) - w + 1, 0, 1) for w in _BE}

    def read(self, width: int, rows: Rows, rel: Rel, k: int = 0) -> np.ndarray:
        """The `width`-byte big-endian field at rel+k of each row, as native integers."""
        if isinstance(rel, np.ndarray) and len(rel) and (rel == rel[0]).all():
            rel = int(rel[0])
        if isinstance(rel, int) and rel + k + width <= WINDOW:
            col = _strided(self.flat, width, self.n, rel + k, WINDOW)
            return col[rows].astype(_NATIVE[width])
        idx = np.arange(self.n)[rows]
        pos = np.broadcast_to(np.asarray(rel, dtype=np.int64) + k, idx.shape)
        inside = pos + width <= WINDOW
        vals = self._flat_views[width][idx * WINDOW + np.where(inside, pos, 0)].astype(
            _NATIVE[width]
        )
        if not inside.all():
            far = np.flatnonzero(~inside)
            at = np.minimum(self.off[idx[far]] + pos[far], len(self.data) - width)
            vals[far] = self._data_views[width][at]
        return vals


def _rows(mask: np.ndarray) -> Rows | None:
    """Rows where mask holds: a full slice (no copy) when all do, None when none do."""
    if mask.all():
        return slice(None)
    idx = np.flatnonzero(mask)
    return idx if len(idx) else None


def _layouts(rows: Rows, rel: np.ndarray, most: int = 4):
    """Split rows into groups sharing one relative offset, so reads stay strided views.

    Yields (rows, offset): offset is an int for a uniform group; with more than
    `most` distinct offsets (malformed traffic) one group keeps per-row offsets.
    """
    counts = np.bincount(rel)
    values = np.flatnonzero(counts)
    if len(values) == 1:
        yield rows, int(values[0])
    elif len(values) > most:
        yield rows, rel
    else:
        idx = np.arange(len(rel)) if isinstance(rows, slice) else rows
        for value in values.tolist():
            yield idx[rel == value], value


def _set(p: Packets, name: str, rows: Rows, values: np.ndarray) -> None:
    """Write a column for some rows; for all rows, adopt the array instead of copying."""
    col = getattr(p, name)
    if isinstance(rows, slice) and np.ndim(values) == 1:
        setattr(p, name, values.astype(col.dtype, copy=False))
    else:
        col[rows] = values


def _sub(rows: Rows, mask: np.ndarray) -> Rows | None:
    """The rows (of a selection) where mask (over that selection) holds."""
    if isinstance(rows, slice):
        return _rows(mask)
    idx = rows[mask]
    return idx if len(idx) else None


def _empty(batch: RawBatch) -> Packets:
    n = len(batch)

    def z(dtype: type) -> np.ndarray:
        return np.zeros(n, dtype=dtype)

    def neg() -> np.ndarray:
        return np.full(n, -1, dtype=np.int64)

    return Packets(
        ts=np.asarray(batch.ts, dtype=np.float64),
        caplen=np.asarray(batch.caplens, dtype=np.int32),
        wirelen=np.asarray(batch.wirelens, dtype=np.int32),
        linktype=np.asarray(batch.linktypes, dtype=np.uint16),
        supported=z(bool),
        has_mac=z(bool),
        src_mac=z(np.uint64),
        dst_mac=z(np.uint64),
        vlan=z(np.uint16),
        ethertype=z(np.uint16),
        l3_off=neg(),
        ip_ver=z(np.uint8),
        src_hi=z(np.uint64),
        src_lo=z(np.uint64),
        dst_hi=z(np.uint64),
        dst_lo=z(np.uint64),
        ttl=z(np.uint8),
        proto=z(np.uint8),
        frag=z(bool),
        sport=z(np.uint16),
        dport=z(np.uint16),
        tcp_flags=z(np.uint8),
        l4_off=neg(),
        payload_off=neg(),
        payload_len=z(np.int32),
        ip_len=z(np.int32),
    )


# ---------------------------------------------------------------------------- link layers
# Each fills the link columns of its rows and returns the relative L3 offset (-1 none).


def _walk_tags(win: _Window, rows: Rows, et: np.ndarray, pos: np.ndarray, cap: np.ndarray):
    """Skip up to MAX_VLAN_TAGS 802.1Q/802.1ad/0x9100 tags; vlan is the outermost id."""
    vlan = np.zeros(len(et), dtype=np.uint16)
    for depth in range(MAX_VLAN_TAGS):
        tagged = (et == VLAN_TPIDS[0]) | (et == VLAN_TPIDS[1]) | (et == VLAN_TPIDS[2])
        if not tagged.any():
            break
        tagged &= pos + 4 <= cap
        sel = np.flatnonzero(tagged)
        if not len(sel):
            break
        word = win.read(4, np.arange(win.n)[rows][sel], pos[sel])
        if depth == 0:
            vlan[sel] = (word >> 16) & 0x0FFF
        et[sel] = word & 0xFFFF
        pos[sel] += 4
    return vlan, et, pos


def _ethernet(win: _Window, p: Packets, rows: Rows, cap: np.ndarray, _level=None) -> np.ndarray:
    ok = cap >= 14
    dst = win.read(8, rows, 0) >> 16
    src = win.read(8, rows, 6) >> 16
    et = win.read(2, rows, 12)
    vlan, et, pos = _walk_tags(win, rows, et, np.full(len(et), 14, dtype=np.int32), cap)
    if not ok.all():
        bad = ~ok
        dst[bad] = src[bad] = 0
        et[bad] = vlan[bad] = 0
        pos[bad] = -1
    for name, values in (("has_mac", ok), ("src_mac", src), ("dst_mac", dst), ("vlan", vlan)):
        _set(p, name, rows, values)
    _set(p, "ethertype", rows, et)
    return pos


def _cooked(win, p, rows, cap, hdr: int, alen_width: int, alen_at: int, addr_at: int, et_at: int):
    """Linux cooked headers (SLL, SLL2): a source address, no destination (dst_mac 0)."""
    ok = cap >= hdr
    has_mac = ok & (win.read(alen_width, rows, alen_at) == 6)
    src = np.where(has_mac, win.read(8, rows, addr_at) >> 16, np.uint64(0))
    et = np.where(ok, win.read(2, rows, et_at), 0).astype(np.uint16)
    vlan, et, pos = _walk_tags(win, rows, et, np.full(len(et), hdr, dtype=np.int32), cap)
    pos[~ok] = -1
    p.has_mac[rows] = has_mac
    p.src_mac[rows] = src
    p.vlan[rows] = vlan
    p.ethertype[rows] = et
    return pos


def _sll(win, p, rows, cap, _level=None):
    # packet type(2) ARPHRD(2) address length(2) address(8) protocol(2)
    return _cooked(win, p, rows, cap, 16, 2, 4, 6, 14)


def _sll2(win, p, rows, cap, _level=None):
    # protocol(2) reserved(2) ifindex(4) ARPHRD(2) packet type(1) address length(1) address(8)
    return _cooked(win, p, rows, cap, 20, 1, 11, 12, 0)


def _raw(win, p, rows, cap, _level=None, force: int = 0):
    ok = cap >= 1
    if force:
        et = np.full(len(cap), force, dtype=np.uint16)
    else:
        version = win.read(1, rows, 0) >> 4
        et = np.where(version == 4, ETH_IP4, np.where(version == 6, ETH_IP6, 0)).astype(np.uint16)
    et[~ok] = 0
    p.ethertype[rows] = et
    return np.where(ok, 0, -1)


def _null(win, p, rows, cap, _level=None):
    """BSD null (family in the writer's byte order) and loop (network order)."""
    ok = cap >= 4
    be = win.read(4, rows, 0)
    family = np.where(be > 0xFFFF, be.byteswap(), be)
    et = np.where(family == 2, ETH_IP4, 0).astype(np.uint16)
    et[np.isin(family, _AF_INET6)] = ETH_IP6
    et[~ok] = 0
    p.ethertype[rows] = et
    return np.where(ok, 4, -1)


def _nflog(win, p, rows, cap, _level=None):
    """Linux NFLOG: family, version, group (4 bytes), then TLVs; the packet is the payload TLV.

    A TLV's length and type are in the byte order of the host that captured
    (libpcap's LINKTYPE_NFLOG): little-endian unless the first TLV's length
    only makes sense read big-endian. All rows walk their TLVs together, a
    bounded number of steps; a length under 4 ends a row's walk.
    """
    family = win.read(1, rows, 0)
    rel3 = np.full(len(cap), -1, dtype=np.int64)
    pos = np.full(len(cap), 4, dtype=np.int64)
    first = win.read(2, rows, 4).byteswap()
    little = (first >= 4) & (first <= cap - 4)
    for _ in range(NFLOG_TLVS):
        live = (rel3 < 0) & (pos + 4 <= cap)
        if not live.any():
            break
        length, kind = win.read(2, rows, pos), win.read(2, rows, pos, 2)
        length = np.where(little, length.byteswap(), length).astype(np.int64)
        kind = np.where(little, kind.byteswap(), kind) & 0x3FFF  # less the netlink flag bits
        found = live & (kind == NFLOG_PAYLOAD) & (length >= 4)
        rel3[found] = pos[found] + 4
        pos = np.where(live & ~found & (length >= 4), pos + ((length + 3) & ~3), cap)
    et = np.where(family == 2, ETH_IP4, 0).astype(np.uint16)
    et[family == 10] = ETH_IP6
    et[rel3 < 0] = 0
    p.ethertype[rows] = et
    return np.where(et != 0, rel3, -1)


def _hdlc(win, p, rows, cap, _level=None):
    """Cisco HDLC: address, control, then a protocol field that is an EtherType (0x2000 CDP)."""
    ok = cap >= 4
    p.ethertype[rows] = np.where(ok, win.read(2, rows, 2), 0)
    return np.where(ok, 4, -1).astype(np.int32)


def _ppp(win, p, rows, cap, _level=None):
    """PPP (link type 9 and PPPoE/PPTP payloads), with or without FF 03 framing."""
    idx = np.arange(win.n)[rows]
    et, pos = tunnels.ppp_header(win, idx, np.zeros(len(idx), dtype=np.int32), cap)
    p.ethertype[rows] = et
    return np.where(et != 0, pos, -1).astype(np.int32)


def _ppp_serial(win, p, rows, cap, _level=None):
    """Link type 50: PPP in HDLC-like framing (FF 03), or Cisco HDLC (0F / 8F)."""
    rel3 = _ppp(win, p, rows, cap)
    chdlc = (win.read(1, rows, 0) & 0x7F) == 0x0F
    if chdlc.any():
        idx = np.arange(win.n)[rows][chdlc]
        rel3[chdlc] = _hdlc(win, p, idx, cap[chdlc])
    return rel3


def _bare(win, p, rows, cap, level):
    """A tunnel payload with no link header: its EtherType is in the kind."""
    ok = cap >= 1
    p.ethertype[rows] = np.where(ok, level.kinds[rows] & 0xFFFF, 0)
    return np.where(ok, 0, -1).astype(np.int32)


_LINKS = {
    LINK_ETHERNET: _ethernet,
    LINK_SLL: _sll,
    LINK_SLL2: _sll2,
    LINK_NULL: _null,
    LINK_LOOP: _null,
    LINK_IPV4: lambda w, p, r, c, _l=None: _raw(w, p, r, c, force=ETH_IP4),
    LINK_IPV6: lambda w, p, r, c, _l=None: _raw(w, p, r, c, force=ETH_IP6),
    **{code: _raw for code in LINK_RAW},
    LINK_PPP: _ppp,
    LINK_PPP_SERIAL: _ppp_serial,
    LINK_CHDLC: _hdlc,
    LINK_80211: wifi.wifi,
    LINK_RADIOTAP: wifi.radiotap,
    LINK_PPI: wifi.ppi,
    LINK_NFLOG: _nflog,
}


# Frame kinds that only occur inside tunnels (never a capture's link type).
_INNER_LINKS = {tunnels.KIND_WIFI_SWAPPED: wifi.wifi_swapped}


class _Level:
    """One level of decode: the link kind of each row, and the inner frames found in it.

    An inner frame (radiotap payload, tunnel payload) is a start and an end
    relative to the packet start plus the kind of frame found there; the arrays
    are only made when some packet has one, so plain traffic pays nothing.
    """

    __slots__ = ("kinds", "rel", "end", "kind")

    def __init__(self, kinds: np.ndarray) -> None:
        self.kinds = kinds
        self.rel = self.end = self.kind = None

    def mark(self, idx: np.ndarray, rel, end, kind) -> None:
        if not len(idx):
            return
        if self.rel is None:
            n = len(self.kinds)
            self.rel = np.full(n, -1, dtype=np.int64)
            self.end = np.zeros(n, dtype=np.int64)
            self.kind = np.zeros(n, dtype=np.int64)
        self.rel[idx] = rel
        self.end[idx] = end
        self.kind[idx] = kind


def _decode_links(win: _Window, p: Packets, cap: np.ndarray, level: _Level) -> np.ndarray:
    """Link columns of every supported packet; the relative L3 offset of each (-1 none)."""
    lt = level.kinds
    rel3 = np.full(len(lt), -1, dtype=np.int32)
    first = int(lt[0])
    if (lt == first).all():
        groups = [(first, slice(None))]
    else:
        groups = [(int(code), np.flatnonzero(lt == code)) for code in np.unique(lt)]
    for code, rows in groups:
        if KIND_ETHERTYPE <= code < 2 * KIND_ETHERTYPE:
            fn = _bare
        else:
            fn = _INNER_LINKS.get(code) or _LINKS.get(code)
        if fn is not None:
            p.supported[rows] = True
            rel3[rows] = fn(win, p, rows, cap[rows], level)
    return rel3


def _shims(win: _Window, p: Packets, rel3: np.ndarray, cap: np.ndarray, level: _Level) -> None:
    """PPPoE sessions and MPLS label stacks between the link and IP (any link type).

    PPPoE keeps the link's MACs (the client and the concentrator share the
    segment). IP under MPLS gets has_mac False: the MACs are label switch
    routers, not the hosts. An Ethernet pseudo-wire is an inner frame.
    """
    et = p.ethertype
    if not (et >= tunnels.ETH_MPLS).any():  # the smallest shim EtherType: plain traffic stops
        return
    sel = np.flatnonzero((et == tunnels.ETH_CMD) & (rel3 >= 0) & (rel3 + 8 <= cap))
    if len(sel):
        et[sel], rel3[sel] = tunnels.cisco_metadata(win, sel, True, et[sel], rel3[sel])
    sel = np.flatnonzero((et == tunnels.ETH_PPPOE) & (rel3 >= 0))
    if len(sel):
        inner, pos = tunnels.pppoe(win, sel, rel3[sel], cap[sel])
        ok = inner != 0
        et[sel[ok]] = inner[ok]
        rel3[sel[ok]] = pos[ok]
    sel = np.flatnonzero(((et == tunnels.ETH_MPLS) | (et == tunnels.ETH_MPLS_MC)) & (rel3 >= 0))
    if len(sel):
        inner, pos, pw = tunnels.mpls(win, sel, rel3[sel], cap[sel])
        ip = sel[inner != 0]
        et[ip] = inner[inner != 0]
        rel3[ip] = pos[inner != 0]
        p.has_mac[ip] = False
        p.src_mac[ip] = p.dst_mac[ip] = 0
        level.mark(sel[pw], pos[pw] + 4, cap[sel[pw]], KIND_ETHERNET)


# ---------------------------------------------------------------------------- IP layers
# Each fills the IP columns of its rows and returns (rel4, lim): the relative L4
# offset (-1 none, e.g. non-first fragments) and the end of the datagram's bytes
# actually captured (min of declared and captured end).


def _ipv4(win: _Window, p: Packets, rows: Rows, l3: Rel, cap: np.ndarray):
    vihl = win.read(1, rows, l3)
    total = win.read(2, rows, l3, 2).astype(np.int32)
    fragword = win.read(2, rows, l3, 6)
    valid = (vihl >= 0x45) & (vihl <= 0x4F) & (l3 + 20 <= cap)
    lim = np.minimum(l3 + total, cap)
    offload = total == 0  # segmentation offload: the length field is 0
    if offload.any():
        lim[offload] = cap[offload]
    l4 = ((vihl & 0xF).astype(np.int32) << 2) + l3
    frag = (fragword & 0x3FFF) != 0
    l4[~valid | ((fragword & 0x1FFF) != 0) | (l4 >= lim)] = -1
    ttl = win.read(1, rows, l3, 8)
    proto = win.read(1, rows, l3, 9)
    src = V4_MAPPED | win.read(4, rows, l3, 12)
    dst = V4_MAPPED | win.read(4, rows, l3, 16)
    if valid.all():
        _set(p, "ip_ver", rows, np.full(len(cap), 4, dtype=np.uint8))
        fields = {"src_lo": src, "dst_lo": dst, "ttl": ttl, "proto": proto, "frag": frag}
        fields["ip_len"] = total
    else:
        zero = np.uint64(0)
        _set(p, "ip_ver", rows, np.where(valid, 4, 0))
        fields = {
            "src_lo": np.where(valid, src, zero),
            "dst_lo": np.where(valid, dst, zero),
            "ttl": np.where(valid, ttl, 0),
            "proto": np.where(valid, proto, 0),
            "frag": valid & frag,
            "ip_len": np.where(valid, total, 0),
        }
    for name, values in fields.items():
        _set(p, name, rows, values)
    return l4, lim


def _ip6_walk(win: _Window, rows: Rows, valid, nh, pos, lim):
    """Walk up to MAX_IP6_EXT extension headers: (proto, L4 offset, frag, non-first frag)."""
    frag = np.zeros(len(nh), dtype=bool)
    nonfirst = np.zeros(len(nh), dtype=bool)
    all_rows = np.arange(win.n)[rows]
    for _ in range(MAX_IP6_EXT):
        walking = _IP6_EXT[nh]
        if not walking.any():
            break
        walking &= valid & ~nonfirst & (pos + 8 <= lim)
        sel = np.flatnonzero(walking)
        if not len(sel):
            break
        word = win.read(8, all_rows[sel], pos[sel])  # next header, length, (fragment fields)
        cur = nh[sel]
        hlen = ((word >> 48) & 0xFF).astype(np.int32)
        size = np.where(cur == 51, (hlen + 2) << 2, (hlen + 1) << 3)
        is_frag = cur == 44
        size[is_frag] = 8
        frag[sel] |= is_frag
        nonfirst[sel] |= is_frag & (((word >> 35) & 0x1FFF) != 0)
        nh[sel] = word >> 56
        pos[sel] += size
    return frag, nonfirst


def _ipv6(win: _Window, p: Packets, rows: Rows, l3: Rel, cap: np.ndarray):
    version = win.read(1, rows, l3) >> 4
    plen = win.read(2, rows, l3, 4).astype(np.int32)
    nh = win.read(1, rows, l3, 6)
    valid = (version == 6) & (l3 + 40 <= cap)
    lim = np.minimum(l3 + 40 + plen, cap)
    jumbo = plen == 0  # jumbogram or segmentation offload
    if jumbo.any():
        lim[jumbo] = cap[jumbo]
    pos = np.broadcast_to(l3 + 40, cap.shape).astype(np.int32)
    frag, nonfirst = _ip6_walk(win, rows, valid, nh, pos, lim)
    pos[~valid | nonfirst | _IP6_EXT[nh] | (pos >= lim)] = -1
    zero = np.uint64(0)
    _set(p, "ip_ver", rows, np.where(valid, 6, 0))
    for name, at in (("src_hi", 8), ("src_lo", 16), ("dst_hi", 24), ("dst_lo", 32)):
        _set(p, name, rows, np.where(valid, win.read(8, rows, l3, at), zero))
    _set(p, "ttl", rows, np.where(valid, win.read(1, rows, l3, 7), 0))
    _set(p, "proto", rows, np.where(valid, nh, 0))
    _set(p, "frag", rows, valid & frag)
    _set(p, "ip_len", rows, np.where(valid, 40 + plen, 0))
    return pos, lim


def _decode_l4(win: _Window, p: Packets, rows: Rows, l4: Rel, lim: np.ndarray, off):
    """Ports, TCP flags and the payload span for TCP, UDP, SCTP, ICMP and ICMPv6."""
    proto = p.proto[rows]
    room = lim - l4
    doff = (win.read(1, rows, l4, 12) >> 4).astype(np.int32) << 2
    tcp = (proto == _TCP) & (room >= 20) & (doff >= 20)
    with_ports = tcp | (((proto == _UDP) & (room >= 8)) | ((proto == _SCTP) & (room >= 12)))
    icmp = ((proto == _ICMP) | (proto == _ICMP6)) & (room >= 8)
    sport, dport = win.read(2, rows, l4), win.read(2, rows, l4, 2)
    if not with_ports.all():  # (skipping the selects when every row has ports pays for tunnels)
        sport, dport = np.where(with_ports, sport, 0), np.where(with_ports, dport, 0)
    _set(p, "sport", rows, sport)
    _set(p, "dport", rows, dport)
    _set(p, "tcp_flags", rows, np.where(tcp, win.read(1, rows, l4, 13), 0))
    hdr = doff if tcp.all() else np.where(tcp, doff, np.where(proto == _SCTP, 12, 8))
    has_payload = (with_ports | icmp) & (hdr <= room)
    base = off[rows] + l4
    _set(p, "l4_off", rows, base)
    if has_payload.all():
        _set(p, "payload_off", rows, base + hdr)
        _set(p, "payload_len", rows, room - hdr)
    else:
        _set(p, "payload_off", rows, np.where(has_payload, base + hdr, -1))
        _set(p, "payload_len", rows, np.where(has_payload, room - hdr, 0))


# ---------------------------------------------------------------------------- tunnels


def _ip_tunnels(win: _Window, p: Packets, rel4: np.ndarray, lim: np.ndarray, level: _Level):
    """Mark the inner frames of GRE, IP-in-IP and UDP tunnels (VXLAN, Geneve, CAPWAP, ...).

    One lookup per port in a small table of 16-port blocks is the whole cost for
    ordinary traffic; block 0 holds port 0, so port-less packets (GRE, IP-in-IP)
    are looked at too. The exact port and protocol checks run on those few rows.
    Non-first fragments have no L4 offset and are never decapsulated.
    """
    cand = tunnels.PORT_BLOCKS.take(p.sport >> 4)
    cand |= tunnels.PORT_BLOCKS.take(p.dport >> 4)
    if not cand.any():
        return
    sel = np.flatnonzero(cand)
    exact = tunnels.TUNNEL_PORTS.take(p.sport[sel]) | tunnels.TUNNEL_PORTS.take(p.dport[sel])
    sel = sel[exact & (rel4[sel] >= 0)]
    if not len(sel):
        return
    proto = p.proto[sel]
    for number, kind in ((4, bare(ETH_IP4)), (41, bare(ETH_IP6))):
        hit = sel[proto == number]
        level.mark(hit, rel4[hit], lim[hit], kind)
    hit = sel[proto == 47]
    if len(hit):
        ok, inner, kind = tunnels.gre(win, hit, rel4[hit], lim[hit])
        level.mark(hit[ok], inner[ok], lim[hit[ok]], kind[ok])
    udp = sel[proto == _UDP]
    if not len(udp):
        return
    ids = tunnels.udp_tunnel_ids(p.sport[udp], p.dport[udp])
    for number in np.unique(ids[ids != 0]).tolist():
        hit = udp[ids == number]
        reader = tunnels.UDP_TUNNELS[number - 1][2]
        ok, inner, kind = reader(win, hit, rel4[hit] + 8, lim[hit])
        level.mark(hit[ok], inner[ok], lim[hit[ok]], kind[ok])


# Shortest inner frame worth decoding, by kind: a tunnel whose payload is cut
# before that keeps its outer columns.
_MIN_INNER = {
    KIND_ETHERNET: 14,
    KIND_WIFI: 24,
    tunnels.KIND_WIFI_SWAPPED: 24,
    KIND_PPP: 2,
    bare(ETH_IP4): 20,
    bare(ETH_IP6): 40,
}
_IP_NIBBLE = {bare(ETH_IP4): 4, bare(ETH_IP6): 6}

# Columns that describe the innermost frame once a packet is decapsulated.
_INNER_COLUMNS = [
    name
    for name in Packets.__dataclass_fields__
    if name not in ("ts", "caplen", "wirelen", "linktype", "supported")
]


def _inner_rows(win: _Window, level: _Level) -> np.ndarray:
    """Rows whose inner frame is long enough to decode and, for bare IP, has the version."""
    idx = np.flatnonzero(level.rel >= 0)
    rel, kind = level.rel[idx], level.kind[idx]
    room = level.end[idx] - rel
    need = np.ones(len(idx), dtype=np.int64)
    for k, size in _MIN_INNER.items():
        need[kind == k] = size
    ok = (rel >= 0) & (room >= need)
    for k, version in _IP_NIBBLE.items():
        is_ip = kind == k
        if is_ip.any():
            ok[is_ip] &= (win.read(1, idx[is_ip], rel[is_ip]) >> 4) == version
    return idx[ok]


def _decapsulate(win: _Window, batch: RawBatch, p: Packets, level: _Level, depth: int) -> None:
    """Decode the inner frames as packets of their own and write their columns back.

    All columns then describe the inner packet: a tunnel's outer addresses are
    the network's, not the crane's. When the inner frame is bare IP (GRE IPv4,
    IP-in-IP, GTP-U, Teredo) has_mac is False and the MACs and VLAN are 0.
    """
    idx = _inner_rows(win, level)
    if not len(idx):
        return
    start = win.off[idx] + level.rel[idx]
    sub = RawBatch(
        data=win.data,
        offsets=start,
        caplens=(win.off[idx] + level.end[idx] - start).astype(np.int32),
        wirelens=np.asarray(batch.wirelens)[idx],
        ts=np.asarray(batch.ts)[idx],
        linktypes=np.zeros(len(idx), dtype=np.uint16),
    )
    inner = _decode(sub, level.kind[idx], depth + 1)
    for name in _INNER_COLUMNS:
        getattr(p, name)[idx] = getattr(inner, name)


# ---------------------------------------------------------------------------- entry point


def decode_l2l4(batch: RawBatch) -> Packets:
    """Decode the link, IP and transport headers of every packet of a batch.

    Unsupported link types get supported=False and nothing else. Truncated or
    malformed headers leave their columns at 0 / -1; nothing here raises on
    bad bytes, and no offset points past a packet's captured length. Tunnels
    (GRE/ERSPAN, VXLAN, Geneve, MPLS, PPPoE, CAPWAP, Teredo, AYIYA, GTP-U,
    IP-in-IP) are decapsulated up to MAX_DEPTH levels: the columns describe
    the innermost packet.
    """
    return _decode(batch, np.asarray(batch.linktypes), 0)


def _decode(batch: RawBatch, kinds: np.ndarray, depth: int) -> Packets:
    """decode_l2l4 with explicit frame kinds (link types, or tunnel payload kinds)."""
    p = _empty(batch)
    n = len(batch)
    if n == 0:
        return p
    off = np.asarray(batch.offsets, dtype=np.int64)
    cap = p.caplen
    win = _Window(batch, off)
    level = _Level(kinds)
    rel3 = _decode_links(win, p, cap, level)
    _shims(win, p, rel3, cap, level)
    has_l3 = rel3 >= 0
    p.l3_off = np.where(has_l3, off + rel3, -1)
    rel4 = np.full(n, -1, dtype=np.int32)
    lim = cap.copy()
    for ethertype, decoder in ((ETH_IP4, _ipv4), (ETH_IP6, _ipv6)):
        rows = _rows(has_l3 & (p.ethertype == ethertype))
        if rows is not None:
            for group, l3 in _layouts(rows, rel3[rows]):
                rel4[group], lim[group] = decoder(win, p, group, l3, cap[group])
    rows = _rows(rel4 >= 0)
    if rows is not None:
        for group, l4 in _layouts(rows, rel4[rows]):
            _decode_l4(win, p, group, l4, lim[group], off)
        _ip_tunnels(win, p, rel4, lim, level)
    if level.rel is not None and depth < MAX_DEPTH:
        _decapsulate(win, batch, p, level, depth)
    return p
