"""Pick the few packets worth deep parsing, with whole-array masks, and parse them.

Zeek-style split: the parsers (one module per protocol) say *which* packets
they want through a `Selector` and *what* the bytes say through `parse`; this
module only routes. Chatty cyclic protocols (Modbus polling every 10 ms) are
cut to the first `per_flow` packets of each flow, first per chunk with numpy,
then across chunks with a small counter per flow. Repeated messages (a DNS
query from a new source port every time) are grouped per chunk with numpy, so
that the Python loop visits one row per group.
"""

from __future__ import annotations

import importlib
import inspect
from collections import Counter
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from functools import cached_property
from types import ModuleType

import numpy as np

from cranewatch.decode.addr import ip_str, mac_str
from cranewatch.decode.events import Event
from cranewatch.decode.packets import Packets
from cranewatch.decode.rows import first_equal
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
MAX_RAW = 1 << 16  # payloads remembered per session (volatile) before that table starts over
# Flows whose parsed packets are counted (per_flow) before that table starts over: a
# day of TLS connections would otherwise grow it without bound. Flows already full
# stay known to `_FullFlows`; a flow not yet full may then be parsed a few more times.
MAX_COUNTED = 1 << 16
# Events kept per parser per ParseSession; later new facts are dropped and counted. Real
# captures stay far below (the most in shared/captures: 2,169 BACnet events); a
# flood of unique DNS answers or DHCP requests would otherwise grow without bound.
MAX_EVENTS = 50_000
Volatile = dict[str, tuple[int, int, int]]  # transport -> (offset, size, shortest payload)
_UNSEEN = object()  # a payload not in the raw table (None there: seen, said nothing)
# Selected rows of a parser with `volatile` from which a batch groups repeats with numpy:
# below, the loop over the rows costs less than the grouping's ~0.1 ms (DNS repeats
# already in the raw table: 128 rows 0.14 ms looped, 0.20 grouped; 1,024 rows 0.88, 0.45).
GROUP_ROWS = 256
GROUP_WIDTH = 256  # longer payloads are not grouped: the key matrix stays small
_LOW_BYTES = np.array([(1 << 8 * n) - 1 for n in range(9)], dtype=np.uint64)  # n low bytes set
_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xBF58476D1CE4E5B9)


@dataclass(frozen=True, slots=True)
class Parser:
    """A parser module as dispatch sees it.

    takes_l4: `parse` accepts the keyword `l4` ('tcp'/'udp'): a protocol framed
              differently per transport (DNS) then parses each payload once.
    fact_key: optional `fields -> hashable`: events of one ParseSession with the same
              endpoints, service port and key are one fact; dispatch keeps the
              first and counts the others in `fields['count']`.
    volatile: optional `{l4: (offset, size, shortest)}`, with fact_key: payload
              bytes that tell messages apart but not facts (DNS: the id). A
              payload seen before but for them is counted without being parsed
              again; one shorter than `shortest`, or of another transport, is
              always parsed.
    """

    name: str
    select: Selector
    parse: Callable[..., dict | None]
    takes_l4: bool = False
    fact_key: Callable[[dict], Hashable] | None = None
    volatile: Volatile | None = None


def load_parsers(names: tuple[str, ...] = PARSER_MODULES) -> list[Parser]:
    """Import the parser modules: SELECT and parse, optionally fact_key and VOLATILE_BYTES."""
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
                getattr(module, "VOLATILE_BYTES", None),
            )
        )
    return parsers


class ParseSession:
    """What the deep parsing of consecutive inputs read by one process shares.

    The parsers with their selection tables (built once, not per file), the
    packets each flow gave each parser so far (the state behind
    `Selector.per_flow`), and the facts and payloads already seen with the
    events that first told them. Why shared: rotated captures (tcpdump -C or
    -G) cut one polling flow into hundreds of files, and tables per file
    parsed each file's first `per_flow` packets of it again, and every DNS
    answer again, to make events that the event log then found to be repeats:
    a thousand small files cost five times one big file. Shared, a repeat in a
    later file counts into the first file's event, as in one big file.
    """

    def __init__(self, parsers: list[Parser] | None = None) -> None:
        self.parsers = parsers if parsers is not None else load_parsers()
        self.tables = _Tables(self.parsers)
        self.seen: dict[tuple[str, int], int] = {}
        self.full: list[_FullFlows | None] = [None] * len(self.parsers)
        self.text = _TextCache()
        self.facts: dict[tuple, dict] = {}  # (parser, ends, fact) -> first event's fields
        self.raw: dict[tuple, dict | None] = {}  # (parser, ends, raw bytes) -> the same
        self.kept: Counter[str] = Counter()  # events kept per parser


