"""Test helpers for the columnar hot path: RawBatch builders and a per-packet reference.

The reference decoder walks one packet at a time in plain Python and lets dpkt
parse the IP, IPv6, TCP, UDP, SCTP and cooked-link headers, so the columnar
decoder is checked against code that shares none of its array tricks.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from pathlib import Path

import dpkt
import numpy as np

from cranewatch.sources.batch import PAD, RawBatch

VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)
IP6_EXT = (0, 43, 44, 51, 60, 135)
V4_MAPPED = 0x0000FFFF_00000000


def pack(records: Iterable[tuple]) -> RawBatch:
    """(ts, bytes, linktype[, wirelen]) records -> one RawBatch with PAD zeros after."""
    records = list(records)
    n = len(records)
    lens = np.array([len(r[1]) for r in records], dtype=np.int64)
    offsets = np.zeros(n, dtype=np.int64)
    if n:
        offsets[1:] = np.cumsum(lens)[:-1]
    data = np.zeros(int(lens.sum()) + PAD, dtype=np.uint8)
    if n:
        data[: int(lens.sum())] = np.frombuffer(b"".join(r[1] for r in records), dtype=np.uint8)
    wirelens = [r[3] if len(r) > 3 else len(r[1]) for r in records]
    return RawBatch(
        data=data,
        offsets=offsets,
        caplens=lens.astype(np.int32),
        wirelens=np.array(wirelens, dtype=np.int32),
        ts=np.array([float(r[0]) for r in records], dtype=np.float64),
        linktypes=np.array([r[2] & 0xFFFF for r in records], dtype=np.uint16),
    )


def read_records(path: Path) -> list[tuple[float, bytes, int]]:
    """(ts, bytes, linktype) of every packet of a pcap or pcapng file, read by dpkt."""
    with open(path, "rb") as fh:
        head = fh.read(4)
        fh.seek(0)
        reader_cls = dpkt.pcapng.Reader if head == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader
        reader = reader_cls(fh)
        linktype = reader.datalink()
        return [(float(ts), bytes(buf), linktype) for ts, buf in reader]


def read_batch(path: Path) -> RawBatch:
    return pack(read_records(path))


def split(batch: RawBatch, size: int) -> list[RawBatch]:
    """The same packets re-packed into batches of at most `size` packets."""
    out = []
    for start in range(0, len(batch), size):
        stop = min(start + size, len(batch))
        recs = [
            (batch.ts[i], batch.packet(i), int(batch.linktypes[i]), int(batch.wirelens[i]))
            for i in range(start, stop)
        ]
        out.append(pack(recs))
    return out


def _mac(b: bytes) -> int:
    return int.from_bytes(b[:6], "big")


def _ip_pair(raw: bytes) -> tuple[int, int]:
    if len(raw) == 4:
        return 0, V4_MAPPED | int.from_bytes(raw, "big")
    value = int.from_bytes(raw, "big")
    return value >> 64, value & 0xFFFFFFFFFFFFFFFF


def _ref_nflog(buf: bytes, out: dict) -> None:
    """NFLOG as tcpdump's print-nflog.c reads it, TLVs in the capturing host's byte order.

    That order is not in the record: little-endian unless the first TLV's
    length read so cannot be right (under 4, or past the packet).
    """
    if len(buf) < 4 or buf[0] not in (2, 10):
        return
    order = "<"
    if len(buf) >= 6:
        (first,) = struct.unpack("<H", buf[4:6])
        if not 4 <= first <= len(buf) - 4:
            order = ">"
    pos = 4
    for _ in range(16):
        if pos + 4 > len(buf):
            return
        length, kind = struct.unpack(order + "HH", buf[pos : pos + 4])
        if length < 4:
            return
        if kind & 0x3FFF == 9:
            out.update(ethertype=0x0800 if buf[0] == 2 else 0x86DD, l3=pos + 4)
            return
        pos += (length + 3) & ~3


def ref_link(buf: bytes, linktype: int) -> dict | None:
    """Link layer of one packet: has_mac, src/dst MAC, vlan, ethertype, l3 (offset or -1)."""
    out = {"has_mac": False, "src_mac": 0, "dst_mac": 0, "vlan": 0, "ethertype": 0, "l3": -1}
    if linktype == 1:
        if len(buf) < 14:
            return out
        eth = dpkt.ethernet.Ethernet.__new__(dpkt.ethernet.Ethernet)
        dpkt.Packet.unpack(eth, buf)  # header fields only, no heuristics
        out.update(has_mac=True, src_mac=_mac(eth.src), dst_mac=_mac(eth.dst))
        et, pos = eth.type, 14
        for depth in range(4):
            if et not in VLAN_TPIDS or pos + 4 > len(buf):
                break
            tci, et = struct.unpack(">HH", buf[pos : pos + 4])
            if depth == 0:
                out["vlan"] = tci & 0xFFF
            pos += 4
        out.update(ethertype=et, l3=pos)
    elif linktype in (113, 276):
        hdr = 16 if linktype == 113 else 20
        if len(buf) < hdr:
            return out
        if linktype == 113:
            sll = dpkt.sll.SLL(buf)
            alen, addr, et = sll.hlen, sll.hdr, sll.ethtype
        else:
            sll = dpkt.sll2.SLL2(buf)
            alen, addr, et = sll.hlen, sll.hdr, sll.ethtype
        if alen == 6:
            out.update(has_mac=True, src_mac=_mac(addr))
        pos = hdr
        for depth in range(4):
            if et not in VLAN_TPIDS or pos + 4 > len(buf):
                break
            tci, et = struct.unpack(">HH", buf[pos : pos + 4])
            if depth == 0:
                out["vlan"] = tci & 0xFFF
            pos += 4
        out.update(ethertype=et, l3=pos)
    elif linktype in (101, 12, 14, 228, 229):
        if not buf:
            return out
        version = buf[0] >> 4
        et = {4: 0x0800, 6: 0x86DD}.get(version, 0)
        if linktype == 228:
            et = 0x0800
        elif linktype == 229:
            et = 0x86DD
        out.update(ethertype=et, l3=0)
    elif linktype in (0, 108):
        if len(buf) < 4:
            return out
        (family,) = struct.unpack(">I", buf[:4])
        if family > 0xFFFF:
            (family,) = struct.unpack("<I", buf[:4])
        et = 0x0800 if family == 2 else 0x86DD if family in (10, 24, 28, 30) else 0
        out.update(ethertype=et, l3=4)
    elif linktype == 239:
        _ref_nflog(buf, out)
    elif not _ref_new_link(buf, linktype, out):
        return None
    if out["l3"] >= 0:
        _ref_shims(buf, out)
    return out


def ref_decode(buf: bytes, linktype: int, depth: int = 0) -> dict:
    """Every Packets column for one packet (offsets relative to the packet start).

    Tunnels are decapsulated (see _ref_tunnel): the columns then describe the
    innermost packet, as decode_l2l4 promises.
    """
    out = _ref_decode_outer(buf, linktype)
    inner = out.pop("inner", None)
    lim = out.pop("lim", len(buf))
    if inner is None and out["l4"] >= 0:
        inner = _ref_tunnel(buf, out, lim)
    if inner is not None and depth < REF_MAX_DEPTH and _ref_inner_ok(buf, *inner):
        start, end, kind = inner
        sub = ref_decode(buf[start:end], kind, depth + 1)
        for key in ("l3", "l4", "payload"):
            if sub[key] >= 0:
                sub[key] += start
        sub.pop("supported")
        out.update(sub)
    return out


def _ref_decode_outer(buf: bytes, linktype: int) -> dict:
    link = ref_link(buf, linktype)
    out = {
        "supported": link is not None,
        "ip_ver": 0,
        "src": (0, 0),
        "dst": (0, 0),
        "ttl": 0,
        "proto": 0,
        "frag": False,
        "sport": 0,
        "dport": 0,
        "tcp_flags": 0,
        "l4": -1,
        "payload": -1,
        "payload_len": 0,
        "ip_len": 0,
    }
    if link is None:
        out.update(has_mac=False, src_mac=0, dst_mac=0, vlan=0, ethertype=0, l3=-1)
        return out
    out.update(link)
    l3 = link["l3"]
    if l3 < 0:
        return out
    if link["ethertype"] == 0x0800:
        l4, lim = _ref_ip4(buf, l3, out)
    elif link["ethertype"] == 0x86DD:
        l4, lim = _ref_ip6(buf, l3, out)
    else:
        return out
    out["lim"] = lim
    if l4 >= 0 and l4 < lim:
        out["l4"] = l4
        _ref_l4(buf[l4:lim], l4, out)
    return out


def _ref_ip4(buf: bytes, l3: int, out: dict) -> tuple[int, int]:
    try:
        ip = dpkt.ip.IP(buf[l3:])
    except (dpkt.UnpackError, dpkt.NeedData):
        return -1, 0
    if ip.v != 4:
        return -1, 0
    out.update(
        ip_ver=4,
        src=_ip_pair(ip.src),
        dst=_ip_pair(ip.dst),
        ttl=ip.ttl,
        proto=ip.p,
        frag=bool(ip.mf or ip.offset),
        ip_len=ip.len,
    )
    lim = len(buf) if ip.len == 0 else min(len(buf), l3 + ip.len)
    if ip.offset:
        return -1, lim
    return l3 + ip.hl * 4, lim


def _ref_ip6(buf: bytes, l3: int, out: dict) -> tuple[int, int]:
    if len(buf) - l3 < 40:
        return -1, 0
    ip6 = dpkt.ip6.IP6.__new__(dpkt.ip6.IP6)
    dpkt.Packet.unpack(ip6, buf[l3 : l3 + 40])  # fixed header only
    if ip6.v != 6:
        return -1, 0
    lim = len(buf) if ip6.plen == 0 else min(len(buf), l3 + 40 + ip6.plen)
    nh, pos, frag, nonfirst = ip6.nxt, l3 + 40, False, False
    for _ in range(8):
        if nh not in IP6_EXT or pos + 8 > lim:
            break
        if nh == 44:
            fh = dpkt.ip6.IP6FragmentHeader(buf[pos : pos + 8])
            frag, nonfirst, size = True, fh.frag_off != 0, 8
        elif nh == 51:
            size = (buf[pos + 1] + 2) * 4
        else:
            size = (buf[pos + 1] + 1) * 8
        nh = buf[pos]
        pos += size
        if nonfirst:
            break
    out.update(
        ip_ver=6,
        src=_ip_pair(ip6.src),
        dst=_ip_pair(ip6.dst),
        ttl=ip6.hlim,
        proto=nh,
        frag=frag,
        ip_len=40 + ip6.plen,
    )
    if nonfirst or nh in IP6_EXT:
        return -1, lim
    return pos, lim


def _ref_l4(seg: bytes, l4: int, out: dict) -> None:
    proto = out["proto"]
    try:
        if proto == 6:
            tcp = dpkt.tcp.TCP(seg)
            hdr = tcp.off * 4
            out.update(sport=tcp.sport, dport=tcp.dport, tcp_flags=tcp.flags & 0xFF)
        elif proto == 17:
            udp = dpkt.udp.UDP(seg)
            hdr = 8
            out.update(sport=udp.sport, dport=udp.dport)
        elif proto == 132:
            sctp = dpkt.sctp.SCTP.__new__(dpkt.sctp.SCTP)
            dpkt.Packet.unpack(sctp, seg)  # common header only
            hdr = 12
            out.update(sport=sctp.sport, dport=sctp.dport)
        elif proto in (1, 58) and len(seg) >= 8:
            hdr = 8
        else:
            return
    except (dpkt.UnpackError, dpkt.NeedData, struct.error):
        return
    if hdr <= len(seg):
        out.update(payload=l4 + hdr, payload_len=len(seg) - hdr)


def ref_flows(records: Iterable[tuple], restart: float = 1.0, cap: int = 2000) -> dict:
    """Flows computed one packet at a time from the reference decoder.

    Key: (proto, frozenset of (ip pair, port) endpoints). Values: dict with the
    Flow field names, to compare with FlowTable.flows().
    """
    from cranewatch.decode.addr import ip_str, mac_str

    flows: dict = {}
    for rec in records:
        ts, buf, linktype = float(rec[0]), rec[1], rec[2]
        wirelen = rec[3] if len(rec) > 3 else len(buf)
        r = ref_decode(buf, linktype)
        if r["ip_ver"] == 0:
            continue
        src = (ip_str(*r["src"]), r["sport"])
        dst = (ip_str(*r["dst"]), r["dport"])
        key = (r["proto"], tuple(sorted([src, dst])))
        f = flows.get(key)
        if f is None:
            synack = r["proto"] == 6 and (r["tcp_flags"] & 0x12) == 0x12
            orig, resp = (dst, src) if synack else (src, dst)
            f = flows[key] = {
                "proto": r["proto"],
                "orig_ip": orig[0],
                "orig_port": orig[1],
                "resp_ip": resp[0],
                "resp_port": resp[1],
                "first_ts": ts,
                "last_ts": ts,
                "orig_pkts": 0,
                "resp_pkts": 0,
                "orig_bytes": 0,
                "resp_bytes": 0,
                "orig_flags": 0,
                "resp_flags": 0,
                "orig_mac": None,
                "orig_next_hop": None,
                "resp_mac": None,
                "orig_ttl": 0,
                "resp_ttl": 0,
                "vlan": r["vlan"],
                "starts": [],
                "_seen": set(),
                "_prev": None,
            }
        side = "orig" if src == (f["orig_ip"], f["orig_port"]) else "resp"
        f[side + "_pkts"] += 1
        f[side + "_bytes"] += wirelen
        f[side + "_flags"] |= r["tcp_flags"]
        if side not in f["_seen"]:
            f["_seen"].add(side)
            f[side + "_ttl"] = r["ttl"]
            if r["has_mac"]:
                f[side + "_mac"] = mac_str(r["src_mac"])
                if side == "orig" and r["dst_mac"]:
                    f["orig_next_hop"] = mac_str(r["dst_mac"])
        prev = f["_prev"]
        if side == "orig" and (prev is None or ts - prev >= restart) and len(f["starts"]) < cap:
            f["starts"].append(ts)
        f["_prev"] = ts
        f["first_ts"] = min(f["first_ts"], ts)
        f["last_ts"] = max(f["last_ts"], ts)
    for f in flows.values():
        del f["_seen"], f["_prev"]
    return flows


def _eth(src: int, dst: int, ethertype: int, payload: bytes, tags: tuple[int, ...] = ()) -> bytes:
    head = dst.to_bytes(6, "big") + src.to_bytes(6, "big")
    for i, vid in enumerate(tags):
        tpid = 0x88A8 if i == 0 and len(tags) > 1 else 0x8100
        head += struct.pack(">HH", tpid, vid)
    return head + struct.pack(">H", ethertype) + payload


def _l4(rng, proto: int, sport: int, dport: int, flags: int, v6: bool) -> bytes:
    data = bytes(rng.randrange(256) for _ in range(rng.choice((0, 0, 5, 40, 300))))
    if proto == 6:
        opts = b"\x01\x01\x01\x01" * rng.choice((0, 0, 1, 3))
        tcp = dpkt.tcp.TCP(sport=sport, dport=dport, flags=flags, opts=opts, data=data)
        tcp.off = 5 + len(opts) // 4
        return bytes(tcp)
    if proto == 17:
        udp = dpkt.udp.UDP(sport=sport, dport=dport, data=data)
        udp.ulen = len(udp)
        return bytes(udp)
    icmp_type = 128 if v6 else 8
    return bytes(dpkt.icmp.ICMP(type=icmp_type, code=0, data=b"\x00\x01\x00\x02" + data))


def generate_records(n: int = 20_000, seed: int = 7) -> list[tuple[float, bytes, int, int]]:
    """A mixed Ethernet capture built with dpkt: TCP/UDP/ICMP over IPv4 and IPv6
    (some with a hop-by-hop header), 802.1Q and QinQ tags, IPv4 fragments,
    SYN-ACK-first TCP, idle gaps, ARP, truncated captures (wirelen > caplen)."""
    import random

    rng = random.Random(seed)
    macs = [0x0200_0000_0000 | rng.randrange(1 << 32) for _ in range(40)]
    macs[0] = 0x001B_1B00_0001  # a router, globally administered
    v4 = [bytes((10, 0, rng.randrange(4), rng.randrange(1, 255))) for _ in range(60)]
    v4 += [bytes((rng.randrange(1, 223), rng.randrange(256), 7, 9)) for _ in range(20)]
    v6 = [b"\xfd\x00" + bytes(rng.randrange(256) for _ in range(14)) for _ in range(20)]
    flows = []
    for _ in range(700):
        six = rng.random() < 0.2
        proto = rng.choice((6, 6, 17, 17, 1 if not six else 58))
        a, b = rng.sample(v6, 2) if six else rng.sample(v4, 2)
        ports = (rng.randrange(1024, 65535), rng.choice((80, 443, 502, 53, 44818, 102)))
        if proto in (1, 58):
            ports = (0, 0)
        flows.append(
            {
                "proto": proto,
                "six": six,
                "ends": (a, b),
                "ports": ports,
                "macs": rng.sample(macs, 2),
                "tags": rng.choice(((), (), (5,), (7, 300))),
                "ttl": (rng.choice((64, 128, 255)), rng.choice((63, 127, 254))),
                "synack_first": rng.random() < 0.1,
                "n": 0,
            }
        )
    out = []
    ts = 1_700_000_000.0
    for i in range(n):
        ts += rng.choice((0.0001, 0.001, 0.01, 0.2, 1.5)) if rng.random() < 0.9 else 3.0
        if rng.random() < 0.01:
            arp = dpkt.arp.ARP(sha=macs[1].to_bytes(6, "big"), spa=v4[1], tpa=v4[2])
            frame = _eth(macs[1], 0xFFFFFFFFFFFF, 0x0806, bytes(arp))
            out.append((ts, frame, 1, len(frame)))
            continue
        f = rng.choice(flows)
        d = 1 if f["n"] == 0 and f["synack_first"] else rng.randrange(2)
        f["n"] += 1
        flags = 0
        if f["proto"] == 6:
            flags = (
                0x12
                if (f["n"] == 1 and f["synack_first"])
                else rng.choice((0x02, 0x10, 0x18, 0x11, 0x04))
            )
        sport, dport = f["ports"] if d == 0 else f["ports"][::-1]
        src, dst = f["ends"] if d == 0 else f["ends"][::-1]
        payload = _l4(rng, f["proto"], sport, dport, flags, f["six"])
        if f["six"]:
            nxt, body = f["proto"], payload
            if rng.random() < 0.3:
                nxt, body = 0, bytes((f["proto"], 0, 1, 4, 0, 0, 0, 0)) + payload
            ip6 = dpkt.ip6.IP6(src=src, dst=dst, nxt=nxt, hlim=f["ttl"][d], data=body)
            ip6.plen = len(body)
            frame = _eth(f["macs"][d], f["macs"][1 - d], 0x86DD, bytes(ip6), f["tags"])
            out.append((ts, frame, 1, len(frame)))
            continue
        ip = dpkt.ip.IP(src=src, dst=dst, p=f["proto"], ttl=f["ttl"][d], id=i & 0xFFFF)
        if f["proto"] == 17 and len(payload) > 100 and rng.random() < 0.5:
            for off, part, mf in ((0, payload[:96], 1), (12, payload[96:], 0)):
                frag = dpkt.ip.IP(src=src, dst=dst, p=17, ttl=f["ttl"][d], id=i & 0xFFFF)
                frag.offset, frag.mf = off, mf
                frag.data = part
                frame = _eth(f["macs"][d], f["macs"][1 - d], 0x0800, bytes(frag), f["tags"])
                out.append((ts, frame, 1, len(frame)))
            continue
        ip.data = payload
        frame = _eth(f["macs"][d], f["macs"][1 - d], 0x0800, bytes(ip), f["tags"])
        wirelen = len(frame)
        if len(frame) > 120 and rng.random() < 0.1:
            frame = frame[: rng.randrange(14, 120)]  # snaplen cut
        out.append((ts, frame, 1, wirelen))
    return out


def ref_hosts(records: Iterable[tuple]) -> dict:
    """HostTable's results computed one packet at a time from the reference decoder."""
    from cranewatch.decode.addr import ip_str

    macs: dict = {}
    recv: dict = {}
    pairs: dict = {}
    ips: dict = {}
    for rec in records:
        ts, buf, linktype = float(rec[0]), rec[1], rec[2]
        wirelen = rec[3] if len(rec) > 3 else len(buf)
        r = ref_decode(buf, linktype)
        ip = ip_str(*r["src"]) if r["ip_ver"] else None
        if r["has_mac"]:
            src, dst = r["src_mac"], r["dst_mac"]
            if src and not (src >> 40) & 1:
                m = macs.setdefault(src, [0, 0, ts, ts, set(), set()])
                m[0] += 1
                m[1] += wirelen
                m[2], m[3] = min(m[2], ts), max(m[3], ts)
                if ip:
                    m[4].add(r["ttl"])
                m[5].add(r["vlan"])
            if dst and not (dst >> 40) & 1:
                d = recv.setdefault(dst, [0, 0])
                d[0] += 1
                d[1] += wirelen
            if ip:
                pr = pairs.setdefault((src, ip), [0, ts, ts])
                pr[0] += 1
                pr[1], pr[2] = min(pr[1], ts), max(pr[2], ts)
        elif ip:
            i = ips.setdefault(ip, [0, 0, ts, ts])
            i[0] += 1
            i[1] += wirelen
            i[2], i[3] = min(i[2], ts), max(i[3], ts)
    out_macs = {
        m: (v[0], v[1], *recv.get(m, (0, 0)), v[2], v[3], sorted(v[4]), sorted(v[5]))
        for m, v in macs.items()
    }
    return {
        "macs": out_macs,
        "pairs": {k: tuple(v) for k, v in pairs.items()},
        "ips": {k: tuple(v) for k, v in ips.items()},
    }


