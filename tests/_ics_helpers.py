"""Helpers for the ICS parser tests: read shared captures with dpkt, slice payloads.

The slicing here is deliberately independent of decode/l2l4.py so that the
parser tests check the parsers, not the columnar decoder: Ethernet (with up to
4 VLAN tags), BSD null/loop, raw IP and Linux SLL; IPv4/IPv6; TCP/UDP.
"""

from __future__ import annotations

import struct
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dpkt
import pytest

from conftest import CAPTURES, manifest_rows
from cranewatch.decode.select import Selector

_VLAN_TYPES = (0x8100, 0x88A8, 0x9100)


def captures_dir() -> Path:
    """The shared captures folder (located by conftest.py); skip when absent."""
    if not (CAPTURES / "MANIFEST.tsv").is_file():
        pytest.skip(f"shared captures not found at {CAPTURES}")
    return CAPTURES


def manifest() -> list[dict[str, str]]:
    captures_dir()
    return manifest_rows()


def identity_items(row: dict[str, str], kind: str) -> list[dict[str, str]]:
    """The `kind:key=value,...` items of a MANIFEST identities cell, as dicts."""
    items = []
    for item in row["identities"].split(";"):
        item = item.strip()
        if not item.startswith(kind + ":"):
            continue
        fields = {}
        for part in _split_fields(item[len(kind) + 1 :]):
            key, _, value = part.partition("=")
            fields[key] = value
        items.append(fields)
    return items


def _split_fields(text: str) -> list[str]:
    """Split on commas that start a new `key=`; values may hold commas (vendor names)."""
    parts: list[str] = []
    for chunk in text.split(","):
        head = chunk.split("=", 1)[0]
        if parts and ("=" not in chunk or not head.replace("_", "").isalnum()):
            parts[-1] += "," + chunk
        else:
            parts.append(chunk)
    return parts


@dataclass
class Pkt:
    src_mac: bytes
    dst_mac: bytes
    ethertype: int
    l2_payload: bytes  # after the innermost EtherType
    l4: str | None = None
    src_ip: str | None = None
    dst_ip: str | None = None
    sport: int = 0
    dport: int = 0
    payload: bytes = b""


def read_packets(path: Path) -> Iterator[tuple[int, bytes]]:
    """(linktype, frame) for every record; pcap or pcapng."""
    with open(path, "rb") as fh:
        try:
            reader = dpkt.pcap.UniversalReader(fh)
        except (ValueError, dpkt.NeedData):
            return
        link = reader.datalink()
        try:
            for _ts, buf in reader:
                yield link, buf
        except (dpkt.NeedData, dpkt.UnpackError, struct.error, ValueError):
            return


def slice_packet(link: int, buf: bytes) -> Pkt | None:
    """Walk L2 (VLAN tags included) and L3/L4 by hand."""
    src = dst = b""
    if link == 1:
        if len(buf) < 14:
            return None
        dst, src = buf[0:6], buf[6:12]
        etype, off = struct.unpack_from(">H", buf, 12)[0], 14
        for _ in range(4):
            if etype not in _VLAN_TYPES or len(buf) < off + 4:
                break
            etype, off = struct.unpack_from(">H", buf, off + 2)[0], off + 4
    elif link in (0, 108):
        if len(buf) < 4:
            return None
        fam = struct.unpack_from("<I", buf)[0]
        if fam > 0xFFFF:
            fam = struct.unpack_from(">I", buf)[0]
        etype, off = (0x0800 if fam == 2 else 0x86DD), 4
    elif link in (101, 228, 229, 12, 14):
        if not buf:
            return None
        etype, off = (0x0800 if buf[0] >> 4 == 4 else 0x86DD), 0
    elif link == 113:
        if len(buf) < 16:
            return None
        etype, off = struct.unpack_from(">H", buf, 14)[0], 16
    else:
        return None
    pkt = Pkt(src, dst, etype, buf[off:])
    _slice_ip(pkt, buf, off)
    return pkt


