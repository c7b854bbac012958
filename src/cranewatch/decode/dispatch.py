"""Pick the few packets worth deep parsing, with whole-array masks, and parse them.

Zeek-style split: the parsers (one module per protocol) say *which* packets
they want through a `Selector` and *what* the bytes say through `parse`; this
module only routes. Chatty cyclic protocols (Modbus polling every 10 ms) are
cut to the first `per_flow` packets of each flow, first per chunk with numpy,
then across chunks with a small counter per flow.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable, Hashable
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
_L4_NAME = {6: "tcp", 17: "udp"}
MAX_FACTS = 1 << 16  # distinct (ends, fact) kept per input before the table starts over
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)


@dataclass(frozen=True, slots=True)
class Parser:
    """A parser module as dispatch sees it.

    takes_l4: `parse` accepts the keyword `l4` ('tcp'/'udp'): a protocol framed
              differently per transport (DNS) then parses each payload once.
    fact_key: optional `fields -> hashable`: events of one input with the same
              endpoints, service port and key are one fact; dispatch keeps the
              first and counts the others in `fields['count']`.
    raw_key:  optional `(payload, l4) -> bytes | None`, with fact_key: the part of
              a payload that decides its fields (None: always parse); a payload
              seen before is then counted without being parsed again.
    """

    name: str
    select: Selector
    parse: Callable[..., dict | None]
    takes_l4: bool = False
    fact_key: Callable[[dict], Hashable] | None = None
    raw_key: Callable[[bytes, str | None], bytes | None] | None = None


def load_parsers(names: tuple[str, ...] = PARSER_MODULES) -> list[Parser]:
    """Import the parser modules; each must export SELECT and parse (optionally fact_key)."""
    parsers = []
    for name in names:
        module: ModuleType = importlib.import_module(f"cranewatch.decode.{name}")
        try:
            takes_l4 = "l4" in inspect.signature(module.parse).parameters
        except (TypeError, ValueError):  # a builtin without a signature takes bytes only
            takes_l4 = False
        parsers.append(
            Parser(
                name.replace("_", "-"),
                module.SELECT,
                module.parse,
                takes_l4,
                getattr(module, "fact_key", None),
                getattr(module, "raw_key", None),
            )
        )
    return parsers


class DeepParser:
    """Runs the parsers over the selected packets of each batch of one input.

    Selection cost must not grow with the number of parsers: lookup tables
    built once (per-port, per-EtherType and per-first-two-payload-bytes parser
    bitmaps) give every packet one bitmap with a few gathers; only the packets
    with a bit set are then checked exactly by each parser's `Selector`. Flows
    that already gave a parser its `per_flow` packets are dropped with numpy
    before any Python loop, so a 10 ms polling flow costs nothing after its
    first packets.
    """

    def __init__(self, input_index: int = 0, parsers: list[Parser] | None = None):
        self.input_index = input_index
        self.parsers = parsers if parsers is not None else load_parsers()
        self._per_flow_seen: dict[tuple[str, int], int] = {}
        self._full: list[np.ndarray] = [np.zeros(0, np.uint64) for _ in self.parsers]
        self._new_full: list[list[int]] = [[] for _ in self.parsers]
        self._tables = _Tables(self.parsers)
        self._text = _TextCache()
        self._facts: dict[tuple, dict] = {}  # (parser, ends, fact) -> first event's fields
        self._raw: dict[tuple, dict | None] = {}  # (parser, ends, raw bytes) -> the same
        self.parse_errors = 0

    def run(self, batch: RawBatch, pk: Packets, first_packet_no: int) -> list[Event]:
        """Events for this batch; `first_packet_no` numbers packets within the input."""
        if len(pk) == 0:
            return []
        cand, bits = self._tables.candidates(batch, pk)
        if not len(cand):
            return []
        sub = _Subset(batch, pk, cand)
        found: list[tuple[str, int, dict]] = []
        for k, parser in enumerate(self.parsers):
            at = np.flatnonzero((bits >> np.uint64(k)) & np.uint64(1))
            if not len(at):
                continue
            sel = parser.select
            at = at[_select_mask(sel, sub, at, batch.data)]
            if not len(at):
                continue
            l2 = bool(sel.ethertypes or sel.dst_macs)
            keys = sub.src_mac[at] if l2 else sub.flow_key[at]
            forced = np.zeros(len(at), dtype=bool)
            if sel.per_flow:
                if sel.always:
                    forced = _always_mask(batch.data, sub, at, sel.always)
                    keys = np.where(forced, np.uint64(0), keys)
                fresh = ~forced & ~np.isin(keys, self._full[k])
                first, first_keys = _first_per_key(at[fresh], keys[fresh], sel.per_flow)
                at = np.concatenate([first, at[forced]])
                keys = np.concatenate([first_keys, keys[forced]])
                forced = np.r_[
                    np.zeros(len(first), dtype=bool), np.ones(len(at) - len(first), dtype=bool)
                ]
            ends = _ends(sub, at, sel.ports) if parser.fact_key is not None else None
            for n_at, (j, key, force) in enumerate(
                zip(at.tolist(), keys.tolist(), forced.tolist(), strict=True)
            ):
                if sel.per_flow and not force:
                    counter = (parser.name, key)
                    n = self._per_flow_seen.get(counter, 0)
                    if n >= sel.per_flow:
                        continue
                    self._per_flow_seen[counter] = n + 1
                    if n + 1 == sel.per_flow:
                        self._new_full[k].append(key)
                if ends is None:
                    fields = self._parse_one(parser, batch, sub, j, l2)
                else:
                    fields = self._parse_fact(parser, batch, sub, j, ends[n_at])
                if fields:
                    found.append((parser.name, j, fields))
            if self._new_full[k]:
                new = np.array(self._new_full[k], dtype=np.uint64)
                self._full[k] = np.union1d(self._full[k], new)
                self._new_full[k] = []
        return self._events(sub, found, first_packet_no)

    def _parse_fact(
        self, parser: Parser, batch: RawBatch, sub: _Subset, j: int, ends: tuple
    ) -> dict | None:
        """Fields of a packet that says something new between `ends`, else None.

        A repeat of a known fact only bumps `count` in the first event's fields.
        Two tables, each bounded by MAX_FACTS: payloads already seen (byte for
        byte, as the parser's `raw_key` cuts them: a DNS message without its
        id) skip the parse; parsed fields equal under `fact_key` are one fact.
        """
        data = self._payload(batch, sub, j, False)
        if data is None:
            return None
        l4 = _L4_NAME.get(int(sub.proto[j]))
        raw = parser.raw_key(data, l4) if parser.raw_key is not None else None
        raw_key = (parser.name, ends, raw)
        if raw is not None and raw_key in self._raw:
            first = self._raw[raw_key]
            if first is not None:
                first["count"] += 1
            return None
        fields = self._parse(parser, data, l4)
        first = self._fact_of(parser, ends, fields) if fields else None
        if raw is not None:
            if len(self._raw) >= MAX_FACTS:
                self._raw.clear()
            self._raw[raw_key] = first
        return fields if first is fields else None

    def _fact_of(self, parser: Parser, ends: tuple, fields: dict) -> dict | None:
        """The fields holding the count of this fact: `fields` itself when it is new."""
        try:
            key = (parser.name, ends, parser.fact_key(fields))
            hash(key)
        except Exception:  # an unhashable or odd field: keep the event as it is
            self.parse_errors += 1
            fields["count"] = 1
            return fields
        first = self._facts.get(key)
        if first is not None:
            first["count"] += 1
            return first
        if len(self._facts) >= MAX_FACTS:
            self._facts.clear()
        fields["count"] = 1
        self._facts[key] = fields
        return fields

    def _events(self, sub: _Subset, found: list, first_no: int) -> list[Event]:
        """Events of the parsed packets; their columns are gathered in one go."""
        if not found:
            return []
        at = np.array([j for _, j, _ in found], dtype=np.intp)
        rows = zip(*(getattr(sub, name)[at].tolist() for name in _ROW), strict=True)
        index = sub.index[at].tolist()
        ref = self.input_index
        return [
            self._text.event(name, row, fields, (ref, first_no + i))
            for (name, _, fields), row, i in zip(found, rows, index, strict=True)
        ]

    def _parse_one(
        self, parser: Parser, batch: RawBatch, sub: _Subset, j: int, l2: bool
    ) -> dict | None:
        data = self._payload(batch, sub, j, l2)
        if data is None:
            return None
        return self._parse(parser, data, None if l2 else _L4_NAME.get(int(sub.proto[j])))

    @staticmethod
    def _payload(batch: RawBatch, sub: _Subset, j: int, l2: bool) -> bytes | None:
        """The bytes a parser gets: the L4 payload, or for L2 parsers what follows the EtherType."""
        if l2:
            start = int(sub.l3_off[j])
            end = int(sub.l2_end[j])
        else:
            start = int(sub.payload_off[j])
            end = start + int(sub.payload_len[j])
        if start < 0 or end <= start:
            return None
        return batch.data[start:end].tobytes()

    def _parse(self, parser: Parser, data: bytes, l4: str | None) -> dict | None:
        try:
            if parser.takes_l4 and l4 is not None:
                fields = parser.parse(data, l4=l4)
            else:
                fields = parser.parse(data)
        except Exception:  # a parser bug must not blind the whole run
            self.parse_errors += 1
            return None
        return fields or None


class _TextCache:
    """Address texts already made: events repeat the same few hosts many times."""

    def __init__(self) -> None:
        self._mac: dict[int, str] = {}
        self._ip: dict[tuple[int, int], str] = {}

    def mac(self, value: int) -> str:
        text = self._mac.get(value)
        if text is None:
            if len(self._mac) > 1 << 16:
                self._mac.clear()
            text = self._mac[value] = mac_str(value)
        return text

    def ip(self, hi: int, lo: int) -> str:
        text = self._ip.get((hi, lo))
        if text is None:
            if len(self._ip) > 1 << 16:
                self._ip.clear()
            text = self._ip[(hi, lo)] = ip_str(hi, lo)
        return text

    def event(self, name: str, row: tuple, fields: dict, ref: tuple[int, int]) -> Event:
        ts, has_mac, smac, dmac, ver, shi, slo, dhi, dlo, proto, sport, dport = row
        return Event(
            ts=ts,
            proto=name,
            src_mac=self.mac(smac) if has_mac else None,
            dst_mac=self.mac(dmac) if has_mac else None,
            src_ip=self.ip(shi, slo) if ver else None,
            dst_ip=self.ip(dhi, dlo) if ver else None,
            l4={6: "tcp", 17: "udp"}.get(proto),
            sport=sport,
            dport=dport,
            fields=fields,
            ref=ref,
        )


_ROW = (
    "ts", "has_mac", "src_mac", "dst_mac", "ip_ver", "src_hi", "src_lo", "dst_hi", "dst_lo",
    "proto", "sport", "dport",
)  # fmt: skip


class _Subset:
    """The candidate packets' columns, gathered once per batch (few rows)."""

    def __init__(self, batch: RawBatch, pk: Packets, index: np.ndarray) -> None:
        self.index = index
        for name in (
            "ts", "has_mac", "src_mac", "dst_mac", "ip_ver", "src_hi", "src_lo", "dst_hi",
            "dst_lo", "proto", "sport", "dport", "ethertype", "l3_off", "payload_off",
            "payload_len",
        ):  # fmt: skip
            setattr(self, name, getattr(pk, name)[index])
        self.l2_end = batch.offsets[index] + batch.caplens[index]
        self.flow_key = _flow_key(self)
        self.prefix4, self.prefix_len = _payload_prefix(batch.data, self)


