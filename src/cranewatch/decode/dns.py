"""DNS messages (RFC 1035), parsed by hand with hard bounds.

dpkt's DNS decoder follows compression pointers without a jump limit and raises
on bad bytes, so names are read here with a pointer-jump limit, a name-length
limit and a record limit. `parse_message` and `read_name` are reused by the
mDNS and NetBIOS name-service parsers, which share the wire format.

Over TCP a DNS message is preceded by a 2-byte length. Dispatch passes the
transport (`parse(data, l4=...)`), so each payload is parsed once in its own
framing; without `l4` (tests, other callers) `parse` tries both and keeps the
one that explains the bytes.

`fact_key` tells dispatch which messages say the same thing: a client asking
the same name of the same resolver every few seconds is one fact with a count,
not a million events (memory must not grow with the capture's length).
`VOLATILE_BYTES` (the id) lets dispatch count such a repeat without parsing it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from cranewatch.decode.select import Selector

SELECT = Selector(ports=(53,), per_flow=0)
# Per transport: (offset, size, shortest message) of the transaction id, after TCP's
# 2-byte length. The id tells messages apart, not facts: dispatch counts a message
# equal to a known one but for these bytes without parsing it again.
VOLATILE_BYTES = {"udp": (0, 2, 12), "tcp": (2, 2, 14)}

MAX_RECORDS = 64
MAX_JUMPS = 16
MAX_NAME = 255
MAX_TXT = 200

TYPE_NAMES = {
    1: "A",
    2: "NS",
    5: "CNAME",
    6: "SOA",
    12: "PTR",
    13: "HINFO",
    15: "MX",
    16: "TXT",
    28: "AAAA",
    32: "NB",
    33: "SRV",
    41: "OPT",
    47: "NSEC",
    64: "SVCB",
    65: "HTTPS",
    255: "ANY",
}
SECTIONS = ("answer", "authority", "additional")


def type_name(rtype: int) -> str:
    """Mnemonic for a record type; unknown ones in RFC 3597 'TYPEn' form."""
    return TYPE_NAMES.get(rtype, f"TYPE{rtype}")


@dataclass(slots=True)
class Record:
    """One resource record; rdata stays as an offset into the message."""

    section: str
    name: str
    rtype: int
    rclass: int
    ttl: int
    rdata_off: int
    rdata_len: int


@dataclass(slots=True)
class Message:
    """A DNS-format message; `complete` is False when the counts outran the bytes."""

    id: int
    flags: int
    questions: list[tuple[str, int, int]] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)
    complete: bool = True
    end: int = 12

    @property
    def qr(self) -> bool:
        return bool(self.flags & 0x8000)

    @property
    def opcode(self) -> int:
        return (self.flags >> 11) & 0xF

    @property
    def rcode(self) -> int:
        return self.flags & 0xF


def read_name(buf: bytes, off: int) -> tuple[str, int] | None:
    """Read a possibly compressed name at `off`; return (name, offset after it).

    At most MAX_JUMPS compression pointers are followed and the name may not
    exceed MAX_NAME bytes, so a pointer loop or a label flood ends quickly.
    """
    labels: list[str] = []
    total = 0
    jumps = 0
    end: int | None = None
    n = len(buf)
    while True:
        if off >= n:
            return None
        length = buf[off]
        if length == 0:
            off += 1
            break
        if length & 0xC0 == 0xC0:
            if off + 1 >= n or jumps >= MAX_JUMPS:
                return None
            if end is None:
                end = off + 2
            off = ((length & 0x3F) << 8) | buf[off + 1]
            jumps += 1
            continue
        if length & 0xC0:
            return None  # 0x40/0x80 label types are obsolete
        if off + 1 + length > n:
            return None
        total += length + 1
        if total > MAX_NAME:
            return None
        labels.append(buf[off + 1 : off + 1 + length].decode("latin-1"))
        off += 1 + length
    return ".".join(labels), (end if end is not None else off)


def _read_question(buf: bytes, off: int) -> tuple[tuple[str, int, int], int] | None:
    got = read_name(buf, off)
    if got is None or got[1] + 4 > len(buf):
        return None
    name, off = got
    qtype = int.from_bytes(buf[off : off + 2], "big")
    qclass = int.from_bytes(buf[off + 2 : off + 4], "big")
    return (name, qtype, qclass), off + 4


def _read_record(buf: bytes, off: int, section: str) -> tuple[Record, int] | None:
    got = read_name(buf, off)
    if got is None or got[1] + 10 > len(buf):
        return None
    name, off = got
    rtype = int.from_bytes(buf[off : off + 2], "big")
    rclass = int.from_bytes(buf[off + 2 : off + 4], "big")
    ttl = int.from_bytes(buf[off + 4 : off + 8], "big")
    rdlen = int.from_bytes(buf[off + 8 : off + 10], "big")
    off += 10
    if off + rdlen > len(buf):
        return None
    return Record(section, name, rtype, rclass, ttl, off, rdlen), off + rdlen


def parse_message(buf: bytes) -> Message | None:
    """Header, questions and up to MAX_RECORDS records of a DNS-format message."""
    if len(buf) < 12:
        return None
    msg = Message(id=int.from_bytes(buf[0:2], "big"), flags=int.from_bytes(buf[2:4], "big"))
    counts = [int.from_bytes(buf[i : i + 2], "big") for i in range(4, 12, 2)]
    off = 12
    budget = MAX_RECORDS
    for _ in range(counts[0]):
        if budget <= 0:
            msg.complete = False
            return msg
        budget -= 1
        got = _read_question(buf, off)
        if got is None:
            msg.complete = False
            return msg
        msg.questions.append(got[0])
        off = got[1]
    for section, count in zip(SECTIONS, counts[1:], strict=True):
        for _ in range(count):
            if budget <= 0:
                msg.complete = False
                return msg
            budget -= 1
            rec = _read_record(buf, off, section)
            if rec is None:
                msg.complete = False
                return msg
            msg.records.append(rec[0])
            off = rec[1]
    msg.end = off
    return msg


def txt_strings(buf: bytes, rec: Record, limit: int = 32) -> list[str]:
    """The character-strings of a TXT record (at most `limit`)."""
    out: list[str] = []
    off, end = rec.rdata_off, rec.rdata_off + rec.rdata_len
    while off < end and len(out) < limit:
        length = buf[off]
        out.append(buf[off + 1 : min(off + 1 + length, end)].decode("utf-8", "replace"))
        off += 1 + length
    return out


def rdata_value(buf: bytes, rec: Record) -> str | None:
    """Text form of the rdata for the record types we report, else None."""
    data = buf[rec.rdata_off : rec.rdata_off + rec.rdata_len]
    if rec.rtype == 1 and len(data) == 4:
        return str(ipaddress.IPv4Address(data))
    if rec.rtype == 28 and len(data) == 16:
        return str(ipaddress.IPv6Address(data))
    if rec.rtype in (2, 5, 12):
        got = read_name(buf, rec.rdata_off)
        return got[0] if got is not None else None
    if rec.rtype == 16:
        return ";".join(txt_strings(buf, rec))[:MAX_TXT]
    if rec.rtype == 33 and len(data) >= 7:
        got = read_name(buf, rec.rdata_off + 6)
        port = int.from_bytes(data[4:6], "big")
        return f"{got[0]}:{port}" if got is not None else None
    return None


def _follow_to_query(owner: str, cname_of: dict[str, str], qnames: set[str]) -> str:
    """Walk CNAMEs back from an address owner to the name the client asked for."""
    back = {target.lower(): alias for alias, target in cname_of.items()}
    name = owner
    for _ in range(MAX_JUMPS):
        if name.lower() in qnames:
            return name
        prev = back.get(name.lower())
        if prev is None:
            break
        name = prev
    return name if name.lower() in qnames else owner


def summarize(buf: bytes, msg: Message) -> dict:
    """The public dict for a DNS-format message (used by dns and mdns)."""
    answers: list[list] = []
    names: list[list[str]] = []
    cname_of: dict[str, str] = {}
    qnames = {q[0].lower() for q in msg.questions}
    addrs: list[tuple[str, str]] = []
    for rec in msg.records:
        if rec.rtype not in (1, 5, 12, 16, 28, 33):
            continue
        value = rdata_value(buf, rec)
        if value is None:
            continue
        if rec.section == "answer":
            answers.append([rec.name, type_name(rec.rtype), value])
        if rec.rtype == 5:
            cname_of[rec.name] = value
        elif rec.rtype in (1, 28):
            addrs.append((rec.name, value))
    for owner, ip in addrs:
        pair = [_follow_to_query(owner, cname_of, qnames) if qnames else owner, ip]
        if pair not in names:
            names.append(pair)
    out: dict = {
        "id": msg.id,
        "qr": msg.qr,
        "opcode": msg.opcode,
        "rcode": msg.rcode,
        "queries": [[q[0], type_name(q[1])] for q in msg.questions],
        "answers": answers,
    }
    if names:
        out["names"] = names
    if not msg.complete:
        out["truncated"] = True
    return out


def _score(msg: Message | None, size: int) -> int:
    """How well a parse explains the bytes: complete and ending at the end wins."""
    if msg is None:
        return 0
    return 1 + int(msg.complete) + int(msg.complete and msg.end == size)


def _best_message(data: bytes) -> tuple[bytes, Message] | None:
    """Pick plain (UDP) or length-prefixed (TCP) framing, whichever explains the bytes."""
    plain = parse_message(data)
    framed_buf = b""
    framed = None
    if len(data) >= 14:
        length = int.from_bytes(data[:2], "big")
        framed_buf = data[2 : 2 + length]
        if length >= 12:
            framed = parse_message(framed_buf)
    plain_score = _score(plain, len(data))
    framed_score = _score(framed, len(framed_buf))
    exact = len(data) >= 2 and int.from_bytes(data[:2], "big") == len(data) - 2
    if framed is not None and (framed_score > plain_score or (exact and framed_score >= 2)):
        return framed_buf, framed
    if plain is not None:
        return data, plain
    return None


def _framed_message(data: bytes) -> tuple[bytes, Message] | None:
    """The length-prefixed (TCP) reading alone, when it explains the bytes fully."""
    if len(data) < 14:
        return None
    length = int.from_bytes(data[:2], "big")
    buf = data[2 : 2 + length]
    if length < 12:
        return None
    msg = parse_message(buf)
    return (buf, msg) if _score(msg, len(buf)) == 3 else None


def _message_for(data: bytes, l4: str | None) -> tuple[bytes, Message] | None:
    """One parse in the transport's framing; both framings when the transport is unknown."""
    if l4 == "udp":
        msg = parse_message(data)
        return (data, msg) if msg is not None else None
    if l4 == "tcp":
        framed = _framed_message(data)
        if framed is not None:
            return framed
    return _best_message(data)


def parse(data: bytes, l4: str | None = None) -> dict | None:
    """DNS over UDP or TCP: id, flags, queries, answers and name->address pairs.

    `l4` ('udp' or 'tcp') names the transport when the caller knows it: UDP is
    parsed plain only; TCP length-prefixed first (a segment that is not one
    whole framed message falls back to trying both).
    """
    try:
        best = _message_for(bytes(data), l4)
        if best is None:
            return None
        buf, msg = best
        if not msg.questions and not msg.records and not msg.qr:
            return None
        return summarize(buf, msg)
    except Exception:  # a parser must never raise on hostile bytes
        return None


def _pairs(rows) -> tuple:
    return tuple(tuple(row) for row in rows)


def fact_key(fields: dict) -> tuple:
    """What a message says, without its transaction id: equal keys are the same fact.

    Dispatch keeps the first event of each (endpoints, fact) and counts the
    repeats in `fields['count']`.
    """
    return (
        fields.get("qr"),
        fields.get("opcode"),
        fields.get("rcode"),
        _pairs(fields.get("queries") or ()),
        _pairs(fields.get("answers") or ()),
        _pairs(fields.get("names") or ()),
        bool(fields.get("truncated")),
    )
