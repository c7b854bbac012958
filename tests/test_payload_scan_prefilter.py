"""The scans' numpy prefilters find exactly what the plain scans find.

EDIFACT markers: the '+' prefilter against `finditer` of the two regexes.
Remote-access signatures: the first-byte table against each signature's own
`Signature.matches` on every payload, one (flow, tool) per hit.
"""

from __future__ import annotations

import numpy as np
import pytest

from _detect_helpers import batch, frame
from cranewatch.decode import payload_scan
from cranewatch.decode.addr import ip_str
from cranewatch.decode.l2l4 import decode_l2l4
from cranewatch.decode.payload_scan import EQD_RE, UNH_RE, _Chunk, _edifact_matches
from cranewatch.knowledge import load
from cranewatch.sources import open_capture

SIG_CAPTURES = [
    "ndpi/teamviewer.pcap",
    "ndpi/vnc.pcap",
    "ndpi/ssh.pcap",
    "ndpi/wireguard.pcap",
    "scapy/ikev2_nat_t.pcapng",
    "ndpi/openvpn.pcap",
    "ndpi/telnet.pcap",
    "ndpi/rdp.pcap",
    "ndpi/pptp.pcap",
    "iti-ics-security-tools/ModbusTCP/mb2.pcap",
    "ndpi/iphone.pcap",
]


def _finditer(regex, raw: bytes) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in regex.finditer(raw)]


def _prefiltered(raw: bytes) -> list[list[tuple[int, int]]]:
    b = batch([frame("10.0.0.1", "10.0.0.2", b"x")])
    chunk = _Chunk(b, decode_l2l4(b))
    chunk.data = np.frombuffer(raw, dtype=np.uint8)
    chunk._raw = raw
    found = _edifact_matches(chunk)
    return [list(zip(pos.tolist(), end.tolist(), strict=True)) for pos, end, _ in found]


@pytest.mark.parametrize(
    "raw",
    [
        b"UNA:+.? 'UNB+UNOA:2+SND+RCV+240101:1200+1'UNH+1+BAPLIE:D:95B:UN'EQD+CN+MSCU1234566+22G1'",
        b"UNH+1+XXXUNH+2+COPRAR:D'",  # a marker inside a match is not matched again
        b"UNH+UNH+1+CODECO'EQD+CN+EQD+CN+EQD+C",
        b"+++UNH+" + b"A" * 40 + b"+COARRI'",  # reference too long: no match
        bytes(range(256)) * 8 + b"EQD+CN+",
    ],
)
def test_edifact_prefilter_equals_regex(raw):
    assert _prefiltered(raw) == [_finditer(UNH_RE, raw), _finditer(EQD_RE, raw)]


def test_edifact_prefilter_on_random_bytes():
    rng = np.random.default_rng(7)
    alphabet = np.frombuffer(b"UNHEQDCN+:'ABCPRLIE0123", dtype=np.uint8)
    for _ in range(20):
        raw = alphabet[rng.integers(0, len(alphabet), 4000)].tobytes()
        assert _prefiltered(raw) == [_finditer(UNH_RE, raw), _finditer(EQD_RE, raw)]


def _flow(e_or_row) -> tuple:
    src, dst, sport, dport = e_or_row
    return tuple(sorted([(src, sport), (dst, dport)]))


def _reference(path) -> set[tuple[str, bool, tuple]]:
    """Every payload tested against every signature on its own (slow, plain Python)."""
    kn = load()
    found = set()
    for b in open_capture(path).batches():
        pk = decode_l2l4(b)
        for i in np.flatnonzero((pk.payload_off >= 0) & (pk.payload_len > 0)).tolist():
            start = int(pk.payload_off[i])
            payload = b.data[start : start + int(pk.payload_len[i])].tobytes()
            l4 = {6: "tcp", 17: "udp"}.get(int(pk.proto[i]))
            ports = (int(pk.sport[i]), int(pk.dport[i]))
            row = (
                ip_str(pk.src_hi[i], pk.src_lo[i]),
                ip_str(pk.dst_hi[i], pk.dst_lo[i]),
                *ports,
            )
            for tool in kn.tools:
                for sig in tool.signatures:
                    if sig.l4 is not None and sig.l4 != l4:
                        continue
                    if not sig.matches(payload):
                        continue
                    if not sig.strong and not any(tool.has_port(l4, p) for p in ports):
                        continue
                    found.add((tool.name, _flow(row)))
    return found


@pytest.mark.parametrize("rel", SIG_CAPTURES)
def test_signature_table_equals_each_signature_alone(captures, rel):
    path = captures / rel
    if not path.is_file():
        pytest.skip(f"missing {rel}")
    got = set()
    for b in open_capture(path).batches():
        for e in payload_scan.scan_signatures(b, decode_l2l4(b)):
            got.add((e.fields["tool"], _flow((e.src_ip, e.dst_ip, e.sport, e.dport))))
    assert got == _reference(path)