def host_results(table) -> dict:
    """HostTable results in ref_hosts' shape."""
    macs = {
        m: (
            s.pkts_sent,
            s.bytes_sent,
            s.pkts_recv,
            s.bytes_recv,
            s.first_ts,
            s.last_ts,
            s.ttls,
            s.vlans,
        )
        for m, s in table.macs().items()
    }
    pairs = {k: (s.pkts, s.first_ts, s.last_ts) for k, s in table.mac_ips().items()}
    ips = {k: (s.pkts, s.bytes, s.first_ts, s.last_ts) for k, s in table.ips_without_mac().items()}
    return {"macs": macs, "pairs": pairs, "ips": ips}


# ---------------------------------------------------------------------------- tunnels
# A plain per-packet walk of the link types and tunnels decode_l2l4 follows,
# written from the protocol specs one packet at a time (no shared code with
# decode/tunnels.py or decode/wifi.py).

REF_MAX_DEPTH = 4
BARE = 1 << 16  # kind of a bare payload: BARE | EtherType
WIFI_SWAPPED = 1 << 17
PPP_TO_ET = {0x0021: 0x0800, 0x0057: 0x86DD, 0x0281: 0x8847, 0x0283: 0x8848}
MIN_INNER = {1: 14, 105: 24, WIFI_SWAPPED: 24, 9: 2, BARE | 0x0800: 20, BARE | 0x86DD: 40}