class DeepParser:
    """Runs the parsers over the selected packets of each batch of one input.

    Selection cost must not grow with the number of parsers: lookup tables
    built once (per-port, per-EtherType and per-first-two-payload-bytes parser
    bitmaps) give every packet one bitmap with a few gathers. A bit from a port,
    an EtherType or a destination MAC is the parser's exact rule already; only
    the rows with nothing but a payload-prefix bit are checked again by the
    parser's `Selector`. Flows that already gave a parser its `per_flow`
    packets are dropped with numpy before any Python loop, so a 10 ms polling
    flow costs nothing after its first packets.

    Memory follows distinct facts, and they are capped: each parser keeps at
    most MAX_EVENTS events per session (the inputs one process reads); later
    new ones are counted in this input's `dropped` and reported by `warnings()`.
    """

    def __init__(
        self,
        input_index: int = 0,
        parsers: list[Parser] | None = None,
        session: ParseSession | None = None,
    ):
        """`session`, when given, brings the parsers (and `parsers` is not given)."""
        self.input_index = input_index
        session = session if session is not None else ParseSession(parsers)
        self.parsers = session.parsers
        self._per_flow_seen = session.seen
        self._full = session.full
        self._tables = session.tables
        self._text = session.text
        self._facts = session.facts
        self._raw = session.raw
        self.kept = session.kept
        self.dropped: Counter[str] = Counter()  # new events of this input past MAX_EVENTS
        self.parse_errors = 0

    def run(self, batch: RawBatch, pk: Packets, first_packet_no: int) -> list[Event]:
        """Events for this batch; `first_packet_no` numbers packets within the input."""
        if len(pk) == 0:
            return []
        cand, sure, maybe = self._tables.candidates(batch, pk)
        if not len(cand):
            return []
        sub = _Subset(batch, pk, cand)
        in_maybe = int(np.bitwise_or.reduce(maybe))
        present = int(np.bitwise_or.reduce(sure)) | in_maybe
        found: list[tuple[str, int, dict]] = []
        for k, parser in enumerate(self.parsers):
            if present >> k & 1:
                rows_maybe = maybe if in_maybe >> k & 1 else None
                at = _selected(parser.select, sub, sure, rows_maybe, np.uint64(1 << k))
                if len(at):
                    found += self._parse_rows(k, parser, sub, at)
        return self._events(sub, found, first_packet_no)

    def warnings(self) -> list[str]:
        """One line per parser that dropped new events of this input past MAX_EVENTS."""
        return [
            f"{name}: {count} more events dropped after the first {MAX_EVENTS} distinct ones"
            " (memory bound; the kept ones still count their repeats)"
            for name, count in self.dropped.items()
        ]

    def _parse_rows(
        self, k: int, parser: Parser, sub: _Subset, at: np.ndarray
    ) -> list[tuple[str, int, dict]]:
        """(parser, row, fields) of the selected rows `at`, within the per-flow limits.

        Repeated messages are visited once per batch with their number (`_repeats`).
        """
        sel = parser.select
        l2 = bool(sel.ethertypes or sel.dst_macs)
        limit = sel.per_flow
        keys: list[int] = []
        forced: list[bool] = []
        if limit:
            at, key_arr, forced_arr = self._per_flow_cut(k, sel, sub, at, l2)
            keys, forced = key_arr.tolist(), forced_arr.tolist()
        times = [1] * len(at)
        if parser.volatile and parser.fact_key and not limit and len(at) >= GROUP_ROWS:
            at, times = _repeats(sub, at, sel.ports, parser.volatile)
        ends = _ends(sub, at, sel.ports) if parser.fact_key is not None else None
        starts, stops, l4s = _spans(sub, at, l2 and ends is None)
        data = sub.data
        found = []
        new_full = []
        seen = self._per_flow_seen
        for n, j in enumerate(at.tolist()):
            if limit and not forced[n]:
                counter = (parser.name, keys[n])
                count = seen.get(counter, 0)
                if count >= limit:
                    continue
                if not count and len(seen) >= MAX_COUNTED:
                    seen.clear()
                seen[counter] = count + 1
                if count + 1 == limit:
                    new_full.append(keys[n])
            start, stop = starts[n], stops[n]
            if start < 0 or stop <= start:
                continue
            payload = data[start:stop].tobytes()
            if ends is not None:
                fields = self._parse_fact(parser, payload, l4s[n], ends[n], times[n])
            else:
                fields = self._parse(parser, payload, l4s[n])
                fields = fields if fields and self._keep(parser) else None
            if fields:
                found.append((parser.name, j, fields))
        if new_full:
            if self._full[k] is None:
                self._full[k] = _FullFlows()
            self._full[k].add(new_full)
        return found

    def _per_flow_cut(
        self, k: int, sel: Selector, sub: _Subset, at: np.ndarray, l2: bool
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Rows of flows not yet full (first per_flow of each in order), then `always` rows.

        Returns the rows, their flow keys and whether each is an `always` row.
        """
        keys = sub.src_mac[at] if l2 else sub.flow_key[at]
        forced = np.zeros(len(at), dtype=bool)
        if sel.always:
            forced = _always_mask(sub.data, sub, at, sel.always)
            keys = np.where(forced, np.uint64(0), keys)
        fresh = ~forced
        if self._full[k] is not None:
            fresh &= ~self._full[k].holds(keys)
        first, first_keys = _first_per_key(at[fresh], keys[fresh], sel.per_flow)
        rows = np.concatenate([first, at[forced]])
        return rows, np.concatenate([first_keys, keys[forced]]), np.arange(len(rows)) >= len(first)

    def _keep(self, parser: Parser) -> bool:
        """Whether a new event of `parser` fits under MAX_EVENTS (else it is counted as dropped)."""
        if self.kept[parser.name] >= MAX_EVENTS:
            self.dropped[parser.name] += 1
            return False
        self.kept[parser.name] += 1
        return True

    def _parse_fact(
        self, parser: Parser, data: bytes, l4: str | None, ends: tuple, times: int
    ) -> dict | None:
        """Fields of a packet that says something new between `ends`, else None.

        The packet stands for `times` equal ones (see `_repeats`). A repeat of a
        known fact only adds to `count` in the first event's fields. Payloads
        already seen (byte for byte but for the parser's `volatile` bytes: a DNS
        message without its id) skip the parse; that table is bounded by
        MAX_RAW. Parsed fields equal under `fact_key` are one fact; facts are
        bounded by MAX_EVENTS like events.
        """
        raw = _raw_key(parser.volatile, data, l4) if parser.volatile else None
        raw_key = (parser.name, ends, raw)
        if raw is not None:
            first = self._raw.get(raw_key, _UNSEEN)
            if first is not _UNSEEN:
                if first is not None:
                    first["count"] += times
                return None
        fields = self._parse(parser, data, l4)
        first = self._fact_of(parser, ends, fields, times) if fields else None
        if raw is not None:
            if len(self._raw) >= MAX_RAW:
                self._raw.clear()
            self._raw[raw_key] = first
        return fields if first is fields else None

    def _fact_of(self, parser: Parser, ends: tuple, fields: dict, times: int) -> dict | None:
        """The fields holding the count of this fact (`times` more): `fields` itself when new.

        None when the fact is new but the parser has no room left for it.
        """
        try:
            key = (parser.name, ends, parser.fact_key(fields))
            hash(key)
        except Exception:  # an unhashable or odd field: keep the event as it is
            self.parse_errors += 1
            if not self._keep(parser):
                return None
            fields["count"] = times
            return fields
        first = self._facts.get(key)
        if first is not None:
            first["count"] += times
            return first
        if not self._keep(parser):
            return None
        fields["count"] = times
        self._facts[key] = fields
        return fields

    def _events(self, sub: _Subset, found: list, first_no: int) -> list[Event]:
        """Events of the parsed packets; their columns are gathered in one go."""
        if not found:
            return []
        rows_at = sub.index[np.array([j for _, j, _ in found], dtype=np.intp)]
        rows = zip(*(getattr(sub.pk, name)[rows_at].tolist() for name in _ROW), strict=True)
        ref = self.input_index
        return [
            self._text.event(name, row, fields, (ref, first_no + i))
            for (name, _, fields), row, i in zip(found, rows, rows_at.tolist(), strict=True)
        ]

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


def _spans(sub: _Subset, at: np.ndarray, l2: bool) -> tuple[list, list, list]:
    """Where each row's bytes for its parser start and stop, and its transport name.

    The L4 payload, or for L2 parsers what follows the EtherType (no transport).
    """
    if l2:
        return sub.l3_off[at].tolist(), sub.l2_end[at].tolist(), [None] * len(at)
    starts = sub.payload_off[at]
    stops = starts + sub.payload_len[at]
    return starts.tolist(), stops.tolist(), _L4_TEXT[sub.proto[at]].tolist()


_L4_TEXT = np.array([_L4_NAME.get(p) for p in range(256)], dtype=object)


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
            l4=_L4_NAME.get(proto),
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
    """The candidate packets' columns, each gathered on first use (few rows).

    Why lazily: most candidates of an OT capture are polling packets of flows
    already full, which need only the flow-key columns.
    """

    def __init__(self, batch: RawBatch, pk: Packets, index: np.ndarray) -> None:
        self.pk, self.index, self.data = pk, index, batch.data
        self._batch = batch

    def __getattr__(self, name: str) -> np.ndarray:
        """A column of `Packets` for the candidate rows (called only until it is cached)."""
        if name not in _COLUMNS:
            raise AttributeError(name)
        column = getattr(self.pk, name)[self.index]
        setattr(self, name, column)
        return column

    @cached_property
    def l2_end(self) -> np.ndarray:
        return self._batch.offsets[self.index] + self._batch.caplens[self.index]

    @cached_property
    def flow_key(self) -> np.ndarray:
        return _flow_key(self)


_COLUMNS = frozenset(_ROW) | {"ethertype", "l3_off", "payload_off", "payload_len"}


class _Tables:
    """Per-parser bitmaps by port, EtherType and first two payload bytes, built once."""

    def __init__(self, parsers: list[Parser]) -> None:
        if len(parsers) > 64:
            raise ValueError("at most 64 parsers")
        self.port = np.zeros((2, 1 << 16), dtype=np.uint64)  # row 0 TCP, row 1 UDP
        self.prefix = np.zeros((2, 1 << 16), dtype=np.uint64)
        self.eth = np.zeros(1 << 16, dtype=np.uint64)
        self.eth_exact = 0  # parsers whose EtherType bit needs no further check
        self.dst_macs: list[tuple[tuple[int, ...], np.uint64]] = []
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
            if not sel.l2_prefixes:
                self.eth_exact |= 1 << k
            if sel.dst_macs:
                self.dst_macs.append((sel.dst_macs, bit))
        self.any_l4 = bool(self.port.any() or self.prefix.any())
        self.prefix_protos = tuple(num for r, num in enumerate((6, 17)) if self.prefix[r].any())

    def candidates(self, batch: RawBatch, pk: Packets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Packets some parser may want, and two parser bitmaps for each.

        `sure`: the parser's selection rule holds (a port, an EtherType without
        `l2_prefixes`, a destination MAC). `maybe`: only a superset test held (the
        first two payload bytes of a prefix, the EtherType of an `l2_prefixes`
        parser); `_maybe_mask` decides.
        """
        eth = self.eth[pk.ethertype]
        eth[pk.l3_off < 0] = 0
        sure = eth & np.uint64(self.eth_exact)
        maybe = eth ^ sure
        if self.any_l4:
            udp = pk.proto == 17
            l4 = (udp | (pk.proto == 6)) & (pk.payload_len > 0)
            row = udp.astype(np.intp) << 16
            flat = self.port.ravel()
            port_bits = flat[row | pk.sport] | flat[row | pk.dport]
            port_bits[~l4] = 0
            sure |= port_bits
            if self.prefix_protos:
                # gathers from the buffer miss the cache: only where a prefix may apply
                at = np.flatnonzero(l4 & _any_of(pk.proto, self.prefix_protos))
                off = pk.payload_off[at]
                first2 = (batch.data[off].astype(np.intp) << 8) | batch.data[off + 1]
                maybe[at] |= self.prefix.ravel()[row[at] | first2]
        for macs, bit in self.dst_macs:
            sure[pk.has_mac & _any_of(pk.dst_mac, macs)] |= bit
        cand = np.flatnonzero((sure | maybe) != 0)
        return cand, sure[cand], maybe[cand]


def _selected(
    sel: Selector, sub: _Subset, sure: np.ndarray, maybe: np.ndarray | None, bit: np.uint64
) -> np.ndarray:
    """Candidate rows the parser of `bit` selects: its sure rows, and its maybe rows that pass.

    `maybe` is None when no row of the batch has a maybe bit for this parser.
    """
    is_sure = (sure & bit) != 0
    if maybe is None:
        return np.flatnonzero(is_sure)
    at = np.flatnonzero(is_sure | ((maybe & bit) != 0))
    check = ~is_sure[at]
    if check.any():
        keep = ~check
        keep[check] = _maybe_mask(sel, sub, at[check], sub.data)
        at = at[keep]
    return at


def _any_of(values: np.ndarray, options: tuple[int, ...]) -> np.ndarray:
    """`np.isin(values, options)` for a handful of options, without its set-up cost."""
    hit = np.zeros(len(values), dtype=bool)
    for option in options:
        hit |= values == option
    return hit


class _FullFlows:
    """Flow keys that already gave a parser its `per_flow` packets, for a whole-array test.

    A direct-mapped table on the key's low bits: one gather per batch instead
    of a binary search per row. Two full flows on one slot keep only the later;
    the other then looks fresh, and the per-flow counter in Python (the rule
    itself) still stops it: a miss costs time, never a wrong parse. An empty
    slot holds a value whose low bits are not its own index, so no key equals it.
    """

    BITS = 16

    def __init__(self) -> None:
        mask = (1 << self.BITS) - 1
        self.mask = np.uint64(mask)
        self.slots = np.arange(1 << self.BITS, dtype=np.uint64) ^ self.mask

    def add(self, keys: list[int]) -> None:
        values = np.array(keys, dtype=np.uint64)
        self.slots[values & self.mask] = values

    def holds(self, keys: np.ndarray) -> np.ndarray:
        return self.slots[keys & self.mask] == keys


def _ends(sub: _Subset, at: np.ndarray, ports: tuple[int, ...]) -> list[tuple]:
    """Both ends of each row as plain ints: MACs, IPs, protocol and the service port."""
    return list(zip(*(c.tolist() for c in _ends_columns(sub, at, ports)), strict=True))


def _ends_columns(sub: _Subset, at: np.ndarray, ports: tuple[int, ...]) -> list[np.ndarray]:
    """The columns of `_ends`, for `_repeats` to compare whole arrays.

    A port not in the parser's `ports` (a client's ephemeral one) is left out,
    so that repeats of one question from new source ports are one fact.
    """
    rows = sub.index[at]  # gathered from the batch: few rows, most columns unused elsewhere
    names = ("has_mac", "src_mac", "dst_mac", "ip_ver", "src_hi", "src_lo", "dst_hi", "dst_lo")
    cols = [getattr(sub.pk, name)[rows] for name in (*names, "proto")]
    for name in ("sport", "dport"):
        port = getattr(sub.pk, name)[rows]
        cols.append(np.where(_any_of(port, ports), port, 0))
    return cols


def _raw_key(volatile: Volatile, data: bytes, l4: str | None) -> bytes | None:
    """The payload without its volatile bytes; None (always parse) when too short for them."""
    rule = volatile.get(l4) if l4 is not None else None
    if rule is None or len(data) < rule[2]:
        return None
    offset, size, _ = rule
    return data[:offset] + data[offset + size :]


def _repeats(
    sub: _Subset, at: np.ndarray, ports: tuple[int, ...], volatile: Volatile
) -> tuple[np.ndarray, list[int]]:
    """The first row of each group of rows `at` that `_parse_fact` would count alike, and sizes.

    A group's rows have equal `_ends` and equal `_raw_key`s: after its first
    row, the row-by-row loop only added 1 per row to the same count. Visiting
    only first rows, in row order, with `times` gives the same events and
    counts, but in one case: when the raw table (MAX_RAW) was cleared between
    two rows of a group, the row-by-row loop parsed the later row again, and
    when the fact had been dropped (MAX_EVENTS) counted it dropped once more.
    """
    group = np.arange(len(at))
    keyed, keys = _repeat_keys(sub, at, ports, volatile)
    if len(keys):
        group[keyed] = keyed[first_equal(keys)]
    first = group == np.arange(len(at))
    return at[first], np.bincount(group, minlength=len(at))[first].tolist()


def _repeat_keys(
    sub: _Subset, at: np.ndarray, ports: tuple[int, ...], volatile: Volatile
) -> tuple[np.ndarray, np.ndarray]:
    """Positions in `at` of rows with a raw key, and per such row a uint64 key row.

    Two key rows are equal exactly when the rows' `_ends` and `_raw_key`s are:
    the ends columns, the payload length and its bytes (zero past the end and
    at the volatile bytes). Payloads longer than GROUP_WIDTH are left out.
    """
    proto, off, length = sub.proto[at], sub.payload_off[at], sub.payload_len[at]
    rules = [(proto == num, volatile[l4]) for num, l4 in _L4_NAME.items() if l4 in volatile]
    keyed = np.zeros(len(at), dtype=bool)
    for is_l4, (_, _, shortest) in rules:
        keyed |= is_l4 & (length >= shortest)
    keyed = np.flatnonzero(keyed & (off >= 0) & (length <= GROUP_WIDTH))
    if not len(keyed):
        return keyed, np.zeros((0, 0), dtype=np.uint64)
    length = length[keyed]
    words = _payload_words(sub.data, off[keyed], length)
    for is_l4, (offset, size, _) in rules:
        keep = np.full(words.shape[1] * 8, 0xFF, dtype=np.uint8)
        keep[offset : offset + size] = 0
        words[is_l4[keyed]] &= keep.view("<u8")
    ends = [col.astype(np.uint64) for col in _ends_columns(sub, at[keyed], ports)]
    return keyed, np.column_stack([*ends, length.astype(np.uint64), words])


def _payload_words(data: np.ndarray, off: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Each payload as little-endian uint64 words, zero past its end, as many as the longest.

    Gathered 8 bytes at a time (a byte-wise gather was 3x slower on 40k DNS rows);
    a last word reads up to 7 bytes past its payload, within the batch's PAD.
    """
    count = -(-int(length.max()) // 8)
    eights = np.lib.stride_tricks.sliding_window_view(data, 8)
    at = np.minimum(off[:, None] + 8 * np.arange(count), len(eights) - 1)
    words = eights[at].view("<u8")[..., 0]
    return words & _LOW_BYTES[np.clip(length[:, None] - 8 * np.arange(count), 0, 8)]


def _payload_prefix(
    data: np.ndarray, payload_off: np.ndarray, payload_len: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """First four payload bytes of each row as a big-endian uint32, and how many exist."""
    off = np.where(payload_off >= 0, payload_off, 0)
    n = np.minimum(payload_len, 4).clip(0)
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


def _maybe_mask(sel: Selector, sub: _Subset, at: np.ndarray, data: np.ndarray) -> np.ndarray:
    """Rows `at` (no sure bit) that pass the parser's payload-prefix or `l2_prefixes` clause.

    Their other clauses are known false: a port, an EtherType without
    `l2_prefixes` or a destination MAC would have set a sure bit.
    """
    mask = np.zeros(len(at), dtype=bool)
    if sel.l2_prefixes:
        l3_off = sub.l3_off[at]
        mask |= (
            _any_of(sub.ethertype[at], sel.ethertypes)
            & (l3_off >= 0)
            & _starts_with(data, l3_off, sub.l2_end[at] - l3_off, sel.l2_prefixes)
        )
    if sel.prefixes:
        off, length = sub.payload_off[at], sub.payload_len[at]
        l4 = _any_of(sub.proto[at], _L4[sel.l4]) & (length > 0)
        prefix4, prefix_len = _payload_prefix(data, off, length)
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
    if not len(idx):
        return idx, keys
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.empty(len(order), dtype=bool)
    starts[0] = True
    np.not_equal(sorted_keys[1:], sorted_keys[:-1], out=starts[1:])
    group_start = np.maximum.accumulate(np.where(starts, np.arange(len(order)), 0))
    rank = np.arange(len(order)) - group_start
    keep = np.sort(order[rank < limit])
    return idx[keep], keys[keep]
