"""Link types and tunnels of decode_l2l4: real captures against the per-packet reference
(tests/_l2l4_helpers.py) and against tshark's innermost fields, hand-built headers for
each branch, and random bytes behind every new link type and tunnel."""

from __future__ import annotations

import shutil
import struct
import subprocess

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _l2l4_helpers import pack, read_records, ref_decode
from cranewatch.decode.addr import ip_pair, ip_str, mac_str
from cranewatch.decode.l2l4 import MAX_DEPTH, decode_l2l4
from cranewatch.decode.packets import Packets

# (capture, what it exercises); MANIFEST.tsv descriptions name them.
REAL = [
    ("arkime/gre-erspan-vxlan.pcap", "ERSPAN II carrying VXLAN"),
    ("arkime/mpls-basic.pcap", "MPLS"),
    ("arkime/pppoe.pcap", "PPPoE"),
    ("arkime/80211http.pcap", "radiotap"),
    ("ndpi/capwap.pcap", "CAPWAP data, swapped 802.11 frame control"),
    ("ndpi/dlt_ppp.pcap", "PPP link type"),
    ("ndpi/teredo.pcap", "Teredo"),
    ("ndpi/ipv6_in_gtp.pcap", "GTP-U, IPv6 inside"),
    ("ndpi/someip_sd_sample.pcap", "PPI"),
    ("tcpdump/HDLC.pcap", "Cisco HDLC, CDP"),
    ("tcpdump/hdlc_slarp.pcapng", "Cisco HDLC SLARP"),
    ("tcpdump/erspan-type-i-1.pcap", "ERSPAN I"),
    ("tcpdump/erspan-type-ii-1.pcap", "ERSPAN II"),
    ("tcpdump/erspan-type-iii-ft-0.pcap", "ERSPAN III"),
    ("tcpdump/erspan-type-iii-ft-7.pcap", "ERSPAN III, not Ethernet: kept outer"),
    ("tcpdump/geneve.pcap", "Geneve with options"),
    ("tcpdump/mpls-over-udp.pcap", "MPLS over UDP"),
    ("tcpdump/various_gre.pcap", "GRE keys, Cisco MetaData, CDP, GRE in GRE"),
    ("tcpdump/vxlan.pcap", "VXLAN"),
    ("tcpdump/vxlan_port_8472.pcap", "VXLAN on 8472"),
    ("tcpdump/ieee802.11_htc.pcap", "radiotap, QoS data with HT control"),
    ("tcpdump/ieee802.11_exthdr.pcap", "radiotap, management frames"),
    ("zeek/erspanI.pcap", "ERSPAN I"),
    ("zeek/erspanII.pcap", "ERSPAN II"),
    ("zeek/erspanIII.pcap", "ERSPAN III"),
    ("zeek/mixed-vlan-mpls.pcap", "MPLS after VLAN"),
    ("zeek/pppoe-over-qinq.pcap", "PPPoE after QinQ"),
    ("zeek/wlanmon.pcap", "802.11 link type"),
    ("zeek/radiotap.pcap", "radiotap"),
    ("zeek/tunnels/4in6.pcap", "IPv4 in IPv6"),
    ("zeek/tunnels/6in4.pcap", "IPv6 in IPv4"),
    ("zeek/tunnels/Teredo.pcap", "Teredo"),
    ("zeek/tunnels/ayiya3.pcap", "AYIYA"),
    ("zeek/tunnels/gre-erspan3-dot1q.pcap", "ERSPAN III, 802.1Q inside"),
    ("zeek/tunnels/gre-over-udp-4754.pcap", "GRE over UDP"),
    ("zeek/tunnels/gre-pptp.pcap", "PPTP enhanced GRE, PPP"),
    ("zeek/tunnels/gtp/gtp1_gn_normal_incl_fragmentation.pcap", "GTP-U, outer fragments"),
    ("zeek/tunnels/gtp/gtp7_ipv6.pcap", "GTP-U over IPv6"),
    ("zeek/trunc/mpls-6in6-6in6-4in6-trunc.pcap", "MPLS, nested IPv6, cut"),
]

