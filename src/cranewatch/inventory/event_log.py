"""Parser events kept once per distinct fact: memory follows conversations, not packets.

Why: deep parsers report what selected packets show, and on a long capture the
same facts come back again and again (a Modbus poll every 100 ms, a TLS hello
for every HTTPS connection of a client, a DHCP renewal). Kept one by one they
would grow with the capture's length. An event is kept the first time its fact
appears - same parser, same MACs and addresses, same service port (the lower
of the two: a client's ephemeral port varies) and same fields apart from
per-message counters - and later repeats only add to its `fields['count']`,
which consumers already read as "this stands for repeats" (dispatch sets it
for DNS questions). Each conversation keeps at most `MAX_VARIANTS` distinct
facts per parser (container numbers: `MAX_CONTAINER_VARIANTS`), and a parser
at most `MAX_EVENTS` in all; what is beyond is counted and reported once as a
warning, so a hostile stream of unique answers, or of hosts, cannot grow
memory without bound either. (decode/dispatch.py bounds the parsers' own fact
tables the same way, per input, before events are made.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from cranewatch.decode.events import Event

# Per-message counters: they tell messages apart, not facts.
VOLATILE_FIELDS = frozenset(
    {"count", "id", "xid", "transaction_id", "request_id", "pdu_ref", "invoke_id", "secs"}
)
MAX_VARIANTS = 64
MAX_CONTAINER_VARIANTS = 4096  # each one may carry container numbers the leak report counts
MAX_EVENTS = 50_000  # kept events per parser in all: many pairs of hosts cannot add up either
MAX_DROPPED_PAIRS = 4096  # host pairs whose dropped events are counted apart, to name the worst


class EventLog:
    """Events of one run (or one part of it), deduplicated as the module says."""

    def __init__(self) -> None:
        self._kept: dict[tuple, Event] = {}
        self._variants: Counter[tuple] = Counter()
        self._per_proto: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        # (parser, host, host) -> events dropped: the warning names the pair a flood came from
        self.dropped_pairs: Counter[tuple[str, str, str]] = Counter()

    def __len__(self) -> int:
        return len(self._kept)

    def add(self, events: Iterable[Event]) -> None:
        """Keep each new fact; count a repeat into the fact's first event."""
        for event in events:
            self._add(event, _count(event))

    def merge(self, other: EventLog, shift: int = 0) -> None:
        """Another log's events, as if they had come after these.

        `shift` is added to their packet numbers (a later range of one capture).
        """
        for event in other._kept.values():
            if shift:
                event.ref = (event.ref[0], event.ref[1] + shift)
            self._add(event, _count(event))
        self.dropped.update(other.dropped)
        for pair, n in other.dropped_pairs.items():
            self._count_pair(pair, n)

    def events(self) -> list[Event]:
        """Kept events in the order their facts first appeared."""
        return list(self._kept.values())

    def warnings(self) -> list[str]:
        """One line per parser whose conversations had more distinct facts than are kept.

        It names the pair of hosts most of them came from: many distinct DNS
        names between two hosts is what a DNS tunnel looks like.
        """
        out = []
        for proto, n in sorted(self.dropped.items()):
            line = (
                f"{n:,} {proto} events were counted but not kept: more than "
                f"{_limit(proto):,} distinct ones between two hosts, or {MAX_EVENTS:,} in all"
            )
            pairs = [(k, c) for k, c in self.dropped_pairs.items() if k[0] == proto]
            if pairs:
                (_, a, b), most = max(pairs, key=lambda kc: (kc[1], kc[0]))
                line += f"; most between {a} and {b} ({most:,})"
            out.append(line)
        return out

    def _count_pair(self, pair: tuple[str, str, str], n: int) -> None:
        if pair in self.dropped_pairs or len(self.dropped_pairs) < MAX_DROPPED_PAIRS:
            self.dropped_pairs[pair] += n

    def _full(self, proto: str, stream: tuple) -> bool:
        return self._variants[stream] >= _limit(proto) or self._per_proto[proto] >= MAX_EVENTS

    def _add(self, event: Event, count: int) -> None:
        stream = (
            event.proto,
            event.src_mac,
            event.dst_mac,
            event.src_ip,
            event.dst_ip,
            event.l4,
            min(event.sport, event.dport),
        )
        key = (*stream, _fact(event.fields))
        kept = self._kept.get(key)
        if kept is not None:
            kept.fields["count"] = _count(kept) + count
            return
        if self._full(event.proto, stream):
            self.dropped[event.proto] += count
            a, b = sorted(
                (event.src_ip or event.src_mac or "?", event.dst_ip or event.dst_mac or "?")
            )
            self._count_pair((event.proto, a, b), count)
            return
        self._variants[stream] += 1
        self._per_proto[event.proto] += 1
        self._kept[key] = event


def _fact(fields: dict) -> str:
    return repr([(k, v) for k, v in fields.items() if k not in VOLATILE_FIELDS])


def _count(event: Event) -> int:
    return int(event.fields.get("count") or 1)


def _limit(proto: str) -> int:
    return MAX_CONTAINER_VARIANTS if proto == "container-ids" else MAX_VARIANTS
