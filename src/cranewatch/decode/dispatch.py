"""Pick the few packets worth deep parsing, with whole-array masks, and parse them.

Zeek-style split: the parsers (one module per protocol) say *which* packets
they want through a `Selector` and *what* the bytes say through `parse`; this
module only routes. Chatty cyclic protocols (Modbus polling every 10 ms) are
cut to the first `per_flow` packets of each flow, first per chunk with numpy,
then across chunks with a small counter per flow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np

from cranewatch.decode.addr import ip_str, mac_str
from cranewatch.decode.events import Event
from cranewatch.decode.packets import Packets
from cranewatch.decode.select import Selector
from cranewatch.sources.batch import RawBatch

# Parser modules under cranewatch.decode, in the order they are tried.
PARSER_MODULES = (
    "arp",
    "lldp",
    "cdp",
    "pn_dcp",
    "dhcp",
    "dns",
    "mdns",
    "nbns",
    "ssdp",
    "snmp",
    "tls",
    "http",
    "ssh",
    "rfb",
    "enip",
    "s7comm",
    "modbus",
    "bacnet",
    "opcua",
)

_L4 = {"tcp": (6,), "udp": (17,), None: (6, 17)}
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)


@dataclass(frozen=True, slots=True)
class Parser:
    name: str
    select: Selector
    parse: Callable[[bytes], dict | None]


def load_parsers(names: tuple[str, ...] = PARSER_MODULES) -> list[Parser]:
    """Import the parser modules; each must export SELECT and parse."""
    parsers = []
    for name in names:
        module: ModuleType = importlib.import_module(f"cranewatch.decode.{name}")
        parsers.append(Parser(name.replace("_", "-"), module.SELECT, module.parse))
    return parsers


class DeepParser:
    """Runs the parsers over the selected packets of each batch of one input."""

    def __init__(self, input_index: int = 0, parsers: list[Parser] | None = None):
        self.input_index = input_index
        self.parsers = parsers if parsers is not None else load_parsers()
        self._per_flow_seen: dict[tuple[str, int], int] = {}
        self.parse_errors = 0

    def run(self, batch: RawBatch, pk: Packets, first_packet_no: int) -> list[Event]:
        """Events for this batch; `first_packet_no` numbers packets within the input."""
        if len(pk) == 0:
            return []
        prefix4, prefix_len = _payload_prefix(batch, pk)
        l2_len = batch.offsets + batch.caplens - pk.l3_off
        flow_key = _flow_key(pk)
        events: list[Event] = []
        for parser in self.parsers:
            sel = parser.select
            mask = _select_mask(sel, pk, prefix4, prefix_len, batch.data, l2_len)
            idx = np.flatnonzero(mask)
            if idx.size == 0:
                continue
            l2 = bool(sel.ethertypes or sel.dst_macs)
            keys = pk.src_mac[idx] if l2 else flow_key[idx]
            forced = np.zeros(len(idx), dtype=bool)
            if sel.per_flow:
                if sel.always:
                    forced = _always_mask(batch.data, pk, idx, sel.always)
                    keys = np.where(forced, np.uint64(0), keys)
                first, first_keys = _first_per_key(idx[~forced], keys[~forced], sel.per_flow)
                idx = np.concatenate([first, idx[forced]])
                keys = np.concatenate([first_keys, keys[forced]])
                forced = np.r_[
                    np.zeros(len(first), dtype=bool), np.ones(len(idx) - len(first), dtype=bool)
                ]
            for i, key, force in zip(idx.tolist(), keys.tolist(), forced.tolist(), strict=True):
                if sel.per_flow and not force:
                    counter = (parser.name, key)
                    n = self._per_flow_seen.get(counter, 0)
                    if n >= sel.per_flow:
                        continue
                    self._per_flow_seen[counter] = n + 1
                event = self._parse_one(parser, batch, pk, i, l2, first_packet_no)
                if event is not None:
                    events.append(event)
        return events

    def _parse_one(
        self, parser: Parser, batch: RawBatch, pk: Packets, i: int, l2: bool, first_no: int
    ) -> Event | None:
        if l2:
            start = int(pk.l3_off[i])
            end = int(batch.offsets[i]) + int(batch.caplens[i])
        else:
            start = int(pk.payload_off[i])
            end = start + int(pk.payload_len[i])
        if start < 0 or end <= start:
            return None
        data = batch.data[start:end].tobytes()
        try:
            fields = parser.parse(data)
        except Exception:  # a parser bug must not blind the whole run
            self.parse_errors += 1
            return None
        if not fields:
            return None
        return _event(parser.name, pk, i, fields, (self.input_index, first_no + i))


def _event(name: str, pk: Packets, i: int, fields: dict, ref: tuple[int, int]) -> Event:
    has_mac = bool(pk.has_mac[i])
    has_ip = int(pk.ip_ver[i]) != 0
    proto = int(pk.proto[i])
    return Event(
        ts=float(pk.ts[i]),
        proto=name,
        src_mac=mac_str(int(pk.src_mac[i])) if has_mac else None,
        dst_mac=mac_str(int(pk.dst_mac[i])) if has_mac else None,
        src_ip=ip_str(pk.src_hi[i], pk.src_lo[i]) if has_ip else None,
        dst_ip=ip_str(pk.dst_hi[i], pk.dst_lo[i]) if has_ip else None,
        l4={6: "tcp", 17: "udp"}.get(proto),
        sport=int(pk.sport[i]),
        dport=int(pk.dport[i]),
        fields=fields,
        ref=ref,
    )


def _payload_prefix(batch: RawBatch, pk: Packets) -> tuple[np.ndarray, np.ndarray]:
    """First four payload bytes of every packet as a big-endian uint32, and how many exist."""
    off = np.where(pk.payload_off >= 0, pk.payload_off, 0)
    n = np.minimum(pk.payload_len, 4).clip(0)
    word = np.zeros(len(pk), dtype=np.uint32)
    for k in range(4):
        byte = batch.data[off + k].astype(np.uint32)
        byte[n <= k] = 0
        word |= byte << np.uint32(8 * (3 - k))
    return word, n


def _flow_key(pk: Packets) -> np.ndarray:
    """A direction-free 64-bit key per packet, good enough to count packets per flow."""
    with np.errstate(over="ignore"):
        a = (pk.src_lo ^ (pk.src_hi * _M2)) * _M1
        b = (pk.dst_lo ^ (pk.dst_hi * _M2)) * _M1
        ports = (pk.sport.astype(np.uint64) + pk.dport.astype(np.uint64)) * _M2
        return (a + b) ^ ports ^ (pk.proto.astype(np.uint64) << np.uint64(56))


def _select_mask(
    sel: Selector,
    pk: Packets,
    prefix4: np.ndarray,
    prefix_len: np.ndarray,
    data: np.ndarray,
    l2_len: np.ndarray,
) -> np.ndarray:
    mask = np.zeros(len(pk), dtype=bool)
    if sel.ethertypes:
        l2 = np.isin(pk.ethertype, sel.ethertypes) & (pk.l3_off >= 0)
        if sel.l2_prefixes:
            l2 &= _starts_with(data, pk.l3_off, l2_len, sel.l2_prefixes)
        mask |= l2
    if sel.dst_macs:
        mask |= np.isin(pk.dst_mac, np.array(sel.dst_macs, dtype=np.uint64)) & pk.has_mac
    if sel.ports or sel.prefixes:
        l4 = np.isin(pk.proto, _L4[sel.l4]) & (pk.payload_len > 0)
        if sel.ports:
            ports = np.array(sel.ports, dtype=pk.sport.dtype)
            mask |= l4 & (np.isin(pk.sport, ports) | np.isin(pk.dport, ports))
        for prefix in sel.prefixes:
            n = len(prefix)
            want = int.from_bytes(prefix, "big")
            mask |= l4 & (prefix_len >= n) & ((prefix4 >> np.uint32(8 * (4 - n))) == want)
    return mask


def _starts_with(data: np.ndarray, off: np.ndarray, avail: np.ndarray, prefixes) -> np.ndarray:
    """Whether the bytes at `off` start with one of `prefixes` (and that many exist)."""
    safe = np.where(off >= 0, off, 0)
    hit = np.zeros(len(off), dtype=bool)
    for prefix in prefixes:
        ok = avail >= len(prefix)
        for k, byte in enumerate(prefix):
            ok &= data[safe + k] == byte
        hit |= ok
    return hit


def _always_mask(data: np.ndarray, pk: Packets, idx: np.ndarray, rules) -> np.ndarray:
    """Which selected packets match an `always` (offset, byte) rule."""
    hit = np.zeros(len(idx), dtype=bool)
    off = pk.payload_off[idx]
    avail = pk.payload_len[idx]
    for offset, byte in rules:
        hit |= (off >= 0) & (avail > offset) & (data[np.where(off >= 0, off, 0) + offset] == byte)
    return hit


def _first_per_key(idx: np.ndarray, keys: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Keep, in packet order, the first `limit` packets of each key."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    rank = np.arange(len(order)) - group_start
    keep = np.sort(order[rank < limit])
    return idx[keep], keys[keep]