COLUMNS = [f for f in Packets.__dataclass_fields__ if f not in ("ts", "caplen", "wirelen")]
OFFSETS = {"l3_off": "l3", "l4_off": "l4", "payload_off": "payload"}


def _row(p: Packets, off: int, i: int) -> dict:
    got = {}
    for c in COLUMNS:
        if c in OFFSETS:
            value = getattr(p, c)[i].item()
            got[OFFSETS[c]] = value - off if value >= 0 else -1
        elif c in ("src_hi", "src_lo", "dst_hi", "dst_lo", "linktype"):
            continue
        else:
            got[c] = getattr(p, c)[i].item()
    got["src"] = (p.src_hi[i].item(), p.src_lo[i].item())
    got["dst"] = (p.dst_hi[i].item(), p.dst_lo[i].item())
    return got


def _compare(records) -> Packets:
    batch = pack(records)
    p = decode_l2l4(batch)
    for i, rec in enumerate(records):
        want = ref_decode(rec[1], rec[2])
        got = _row(p, int(batch.offsets[i]), i)
        assert got == {k: want[k] for k in got}, (i, rec[2], rec[1][:80].hex())
    return p


def _records(captures, name):
    return [(ts, buf, lt & 0xFFFF) for ts, buf, lt in read_records(captures / name)]


@pytest.mark.parametrize("name", [n for n, _ in REAL], ids=[n for n, _ in REAL])
def test_columns_match_reference_on_tunnel_captures(captures, name):
    records = _records(captures, name)
    p = _compare(records)
    assert p.supported.all()


def _decoded(captures, name):
    records = _records(captures, name)
    return records, decode_l2l4(pack(records))


def _ips(p: Packets) -> set[str]:
    ok = p.ip_ver != 0
    return {ip_str(h, lo) for h, lo in zip(p.src_hi[ok], p.src_lo[ok], strict=True)}


def test_erspan_vxlan_yields_the_innermost_hosts(captures):
    _, p = _decoded(captures, "arkime/gre-erspan-vxlan.pcap")
    assert _ips(p) <= {"10.16.27.12", "10.16.27.131"} and p.has_mac.all()
    assert set(p.proto.tolist()) == {6} and 80 in set(p.dport.tolist()) | set(p.sport.tolist())


def test_bare_ip_tunnels_have_no_macs(captures):
    """GRE/PPTP, MPLS, AYIYA: the outer MACs are routers', so the inner packet has none."""
    _, p = _decoded(captures, "zeek/tunnels/gre-pptp.pcap")
    assert _ips(p) == {"172.16.44.3", "8.8.8.8"} and not p.has_mac.any()
    assert sorted(p.dport.tolist() + p.sport.tolist())[-1] == 40768
    _, p = _decoded(captures, "zeek/mpls-in-vlan.pcap")  # one plain VLAN packet, two MPLS
    assert (p.ip_ver == 4).all() and p.has_mac.tolist() == [True, False, False]
    _, p = _decoded(captures, "zeek/tunnels/ayiya3.pcap")
    assert (p.ip_ver == 6).sum() >= 30 and not p.has_mac[p.ip_ver == 6].any()


def test_pppoe_keeps_the_link(captures):
    _, p = _decoded(captures, "zeek/pppoe-over-qinq.pcap")
    assert (p.ip_ver != 0).all() and p.has_mac.all() and (p.vlan != 0).all()


def test_wireless_stations_and_dhcp(captures):
    """CAPWAP (swapped frame control) and radiotap+HTC both reach the DHCP client's frame."""
    for name in ("ndpi/capwap.pcap", "tcpdump/ieee802.11_htc.pcap"):
        _, p = _decoded(captures, name)
        dhcp = np.flatnonzero((p.dport == 67) & (p.proto == 17))
        assert len(dhcp) and p.has_mac[dhcp].all(), name
    _, p = _decoded(captures, "ndpi/capwap.pcap")
    dhcp = np.flatnonzero(p.dport == 67)
    assert {mac_str(int(m)) for m in p.src_mac[dhcp]} == {"1c:ab:a7:f2:13:9d"}