class _Tables:
    """Per-parser bitmaps by port, EtherType and first two payload bytes, built once."""

    def __init__(self, parsers: list[Parser]) -> None:
        if len(parsers) > 64:
            raise ValueError("at most 64 parsers")
        self.port = np.zeros((2, 1 << 16), dtype=np.uint64)  # row 0 TCP, row 1 UDP
        self.prefix = np.zeros((2, 1 << 16), dtype=np.uint64)
        self.eth = np.zeros(1 << 16, dtype=np.uint64)
        self.dst_macs: list[tuple[np.ndarray, np.uint64]] = []
        for k, parser in enumerate(parsers):
            bit = np.uint64(1 << k)
            sel = parser.select
            rows = [r for r, num in enumerate((6, 17)) if num in _L4[sel.l4]]
            for r in rows:
                for port in sel.ports:
                    self.port[r, port] |= bit
                for prefix in sel.prefixes:
                    lo = prefix[0] << 8
                    if len(prefix) >= 2:
                        self.prefix[r, lo | prefix[1]] |= bit
                    else:
                        self.prefix[r, lo : lo + 256] |= bit
            for ethertype in sel.ethertypes:
                self.eth[ethertype] |= bit
            if sel.dst_macs:
                self.dst_macs.append((np.array(sel.dst_macs, dtype=np.uint64), bit))
        self.any_l4 = bool(self.port.any() or self.prefix.any())

    def candidates(self, batch: RawBatch, pk: Packets) -> tuple[np.ndarray, np.ndarray]:
        """Packets some parser may want (a superset), and their parser bitmaps."""
        bits = self.eth[pk.ethertype]
        bits[pk.l3_off < 0] = 0
        if self.any_l4:
            udp = pk.proto == 17
            l4 = (udp | (pk.proto == 6)) & (pk.payload_len > 0)
            row = udp.astype(np.intp) << 16
            flat = self.port.ravel()
            l4_bits = flat[row | pk.sport] | flat[row | pk.dport]
            off = np.where(l4, pk.payload_off, 0)
            first2 = (batch.data[off].astype(np.intp) << 8) | batch.data[off + 1]
            l4_bits |= self.prefix.ravel()[row | first2]
            l4_bits[~l4] = 0
            bits |= l4_bits
        for macs, bit in self.dst_macs:
            bits[pk.has_mac & np.isin(pk.dst_mac, macs)] |= bit
        cand = np.flatnonzero(bits)
        return cand, bits[cand]


