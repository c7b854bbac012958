"""TLS hellos: JA3 and SNI equal tshark's on real captures; JA4 equals a published value."""

from __future__ import annotations

import hashlib

import pytest

from _decode_it_helpers import CAPTURES, l4_packets, tshark
from cranewatch.decode import tls

TLS_FILES = [
    "ndpi/android.pcap",
    "ndpi/iphone.pcap",
    "ndpi/tor.pcap",
    "ndpi/cloudflare-warp.pcap",
    "ndpi/anyconnect-vpn.pcap",
    "zeek/tls/tls1.2.pcap",
    "zeek/tls/tls13-ech.pcap",
    "zeek/tls/openjdk-25.0.2-zeek.org.pcap",
]


def _hellos(path):
    out = {}
    for pkt in l4_packets(path):
        if pkt.proto == "tcp" and pkt.payload.startswith(b"\x16\x03"):
            got = tls.parse(pkt.payload)
            if got and got.get("handshake") == "client_hello":
                out[pkt.frame] = (pkt, got)
    return out


@pytest.mark.parametrize("rel", TLS_FILES)
def test_ja3_and_sni_equal_tshark(rel):
    path = CAPTURES / rel
    if not path.is_file():
        pytest.skip("shared captures not present")
    rows = tshark(
        path,
        [
            "frame.number",
            "tls.handshake.ja3",
            "tls.handshake.ja3_full",
            "tls.handshake.extensions_server_name",
        ],
        "tls.handshake.type==1 && tcp",
    )
    assert rows, "tshark saw no ClientHello"
    mine = _hellos(path)
    for row in rows:
        frame, ja3_hash, ja3_full = int(row[0]), row[1], row[2]
        sni = row[3] if len(row) > 3 else ""
        assert frame in mine, f"frame {frame}: no ClientHello parsed"
        got = mine[frame][1]
        assert got["ja3"] == ja3_full and got["ja3_hash"] == ja3_hash
        assert got.get("sni", "") == sni
        if sni:
            assert got["server_name"] == sni


# Published example (browserleaks-style record quoted in service0427/v2_cp_app tls.md):
# ja3_text, ja3_hash and ja4 of one Chrome ClientHello; GREASE is added below to check removal.
PUB_JA3 = (
    "771,4865-4866-4867-49195-49199-49196-49200-52393-52392-49171-49172-156-157-47-53,"
    "45-51-16-65037-23-17613-0-11-10-43-65281-35-18-5-13-27,4588-29-23-24,0"
)
PUB_JA3_HASH = "98487aa16281980e7d1120d399efb6a4"
PUB_JA4 = "t13d1516h2_8daaf6152771_d8a2da3f94cd"
PUB_SIGALGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def _u16(v: int) -> bytes:
    return v.to_bytes(2, "big")


def _vec(body: bytes, n: int = 2) -> bytes:
    return len(body).to_bytes(n, "big") + body


def build_client_hello(sni: str = "tls.browserleaks.com", grease: bool = True) -> bytes:
    """A ClientHello record carrying the published example's values."""
    _, ciphers, exts, groups, _ = PUB_JA3.split(",")
    cipher_list = [int(c) for c in ciphers.split("-")]
    group_list = [int(g) for g in groups.split("-")]
    bodies = {
        0: _vec(b"\x00" + _vec(sni.encode())),
        16: _vec(_vec(b"h2", 1) + _vec(b"http/1.1", 1)),
        10: _vec(b"".join(_u16(g) for g in ([0x2A2A] if grease else []) + group_list)),
        11: _vec(b"\x00", 1),
        13: _vec(b"".join(_u16(s) for s in PUB_SIGALGS)),
        43: _vec(b"".join(_u16(v) for v in [0x3A3A, 0x0304, 0x0303]), 1),
    }
    ext_codes = ([0x0A0A] if grease else []) + [int(e) for e in exts.split("-")]
    ext_bytes = b"".join(_u16(c) + _vec(bodies.get(c, b"")) for c in ext_codes)
    body = _u16(0x0303) + bytes(32) + _vec(bytes(32), 1)
    body += _vec(b"".join(_u16(c) for c in ([0x1A1A] if grease else []) + cipher_list))
    body += _vec(b"\x00", 1) + _vec(ext_bytes)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + _vec(hs)


def test_ja3_and_ja4_equal_published_values():
    got = tls.parse(build_client_hello())
    assert got["ja3"] == PUB_JA3
    assert got["ja3_hash"] == PUB_JA3_HASH == hashlib.md5(PUB_JA3.encode()).hexdigest()
    assert got["ja4"] == PUB_JA4
    assert got["sni"] == got["server_name"] == "tls.browserleaks.com"
    assert got["alpn"] == ["h2", "http/1.1"]
    assert got["version"] == "TLS 1.3"


def test_ja4_parts_follow_spec_rules():
    """No SNI -> 'i'; ALPN absent -> '00'; counts exclude GREASE."""
    hello = tls.parse(build_client_hello(grease=False))
    assert hello["ja4"] == PUB_JA4  # GREASE never changes the fingerprint
    # non-alphanumeric ALPN: first/last hex nibble of the value
    assert tls._alpn_chars([b"\xab\x01"]) == "a1"
    assert tls._alpn_chars([]) == "00"
    assert tls.is_grease(0xDADA) and not tls.is_grease(0xDADB)


def test_truncated_client_hello_never_reads_out_of_bounds():
    """Cut a real hello at every length: no exception, no fingerprint, SNI when present."""
    path = CAPTURES / "ndpi/android.pcap"
    if not path.is_file():
        pytest.skip("shared captures not present")
    pkt, full = next(iter(_hellos(path).values()))
    data = pkt.payload
    sni_end = data.find(full["sni"].encode()) + len(full["sni"])
    for cut in range(0, len(data)):
        got = tls.parse(data[:cut])
        if got is None:
            continue
        assert got.get("truncated") is True and "ja3" not in got and "ja4" not in got
        if cut >= sni_end:
            assert got["sni"] == full["sni"]


def test_lying_record_lengths_stay_in_bounds():
    hello = bytearray(build_client_hello())
    hello[3:5] = b"\xff\xff"  # record says 64 KiB
    hello[6:9] = b"\xff\xff\xff"  # handshake says 16 MiB
    got = tls.parse(bytes(hello))
    assert got["truncated"] is True and got["sni"] == "tls.browserleaks.com"


def test_server_hello_gives_ja3s():
    path = CAPTURES / "zeek/tls/tls1.2.pcap"
    if not path.is_file():
        pytest.skip("shared captures not present")
    rows = tshark(path, ["frame.number", "tls.handshake.ciphersuite"], "tls.handshake.type==2")
    assert rows
    frames = {p.frame: p for p in l4_packets(path)}
    got = tls.parse(frames[int(rows[0][0])].payload)
    assert got["handshake"] == "server_hello"
    assert got["cipher"] == int(rows[0][1], 16)
    assert got["ja3s"].startswith(f"{got['legacy_version']},{got['cipher']},")