def _u16(buf: bytes, at: int) -> int:
    return int.from_bytes(buf[at : at + 2], "big")


def _ref_ppp(buf: bytes, pos: int) -> tuple[int, int]:
    """(EtherType or 0, payload position) of a PPP header at pos."""
    if buf[pos : pos + 2] == b"\xff\x03":
        pos += 2
    if pos >= len(buf):
        return 0, pos
    if buf[pos] & 1:
        return PPP_TO_ET.get(buf[pos], 0), pos + 1
    if pos + 2 > len(buf):
        return 0, pos + 2
    return PPP_TO_ET.get(_u16(buf, pos), 0), pos + 2


def _ref_wifi(buf: bytes, swapped: bool, out: dict) -> None:
    if len(buf) < 2:
        return
    fc0, flags = (buf[1], buf[0]) if swapped else (buf[0], buf[1])
    if fc0 & 0x0F != 0x08:  # version 0, data frame
        return
    qos = bool(fc0 & 0x80)
    to_ds, from_ds = bool(flags & 1), bool(flags & 2)
    base = 30 if to_ds and from_ds else 24
    hdr = base + (2 if qos else 0) + (4 if qos and flags & 0x80 else 0)
    if len(buf) < hdr:
        return
    a = [_mac(buf[at : at + 6]) for at in (4, 10, 16)]
    da = a[2] if to_ds else a[0]
    sa = _mac(buf[24:30]) if to_ds and from_ds else a[2] if from_ds else a[1]
    out.update(has_mac=True, src_mac=sa, dst_mac=da)
    if fc0 & 0x40 or flags & 0x40:  # null function or protected: no payload
        return
    if qos and buf[base] & 0x80:  # A-MSDU: first subframe
        if hdr + 14 > len(buf):
            return
        out.update(dst_mac=_mac(buf[hdr : hdr + 6]), src_mac=_mac(buf[hdr + 6 : hdr + 12]))
        hdr += 14
    if hdr + 8 > len(buf) or buf[hdr : hdr + 6] not in (
        bytes.fromhex("aaaa03000000"),
        bytes.fromhex("aaaa030000f8"),
    ):
        return
    out.update(ethertype=_u16(buf, hdr + 6), l3=hdr + 8)


