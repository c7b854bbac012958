"""payload_scan: ISO 6346 check digits, whole-buffer scans of real frames, remote-access bytes."""

from __future__ import annotations

import pytest

from _detect_helpers import batch, dns_query, frame, mqtt_publish
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.decode.payload_scan import (
    iso6346_check_digit,
    iso6346_valid,
    iso6346_weighted_sum,
    scan,
    scan_signatures,
)

INSIDE, OUTSIDE = "10.50.1.20", "198.51.100.7"


# ------------------------------------------------------------ ISO 6346 algorithm


def test_published_example_csqu3054383():
    # ISO 6346 worked example (Wikipedia "ISO 6346", Lobster data docs): values
    # C=13 S=30 Q=28 U=32 and digits 3 0 5 4 3 8, weights 1..512, sum 6185,
    # 6185 mod 11 = 3.
    assert iso6346_weighted_sum("CSQU305438") == 6185
    assert iso6346_check_digit("CSQU305438") == 3
    assert iso6346_valid("CSQU3054383")
    assert iso6346_valid("CSQU 305438 3")
    assert iso6346_valid("csqu3054383")


@pytest.mark.parametrize(
    "wrong", ["CSQU3054384", "CSQU3054380", "CSQU3045383", "CSQA3054383", "CSQU305438"]
)
def test_wrong_check_digit_or_form_is_no_container_number(wrong):
    assert not iso6346_valid(wrong)


def test_remainder_ten_gives_check_digit_zero():
    # AAAU500000: A=10 (x1, x2, x4), U=32 (x8) -> 326; 5 x 16 = 80; 406 = 36*11 + 10.
    assert iso6346_weighted_sum("AAAU500000") == 406
    assert iso6346_check_digit("AAAU500000") == 0
    assert iso6346_valid("AAAU5000000")


def test_letter_values_skip_multiples_of_eleven():
    # A=10, K=21, L=23 (22 skipped), U=32, V=34 (33 skipped)
    assert iso6346_weighted_sum("A000000000") == 10
    assert iso6346_weighted_sum("K000000000") == 21
    assert iso6346_weighted_sum("L000000000") == 23
    assert iso6346_weighted_sum("V000000000") == 34


# ------------------------------------------------------------ scan over a RawBatch


def _scan(frames):
    b = batch(frames)
    return scan(b, decode_l2l4(b), input_index=2, first_packet_no=100)


def test_http_body_and_url_numbers_are_found_per_packet():
    body = b"containers=CSQU3054383,AAAU5000000,CSQU3054384&yard=B7"
    http = (
        b"POST /api/move?c=CSQU3054383 HTTP/1.1\r\nHost: tracking.example\r\nContent-Length: 55\r\n\r\n"
        + body
    )
    ev = _scan([frame(INSIDE, OUTSIDE, http, dport=80)])
    assert len(ev) == 1
    e = ev[0]
    assert e.proto == "container-ids"
    assert e.fields["where"] == "http"
    assert e.fields["iso6346"] == ["CSQU3054383", "AAAU5000000"]  # the wrong digit is dropped
    assert (e.src_ip, e.dst_ip, e.dport, e.l4) == (INSIDE, OUTSIDE, 80, "tcp")
    assert e.ref == (2, 100)


def test_dns_query_labels_count():
    ev = _scan(
        [frame(INSIDE, "10.60.0.53", dns_query("csqu3054383.tracking.example"), l4="udp", dport=53)]
    )
    assert [e.fields["iso6346"] for e in ev] == [["CSQU3054383"]]
    assert ev[0].fields["where"] == "dns"


def test_mqtt_publish_and_edifact():
    edi = (
        b"UNB+UNOA:2+TERM+LINE+240101:1200+1'UNH+1+BAPLIE:D:95B:UN:SMDG22'EQD+CN+CSQU3054383+45G1'"
    )
    frames = [
        frame(INSIDE, OUTSIDE, mqtt_publish("yard/moves", b'{"box":"CSQU 305438 3"}'), dport=1883),
        frame(INSIDE, OUTSIDE, edi, dport=7001),
        frame(INSIDE, OUTSIDE, b"UNH+7+INVOIC:D:96A:UN'", dport=7001),
    ]
    ev = _scan(frames)
    by_where = {e.fields["where"]: e for e in ev}
    assert by_where["mqtt"].fields["iso6346"] == ["CSQU3054383"]
    assert by_where["payload"].fields["edifact"] == ["BAPLIE", "EQD+CN"]
    assert len(ev) == 2  # INVOIC is no container message


def test_only_matches_inside_l4_payloads_count():
    # A number split across two packets, and one that is only a wrong check digit.
    frames = [
        frame(INSIDE, OUTSIDE, b"box CSQU305", dport=9000),
        frame(INSIDE, OUTSIDE, b"4383 done", dport=9000),
        frame(INSIDE, OUTSIDE, b"box CSQU3054384", dport=9000),
        frame(INSIDE, OUTSIDE, b"xCSQU3054383", dport=9000),  # glued to a letter: not a number
    ]
    assert _scan(frames) == []


def test_no_payload_no_events():
    assert _scan([frame(INSIDE, OUTSIDE, b"", dport=80)]) == []


# ------------------------------------------------------------ remote-access signatures on real captures


def _sigs(captures, rel):
    from cranewatch.sources import open_capture

    events = []
    for b in open_capture(captures / rel).batches():
        events += scan_signatures(b, decode_l2l4(b))
    return {(e.fields["tool"], e.fields["strong"]) for e in events}


@pytest.mark.parametrize(
    ("rel", "tool"),
    [
        ("ndpi/teamviewer.pcap", "TeamViewer"),
        ("ndpi/vnc.pcap", "VNC (RFB)"),
        ("ndpi/ssh.pcap", "SSH"),
        ("ndpi/wireguard.pcap", "WireGuard"),
        ("scapy/ikev2_nat_t.pcapng", "IPsec / IKE"),
        ("ndpi/openvpn.pcap", "OpenVPN"),
        ("ndpi/telnet.pcap", "Telnet"),
    ],
)
def test_signatures_on_real_captures(captures, rel, tool):
    assert tool in {t for t, _ in _sigs(captures, rel)}


@pytest.mark.parametrize("rel", ["iti-ics-security-tools/ModbusTCP/mb2.pcap", "ndpi/iphone.pcap"])
def test_no_tool_in_plant_or_phone_traffic(captures, rel):
    assert _sigs(captures, rel) == set()


def test_weak_signature_needs_the_tools_port():
    # 0x38 first byte = OpenVPN hard reset, but only on the OpenVPN port
    on_port = frame(INSIDE, OUTSIDE, b"\x38" + bytes(40), l4="udp", dport=1194)
    off_port = frame(INSIDE, OUTSIDE, b"\x38" + bytes(40), l4="udp", sport=40001, dport=7777)
    b = batch([on_port, off_port])
    ev = scan_signatures(b, decode_l2l4(b))
    assert [(e.fields["tool"], e.dport) for e in ev] == [("OpenVPN", 1194)]