def test_hdlc_hands_cdp_to_the_cdp_selector(captures):
    from cranewatch.decode.dispatch import DeepParser

    records, p = _decoded(captures, "tcpdump/HDLC.pcap")
    assert (p.ethertype == 0x2000).sum() == 4 and (p.ip_ver == 4).sum() == 10
    events = DeepParser().run(pack(records), p, 0)
    names = {e.fields.get("device_id") for e in events if e.proto == "cdp"}
    assert names and None not in names


# ---------------------------------------------------------------------------- tshark


TSHARK_FILES = [
    "arkime/gre-erspan-vxlan.pcap",
    "arkime/pppoe.pcap",
    "ndpi/capwap.pcap",
    "ndpi/teredo.pcap",
    "ndpi/ipv6_in_gtp.pcap",
    "tcpdump/HDLC.pcap",
    "tcpdump/erspan-type-iii-ft-0.pcap",
    "tcpdump/geneve.pcap",
    "tcpdump/mpls-over-udp.pcap",
    "tcpdump/various_gre.pcap",
    "zeek/mixed-vlan-mpls.pcap",
    "zeek/tunnels/ayiya3.pcap",
    "zeek/tunnels/gre-pptp.pcap",
    "zeek/tunnels/gre-over-udp-4754.pcap",
    "arkime/80211http.pcap",
]
_FIELDS = ["frame.protocols", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst"]
_FIELDS += ["tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport", "ip.flags.mf"]


def _tshark_innermost(path) -> list[tuple | None | str]:
    """Per packet: (src, dst, (sport, dport)) of tshark's last IP layer; 'skip' when
    tshark reassembled or left an IP/UDP payload undecoded, or ICMP quotes the last IP."""
    args = ["tshark", "-r", str(path), "-T", "fields", "-E", "aggregator=;"]
    for f in _FIELDS:
        args += ["-e", f]
    lines = subprocess.run(args, capture_output=True, text=True, check=True).stdout.splitlines()
    out = []
    for line in lines:
        parts = line.split("\t") + [""] * len(_FIELDS)
        d = dict(zip(_FIELDS, parts, strict=False))
        chain = d["frame.protocols"].split(":")
        ip_at = [i for i, proto in enumerate(chain) if proto in ("ip", "ipv6")]
        if not ip_at:
            out.append(None)
            continue
        last = ip_at[-1]
        undecoded = "ip:data" in d["frame.protocols"] or "udp:data" in d["frame.protocols"]
        if {"icmp", "icmpv6"} & set(chain[:last]) or "1" in d["ip.flags.mf"] or undecoded:
            out.append("skip")
            continue
        key = chain[last]
        ports = (0, 0)
        l4 = [i for i, proto in enumerate(chain) if proto in ("tcp", "udp") and i > last]
        if l4:
            t = chain[l4[-1]]
            ports = tuple(int(d[f"{t}.{e}port"].split(";")[-1]) for e in ("src", "dst"))
        out.append((d[f"{key}.src"].split(";")[-1], d[f"{key}.dst"].split(";")[-1], ports))
    return out


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", TSHARK_FILES)
def test_innermost_addresses_match_tshark(captures, name):
    records, p = _decoded(captures, name)
    want = _tshark_innermost(captures / name)
    assert len(want) == len(records)
    compared = 0
    for i, w in enumerate(want):
        if w == "skip" or p.frag[i]:
            continue
        if p.ip_ver[i] == 0:
            # by design the columns describe the inner frame, here not IP (ARP, CDP,
            # 802.11 management under a tunnel): tshark's last IP is the outer one
            assert w is None or p.ethertype[i] not in (0x0800, 0x86DD), (i, w)
            continue
        ports = (int(p.sport[i]), int(p.dport[i])) if w and w[2] != (0, 0) else (0, 0)
        got = (ip_str(p.src_hi[i], p.src_lo[i]), ip_str(p.dst_hi[i], p.dst_lo[i]), ports)
        assert got == w, (i, got, w)
        compared += 1
    assert compared > 0


# ---------------------------------------------------------------------------- hand-built

MAC_A, MAC_B = bytes.fromhex("02aa00000001"), bytes.fromhex("02bb00000002")
UDP = struct.pack(">HHHH", 5353, 53, 12, 0) + b"abcd"


def eth(et: int, body: bytes, src: bytes = MAC_A, dst: bytes = MAC_B) -> bytes:
    return dst + src + struct.pack(">H", et) + body


def ip4(proto: int, body: bytes, src: str = "10.0.0.1", dst: str = "10.0.0.2") -> bytes:
    hdr = struct.pack(">BBHHHBBH", 0x45, 0, 20 + len(body), 1, 0, 64, proto, 0)
    return hdr + bytes(map(int, src.split("."))) + bytes(map(int, dst.split("."))) + body


def ip6(nh: int, body: bytes, src: int = 0xFD01, dst: int = 0xFD02) -> bytes:
    head = struct.pack(">IHBB", 0x60000000, len(body), nh, 7)
    return head + src.to_bytes(16, "big") + dst.to_bytes(16, "big") + body


def udp(sport: int, dport: int, body: bytes) -> bytes:
    return struct.pack(">HHHH", sport, dport, 8 + len(body), 0) + body


def gre(proto: int, body: bytes, flags: int = 0, extra: bytes = b"") -> bytes:
    return struct.pack(">HH", flags, proto) + extra + body


def wifi(fc0: int, flags: int, body: bytes, qos: bytes = b"", htc: bytes = b"") -> bytes:
    addrs = bytes.fromhex("0a0000000001") + bytes.fromhex("0b0000000002")
    addrs += bytes.fromhex("0c0000000003") + b"\0\0"
    if flags & 3 == 3:
        addrs += bytes.fromhex("0d0000000004")
    return bytes((fc0, flags, 0, 0)) + addrs + qos + htc + body


SNAP_IP4 = bytes.fromhex("aaaa030000000800")
INNER = ip4(17, UDP, "192.168.9.1", "192.168.9.2")
INNER_ETH = eth(0x0800, INNER, bytes.fromhex("020000000009"), bytes.fromhex("02000000000a"))
MPLS_LABEL = struct.pack(">I", (1000 << 12) | 0x100 | 64)  # bottom of stack


def over_udp(sport: int, dport: int, body: bytes) -> bytes:
    return eth(0x0800, ip4(17, udp(sport, dport, body)))


def over_gre(proto: int, body: bytes, flags: int = 0, extra: bytes = b"") -> bytes:
    return eth(0x0800, ip4(47, gre(proto, body, flags, extra)))


WIFI_IP = wifi(0x08, 0x01, SNAP_IP4 + INNER)  # to-DS data frame
CAPWAP_80211 = b"\0\x10\x03\x00" + b"\0" * 4  # HLEN 2, WBID 1, T set
AMSDU = bytes(6) + bytes.fromhex("0e0000000005") + b"\0\x30" + SNAP_IP4 + INNER
PPPOE = b"\x11\x00\x00\x01" + struct.pack(">H", 2 + len(INNER)) + b"\0\x21" + INNER
ERSPAN3 = b"\x20" + b"\0" * 10 + b"\x01" + b"\0" * 8  # O bit: 8-byte subheader follows
TEREDO_AUTH = b"\0\x01\x02\x03" + b"i" * 5 + b"n" * 9  # id 2, auth 3, nonce, confirmation
AYIYA = b"\x41\x52\x11\x29" + b"\0" * 4 + b"i" * 16 + b"s" * 20  # forward, IPv6 next
GTP = b"\x30\xff" + struct.pack(">H", len(INNER)) + b"\0" * 4
GTP_EXT = b"\x34\xff\0\0" + b"\0" * 4 + b"\0\0\0\x85" + b"\x01\0\0\0"  # one extension

CASES = {
    "hdlc ip": (b"\x0f\x00\x08\x00" + INNER, 104),
    "hdlc cdp": (b"\x8f\x00\x20\x00\x02\xb4\x00\x00", 104),
    "ppp compressed": (b"\x21" + INNER, 9),
    "ppp framed": (b"\xff\x03\x00\x21" + INNER, 9),
    "ppp ipv6": (b"\x00\x57" + ip6(17, UDP), 9),
    "ppp serial chdlc": (b"\x0f\x00\x08\x00" + INNER, 50),
    "ppp serial": (b"\xff\x03\x00\x21" + INNER, 50),
    "802.11 to-ds": (WIFI_IP, 105),
    "802.11 from-ds": (wifi(0x08, 0x02, SNAP_IP4 + INNER), 105),
    "802.11 wds": (wifi(0x08, 0x03, SNAP_IP4 + INNER), 105),
    "802.11 qos htc": (wifi(0x88, 0x81, SNAP_IP4 + INNER, b"\0\0", b"\0" * 4), 105),
    "802.11 amsdu": (wifi(0x88, 0x01, AMSDU, b"\x80\0"), 105),
    "802.11 protected": (wifi(0x08, 0x41, b"\0" * 40), 105),
    "802.11 beacon": (wifi(0x80, 0x00, b"\0" * 40), 105),
    "radiotap": (b"\0\0\x08\0\0\0\0\0" + WIFI_IP, 127),
    "ppi ethernet": (b"\0\0\x08\0\x01\0\0\0" + INNER_ETH, 192),
    "mpls ip": (eth(0x8847, MPLS_LABEL + INNER), 1),
    "mpls two labels": (eth(0x8847, struct.pack(">I", 5 << 12) + MPLS_LABEL + INNER), 1),
    "mpls pw": (eth(0x8847, MPLS_LABEL + b"\0\0\0\0" + INNER_ETH), 1),
    "pppoe": (eth(0x8864, PPPOE), 1),
    "cisco metadata": (eth(0x8909, b"\x01\x01\x00\x01\x00\x05\x08\x00" + INNER), 1),
    "gre ip": (over_gre(0x0800, INNER), 1),
    "gre cks key seq": (over_gre(0x0800, INNER, 0xB000, b"\0" * 12), 1),
    "gre teb": (over_gre(0x6558, INNER_ETH), 1),
    "erspan i": (over_gre(0x88BE, INNER_ETH), 1),
    "erspan ii": (over_gre(0x88BE, b"\x10" + b"\0" * 7 + INNER_ETH, 0x1000, b"\0" * 4), 1),
    "erspan iii": (over_gre(0x22EB, ERSPAN3 + INNER_ETH, 0x1000, b"\0" * 4), 1),
    "erspan iii ip frame": (over_gre(0x22EB, b"\0" * 10 + b"\x08\0" + INNER), 1),
    "gre cdp": (over_gre(0x2000, b"\x02\xb4\0\0"), 1),
    "gre routing": (over_gre(0x0800, INNER, 0x4000), 1),
    "pptp": (over_gre(0x880B, b"\xff\x03\x00\x21" + INNER, 0x3081, b"\0" * 12), 1),
    "ip in ip": (eth(0x0800, ip4(4, INNER)), 1),
    "6 in 4": (eth(0x0800, ip4(41, ip6(17, UDP))), 1),
    "4 in 6": (eth(0x86DD, ip6(4, INNER)), 1),
    "vxlan": (over_udp(40000, 4789, b"\x08\0\0\0\0\0\x01\0" + INNER_ETH), 1),
    "vxlan bad flag": (over_udp(40000, 4789, b"\0" * 8 + INNER_ETH), 1),
    "vxlan 8472": (over_udp(40000, 8472, b"\x08\0\0\0\0\0\x01\0" + INNER_ETH), 1),
    "geneve opts": (over_udp(1, 6081, b"\x02\0\x65\x58" + b"\0" * 12 + INNER_ETH), 1),
    "geneve ip": (over_udp(1, 6081, b"\0\0\x08\0" + b"\0" * 4 + INNER), 1),
    "capwap 802.3": (over_udp(1, 5247, b"\0\x10\x00\x00" + b"\0" * 4 + INNER_ETH), 1),
    "capwap 802.11": (over_udp(5247, 9, CAPWAP_80211 + WIFI_IP), 1),
    "capwap swapped": (over_udp(5247, 9, CAPWAP_80211 + b"\x01\x08" + WIFI_IP[2:]), 1),
    "capwap dtls": (over_udp(1, 5247, b"\x01" + b"\0" * 40), 1),
    "teredo": (over_udp(3544, 9, ip6(17, UDP)), 1),
    "teredo auth origin": (over_udp(9, 3544, TEREDO_AUTH + b"\0" * 8 + ip6(17, UDP)), 1),
    "ayiya": (over_udp(5072, 5072, AYIYA + ip6(17, UDP)), 1),
    "gtp-u": (over_udp(2152, 2152, GTP + INNER), 1),
    "gtp-u ext": (over_udp(2152, 2152, GTP_EXT + INNER), 1),
    "mpls over udp": (over_udp(1, 6635, MPLS_LABEL + INNER), 1),
    "gre over udp": (over_udp(1, 4754, gre(0x0800, INNER)), 1),
}


def test_hand_built_headers_match_reference():
    names = list(CASES)
    records = [(float(i), CASES[n][0], CASES[n][1]) for i, n in enumerate(names)]
    p = _compare(records)
    inner_ip = ip_pair("192.168.9.1")
    expect_inner = {n for n in names if INNER in CASES[n][0]}
    expect_inner -= {"vxlan bad flag", "gre routing", "erspan iii ip frame", "capwap dtls"}
    for i, name in enumerate(names):
        got = (p.src_hi[i].item(), p.src_lo[i].item())
        assert (got == inner_ip) == (name in expect_inner), name
        if name in expect_inner:
            assert (p.sport[i], p.dport[i]) == (5353, 53), name
    ip6_cases = {"ppp ipv6", "6 in 4", "teredo", "teredo auth origin", "ayiya"}
    for name in ip6_cases:
        i = names.index(name)
        assert p.ip_ver[i] == 6 and p.dport[i] == 53, name
    row = {n: i for i, n in enumerate(names)}
    assert p.ethertype[row["hdlc cdp"]] == 0x2000 and p.l3_off[row["hdlc cdp"]] >= 0
    assert p.ethertype[row["gre cdp"]] == 0x2000 and not p.has_mac[row["gre cdp"]]
    for name, sa, da in (
        ("802.11 to-ds", 0x0B0000000002, 0x0C0000000003),
        ("802.11 from-ds", 0x0C0000000003, 0x0A0000000001),
        ("802.11 wds", 0x0D0000000004, 0x0C0000000003),
        ("802.11 amsdu", 0x0E0000000005, 0),
        ("802.11 protected", 0x0B0000000002, 0x0C0000000003),
        ("capwap swapped", 0x0B0000000002, 0x0C0000000003),
    ):
        i = row[name]
        assert p.has_mac[i] and (p.src_mac[i], p.dst_mac[i]) == (sa, da), name
    assert p.ip_ver[row["802.11 protected"]] == 0 and not p.has_mac[row["802.11 beacon"]]
    for name in ("mpls ip", "ip in ip", "gre ip", "gtp-u", "teredo"):
        assert not p.has_mac[row[name]], name  # bare IP inside: no MACs
    for name in ("pppoe", "vxlan", "gre teb", "mpls pw", "capwap 802.3"):
        assert p.has_mac[row[name]], name
    assert p.src_mac[row["vxlan"]] == 0x020000000009  # the inner frame's MAC
    assert p.src_mac[row["pppoe"]] == int.from_bytes(MAC_A, "big")  # PPPoE keeps the link


def test_nesting_is_bounded():
    """IP in IP nested deeper than MAX_DEPTH: decoding stops at that depth, reference agrees."""
    packet = INNER
    for level in range(MAX_DEPTH + 2):
        packet = ip4(4, packet, f"10.9.9.{level}", "10.9.9.200")
    p = _compare([(0.0, eth(0x0800, packet), 1)])
    assert ip_str(p.src_hi[0], p.src_lo[0]) == "10.9.9.1"  # MAX_DEPTH levels below the outer
    assert p.proto[0] == 4


def test_non_first_outer_fragment_is_not_decapsulated():
    frame = bytearray(eth(0x0800, ip4(17, udp(1, 4789, b"\x08" + b"\0" * 7 + INNER_ETH))))
    frame[14 + 6 : 14 + 8] = struct.pack(">H", 0x0010)  # fragment offset 16 bytes
    p = _compare([(0.0, bytes(frame), 1)])
    assert ip_str(p.src_hi[0], p.src_lo[0]) == "10.0.0.1" and p.l4_off[0] == -1


def test_plain_ethernet_keeps_its_outer_decode(captures):
    """Ordinary Ethernet traffic: L3 right after the Ethernet header, reference agrees."""
    records = _records(captures, "iti-ics-security-tools/ModbusTCP/mb2.pcap")[:3000]
    p = _compare(records)
    assert (p.l3_off - pack(records).offsets == 14).sum() == len(records)


# ---------------------------------------------------------------------------- random bytes

PREFIXES = {
    "hdlc": (b"", 104),
    "ppp": (b"", 9),
    "ppp-serial": (b"", 50),
    "802.11": (b"", 105),
    "802.11-data": (b"\x88\x03", 105),
    "radiotap": (b"\0\0\x08\0\0\0\0\0", 127),
    "radiotap-data": (b"\0\0\x08\0\0\0\0\0\x08\x01", 127),
    "ppi": (b"\0\0\x08\0\x69\0\0\0", 192),
    "mpls": (eth(0x8847, b"")[:14], 1),
    "pppoe": (eth(0x8864, b"\x11\0\0\x01\0\x40")[:20], 1),
    "cmd": (eth(0x8909, b"")[:14], 1),
}
for _proto, _name in ((47, "gre"), (4, "ipip"), (41, "6in4")):
    PREFIXES[_name] = (eth(0x0800, ip4(_proto, b"\0" * 200))[:34], 1)
for _port, _name in (
    (4789, "vxlan"), (6081, "geneve"), (5247, "capwap"), (3544, "teredo"),
    (5072, "ayiya"), (2152, "gtpu"), (6635, "mpls-udp"), (4754, "gre-udp"),
):  # fmt: skip
    PREFIXES[_name] = (eth(0x0800, ip4(17, udp(1, _port, b"\0" * 200)))[:42], 1)


def _fix_lengths(raw: bytearray, name: str) -> None:
    """Make the outer IP/UDP lengths claim the random tail, so the tunnel reader sees it."""
    if len(raw) >= 34 and raw[12:14] == b"\x08\x00" and name not in ("mpls", "pppoe", "cmd"):
        raw[16:18] = struct.pack(">H", min(len(raw) - 14, 0xFFFF))
        if len(raw) >= 42 and raw[23] == 17:
            raw[38:40] = struct.pack(">H", len(raw) - 34)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from(sorted(PREFIXES)), st.binary(max_size=120), st.booleans()),
        min_size=1,
        max_size=10,
    )
)
def test_random_bytes_behind_every_new_link_and_tunnel(items):
    records = []
    for i, (name, tail, cut) in enumerate(items):
        prefix, linktype = PREFIXES[name]
        raw = bytearray(prefix + tail)
        _fix_lengths(raw, name)
        if cut and raw:
            raw = raw[: len(raw) // 2]
        records.append((float(i), bytes(raw), linktype))
    batch = pack(records)
    p = _compare(records)
    start, end = batch.offsets, batch.offsets + batch.caplens
    for col in (p.l3_off, p.l4_off, p.payload_off):
        ok = col >= 0
        assert (col[ok] >= start[ok]).all() and (col[ok] <= end[ok]).all()
    ok = p.payload_off >= 0
    assert (p.payload_off[ok] + p.payload_len[ok] <= end[ok]).all()
    assert (p.payload_len >= 0).all() and (p.payload_len[~ok] == 0).all()