def _ref_new_link(buf: bytes, linktype: int, out: dict) -> bool:
    """Link types added with tunnels; False when unsupported."""
    if linktype == 104 or (linktype == 50 and buf and buf[0] & 0x7F == 0x0F):
        if len(buf) >= 4:
            out.update(ethertype=_u16(buf, 2), l3=4)
    elif linktype in (9, 50):
        et, pos = _ref_ppp(buf, 0)
        if et:
            out.update(ethertype=et, l3=pos)
    elif linktype in (105, WIFI_SWAPPED):
        _ref_wifi(buf, linktype == WIFI_SWAPPED, out)
    elif linktype in (127, 192):
        if len(buf) < 8 or buf[0] != 0:
            return True
        length = int.from_bytes(buf[2:4], "little")
        inner = 105
        if linktype == 192:
            inner = int.from_bytes(buf[4:8], "little")
            if inner not in (1, 105):
                return True
        if 8 <= length < len(buf):
            out["inner"] = (length, len(buf), inner)
    elif BARE <= linktype < 2 * BARE:
        if buf:
            out.update(ethertype=linktype & 0xFFFF, l3=0)
    else:
        return False
    return True


def _ref_shims(buf: bytes, out: dict) -> None:
    """Cisco MetaData, PPPoE session and MPLS between the link header and IP."""
    pos, et = out["l3"], out["ethertype"]
    if et == 0x8909 and pos + 8 <= len(buf):
        et, pos = _u16(buf, pos + 6), pos + 8
    if et == 0x8864 and pos + 8 <= len(buf) and buf[pos : pos + 2] == b"\x11\x00":
        inner = PPP_TO_ET.get(_u16(buf, pos + 6), 0)
        if inner:
            et, pos = inner, pos + 8
    if et in (0x8847, 0x8848):
        at, bottom = pos, 0
        for _ in range(8):
            if at + 4 > len(buf):
                break
            bottom = buf[at + 2] & 1
            at += 4
            if bottom:
                break
        if bottom and at < len(buf):
            nibble = buf[at] >> 4
            if nibble in (4, 6):
                et, pos = (0x0800 if nibble == 4 else 0x86DD), at
                out.update(has_mac=False, src_mac=0, dst_mac=0)
            elif nibble == 0 and at + 4 + 14 <= len(buf):
                out["inner"] = (at + 4, len(buf), 1)
    out.update(ethertype=et, l3=pos)