def _slice_ip(pkt: Pkt, buf: bytes, off: int) -> None:
    if pkt.ethertype == 0x0800 and len(buf) >= off + 20:
        ihl = (buf[off] & 0x0F) * 4
        total = struct.unpack_from(">H", buf, off + 2)[0]
        frag = struct.unpack_from(">H", buf, off + 6)[0] & 0x1FFF
        proto = buf[off + 9]
        pkt.src_ip = ".".join(map(str, buf[off + 12 : off + 16]))
        pkt.dst_ip = ".".join(map(str, buf[off + 16 : off + 20]))
        end = min(len(buf), off + total) if total >= ihl else len(buf)
        if frag:
            return
        _slice_l4(pkt, buf[off + ihl : end], proto)
    elif pkt.ethertype == 0x86DD and len(buf) >= off + 40:
        plen = struct.unpack_from(">H", buf, off + 4)[0]
        proto = buf[off + 6]
        pkt.src_ip = buf[off + 8 : off + 24].hex()
        pkt.dst_ip = buf[off + 24 : off + 40].hex()
        body = buf[off + 40 : off + 40 + plen]
        for _ in range(8):
            if proto not in (0, 43, 60) or len(body) < 8:
                break
            proto, body = body[0], body[(body[1] + 1) * 8 :]
        _slice_l4(pkt, body, proto)


def _slice_l4(pkt: Pkt, seg: bytes, proto: int) -> None:
    if proto == 6 and len(seg) >= 20:
        pkt.l4 = "tcp"
        pkt.sport, pkt.dport = struct.unpack_from(">HH", seg)
        pkt.payload = seg[(seg[12] >> 4) * 4 :]
    elif proto == 17 and len(seg) >= 8:
        pkt.l4 = "udp"
        pkt.sport, pkt.dport = struct.unpack_from(">HH", seg)
        pkt.payload = seg[8:]


def selected(sel: Selector, pkt: Pkt) -> bytes | None:
    """The bytes the dispatcher would hand the parser, or None when not selected."""
    if sel.ethertypes and pkt.ethertype in sel.ethertypes:
        return pkt.l2_payload
    if pkt.l4 is None or not pkt.payload or (sel.l4 and sel.l4 != pkt.l4):
        return None
    if sel.ports and (pkt.sport in sel.ports or pkt.dport in sel.ports):
        return pkt.payload
    if any(pkt.payload.startswith(p) for p in sel.prefixes):
        return pkt.payload
    return None


def run_parser(module, path: Path, per_flow: bool = True) -> list[tuple[Pkt, dict]]:
    """Parse every selected packet of one capture, honouring SELECT.per_flow as the
    dispatcher does (first N selected packets of each bidirectional flow)."""
    sel: Selector = module.SELECT
    seen: Counter = Counter()
    results = []
    for link, buf in read_packets(path):
        pkt = slice_packet(link, buf)
        if pkt is None:
            continue
        data = selected(sel, pkt)
        if data is None:
            continue
        forced = any(len(data) > off and data[off] == byte for off, byte in sel.always)
        if per_flow and sel.per_flow and not forced:
            # like dispatch.py: L2 parsers count per source MAC, L4 ones per flow
            ends = sorted([(pkt.src_ip, pkt.sport), (pkt.dst_ip, pkt.dport)], key=str)
            key = (pkt.l4, *ends) if data is pkt.payload else pkt.src_mac
            seen[key] += 1
            if seen[key] > sel.per_flow:
                continue
        fields = module.parse(data)
        if fields is not None:
            results.append((pkt, fields))
    return results


def rows_with(kind: str) -> list[dict[str, str]]:
    """Rows whose identities hold at least one item of `kind`."""
    return [r for r in manifest() if identity_items(r, kind)]


def rows_params(kind: str) -> list:
    """pytest params (one per MANIFEST row with `kind`), evaluated lazily-safe."""
    try:
        rows = rows_with(kind)
    except pytest.skip.Exception:
        return [pytest.param(None, marks=pytest.mark.skip(reason="no shared captures"))]
    return [pytest.param(r, id=r["path"]) for r in rows]
