"""Building blocks of the simulator: check digits, checksums, OUIs, protocol builders."""

from __future__ import annotations

import random

import dpkt
from hypothesis import given
from hypothesis import strategies as st

from cranewatch.simulate import catalog, edifact, iso6346, oui
from cranewatch.simulate import frames as fr
from cranewatch.simulate import proto_ics as ics
from cranewatch.simulate import proto_net as net


def test_iso6346_known_examples():
    # ISO 6346 Annex A worked example and a number printed on a real Maersk box
    assert iso6346.check_digit("CSQU305438") == 3
    assert iso6346.is_valid("CSQU3054383")
    assert iso6346.is_valid("MSKU9070323")
    assert not iso6346.is_valid("CSQU3054384")
    assert not iso6346.is_valid("CSQU305438")
    assert not iso6346.is_valid("C5QU3054383")


@given(st.integers(0, 2**32))
def test_generated_numbers_are_valid_or_wrong_as_asked(seed):
    rng = random.Random(seed)
    good, bad = iso6346.valid_number(rng), iso6346.invalid_number(rng)
    assert iso6346.is_valid(good) and len(good) == 11
    assert not iso6346.is_valid(bad) and bad[:4].isalpha() and bad[4:].isdigit()


@given(st.binary(min_size=0, max_size=300))
def test_checksum_matches_dpkt(data):
    assert fr.checksum(data) == dpkt.in_cksum(data)


def test_tcp_and_udp_checksums_verify_with_dpkt():
    src, dst = fr.ip_bytes("10.20.1.30"), fr.ip_bytes("198.51.100.7")
    for payload in (b"", b"x", b"hello world" * 30):
        seg = fr.tcp(src, dst, 50000, 443, 1, 2, fr.ACK | fr.PSH, payload)
        pkt = dpkt.ip.IP(fr.ipv4(src, dst, fr.PROTO_TCP, seg, 7))
        assert dpkt.in_cksum(pkt.pack_hdr()) == 0
        want = pkt.data.sum
        pkt.data.sum = 0
        pkt.sum = 0
        assert dpkt.ip.IP(bytes(pkt)).data.sum == want
        dg = fr.udp(src, dst, 5353, 53, payload)
        u = dpkt.ip.IP(fr.ipv4(src, dst, fr.PROTO_UDP, dg, 8, df=False))
        want = u.data.sum
        u.data.sum = 0
        u.sum = 0
        assert dpkt.ip.IP(bytes(u)).data.sum == want


def test_every_catalog_maker_has_real_ouis():
    for m in catalog.CELLULAR_MAKERS:
        found = oui.ouis_for(m["org"])
        assert found and "source" in m
        mac = ":".join(f"{(found[0] << 24 | 0x123456) >> s & 0xFF:02x}" for s in range(40, -8, -8))
        assert oui.org_of(mac).lower().startswith(m["org"])


def test_minted_macs_are_unique_and_resolve_to_the_maker():
    minter = oui.MacMinter(random.Random(3))
    macs = [minter.mint("teltonika") for _ in range(50)]
    assert len(set(macs)) == 50
    assert all(oui.org_of(m).lower().startswith("teltonika") for m in macs)


def test_dhcp_dns_parse_with_dpkt():
    chaddr = bytes.fromhex("a05950123456")
    d = dpkt.dhcp.DHCP(net.dhcp(1, 0x1234, chaddr, net.DHCP_DISCOVER, hostname="LAPTOP-X"))
    opts = dict(d.opts)
    assert opts[dpkt.dhcp.DHCP_OPT_MSGTYPE] == b"\x01" and opts[12] == b"LAPTOP-X"
    q = dpkt.dns.DNS(net.dns_response(7, "tos-app.hect.lan", [fr.ip_bytes("10.30.0.10")]))
    assert q.an[0].name == "tos-app.hect.lan" and q.an[0].ip == fr.ip_bytes("10.30.0.10")


def test_enip_identity_and_dcp_lengths_are_self_consistent():
    resp = ics.enip_list_identity_resp(
        bytes(8), fr.ip_bytes("10.20.1.10"), 1, 14, 166, (33, 11), 0xDEADBEEF, "1756-L83E/B"
    )
    assert int.from_bytes(resp[2:4], "little") == len(resp) - 24
    assert resp.endswith(b"1756-L83E/B\x03")
    dcp = ics.pn_dcp_identify_resp(
        1, "sts-01-plc", "S7-1500", 0x2A, 0x10E, bytes(4), bytes(4), bytes(4)
    )
    assert int.from_bytes(dcp[10:12], "big") == len(dcp) - 12


def test_edifact_segment_count():
    msg = edifact.baplie(
        "HECT", "LINER", "202603020815", "12345", "MSC AURORA", [("CSQU3054383", "45G1", "0120304")]
    ).decode()
    segs = [s.strip() for s in msg.split("'") if s.strip()]
    unh = next(i for i, s in enumerate(segs) if s.startswith("UNH"))
    unt = next(i for i, s in enumerate(segs) if s.startswith("UNT"))
    assert segs[unt].split("+")[1] == str(unt - unh + 1)
    assert "EQD+CN+CSQU3054383+45G1+++5" in segs