def _ref_gre(buf: bytes, pos: int, end: int):
    if pos + 4 > end:
        return None
    flags, proto = _u16(buf, pos), _u16(buf, pos + 2)
    version = flags & 7
    if version == 1:
        if proto != 0x880B or not flags & 0x2000:
            return None
        inner = pos + 8 + (4 if flags & 0x1000 else 0) + (4 if flags & 0x0080 else 0)
        return (inner, 9) if inner <= end else None
    if version != 0 or flags & 0x4000:
        return None
    inner = pos + 4
    inner += 4 if flags & 0x8000 else 0
    inner += 4 if flags & 0x2000 else 0
    inner += 4 if flags & 0x1000 else 0
    if proto == 0x8909:  # Cisco MetaData: EtherType first under GRE
        proto, inner = _u16(buf, inner), inner + 8
    if proto in (0x0800, 0x86DD, 0x8847, 0x8848, 0x2000, 0x0806):
        kind = BARE | proto
    elif proto == 0x6558:
        kind = 1
    elif proto == 0x880B:
        kind = 9
    elif proto == 0x88BE:
        kind, inner = 1, inner + (8 if flags & 0x1000 else 0)
    elif proto == 0x22EB:
        if inner + 12 > end:
            return None
        tail = _u16(buf, inner + 10)
        if (tail >> 10) & 0x1F:
            return None
        kind, inner = 1, inner + 12 + (8 if tail & 1 else 0)
    else:
        return None
    return (inner, kind) if inner <= end else None


