"""Hostile input: no IT/LAN parser raises, loops or returns something unserialisable."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from _decode_it_helpers import CAPTURES, port_payloads
from cranewatch.decode import arp, cdp, dhcp, dns, http, lldp, mdns, nbns, snmp, ssdp, ssh, tls
from cranewatch.decode.select import Selector

MODULES = [arp, cdp, dhcp, dns, http, lldp, mdns, nbns, snmp, ssdp, ssh, tls]

# Starts that get random bytes past each parser's first checks.
PREFIXES = {
    "tls": [b"\x16\x03\x01", b"\x16\x03\x03\x00\x40\x01\x00\x00\x3c\x03\x03"],
    "ssh": [b"SSH-2.0-", b"junk\r\nSSH-"],
    "http": [b"GET / HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n", b"NOTIFY * HTTP/1.1\r\n"],
    "ssdp": [b"NOTIFY * HTTP/1.1\r\n", b"HTTP/1.1 200 OK\r\n"],
    "snmp": [b"\x30\x82\x00\x40\x02\x01\x01\x04\x06public", b"\x30\x40\x02\x01\x03"],
    "dhcp": [
        b"\x01\x01\x06\x00" + bytes(232) + dhcp.MAGIC,
        b"\x02\x01\x06\x00" + bytes(232) + dhcp.MAGIC,
    ],
    "lldp": [b"\x02\x07\x04", b"\x02\x07\x07"],
    "cdp": [cdp.SNAP + b"\x02\xb4\x00\x00", b"\x02\xb4\x00\x00\x00\x01"],
    "arp": [b"\x00\x01\x08\x00\x06\x04\x00\x01"],
    "dns": [
        b"\x00\x01\x81\x80\x00\x01\x00\x05\x00\x00\x00\x00",
        b"\x00\x20\x00\x01\x01\x00\x00\x01",
    ],
    "mdns": [b"\x00\x00\x84\x00\x00\x00\x00\x08\x00\x00\x00\x04"],
    "nbns": [b"\x00\x01\x29\x10\x00\x01\x00\x00\x00\x00\x00\x01\x20"],
}
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _name(mod) -> str:
    return mod.__name__.rsplit(".", 1)[1]


def _check(mod, data: bytes) -> None:
    got = mod.parse(data)
    assert got is None or isinstance(got, dict)
    if got:
        json.dumps(got)  # events are written as JSON downstream


@pytest.mark.parametrize("mod", MODULES, ids=_name)
def test_module_contract(mod):
    assert isinstance(mod.SELECT, Selector)
    assert mod.parse(b"") is None


@pytest.mark.parametrize("mod", MODULES, ids=_name)
@FAST
@given(data=st.binary(max_size=1600))
def test_random_bytes_never_raise(mod, data):
    _check(mod, data)


@pytest.mark.parametrize("mod", MODULES, ids=_name)
@FAST
@given(pick=st.integers(min_value=0, max_value=3), tail=st.binary(max_size=600))
def test_plausible_starts_never_raise(mod, pick, tail):
    prefixes = PREFIXES[_name(mod)]
    _check(mod, prefixes[pick % len(prefixes)] + tail)


def _dns_with_pointer(target: int) -> bytes:
    return b"\x00\x01\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + bytes(
        [0xC0 | (target >> 8), target & 0xFF]
    )


@FAST
@given(target=st.integers(min_value=0, max_value=0x3FFF), tail=st.binary(max_size=200))
def test_dns_pointers_anywhere_never_raise(target, tail):
    for mod in (dns, mdns, nbns):
        _check(mod, _dns_with_pointer(target) + tail)


@FAST
@given(data=st.binary(max_size=1600))
def test_dns_reader_is_bounded_without_safety_net(data):
    """parse_message/summarize do their own bounds checks; the catch-all is only a net."""
    msg = dns.parse_message(data)
    if msg is not None:
        assert len(msg.questions) + len(msg.records) <= dns.MAX_RECORDS
        dns.summarize(data, msg)


@FAST
@given(data=st.binary(max_size=1600))
def test_tls_reader_is_bounded_without_safety_net(data):
    hs, _ = tls._handshake_bytes(b"\x16\x03\x01" + len(data).to_bytes(2, "big") + data)
    out: dict = {}
    reader = tls._Reader(hs, 4, 4 + int.from_bytes(hs[1:4] or b"\x00", "big"))
    tls._client_hello(reader, out)


SAMPLES = [
    (tls, "ndpi/android.pcap", "tcp", (443,)),
    (dns, "ndpi/android.pcap", "udp", (53,)),
    (mdns, "ndpi/iphone.pcap", "udp", (5353,)),
    (dhcp, "tcpdump/dhcp-mud.pcap", "udp", (67, 68)),
    (snmp, "ndpi/snmp.pcap", "udp", (161,)),
    (http, "zeek/web.pcap", "tcp", (80,)),
    (nbns, "tcpdump/eapon1.pcap", "udp", (137,)),
]


@pytest.mark.parametrize(("mod", "rel", "proto", "ports"), SAMPLES, ids=lambda v: str(v))
@settings(max_examples=60, deadline=None)
@given(seed=st.data())
def test_mutated_real_packets_never_raise(mod, rel, proto, ports, seed):
    path = CAPTURES / rel
    if not path.is_file():
        pytest.skip("shared captures not present")
    payloads = _cached(path, proto, ports, port_payloads)
    base = bytearray(payloads[seed.draw(st.integers(0, len(payloads) - 1))])
    for _ in range(seed.draw(st.integers(1, 8))):
        pos = seed.draw(st.integers(0, len(base) - 1))
        base[pos] = seed.draw(st.integers(0, 255))
    cut = seed.draw(st.integers(0, len(base)))
    _check(mod, bytes(base[:cut]))


_CACHE: dict = {}


def _cached(path, proto, ports, loader) -> list[bytes]:
    key = (path, proto, ports)
    if key not in _CACHE:
        _CACHE[key] = [p.payload for p in loader(path, proto, ports)][:50]
    return _CACHE[key]