def _ends(sub: _Subset, at: np.ndarray, ports: tuple[int, ...]) -> list[tuple]:
    """Both ends of each row as plain ints: MACs, IPs, protocol and the service port.

    A port not in the parser's `ports` (a client's ephemeral one) is left out,
    so that repeats of one question from new source ports are one fact.
    """
    cols = [getattr(sub, name)[at] for name in ("has_mac", "src_mac", "dst_mac", "ip_ver")]
    cols += [getattr(sub, name)[at] for name in ("src_hi", "src_lo", "dst_hi", "dst_lo", "proto")]
    wanted = np.array(ports, dtype=sub.sport.dtype)
    for name in ("sport", "dport"):
        port = getattr(sub, name)[at]
        cols.append(np.where(np.isin(port, wanted), port, 0))
    return list(zip(*(c.tolist() for c in cols), strict=True))


def _payload_prefix(data: np.ndarray, sub) -> tuple[np.ndarray, np.ndarray]:
    """First four payload bytes of every packet as a big-endian uint32, and how many exist."""
    off = np.where(sub.payload_off >= 0, sub.payload_off, 0)
    n = np.minimum(sub.payload_len, 4).clip(0)
    word = np.zeros(len(off), dtype=np.uint32)
    for k in range(4):
        byte = data[off + k].astype(np.uint32)
        byte[n <= k] = 0
        word |= byte << np.uint32(8 * (3 - k))
    return word, n


