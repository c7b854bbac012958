"""Whole-buffer scans of L4 payloads: container identifiers and remote-access byte signatures.

Mechanism only. `scan` runs regexes over the whole chunk buffer (`batch.data`)
at once, not packet by packet, then maps each match offset to the packet whose
L4 payload holds it with `np.searchsorted` over the payload offsets. A match
outside every L4 payload (in a header, or across two packets) does not count.

* ISO 6346 container numbers: owner code (3 letters), category (U, J, Z, R),
  6-digit serial, check digit, with optional single spaces; kept only when the
  check digit is right (`iso6346_valid`). DNS query labels are length-prefixed
  on the wire, so a number in a label is matched in the bytes like any other.
* EDIFACT: a UNH segment naming a container message (BAPLIE, COPRAR, CODECO,
  COARRI, COPARN, ...) and EQD+CN (equipment = container) segments.

`scan_signatures` checks the remote-access payload signatures of the knowledge
file (bytes at fixed offsets of a payload, or anywhere in it) with numpy
gathers and one regex, one Event per flow and tool per chunk.
"""

from __future__ import annotations

import re
from functools import cached_property

import numpy as np

from cranewatch.decode.addr import ip_str, mac_str
from cranewatch.decode.events import Event
from cranewatch.decode.packets import Packets
from cranewatch.sources.batch import RawBatch

# Letter values of ISO 6346 Annex A: A=10, then counting on but skipping 11, 22, 33.
_LETTER = {}
_v = 10
for _c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
    if _v % 11 == 0:
        _v += 1
    _LETTER[_c] = _v
    _v += 1

ISO_RE = re.compile(rb"(?<![A-Za-z])([A-Za-z]{3}[UJZRujzr]) ?([0-9]{6}) ?([0-9])(?![0-9])")
UNH_RE = re.compile(rb"UNH\+[^+'\r\n]{1,35}\+([A-Z]{6})[:+']")
EQD_RE = re.compile(rb"EQD\+CN\+")
# UN/EDIFACT directory messages about containers and their moves (UN/CEFACT, SMDG).
CONTAINER_MESSAGES = frozenset(
    {
        "BAPLIE", "MOVINS", "TANSTA", "COARRI", "CODECO", "CODENO", "COEDOR", "COHAOR",
        "COPARN", "COPINO", "COPRAR", "COREOR", "COSTCO", "COSTOR", "VERMAS", "IFTSTA",
    }
)  # fmt: skip
HTTP_STARTS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"HTTP/")
DNS_PORTS = (53, 5353, 5355)
MQTT_PORTS = (1883, 8883)
MAX_PER_PACKET = 50


def iso6346_weighted_sum(code10: str) -> int:
    """Sum of the 10 character values weighted 2**position (ISO 6346 Annex A)."""
    total = 0
    for i, ch in enumerate(code10):
        total += (_LETTER[ch] if ch.isalpha() else int(ch)) << i
    return total


def iso6346_check_digit(code10: str) -> int:
    """The check digit of owner code + category + serial ('CSQU305438' -> 3)."""
    return iso6346_weighted_sum(code10.upper()) % 11 % 10


def iso6346_valid(number: str) -> bool:
    """Whether an 11-character container number (spaces ignored) has a right check digit."""
    s = number.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{3}[UJZR][0-9]{7}", s):
        return False
    return iso6346_check_digit(s[:10]) == int(s[10])


