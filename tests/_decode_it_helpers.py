"""Helpers for the IT/LAN parser tests: read shared captures with dpkt and slice payloads.

Slicing is done here, independently of decode/l2l4.py, so these tests check the
parsers alone. `scan_after` finds a protocol start anywhere in a frame, which
reaches LLDP/CDP/DHCP inside tunnels (GRE/ERSPAN, CAPWAP, 802.11, Teredo)
that the Ethernet slicer does not open.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dpkt
import pytest

from conftest import CAPTURES, manifest_rows

VLAN_TYPES = (0x8100, 0x88A8, 0x9100)


def capture(rel: str) -> Path:
    """Path of one shared capture; skip the test when shared/ is absent."""
    path = CAPTURES / rel
    if not path.is_file():
        pytest.skip(f"shared capture missing: {path}")
    return path


def identity_rows(kinds: tuple[str, ...]) -> list[dict[str, str]]:
    """MANIFEST rows whose identities hold an item of one of `kinds` (collection time)."""
    return [
        row
        for row in manifest_rows()
        if any(f"{kind}:" in row.get("identities", "") for kind in kinds)
    ]


def identity_items(row: dict[str, str], kind: str) -> list[dict[str, str]]:
    """`kind:key=value,...` items of an identities cell as dicts (values may hold commas)."""
    items = []
    for item in row["identities"].split(";"):
        item = item.strip()
        if not item.startswith(kind + ":"):
            continue
        fields: dict[str, str] = {}
        last = None
        for chunk in item[len(kind) + 1 :].split(","):
            key, sep, value = chunk.partition("=")
            if sep and key.isidentifier() and key not in fields:
                fields[key] = value
                last = key
            elif last is not None:
                fields[last] += "," + chunk
        items.append(fields)
    return items


def frames(path: Path) -> Iterator[tuple[int, bytes]]:
    """(linktype, frame bytes) for each record of a pcap or pcapng file."""
    with path.open("rb") as fh:
        magic = fh.read(4)
        fh.seek(0)
        reader_cls = dpkt.pcapng.Reader if magic == b"\x0a\x0d\x0d\x0a" else dpkt.pcap.Reader
        reader = reader_cls(fh)
        linktype = reader.datalink()
        try:
            for _, buf in reader:
                yield linktype, bytes(buf)
        except (dpkt.NeedData, dpkt.UnpackError, ValueError):
            return


def ether_payload(frame: bytes) -> tuple[int, bytes] | None:
    """(innermost EtherType, bytes after it) for an Ethernet II frame; VLAN tags walked."""
    off = 12
    for _ in range(4):
        if off + 2 > len(frame):
            return None
        etype = int.from_bytes(frame[off : off + 2], "big")
        if etype not in VLAN_TYPES:
            return etype, frame[off + 2 :]
        off += 4
    return None


@dataclass
class L4:
    frame: int  # 1-based record number, as tshark's frame.number
    proto: str
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes


def _ip_packet(linktype: int, frame: bytes) -> bytes | None:
    if linktype == 1:
        got = ether_payload(frame)
        return got[1] if got and got[0] in (0x0800, 0x86DD) else None
    if linktype in (101, 228, 229, 12, 14):
        return frame
    if linktype in (0, 108):
        return frame[4:]
    if linktype == 113:
        return frame[16:]
    if linktype == 276:
        return frame[20:]
    return None


def l4_packets(path: Path) -> Iterator[L4]:
    """TCP/UDP payloads over IPv4/IPv6 of Ethernet/raw/null/SLL/SLL2 captures."""
    for number, (linktype, frame) in enumerate(frames(path), start=1):
        raw = _ip_packet(linktype, frame)
        if not raw:
            continue
        try:
            ip = dpkt.ip.IP(raw) if raw[0] >> 4 == 4 else dpkt.ip6.IP6(raw)
        except (dpkt.UnpackError, dpkt.NeedData, IndexError):
            continue
        seg = ip.data
        if isinstance(seg, dpkt.tcp.TCP | dpkt.udp.UDP):
            proto = "tcp" if isinstance(seg, dpkt.tcp.TCP) else "udp"
            src = dpkt.utils.inet_to_str(ip.src)
            dst = dpkt.utils.inet_to_str(ip.dst)
            yield L4(number, proto, src, dst, seg.sport, seg.dport, bytes(seg.data))


def port_payloads(path: Path, proto: str, ports: tuple[int, ...]) -> list[L4]:
    return [
        p
        for p in l4_packets(path)
        if p.proto == proto and (p.sport in ports or p.dport in ports) and p.payload
    ]


def scan_after(path: Path, marker: bytes, back: int = 0) -> Iterator[bytes]:
    """Bytes starting `back` bytes before each occurrence of `marker`, in every frame."""
    for _, frame in frames(path):
        start = frame.find(marker)
        while start >= 0:
            if start - back >= 0:
                yield frame[start - back :]
            start = frame.find(marker, start + 1)


def tshark(
    path: Path, fields: list[str], display_filter: str, aggregator: str = ","
) -> list[list[str]]:
    """tshark -T fields rows (no TCP reassembly); skip when tshark is missing."""
    exe = shutil.which("tshark")
    if exe is None:
        pytest.skip("tshark not installed")
    cmd = [exe, "-r", str(path), "-o", "tcp.desegment_tcp_streams:FALSE", "-Y", display_filter]
    cmd += ["-T", "fields", "-E", "separator=\t", "-E", f"aggregator={aggregator}"]
    for name in fields:
        cmd += ["-e", name]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    return [line.split("\t") for line in res.stdout.splitlines() if line.strip()]
