"""decode_l2l4 column by column against a per-packet reference (dpkt + plain Python)."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _l2l4_helpers import pack, read_batch, read_records, ref_decode
from cranewatch.decode.addr import ip_pair
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.decode.packets import Packets

# One capture per link type / header shape the decoder walks (see MANIFEST.tsv descriptions).
REAL = [
    "arkime/arkime_synthetic.pcap",  # Ethernet, many protocols incl. AH
    "icsnpp-profinet-io-cm/profinet_io_cm_mixed_2.pcapng",  # pcapng, IPv6 hop-by-hop, LLDP
    "arkime/twovlan.pcap",  # 802.1Q
    "zeek/vlan-qinqinq.pcap",  # three tags
    "zeek/q-in-q.pcap",  # 802.1ad QinQ
    "tcpdump/802.1ad_QinQ.pcap",
    "ndpi/dns_fragmented.pcap",  # IPv6 fragment headers
    "zeek/ipv6-fragmented-dns.pcap",
    "zeek/ipv4/fragmented-1.pcap",  # IPv4 fragments
    "ndpi/ip_fragmented_garbage.pcap",  # fuzzed IPv4 fragments
    "arkime/wireshark-dhcpv6.pcap",
    "icsnpp-s7comm/s7comm_plus.pcap",  # Linux SLL
    "arkime/gtp-iphone.pcap",  # Linux SLL, IPv6
    "zeek/linux_dlt_sll2.pcap",  # SLL2
    "suricata-verify/decode-sll2-01/input.pcap",
    "arkime/mqtt_synthetic.pcap",  # raw IPv4 (228)
    "ndpi/bets.pcapng",  # raw IP (101)
    "tcpdump/LINKTYPE_IPV6.pcap",  # raw IPv6 (229)
    "tcpdump/LINKTYPE_RAW_ipv6.pcap",
    "icsnpp-opcua-binary/open62541_read_service_test_data.pcap",  # null/loopback
    "ndpi/rdp.pcap",
    "zeek/trunc/ip6-ext-trunc.pcap",  # cut inside an extension header
    "zeek/trunc/ipv4-truncated-broken-header.pcap",
    "tcpdump/ipv6_frag6_negative_len.pcap",
    "arkime/80211http.pcap",  # radiotap
    "arkime/nflog.pcap",  # Linux NFLOG (239)
    "zeek/nflog-http.pcap",
    "tcpdump/nflog.pcap",
    "zeek/nflog-bad-tlv-len.pcap",  # a TLV length that ends the walk
]

COLUMNS = [
    "supported",
    "has_mac",
    "src_mac",
    "dst_mac",
    "vlan",
    "ethertype",
    "ip_ver",
    "ttl",
    "proto",
    "frag",
    "sport",
    "dport",
    "tcp_flags",
    "payload_len",
    "ip_len",
]


def _row(p: Packets, off: int, i: int) -> dict:
    got = {c: getattr(p, c)[i].item() for c in COLUMNS}
    got["src"] = (p.src_hi[i].item(), p.src_lo[i].item())
    got["dst"] = (p.dst_hi[i].item(), p.dst_lo[i].item())
    for name, col in (("l3", p.l3_off), ("l4", p.l4_off), ("payload", p.payload_off)):
        got[name] = col[i].item() - off if col[i] >= 0 else -1
    return got


def _compare(records) -> int:
    batch = pack(records)
    p = decode_l2l4(batch)
    assert len(p) == len(records)
    for i, rec in enumerate(records):
        want = ref_decode(rec[1], rec[2])
        got = _row(p, int(batch.offsets[i]), i)
        assert got == {k: want[k] for k in got}, (i, rec[2])
    return len(records)


@pytest.mark.parametrize("name", REAL)
def test_columns_match_reference_on_real_captures(captures, name):
    records = read_records(captures / name)
    assert _compare(records) == len(records)


def test_reference_sees_the_headers_we_claim(captures):
    """The chosen captures really exercise tags, extension headers and every link type."""
    seen = {"linktypes": set(), "vlan": 0, "frag6": 0, "frag4": 0, "sll_mac": 0}
    for name in REAL:
        for _ts, buf, lt in read_records(captures / name):
            r = ref_decode(buf, lt)
            seen["linktypes"].add(lt)
            seen["vlan"] += r.get("vlan", 0) != 0
            seen["frag6"] += r["frag"] and r["ip_ver"] == 6
            seen["frag4"] += r["frag"] and r["ip_ver"] == 4
            seen["sll_mac"] += lt in (113, 276) and r["has_mac"]
    assert {0, 1, 101, 113, 228, 229, 276} <= seen["linktypes"]
    assert seen["vlan"] and seen["frag6"] and seen["frag4"] and seen["sll_mac"]


@pytest.mark.slow
def test_columns_match_reference_on_every_capture(captures):
    checked = 0
    for path in sorted(captures.rglob("*.pcap*")):
        try:
            records = read_records(path)
        except Exception:  # dpkt cannot read it (gzip, broken header): the sources tests cover it
            continue
        checked += _compare([(ts, buf, lt & 0xFFFF) for ts, buf, lt in records])
    assert checked > 10_000


def _eth(et: int, body: bytes, tags: tuple[tuple[int, int], ...] = ()) -> bytes:
    head = bytes.fromhex("0a0b0c0d0e0f") + bytes.fromhex("001b1b000001")
    for tpid, vid in tags:
        head += struct.pack(">HH", tpid, vid)
    return head + struct.pack(">H", et) + body


def _ip4(proto: int, l4: bytes, frag: int = 0, ihl: int = 5, total: int | None = None) -> bytes:
    opts = b"\x01" * (ihl * 4 - 20)
    total = 20 + len(opts) + len(l4) if total is None else total
    hdr = struct.pack(
        ">BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        total,
        1,
        frag,
        64,
        proto,
        0,
        b"\x0a\0\0\x01",
        b"\x0a\0\0\x02",
    )
    return hdr + opts + l4


UDP = struct.pack(">HHHH", 5353, 53, 12, 0) + b"abcd"
TCP = (
    struct.pack(">HHIIBBHHH", 1234, 502, 1, 0, 0x60, 0x12, 100, 0, 0) + b"\x02\x04\x05\xb4" + b"xy"
)


def test_hand_built_headers():
    recs = [
        (
            1.0,
            _eth(0x0800, _ip4(17, UDP), ((0x8100, 10), (0x88A8, 20), (0x9100, 30), (0x8100, 40))),
            1,
        ),
        (2.0, _eth(0x0800, _ip4(6, TCP, ihl=6)), 1),
        (3.0, _eth(0x0800, _ip4(17, UDP, frag=0x2000)), 1),  # first fragment: ports
        (4.0, _eth(0x0800, _ip4(17, UDP, frag=0x0003)), 1),  # later fragment: none
        (5.0, _eth(0x0026, b"\x42\x42\x03" + b"\0" * 35), 1),  # 802.3 length + LLC
        (6.0, _eth(0x0806, b"\0\x01\x08\0\x06\x04\0\x01" + b"\0" * 20), 1),  # ARP
        (7.0, _eth(0x0800, _ip4(17, UDP, total=0)), 1),  # offload: length 0
        (8.0, _eth(0x0800, _ip4(17, UDP)[:24]), 1),  # cut inside the UDP header: no ports
        (9.0, struct.pack("<I", 2) + _ip4(17, UDP), 0),  # null, little-endian family
        (10.0, struct.pack(">I", 2) + _ip4(17, UDP), 108),  # loop, network order
        (11.0, _ip4(1, b"\x08\0\0\0\0\x01\0\x01" + b"ping"), 101),  # raw IP, ICMP
        (
            12.0,
            b"\0\x04\x00\x01\x00\x08" + b"\x02\0\0\0\0\0\0\0" + b"\x08\x00" + _ip4(17, UDP),
            113,
        ),
        (13.0, b"\0" * 10, 1),  # runt
        (14.0, b"\x80" * 40, 147),  # unsupported link type
    ]
    assert _compare(recs) == len(recs)
    p = decode_l2l4(pack(recs))
    assert p.vlan[0] == 10 and p.ethertype[0] == 0x0800 and p.dport[0] == 53
    assert (p.sport[2], p.frag[2]) == (5353, True)
    assert (p.sport[3], p.frag[3], p.l4_off[3]) == (0, True, -1)
    assert p.ethertype[4] == 0x26 and p.l3_off[4] > 0 and p.ip_ver[4] == 0
    assert p.ethertype[5] == 0x0806 and p.ip_ver[5] == 0
    assert p.payload_len[6] == 4 and p.payload_len[7] == 0 and p.sport[7] == 0
    assert p.ip_ver[8] == p.ip_ver[9] == p.ip_ver[10] == 4 and p.proto[10] == 1
    assert p.src_lo[8] == ip_pair("10.0.0.1")[1]
    assert not p.has_mac[11] and p.ip_ver[11] == 4  # SLL with an 8-byte address: no MAC
    assert p.supported[12] and not p.has_mac[12] and p.l3_off[12] == -1
    assert not p.supported[13] and p.ip_ver[13] == 0
    assert p.tcp_flags[1] == 0x12 and p.payload_len[1] == 2


def test_ipv6_extension_chain():
    hbh = bytes((60, 0)) + b"\x01\x04\0\0\0\0"
    dst = bytes((51, 0)) + b"\x01\x04\0\0\0\0"
    ah = bytes((44, 1)) + b"\0\0" + b"\0" * 8  # length 1 -> (1 + 2) * 4 = 12 bytes
    frag = bytes((17, 0)) + struct.pack(">HI", 0x0001, 7)  # offset 0, M set
    later = bytes((17, 0)) + struct.pack(">HI", 0x0010, 7)  # offset 2: no ports
    body = hbh + dst + ah + frag + UDP
    v6 = struct.pack(">IHBB", 0x60000000, len(body), 0, 9) + b"\xfd" * 16 + b"\xfe" * 16
    tail = hbh + dst + ah + later + UDP
    v6b = struct.pack(">IHBB", 0x60000000, len(tail), 0, 9) + b"\xfd" * 16 + b"\xfe" * 16
    recs = [(1.0, _eth(0x86DD, v6 + body), 1), (2.0, _eth(0x86DD, v6b + tail), 1)]
    assert _compare(recs) == 2
    p = decode_l2l4(pack(recs))
    assert (p.proto[0], p.frag[0], p.dport[0], p.ttl[0]) == (17, True, 53, 9)
    assert (p.proto[1], p.frag[1], p.dport[1], p.l4_off[1]) == (17, True, 0, -1)


def test_packets_of_mixed_link_types_in_one_batch(captures):
    recs = []
    for name in ("icsnpp-s7comm/s7comm_plus.pcap", "zeek/linux_dlt_sll2.pcap", "ndpi/rdp.pcap"):
        recs += read_records(captures / name)[:20]
    recs += read_records(captures / "arkime/twovlan.pcap")
    recs.sort(key=lambda r: r[0])
    assert _compare(recs) == len(recs)


def test_batch_without_padding_is_safe(captures):
    batch = read_batch(captures / "arkime/twovlan.pcap")
    full = decode_l2l4(batch)
    end = int(batch.offsets[-1] + batch.caplens[-1])
    batch.data = batch.data[:end].copy()
    cut = decode_l2l4(batch)
    assert np.array_equal(full.dport, cut.dport) and np.array_equal(full.src_lo, cut.src_lo)


def test_empty_batch():
    p = decode_l2l4(pack([]))
    assert len(p) == 0


LINKTYPES = st.sampled_from([0, 1, 12, 14, 101, 108, 113, 228, 229, 239, 276, 147])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.binary(min_size=0, max_size=160),
            LINKTYPES,
            st.sampled_from([b"", b"ip4", b"ip6", b"nflog"]),
        ),
        min_size=1,
        max_size=12,
    )
)
def test_random_bytes_never_raise_or_point_past_caplen(items):
    recs = []
    for i, (raw, lt, shape) in enumerate(items):
        if shape == b"ip4":  # plausible IPv4 start so deeper layers get exercised
            raw = b"\x45" + raw[1:]
        elif shape == b"ip6":
            raw = b"\x60" + raw[1:]
        elif shape == b"nflog":  # IPv4 family, then TLVs (a payload TLV is type 9)
            raw = b"\x02\x00\x00\x00" + raw[4:]
        recs.append((float(i), raw, lt))
    batch = pack(recs)
    p = decode_l2l4(batch)
    start = batch.offsets
    end = batch.offsets + batch.caplens
    for col in (p.l3_off, p.l4_off, p.payload_off):
        ok = col >= 0
        assert (col[ok] >= start[ok]).all() and (col[ok] <= end[ok]).all()
    ok = p.payload_off >= 0
    assert (p.payload_off[ok] + p.payload_len[ok] <= end[ok]).all()
    assert (p.payload_len >= 0).all() and (p.payload_len[~ok] == 0).all()
    assert ((p.l4_off < end) | (p.l4_off == -1)).all()
    # every IP packet's L4 header lies inside what was captured, and the reference agrees
    assert _compare(recs) == len(recs)


def test_column_dtypes_and_lengths_are_stable(captures):
    """Whatever path a batch takes (all IPv4, mixed, raw IP), columns keep their dtypes."""
    expected = {
        "src_mac": np.uint64, "vlan": np.uint16, "ethertype": np.uint16, "l3_off": np.int64,
        "ip_ver": np.uint8, "src_lo": np.uint64, "ttl": np.uint8, "proto": np.uint8,
        "frag": np.bool_, "sport": np.uint16, "tcp_flags": np.uint8, "l4_off": np.int64,
        "payload_off": np.int64, "payload_len": np.int32, "ip_len": np.int32,
    }  # fmt: skip
    for name in ("iti-ics-security-tools/ModbusTCP/mb2.pcap", "ndpi/bets.pcapng", REAL[1]):
        batch = read_batch(captures / name)
        p = decode_l2l4(batch)
        for column, dtype in expected.items():
            values = getattr(p, column)
            assert values.dtype == dtype and len(values) == len(batch), (name, column)