def _flow_key(pk) -> np.ndarray:
    """A direction-free 64-bit key per packet, good enough to count packets per flow."""
    with np.errstate(over="ignore"):
        a = (pk.src_lo ^ (pk.src_hi * _M2)) * _M1
        b = (pk.dst_lo ^ (pk.dst_hi * _M2)) * _M1
        ports = (pk.sport.astype(np.uint64) + pk.dport.astype(np.uint64)) * _M2
        return (a + b) ^ ports ^ (pk.proto.astype(np.uint64) << np.uint64(56))


def _select_mask(sel: Selector, sub: _Subset, at: np.ndarray, data: np.ndarray) -> np.ndarray:
    """The parser's exact selection rule on the candidate rows `at` of `sub`."""
    mask = np.zeros(len(at), dtype=bool)
    l3_off = sub.l3_off[at]
    if sel.ethertypes:
        l2 = np.isin(sub.ethertype[at], sel.ethertypes) & (l3_off >= 0)
        if sel.l2_prefixes:
            l2 &= _starts_with(data, l3_off, sub.l2_end[at] - l3_off, sel.l2_prefixes)
        mask |= l2
    if sel.dst_macs:
        macs = np.array(sel.dst_macs, dtype=np.uint64)
        mask |= np.isin(sub.dst_mac[at], macs) & sub.has_mac[at]
    if sel.ports or sel.prefixes:
        l4 = np.isin(sub.proto[at], _L4[sel.l4]) & (sub.payload_len[at] > 0)
        if sel.ports:
            ports = np.array(sel.ports, dtype=sub.sport.dtype)
            mask |= l4 & (np.isin(sub.sport[at], ports) | np.isin(sub.dport[at], ports))
        prefix4, prefix_len = sub.prefix4[at], sub.prefix_len[at]
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


def _always_mask(data: np.ndarray, sub: _Subset, at: np.ndarray, rules) -> np.ndarray:
    """Which selected packets match an `always` (offset, byte) rule."""
    hit = np.zeros(len(at), dtype=bool)
    off = sub.payload_off[at]
    avail = sub.payload_len[at]
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