UDP_DST_ONLY = {6081: "geneve", 2152: "gtpu", 6635: "mpls", 4754: "gre"}
UDP_EITHER = {4789: "vxlan", 8472: "vxlan", 5247: "capwap", 3544: "teredo", 5072: "ayiya"}


def _ref_udp_tunnel(buf: bytes, sport: int, dport: int, pos: int, end: int):
    """The tunnel named by the destination port, else by the source port (either-end ones)."""
    name = UDP_DST_ONLY.get(dport) or UDP_EITHER.get(dport) or UDP_EITHER.get(sport)
    b = buf[pos:end] + bytes(64)  # zeros past the end: every read below is bounded after
    avail = end - pos
    if name == "vxlan":
        if b[0] & 0x08 and b[7] == 0 and avail >= 8:
            return pos + 8, 1
    elif name == "geneve":
        opt = (b[0] & 0x3F) * 4
        proto = _u16(b, 2)
        if b[0] >> 6 == 0 and proto in (0x6558, 0x0800, 0x86DD) and 8 + opt <= avail:
            return pos + 8 + opt, 1 if proto == 0x6558 else BARE | proto
    elif name == "gtpu":
        return _ref_gtpu(b, pos, avail)
    elif name == "mpls":
        if avail >= 4:
            return pos, BARE | 0x8847
    elif name == "gre":
        return _ref_gre(buf, pos, end)
    elif name == "capwap":
        return _ref_capwap(b, pos, avail)
    elif name == "teredo":
        at = 0
        if b[0:2] == b"\x00\x01":
            at += 4 + b[2] + b[3] + 9
        if buf[pos + at : pos + at + 2] == b"\x00\x00":
            at += 8
        if at + 40 <= avail and buf[pos + at] >> 4 == 6:
            return pos + at, BARE | 0x86DD
    elif name == "ayiya":
        inner = 8 + (1 << (b[0] >> 4)) + (b[1] >> 4) * 4
        if b[2] & 0xF == 1 and b[3] in (4, 41) and inner <= avail:
            return pos + inner, BARE | (0x86DD if b[3] == 41 else 0x0800)
    return None


