"""What each fuzz target does with one input: the part shared by atheris, the smoke and the tests.

A target is a function `bytes -> None` that feeds the input to one piece of
cranewatch and checks the promises that piece makes about hostile bytes: it
returns (never raises), what it returns is well-formed (offsets inside the
buffer, dicts that serialise), and errors a user can meet are one-line
`CranewatchError`s. Any exception escaping a target is a finding.

Imports happen inside `load()` so that a harness can wrap them in
`atheris.instrument_imports()` and the tests need nothing but cranewatch.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable

# Deep parsers: decode/<name>.py, each with parse(data: bytes) -> dict | None.
DECODERS = (
    "arp",
    "bacnet",
    "cdp",
    "dhcp",
    "dns",
    "enip",
    "http",
    "lldp",
    "mdns",
    "modbus",
    "nbns",
    "opcua",
    "pn_dcp",
    "rfb",
    "s7comm",
    "snmp",
    "ssdp",
    "ssh",
    "tls",
)
READERS = ("pcap", "pcapng", "gzip")
TARGETS = (*READERS, *DECODERS, "l2l4", "site")

# Smallest chunk the readers are driven with besides the default: forces
# records across chunk boundaries (the carry-over path) even for tiny inputs.
SMALL_CHUNK = 61
# A pcap file header (little endian, microseconds, snaplen 65535, Ethernet)
# put in front of inputs that do not start with a pcap magic.
PCAP_HEADER = bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000")


class FuzzFinding(AssertionError):
    """A promise broken without an exception (bad offsets, multi-line error...)."""


def load(name: str) -> Callable[[bytes], None]:
    """The target function for `name` (imports the cranewatch modules it needs)."""
    if name in DECODERS:
        return _decoder(name)
    if name in ("pcap", "pcapng", "gzip"):
        return _reader(name)
    if name == "l2l4":
        return _l2l4()
    if name == "site":
        return _site()
    raise KeyError(f"unknown fuzz target {name!r}; known: {', '.join(TARGETS)}")


# ---------------------------------------------------------------- deep parsers


def _decoder(name: str) -> Callable[[bytes], None]:
    import importlib

    module = importlib.import_module(f"cranewatch.decode.{name}")
    parse = module.parse

    def one(data: bytes) -> None:
        got = parse(data)
        if got is not None and not isinstance(got, dict):
            raise FuzzFinding(f"{name}.parse returned {type(got).__name__}")
        if got:  # events end up in UTF-8 JSON reports: no NaN, no lone surrogates
            json.dumps(got, ensure_ascii=False, allow_nan=False, default=str).encode("utf-8")

    return one


# ---------------------------------------------------------------- capture readers


def _reader(name: str) -> Callable[[bytes], None]:
    from cranewatch.sources.batch import PAD, InputStats
    from cranewatch.sources.gunzip import GunzipReader
    from cranewatch.sources.pcap import MAGICS, read_pcap
    from cranewatch.sources.pcapng import MAGIC, read_pcapng
    from cranewatch.sources.read_ahead import ReadAhead
    from cranewatch.sources.stream import Chunker, finish_tail

    def read_all(raw, chunk: int, pcapng: bool, total: int | None = None) -> InputStats:
        stats = InputStats(path="fuzz")
        chunker = Chunker(raw, chunk, total)  # total: plain files know their size
        reader = read_pcapng if pcapng else read_pcap
        packets = 0
        for batch in reader(chunker, stats):
            _check_batch(batch, PAD)
            packets += len(batch)
        finish_tail(stats, chunker, getattr(raw, "problem", None))
        if packets != stats.packets:
            raise FuzzFinding(f"stats.packets {stats.packets} != {packets} packets yielded")
        return stats

    def one(data: bytes) -> None:
        if name == "gzip":
            head = GunzipReader(io.BytesIO(data)).read(4)
            pcapng = head == MAGIC
            if not pcapng and head not in MAGICS:
                return
            # as a capture is read (a thread inflating ahead), and plainly in tiny chunks;
            # damage loses the piece it is found in, whose size depends on the reads
            first = read_all(ReadAhead(GunzipReader(io.BytesIO(data))), 4 << 20, pcapng)
            second = read_all(GunzipReader(io.BytesIO(data)), SMALL_CHUNK, pcapng)
            if not (first.errors or second.errors):
                _same_packets(first, second)
            return
        if name == "pcap" and data[:4] not in MAGICS:
            data = PCAP_HEADER + data
        if name == "pcapng" and data[:4] != MAGIC:
            return
        first = read_all(io.BytesIO(data), 4 << 20, name == "pcapng", len(data))
        if name == "pcapng":
            _same_with_look_ahead(first, lambda: read_all(io.BytesIO(data), 4 << 20, True))
        second = read_all(io.BytesIO(data), SMALL_CHUNK, name == "pcapng")
        _same_packets(first, second)

    return one


def _same_packets(first, second) -> None:
    if first.packets != second.packets or first.bytes != second.bytes:
        raise FuzzFinding(
            f"chunk size changes the result: {first.packets}/{first.bytes} packets/bytes "
            f"vs {second.packets}/{second.bytes}"
        )


def _same_with_look_ahead(first, read: Callable[[], object]) -> None:
    """pcapng: the numpy look-ahead tried after every block reads what the loop reads.

    With the default PROBE it starts only after 64 blocks in a row, which
    fuzzed inputs rarely hold.
    """
    from cranewatch.sources import pcapng

    before = pcapng.PROBE
    pcapng.PROBE = 1
    try:
        eager = read()
    finally:
        pcapng.PROBE = before
    fields = ("packets", "bytes", "errors", "skipped_bytes", "warnings", "first_ts", "last_ts")
    if any(getattr(first, f) != getattr(eager, f) for f in fields):
        raise FuzzFinding(f"the EPB look-ahead changes the result: {first} vs {eager}")


def _check_batch(batch, pad: int) -> None:
    """Every packet lies inside the buffer, before the PAD zeros."""
    import numpy as np

    n = len(batch)
    for col in (batch.caplens, batch.wirelens, batch.ts, batch.linktypes):
        if len(col) != n:
            raise FuzzFinding("RawBatch columns of different lengths")
    if n == 0:
        return
    end = batch.offsets.astype(np.int64) + batch.caplens
    if (batch.offsets < 0).any() or (batch.caplens < 0).any() or end.max() > len(batch.data) - pad:
        raise FuzzFinding("a packet points outside its batch buffer")


# ---------------------------------------------------------------- columnar decode + dispatch

# Link types l2l4 decodes, plus one it does not (to exercise `supported`).
LINKTYPES = (1, 101, 228, 229, 12, 14, 0, 108, 113, 276, 147, 239)


def make_batch(data: bytes):
    """A RawBatch from fuzz bytes: [linktype index] then (length byte, bytes) records."""
    import numpy as np

    from cranewatch.sources.batch import PAD, RawBatch

    if not data:
        data = b"\x00"
    linktype = LINKTYPES[data[0] % len(LINKTYPES)]
    offsets, caplens, p = [], [], 1
    body = bytearray()
    while p < len(data) and len(offsets) < 64:
        size = data[p] * 2 + 1  # up to 511 bytes: reaches past the 128-byte window
        chunk = data[p + 1 : p + 1 + size]
        offsets.append(len(body))
        caplens.append(len(chunk))
        body += chunk
        p += 1 + size
    buf = np.frombuffer(bytes(body) + bytes(PAD), dtype=np.uint8)
    n = len(offsets)
    return RawBatch(
        data=buf,
        offsets=np.array(offsets, dtype=np.int64),
        caplens=np.array(caplens, dtype=np.int32),
        wirelens=np.array(caplens, dtype=np.int32),
        ts=np.arange(n, dtype=np.float64),
        linktypes=np.full(n, linktype, dtype=np.uint16),
    )


def _l2l4() -> Callable[[bytes], None]:
    from cranewatch.decode import payload_scan
    from cranewatch.decode.dispatch import DeepParser, load_parsers
    from cranewatch.decode.l2l4 import decode_l2l4
    from cranewatch.inventory.event_log import EventLog
    from cranewatch.inventory.flows import FlowTable
    from cranewatch.inventory.hosts import HostTable

    parsers = load_parsers()

    def one(data: bytes) -> None:
        batch = make_batch(data)
        pk = decode_l2l4(batch)
        _check_packets(batch, pk)
        deep = DeepParser(0, parsers)  # fresh: its per-input tables must not pile up here
        log = EventLog()
        log.add(deep.run(batch, pk, 0))
        log.add(payload_scan.scan(batch, pk))
        log.events()
        FlowTable().add(pk, batch)
        folding = FlowTable(budget=2)  # every flow past two is folded: fold keys on odd flows
        folding.add(pk, batch)
        folding.flows()
        HostTable().add(pk, batch)
        if deep.parse_errors:
            raise FuzzFinding("a deep parser raised inside dispatch")

    return one


def _check_packets(batch, pk) -> None:
    """No offset points past a packet's captured bytes (decode_l2l4's promise)."""
    import numpy as np

    n = len(batch)
    if len(pk) != n:
        raise FuzzFinding(f"Packets has {len(pk)} rows for {n} packets")
    if n == 0:
        return
    end = batch.offsets.astype(np.int64) + batch.caplens
    for name in ("l3_off", "l4_off", "payload_off"):
        col = getattr(pk, name)
        there = col >= 0
        if (there & ((col < batch.offsets) | (col > end))).any():
            raise FuzzFinding(f"{name} outside its packet")
    there = pk.payload_off >= 0
    if (pk.payload_len < 0).any() or (there & (pk.payload_off + pk.payload_len > end)).any():
        raise FuzzFinding("payload runs past the captured bytes")


# ---------------------------------------------------------------- site file


def _site() -> Callable[[bytes], None]:
    from cranewatch.errors import SiteFileError
    from cranewatch.inventory.site import loads_site

    def one(data: bytes) -> None:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return  # load_site reports "not UTF-8 text" before parsing
        try:
            site = loads_site(text, path="fuzz.yaml")
        except SiteFileError as exc:
            shown = str(exc)
            if "\n" in shown or exc.line is None or not shown.startswith("fuzz.yaml:"):
                problem = f"site error is not one 'file:line: message' line: {shown!r}"
                raise FuzzFinding(problem) from None
            return
        site.zone_of("10.0.0.1")
        site.asset_for(None, "10.0.0.1")
        site.conduit_for("10.0.0.1", "192.168.1.1", "tcp", 502)

    return one


# ---------------------------------------------------------------- inputs as capture files


def _ip4_frame(proto: int, sport: int, dport: int, payload: bytes) -> bytes:
    """Ethernet + IPv4 + UDP/TCP carrying `payload` (checksums zero: nothing checks them)."""
    import struct

    if proto == 17:
        l4 = struct.pack(">HHHH", sport, dport, 8 + len(payload), 0)
    else:
        l4 = struct.pack(">HHIIBBHHH", sport, dport, 1, 0, 0x50, 0x18, 65535, 0, 0)
    total = min(20 + len(l4) + len(payload), 0xFFFF)
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 0, 0x4000, 64, proto, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))  # fmt: skip
    return bytes.fromhex("00112233445500aabbccddee0800") + ip + l4 + payload


def as_frames(target: str, data: bytes) -> list[tuple[int, bytes]]:
    """(linktype, frame) packets that make the analyzer hand `data` to `target`.

    Used to run every fuzz input through the real CLI, not just the function.
    """
    import importlib

    if target == "l2l4":
        batch = make_batch(data)
        return [(int(batch.linktypes[i]), batch.packet(i)) for i in range(len(batch))]
    sel = importlib.import_module(f"cranewatch.decode.{target}").SELECT
    if sel.dst_macs:  # 802.3 length field, then the LLC/SNAP bytes
        dst = sel.dst_macs[0].to_bytes(6, "big")
        return [(1, dst + bytes.fromhex("00aabbccddee") + len(data).to_bytes(2, "big") + data)]
    if sel.ethertypes:
        head = bytes.fromhex("ffffffffffff00aabbccddee") + sel.ethertypes[0].to_bytes(2, "big")
        return [(1, head + data)]
    proto = 6 if sel.l4 == "tcp" else 17
    port = sel.ports[0] if sel.ports else 8080
    return [(1, _ip4_frame(proto, 40000, port, data))]


def pcap_file(frames: list[tuple[int, bytes]]) -> bytes:
    """A classic pcap of the frames (one link type: the first frame's)."""
    import struct

    link = frames[0][0] if frames else 1
    out = [PCAP_HEADER[:20] + struct.pack("<I", link)]
    for k, (_, frame) in enumerate(frames):
        out.append(struct.pack("<IIII", 1_700_000_000 + k, 0, len(frame), len(frame)) + frame)
    return b"".join(out)