def _payload_index(pk: Packets) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Packet indices with an L4 payload, sorted by payload start, and their [start, end)."""
    idx = np.flatnonzero((pk.payload_off >= 0) & (pk.payload_len > 0))
    starts = pk.payload_off[idx].astype(np.int64)
    if len(starts) > 1 and np.any(starts[1:] < starts[:-1]):
        order = np.argsort(starts, kind="stable")
        idx, starts = idx[order], starts[order]
    ends = starts + pk.payload_len[idx].astype(np.int64)
    return idx, starts, ends


class _Chunk:
    """What both scans of one batch share: the payload index and the buffer as bytes.

    Why: the pipeline calls `scan` then `scan_signatures` on the same batch;
    the second reuses the first's index and `bytes` copy (one slot, holding
    the batch so that its id cannot be reused by the next one).
    """

    _last: _Chunk | None = None

    def __init__(self, batch: RawBatch, pk: Packets) -> None:
        self.batch, self.pk = batch, pk
        self.idx, self.starts, self.ends = _payload_index(pk)
        self.data = np.ascontiguousarray(batch.data, dtype=np.uint8)
        self._raw: bytes | None = None

    @cached_property
    def words(self) -> np.ndarray:
        """`words[i]` is data[i:i + 4] as a little-endian uint32: a 4-byte test in one gather."""
        return np.ndarray((max(len(self.data) - 3, 0),), "<u4", self.data, strides=(1,))

    @property
    def raw(self) -> bytes:
        if self._raw is None:
            self._raw = self.data.tobytes()  # bytes.find is memchr-fast
        return self._raw

    @classmethod
    def of(cls, batch: RawBatch, pk: Packets) -> _Chunk:
        last = cls._last
        if last is not None and last.batch is batch and last.pk is pk:
            return last
        cls._last = cls(batch, pk)
        return cls._last


def _locate(pos: np.ndarray, end: np.ndarray, idx, starts, ends) -> np.ndarray:
    """Packet index holding each match [pos, end) inside its payload, or -1."""
    if len(pos) == 0 or len(idx) == 0:
        return np.full(len(pos), -1, dtype=np.int64)
    j = np.searchsorted(starts, pos, side="right") - 1
    jj = np.clip(j, 0, len(idx) - 1)
    inside = (j >= 0) & (end <= ends[jj])
    return np.where(inside, idx[jj], -1)


def _where(batch: RawBatch, pk: Packets, i: int) -> str:
    ports = (int(pk.sport[i]), int(pk.dport[i]))
    if any(p in DNS_PORTS for p in ports):
        return "dns"
    start = int(pk.payload_off[i])
    head = batch.data[start : start + 8].tobytes()
    if head.startswith(HTTP_STARTS):
        return "http"
    if any(p in MQTT_PORTS for p in ports) or (int(pk.proto[i]) == 6 and _mqtt_publish(head)):
        return "mqtt"
    return "payload"


def _mqtt_publish(head: bytes) -> bool:
    """An MQTT PUBLISH (type 3) whose one-byte remaining length covers its topic length."""
    if len(head) < 5 or head[0] >> 4 != 3 or head[1] & 0x80:
        return False
    topic_len = (head[2] << 8) | head[3]
    return 0 < topic_len <= head[1] - 2 and 0x20 <= head[4] < 0x7F


def _event(proto: str, pk: Packets, i: int, fields: dict, ref: tuple[int, int]) -> Event:
    has_mac = bool(pk.has_mac[i])
    has_ip = int(pk.ip_ver[i]) != 0
    return Event(
        ts=float(pk.ts[i]),
        proto=proto,
        src_mac=mac_str(int(pk.src_mac[i])) if has_mac else None,
        dst_mac=mac_str(int(pk.dst_mac[i])) if has_mac else None,
        src_ip=ip_str(pk.src_hi[i], pk.src_lo[i]) if has_ip else None,
        dst_ip=ip_str(pk.dst_hi[i], pk.dst_lo[i]) if has_ip else None,
        l4={6: "tcp", 17: "udp"}.get(int(pk.proto[i])),
        sport=int(pk.sport[i]),
        dport=int(pk.dport[i]),
        fields=fields,
        ref=ref,
    )


def _matches(regex: re.Pattern[bytes], buf: memoryview):
    """(start, end, match) of every match, as arrays plus the match objects."""
    found = list(regex.finditer(buf))
    pos = np.fromiter((m.start() for m in found), dtype=np.int64, count=len(found))
    end = np.fromiter((m.end() for m in found), dtype=np.int64, count=len(found))
    return pos, end, found


def _digit_runs(data: np.ndarray) -> np.ndarray:
    """Offsets q = 3k where data[q:q + 4] are 4 ASCII digits: at least all those in a 6-digit run.

    Why: ISO_RE has no literal prefix, so `re` tries it at every byte (~45 ns
    a byte, most of a run's time). A container serial is 6 digits in a row:
    it holds a q = 3k with q + 3 still inside it, and two digit pairs at even
    offsets 2i, 2i + 2 with |q - 2i| <= 2. numpy tests the buffer as uint16
    pairs (both bytes in 0x30-0x3F: digits and ":;<=>?"; two cheap passes),
    then the exact 4-digit test on the q near each hit; the few left go to
    the regex in small windows (`_iso_matches`).
    """
    n2 = len(data) // 2
    high = np.bitwise_and(data[: 2 * n2].view("<u2"), 0xF0F0, out=_scratch(n2, np.uint16))
    ok = np.equal(high, 0x3030, out=_scratch(n2, bool))
    pair2 = _sparse_nonzero(np.logical_and(ok[:-1], ok[1:], out=_scratch(n2 - 1, bool, 1)))
    if not len(pair2):
        return pair2
    q = 2 * pair2 - 2
    q += -q % 3  # the first multiple of 3 from 2i - 2
    q = np.unique(np.concatenate([q, q + 3]))
    q = q[(q >= 0) & (q + 3 < len(data))]
    for k in range(4):
        q = q[(data[q + k] - np.uint8(48)) < 10]
    return q


def _byte_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per byte value: its class bits (_LETTER_BIT ...) and its ISO 6346 value (letters, digits)."""
    cls = np.zeros(256, dtype=np.uint8)
    value = np.zeros(256, dtype=np.int64)
    for ch, v in _LETTER.items():
        for b in (ord(ch), ord(ch.lower())):
            cls[b] = _LETTER_BIT | (_CATEGORY_BIT if ch in "UJZR" else 0)
            value[b] = v
    for d in range(10):
        cls[48 + d] = _DIGIT_BIT
        value[48 + d] = d
    cls[32] = _SPACE_BIT
    return cls, value


_LETTER_BIT, _CATEGORY_BIT, _DIGIT_BIT, _SPACE_BIT = 1, 2, 4, 8
_CLASS, _VALUE = _byte_tables()
_WINDOW = np.arange(-7, 9)  # bytes q-7 .. q+8 hold every number whose serial covers q .. q+3


def _number_layouts() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each way a number can sit around q: class bits wanted per window byte, weights, check byte.

    The serial starts 0-2 bytes before q (it covers q .. q+3); a single space
    may stand before the serial and before the check digit: 12 layouts.
    """
    want, weight, check = [], [], []
    for start in (-2, -1, 0):
        for space1 in (0, 1):
            for space2 in (0, 1):
                w = np.zeros(len(_WINDOW), dtype=np.uint8)
                k = np.zeros(len(_WINDOW), dtype=np.int64)
                owner = start - space1 - 4
                cols = [owner + i for i in range(4)] + [start + i for i in range(6)]
                for i, col in enumerate(cols):
                    w[col + 7] = _LETTER_BIT if i < 4 else _DIGIT_BIT
                    k[col + 7] = 1 << i
                w[owner + 10] |= _CATEGORY_BIT
                if space1:
                    w[start - 1 + 7] = _SPACE_BIT
                if space2:
                    w[start + 6 + 7] = _SPACE_BIT
                w[start + 6 + space2 + 7] = _DIGIT_BIT
                want.append(w)
                weight.append(k)
                check.append(start + 6 + space2 + 7)
    return np.array(want), np.array(weight).T, np.array(check)


_LAYOUT_WANT, _LAYOUT_WEIGHT, _LAYOUT_CHECK = _number_layouts()


def _may_hold_number(data: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Whether a container number with a right check digit may have its serial over q .. q+3.

    Why: text and counters give many regex matches whose check digit is
    wrong (each costs a regex pass and a validation in Python); this tests
    all 12 layouts of every q in a few array operations. Case and the
    regex's look-arounds are left to the regex: a superset is enough.
    """
    at = q[:, None] + _WINDOW
    inside = (at >= 0) & (at < len(data))
    raw = data[np.clip(at, 0, len(data) - 1)]
    cls = np.where(inside, _CLASS[raw], 0)
    value = np.where(inside, _VALUE[raw], 0)
    shaped = ((cls[:, None, :] & _LAYOUT_WANT) == _LAYOUT_WANT).all(axis=2)
    right = (value @ _LAYOUT_WEIGHT) % 11 % 10 == value[:, _LAYOUT_CHECK]
    return (shaped & right).any(axis=1)


def _iso_matches(buf: memoryview, data: np.ndarray):
    """`_matches(ISO_RE, buf)` less matches with a wrong check digit, through numpy prefilters."""
    found = []
    n = len(data)
    runs = _digit_runs(data)
    if len(runs):
        runs = runs[_may_hold_number(data, runs)]
    for q in runs.tolist():
        # a match with its serial over [q, q + 3] starts >= q - 7 and ends <= q + 8
        for m in ISO_RE.finditer(buf, max(0, q - 16), min(n, q + 21)):
            if m.start(2) <= q and q + 3 < m.end(2):
                found.append(m)
    pos = np.fromiter((m.start() for m in found), dtype=np.int64, count=len(found))
    end = np.fromiter((m.end() for m in found), dtype=np.int64, count=len(found))
    return pos, end, found


def _literal_matches(literals: list[bytes], buf: bytes | memoryview):
    """(start, end, literal index) of what `finditer` of the alternation `a|b|...` finds.

    Why: an alternation has no literal prefix, so `re` tries it at every byte
    (~37 ns a byte); `bytes.find` per literal is ~0.2 ns a byte. The
    alternation's leftmost, first-alternative, non-overlapping choice is then
    replayed on the merged hits (every occurrence of each literal, overlaps too).
    """
    raw = buf if isinstance(buf, bytes) else bytes(buf)  # bytes.find beats a literal regex
    hits = []
    for k, literal in enumerate(literals):
        at = raw.find(literal)
        while at >= 0:
            hits.append((at, k, at + len(literal)))
            at = raw.find(literal, at + 1)
    hits.sort()
    pos, end, which = [], [], []
    after = 0
    for start, k, stop in hits:
        if start >= after:
            pos.append(start)
            end.append(stop)
            which.append(k)
            after = stop
    return np.array(pos, np.int64), np.array(end, np.int64), np.array(which, np.int64)


def _edifact_matches(chunk: _Chunk):
    """What `_matches` gives for UNH_RE and EQD_RE, from two numpy passes for 'H+' and 'D+'.

    Why: both markers are three letters and a '+' ("UNH+", "EQD+CN+"). Viewed
    as uint16 pairs (once from an even, once from an odd offset), the buffer
    shows where a '+' follows an H or a D (`_letter_plus`); one gather of the
    four bytes ending there (`_Chunk.words`) picks the candidates, and the
    regexes run only at those. Returns [(pos, end, matches)] for UNH_RE then
    EQD_RE, non-overlapping as `finditer` would give them.
    """
    data = chunk.data
    even, odd = len(data) // 2, (len(data) - 1) // 2
    plus = np.sort(
        np.concatenate(
            [_letter_plus(data[: 2 * even]) * 2 + 1, _letter_plus(data[1 : 1 + 2 * odd]) * 2 + 2]
        )
    )
    plus = plus[plus >= 3]
    before = chunk.words[plus - 3]
    buf = memoryview(data)
    out = []
    for regex, word in ((UNH_RE, _UNH), (EQD_RE, _EQD)):
        found = []
        after = 0
        for start in (plus[before == word] - 3).tolist():
            if start < after:
                continue
            m = regex.match(buf, start)
            if m is not None:
                found.append(m)
                after = m.end()
        pos = np.fromiter((m.start() for m in found), dtype=np.int64, count=len(found))
        end = np.fromiter((m.end() for m in found), dtype=np.int64, count=len(found))
        out.append((pos, end, found))
    return out


def _letter_plus(two: np.ndarray) -> np.ndarray:
    """Pair indices i where bytes 2i, 2i + 1 of `two` may be 'H+' or 'D+' ('@+' and 'L+' too)."""
    pairs = two.view("<u2")
    near = np.bitwise_or(pairs, 0x000C, out=_scratch(len(pairs), np.uint16))
    return _sparse_nonzero(np.equal(near, 0x2B4C, out=_scratch(len(pairs), bool)))


def _sparse_nonzero(mask: np.ndarray) -> np.ndarray:
    """`np.flatnonzero(mask)` for a long mask with few True: through its 8-byte words.

    Why: flatnonzero walks every byte; the words that are not zero are few,
    and only their bytes are looked at.
    """
    n8 = len(mask) // 8 * 8
    words = np.flatnonzero(mask[:n8].view(np.uint64) != 0)
    j = np.flatnonzero(mask[:n8].reshape(-1, 8)[words])
    head = words[j >> 3] * 8 + (j & 7)
    return np.concatenate([head, np.flatnonzero(mask[n8:]) + n8])


_UNH, _EQD = (int.from_bytes(w, "little") for w in (b"UNH+", b"EQD+"))
_SCRATCH: dict[tuple[str, int], np.ndarray] = {}


def _scratch(n: int, dtype, slot: int = 0) -> np.ndarray:
    """A reused buffer of n items for a whole-chunk temporary.

    Why: a fresh 4 MiB array per chunk comes from a new mmap (glibc returns
    big blocks to the system), and faulting its pages in cost more than the
    pass that fills it. One buffer per (dtype, slot) per process.
    """
    key = (np.dtype(dtype).str, slot)
    buf = _SCRATCH.get(key)
    if buf is None or len(buf) < n:
        buf = _SCRATCH[key] = np.empty(n, dtype=dtype)
    return buf[:n]


def _container_number(m: re.Match[bytes]) -> str | None:
    owner, serial, check = (g.decode("ascii") for g in m.groups())
    if not (owner.isupper() or owner.islower()):
        return None  # mixed case: text, not a number
    number = f"{owner.upper()}{serial}{check}"
    return number if iso6346_valid(number) else None


def scan(
    batch: RawBatch, packets: Packets, input_index: int = 0, first_packet_no: int = 0
) -> list[Event]:
    """Events 'container-ids' for packets with a valid container number or EDIFACT container message."""
    pk = packets
    if len(pk) == 0:
        return []
    chunk = _Chunk.of(batch, pk)
    idx, starts, ends = chunk.idx, chunk.starts, chunk.ends
    if len(idx) == 0:
        return []
    data = chunk.data
    buf = memoryview(data)
    numbers: dict[int, list[str]] = {}
    messages: dict[int, list[str]] = {}

    pos, end, found = _iso_matches(buf, data)
    for i, m in zip(_locate(pos, end, idx, starts, ends).tolist(), found, strict=True):
        number = _container_number(m) if i >= 0 else None
        have = numbers.setdefault(i, [])
        if number is not None and number not in have and len(have) < MAX_PER_PACKET:
            have.append(number)
    for (pos, end, found), label in zip(_edifact_matches(chunk), (None, "EQD+CN"), strict=True):
        for i, m in zip(_locate(pos, end, idx, starts, ends).tolist(), found, strict=True):
            kind = label or m.group(1).decode("ascii")
            if i < 0 or (label is None and kind not in CONTAINER_MESSAGES):
                continue
            if kind not in messages.setdefault(i, []):
                messages[i].append(kind)

    events = []
    for i in sorted({k for k, v in numbers.items() if v} | {k for k, v in messages.items() if v}):
        where = _where(batch, pk, i)
        fields: dict = {
            "iso6346": numbers.get(i, []),
            "edifact": messages.get(i, []),
            "where": where,
        }
        if where != "payload":
            fields["service"] = where
        events.append(_event("container-ids", pk, i, fields, (input_index, first_packet_no + i)))
    return events


# ---------------------------------------------------------------- remote-access signatures


def _ports_mask(pk: Packets, rows: np.ndarray, ports) -> np.ndarray:
    """Rows whose source or destination port is in any (l4, low, high) range of a tool."""
    sp, dp, proto = pk.sport[rows], pk.dport[rows], pk.proto[rows]
    ok = np.zeros(len(rows), dtype=bool)
    for l4, lo, hi in ports:
        num = {"tcp": 6, "udp": 17}.get(l4)
        if num is None:
            continue
        ok |= (proto == num) & (((sp >= lo) & (sp <= hi)) | ((dp >= lo) & (dp <= hi)))
    return ok


def _at_mask(batch: RawBatch, pk: Packets, rows: np.ndarray, sig) -> np.ndarray:
    """Rows whose payload has every `at` piece of a signature (vectorised gathers).

    Each byte test gathers only for the rows still alive: the first byte
    rules out nearly all payloads, so a signature costs about one gather.
    """
    off, plen = pk.payload_off[rows].astype(np.int64), pk.payload_len[rows].astype(np.int64)
    ok = np.ones(len(rows), dtype=bool)
    if sig.length is not None:
        ok &= plen == sig.length
    last = len(batch.data) - 1
    for o, piece in sig.at:
        ok &= plen >= o + len(piece)
    alive = np.flatnonzero(ok)
    for o, piece in sig.at:
        for k, byte in enumerate(piece):
            alive = alive[batch.data[np.minimum(off[alive] + o + k, last)] == byte]
    ok = np.zeros(len(rows), dtype=bool)
    ok[alive] = True
    if sig.length_field is not None:
        o, size, adjust = sig.length_field
        ok &= plen >= o + size
        value = np.zeros(len(rows), dtype=np.int64)
        for k in range(size):
            value = (value << 8) | batch.data[np.minimum(off + o + k, last)].astype(np.int64)
        ok &= value + adjust == plen
    return ok


class _SigTable:
    """The knowledge's payload signatures, arranged once for whole-batch tests.

    Why: testing each `at` signature on every payload costs a few array
    passes per signature. Here each payload gets, per distinct offset of a
    signature's first piece, two look-ups of (transport, byte there) and
    (transport, next byte) in small tables of signature bitmaps, ANDed: a
    signature's bit survives when both bytes fit (each signature has its own
    bit, so this is exact for its two-byte test, and the 6 KB tables stay in
    cache where one 64 Ki-entry table per offset would not). Only the few rows
    a signature's bit is set for are then checked in full (`_at_mask`).
    """

    _cache: dict[int, tuple[object, _SigTable]] = {}

    def __init__(self, knowledge) -> None:
        self.at_sigs: list[tuple[int, object, object]] = []
        self.contains: list[tuple[bytes, int, bool, str | None]] = []
        for t_no, tool in enumerate(knowledge.tools):
            for sig in tool.signatures:
                if sig.contains is not None:
                    self.contains.append((sig.contains, t_no, sig.strong, sig.l4))
                else:
                    self.at_sigs.append((t_no, tool, sig))
        if len(self.at_sigs) > 64:
            raise ValueError("at most 64 fixed-offset signatures")
        # offset -> bitmaps by [transport row (tcp, udp, other), byte], for the first
        # and the second byte of the piece
        self.first: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for bit, (_, _, sig) in enumerate(self.at_sigs):
            pieces = sorted((o, piece) for o, piece in sig.at if piece)
            off, piece = pieces[0] if pieces else (0, b"")
            if off not in self.first:
                self.first[off] = (np.zeros((3, 256), np.uint64), np.zeros((3, 256), np.uint64))
            luts = self.first[off]
            rows = [0, 1, 2] if sig.l4 is None else [{"tcp": 0, "udp": 1}[sig.l4]]
            for k, lut in enumerate(luts):
                if len(piece) > k:
                    lut[rows, piece[k]] |= np.uint64(1 << bit)
                else:  # no byte to look for: every byte value fits
                    lut[rows] |= np.uint64(1 << bit)

    @classmethod
    def of(cls, knowledge) -> _SigTable:
        hit = cls._cache.get(id(knowledge))
        if hit is None or hit[0] is not knowledge:
            if len(cls._cache) >= 8:  # tests load many knowledge sets; a run uses one
                cls._cache.clear()
            hit = cls._cache[id(knowledge)] = (knowledge, cls(knowledge))
        return hit[1]

    def first_bits(self, chunk: _Chunk) -> np.ndarray:
        """Per payload row of the chunk, the signatures whose first piece may start at its offset."""
        data, off, plen = chunk.data, chunk.starts, chunk.ends - chunk.starts
        row = _TRANSPORT_ROW[chunk.pk.proto[chunk.idx]]
        last = len(data) - 1
        # offsets up to `room` stay inside the buffer for every row: no clamp needed
        room = last - 1 - int(off.max()) if len(off) else 0
        bits = np.zeros(len(off), dtype=np.uint64)
        for o, (lut0, lut1) in self.first.items():
            at = off + o if o <= room else np.minimum(off + o, last - 1)
            got = lut0.ravel()[row | data[at]] & lut1.ravel()[row | data[at + 1]]
            if o:  # every row has a payload byte at offset 0
                got[plen <= o] = 0
            bits |= got
        return bits


_TRANSPORT_ROW = np.full(256, 2 << 8, dtype=np.intp)  # first_bits row: TCP 0, UDP 1, other 2
_TRANSPORT_ROW[6], _TRANSPORT_ROW[17] = 0, 1 << 8


COMPACT_SHARE = 4  # gather one transport's payloads when they are under 1/4 of the buffer


def _contains_hits(chunk: _Chunk, literals: list[bytes], l4: str | None):
    """(packet index or -1, literal index) of the `contains` literals of one transport.

    Why: on an OT capture most payload bytes are UDP (camera RTP, cyclic I/O)
    while these literals are TCP's (an RDP cookie, an frp login): the TCP
    payloads are gathered into one small buffer and searched there, instead
    of searching the whole buffer. A hit across two gathered payloads does not
    count, as a hit across a header does not in the whole buffer.
    """
    if l4 is None:
        pos, end, which = _literal_matches(literals, chunk.raw)
        return _locate(pos, end, chunk.idx, chunk.starts, chunk.ends), which
    sel = chunk.pk.proto[chunk.idx] == {"tcp": 6, "udp": 17}[l4]
    rows, row_starts = chunk.idx[sel], chunk.starts[sel]
    lens = chunk.ends[sel] - row_starts
    total = int(lens.sum())
    if total * COMPACT_SHARE >= len(chunk.data):
        pos, end, which = _literal_matches(literals, chunk.raw)
        return _locate(pos, end, chunk.idx, chunk.starts, chunk.ends), which
    cstart = np.cumsum(lens) - lens
    pos, end, which = _literal_matches(
        literals, chunk.data[_spans_index(row_starts, lens)].tobytes()
    )
    return _locate(pos, end, rows, cstart, cstart + lens), which


def _spans_index(starts: np.ndarray, lens: np.ndarray) -> np.ndarray:
    """Buffer offsets of the bytes of every span [start, start + len), spans one after the other.

    One cumulative sum of steps (1 inside a span, a jump at each span start)
    in int32: fewer and smaller passes than repeat + arange.
    """
    step = np.ones(int(lens.sum()), dtype=np.int32)
    first = np.cumsum(lens) - lens
    step[first] = starts - np.concatenate([[1], starts[:-1] + lens[:-1]]) + 1
    return np.cumsum(step, dtype=np.int32)


def scan_signatures(
    batch: RawBatch,
    packets: Packets,
    knowledge=None,
    input_index: int = 0,
    first_packet_no: int = 0,
) -> list[Event]:
    """Events 'remote-sig' (fields tool, strong) for payloads carrying a tool's signature.

    Weak signatures (a byte or two) count only on one of the tool's ports.
    """
    if knowledge is None:
        from cranewatch.knowledge import load

        knowledge = load()
    pk = packets
    chunk = _Chunk.of(batch, pk)
    idx = chunk.idx
    if len(idx) == 0:
        return []
    hit_rows: list[np.ndarray] = []
    hit_tool: list[np.ndarray] = []
    hit_strong: list[np.ndarray] = []
    table = _SigTable.of(knowledge)
    first_bits = table.first_bits(chunk)
    some = np.flatnonzero(first_bits != 0)
    cand, cand_bits = idx[some], first_bits[some]
    present = int(np.bitwise_or.reduce(cand_bits)) if len(cand_bits) else 0
    for bit, (t_no, tool, sig) in enumerate(table.at_sigs):
        if not present >> bit & 1:
            continue
        rows = cand[(cand_bits & np.uint64(1 << bit)) != 0]
        if sig.l4 is not None:
            rows = rows[pk.proto[rows] == {"tcp": 6, "udp": 17}[sig.l4]]
        ok = _at_mask(batch, pk, rows, sig)
        if not sig.strong:
            ok &= _ports_mask(pk, rows, tool.ports)
        if ok.any():
            hit_rows.append(rows[ok])
            hit_tool.append(np.full(int(ok.sum()), t_no))
            hit_strong.append(np.full(int(ok.sum()), sig.strong))
    contains = table.contains
    for l4 in dict.fromkeys(c[3] for c in contains):
        which_sigs = [c for c in contains if c[3] == l4]
        where, which = _contains_hits(chunk, [c[0] for c in which_sigs], l4)
        for i, k in zip(where.tolist(), which.tolist(), strict=True):
            if i < 0:
                continue
            _, t_no, strong, _ = which_sigs[k]
            if l4 is not None and int(pk.proto[i]) != {"tcp": 6, "udp": 17}[l4]:
                continue
            hit_rows.append(np.array([i]))
            hit_tool.append(np.array([t_no]))
            hit_strong.append(np.array([strong]))
    if not hit_rows:
        return []
    rows, tools, strong = (
        np.concatenate(hit_rows),
        np.concatenate(hit_tool),
        np.concatenate(hit_strong),
    )
    # one event per (flow, tool): key on the unordered address/port pair
    a = np.minimum(pk.src_lo[rows], pk.dst_lo[rows]) ^ (
        np.maximum(pk.src_lo[rows], pk.dst_lo[rows]) << np.uint64(7)
    )
    b = np.minimum(pk.sport[rows], pk.dport[rows]).astype(np.uint64) << np.uint64(16)
    b |= np.maximum(pk.sport[rows], pk.dport[rows]).astype(np.uint64)
    keys = np.stack([a, b, tools.astype(np.uint64)], axis=1)
    order = np.lexsort((rows, ~strong))  # strong first, then earliest
    _, first = np.unique(keys[order], axis=0, return_index=True)
    events = []
    for j in np.sort(order[first]).tolist():
        tool = knowledge.tools[int(tools[j])]
        fields = {"tool": tool.name, "strong": bool(strong[j]), "category": tool.category}
        # weak signatures only count on the tool's port, so either kind names the service
        fields["service"] = re.sub(r"[^a-z0-9]+", "-", tool.name.lower()).strip("-")
        i = int(rows[j])
        events.append(_event("remote-sig", pk, i, fields, (input_index, first_packet_no + i)))
    return events