def _ref_gtpu(b: bytes, pos: int, avail: int):
    flags = b[0]
    if flags >> 5 != 1 or not flags & 0x10 or b[1] != 0xFF:
        return None
    at = 12 if flags & 7 else 8
    nxt = b[11] if flags & 0x04 else 0
    for _ in range(4):
        if nxt == 0 or at >= avail:
            break
        size = b[at] * 4
        if size == 0:
            return None
        at += size
        nxt = b[at - 1] if at - 1 < len(b) else 0
    if nxt != 0 or at >= avail or b[at] >> 4 not in (4, 6):
        return None
    return pos + at, BARE | (0x86DD if b[at] >> 4 == 6 else 0x0800)


def _ref_capwap(b: bytes, pos: int, avail: int):
    word = int.from_bytes(b[:4], "big")
    hlen = ((word >> 19) & 0x1F) * 4
    wbid, native = (word >> 9) & 0x1F, (word >> 8) & 1
    fragment, keepalive = (word >> 7) & 1, (word >> 3) & 1
    if b[0] != 0 or hlen < 8 or keepalive or hlen > avail:
        return None
    if native and wbid != 1:
        return None
    if fragment and _u16(b, 6) >> 3:
        return None
    if not native:
        return pos + hlen, 1
    swapped = hlen + 1 < avail and b[hlen + 1] & 0x0F == 0x08
    return pos + hlen, WIFI_SWAPPED if swapped else 105


def _ref_tunnel(buf: bytes, out: dict, lim: int):
    """(start, end, kind) of the inner frame of an IP tunnel, or None."""
    l4, proto = out["l4"], out["proto"]
    if proto == 4:
        return l4, lim, BARE | 0x0800
    if proto == 41:
        return l4, lim, BARE | 0x86DD
    found = None
    if proto == 47:
        found = _ref_gre(buf, l4, lim)
    elif proto == 17 and out["sport"] | out["dport"]:
        found = _ref_udp_tunnel(buf, out["sport"], out["dport"], l4 + 8, lim)
    return None if found is None else (found[0], lim, found[1])


def _ref_inner_ok(buf: bytes, start: int, end: int, kind: int) -> bool:
    if end - start < MIN_INNER.get(kind, 1):
        return False
    if kind in (BARE | 0x0800, BARE | 0x86DD):
        return buf[start] >> 4 == (4 if kind == BARE | 0x0800 else 6)
    return True
