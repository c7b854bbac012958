#!/usr/bin/env python3
"""Write the seed corpus fuzz/corpus/<target>/ from synthetic packets only.

Seeds come from cranewatch's own simulator (a short, seeded scenario): the
payloads the dispatcher hands each deep parser, the first frames as pcap,
pcapng (both byte orders, every packet block kind) and gzip, and the site
file. A few hand-built messages cover what the simulator does not send
(DNS compression, SNMP, mDNS, BACnet, CDP). Nothing is copied from real
captures. Re-running gives the same files.

    python fuzz/make_corpus.py
"""

from __future__ import annotations

import gzip
import hashlib
import struct
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
PER_PARSER = 8  # distinct payloads kept per parser
MAX_SEED = 2048  # bytes per payload seed
FRAMES = 24  # frames in the capture seeds


def main() -> None:
    sys.path.insert(0, str(HERE))
    from cranewatch.simulate import simulate

    with tempfile.TemporaryDirectory() as tmp:
        sim = simulate(Path(tmp), seed=3, duration=60, scale=0.3)
        frames = _frames(sim.capture)
        payloads = _payloads(sim.capture)
        site_text = sim.site.read_text(encoding="utf-8")
    for name, items in payloads.items():
        for data in items:
            _seed(name, data)
    for name, items in _extra_payloads().items():
        for data in items:
            _seed(name, data)
    _capture_seeds(frames)
    _site_seeds(site_text)


def _seed(target: str, data: bytes) -> None:
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(data).hexdigest()[:16]).write_bytes(data)


def _frames(path: Path) -> list[tuple[float, bytes]]:
    """Frames of the simulated capture, picked to cover many protocols."""
    import numpy as np

    from cranewatch.decode.l2l4 import decode_l2l4
    from cranewatch.sources import open_capture

    picked: list[tuple[float, bytes]] = []
    seen: set[tuple[int, int, int]] = set()
    for batch in open_capture(path).batches():
        pk = decode_l2l4(batch)
        ports = np.minimum(pk.sport, pk.dport)
        for i in range(len(batch)):
            kind = (int(pk.ethertype[i]), int(pk.proto[i]), int(ports[i]))
            if kind in seen or int(batch.caplens[i]) > 600:
                continue
            seen.add(kind)
            picked.append((float(batch.ts[i]), batch.packet(i)))
            if len(picked) >= FRAMES:
                return picked
    return picked


def _payloads(path: Path) -> dict[str, list[bytes]]:
    """The bytes the dispatcher hands each parser, first few distinct ones."""
    from cranewatch.decode.dispatch import DeepParser, Parser, load_parsers
    from cranewatch.decode.l2l4 import decode_l2l4
    from cranewatch.sources import open_capture

    got: dict[str, list[bytes]] = {}

    def recorder(name: str, parse):
        def wrapped(data: bytes):
            have = got.setdefault(name, [])
            if len(have) < PER_PARSER and data[:MAX_SEED] not in have:
                have.append(data[:MAX_SEED])
            return parse(data)

        return wrapped

    parsers = [
        Parser(p.name, p.select, recorder(p.name.replace("-", "_"), p.parse))
        for p in load_parsers()
    ]
    deep = DeepParser(0, parsers)
    done = 0
    for batch in open_capture(path).batches():
        deep.run(batch, decode_l2l4(batch), done)
        done += len(batch)
    return got


# ---------------------------------------------------------------- hand-built payloads


def _dns_name(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"


def _extra_payloads() -> dict[str, list[bytes]]:
    header = struct.pack(">HHHHHH", 0x1234, 0x8180, 1, 2, 0, 0)
    question = _dns_name("plc1.crane.example") + b"\x00\x01\x00\x01"
    answer = b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x01\x2c\x00\x04\x0a\x00\x00\x05"
    cname = b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x01\x2c\x00\x02\xc0\x11"
    dns_resp = header + question + answer + cname
    loop = struct.pack(">HHHHHH", 1, 0x8180, 1, 1, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01"
    mdns = (
        struct.pack(">HHHHHH", 0, 0x8400, 0, 1, 0, 0)
        + _dns_name("cam-7._http._tcp.local")
        + b"\x00\x10\x80\x01\x00\x00\x11\x94\x00\x0c\x0bmodel=IPC-7"
    )
    sysdescr = b"\x2b\x06\x01\x02\x01\x01\x01\x00"
    varbind = b"\x30\x1c\x06\x08" + sysdescr + b"\x04\x10Siemens SCALANCE"
    pdu = b"\xa2\x28\x02\x01\x01\x02\x01\x00\x02\x01\x00\x30\x1e" + varbind
    snmp = b"\x30" + bytes([len(pdu) + 11]) + b"\x02\x01\x01\x04\x06public" + pdu
    bacnet_iam = bytes.fromhex("810b00190120ffff00ff1000c4020003e82201e0910022016c")
    cdp_body = b"\x02\xb4\x00\x00" + b"\x00\x01\x00\x0aswitch" + b"\x00\x05\x00\x08IOS "
    cdp = b"\xaa\xaa\x03\x00\x00\x0c\x20\x00" + cdp_body
    tls_lie = b"\x16\x03\x01\xff\xff\x01\xff\xff\xff\x03\x03" + bytes(40)
    return {
        "dns": [dns_resp, loop],
        "mdns": [mdns],
        "snmp": [snmp],
        "bacnet": [bacnet_iam],
        "cdp": [cdp],
        "tls": [tls_lie],
        "ssh": [b"SSH-2.0-OpenSSH_8.4p1 Debian-5\r\n", b"SSH-1.99-Cisco-1.25\r\n"],
        "rfb": [b"RFB 003.008\n", b"RFB 003.889\n"],
    }


# ---------------------------------------------------------------- captures


def _pcap(frames: list[tuple[float, bytes]], endian: str = "<", nano: bool = False) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)]
    for ts, data in frames:
        frac = int(round((ts % 1) * (1e9 if nano else 1e6)))
        out.append(struct.pack(endian + "IIII", int(ts), frac, len(data), len(data)) + data)
    return b"".join(out)


def _block(endian: str, btype: int, body: bytes) -> bytes:
    body += bytes(-len(body) % 4)
    length = 12 + len(body)
    return struct.pack(endian + "II", btype, length) + body + struct.pack(endian + "I", length)


def _pcapng(frames: list[tuple[float, bytes]], endian: str = "<") -> bytes:
    shb = _block(endian, 0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1))
    tsresol = struct.pack(endian + "HH", 9, 1) + b"\x09\x00\x00\x00"
    idb = _block(endian, 1, struct.pack(endian + "HHI", 1, 0, 65535) + tsresol + bytes(4))
    idb_raw = _block(endian, 1, struct.pack(endian + "HHI", 101, 0, 0))
    out = [shb, idb, idb_raw]
    for k, (ts, data) in enumerate(frames):
        units = int(ts * 1e9)
        pad = data + bytes(-len(data) % 4)
        if k % 7 == 3:
            out.append(_block(endian, 3, struct.pack(endian + "I", len(data)) + pad))
        elif k % 7 == 5:
            head = struct.pack(
                endian + "HHIIII", 0, 0, units >> 32, units & 0xFFFFFFFF, len(data), len(data)
            )
            out.append(_block(endian, 2, head + pad))
        else:
            head = struct.pack(
                endian + "IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(data), len(data)
            )
            out.append(_block(endian, 6, head + pad))
    out.insert(len(out) // 2, _block(endian, 4, b"\x01\x00\x04\x00\x0a\x00\x00\x05" + bytes(4)))
    return b"".join(out)


def _capture_seeds(frames: list[tuple[float, bytes]]) -> None:
    few = frames[:8]
    _seed("pcap", _pcap(frames))
    _seed("pcap", _pcap(few, ">", nano=True))
    _seed("pcap", _pcap(few)[:-7])  # cut mid-record
    _seed("pcapng", _pcapng(frames))
    _seed("pcapng", _pcapng(few, ">"))
    _seed("pcapng", _pcapng(few) + _pcapng(few[:2], ">"))  # two sections
    _seed("gzip", gzip.compress(_pcap(few), mtime=0))
    _seed("gzip", gzip.compress(_pcapng(few), mtime=0)[:-9])
    body = bytearray([0])  # make_batch's link type index 0 is Ethernet
    for _, data in frames[:12]:
        data = data[:511] + bytes(1 - len(data[:511]) % 2)  # odd lengths encode exactly
        body += bytes([(len(data) - 1) // 2]) + data
    _seed("l2l4", bytes(body))


def _site_seeds(site_text: str) -> None:
    _seed("site", site_text.encode())
    small = (
        "site: T\nzones:\n  - name: a\n    cidrs: [10.0.0.0/24, 'fd00::/64']\n"
        "    gateways: [10.0.0.1]\nassets:\n  - id: x\n    mac: 00:1b:1b:aa:01:10\n"
        "    ip: 10.0.0.5\n    role: plc\nconduits:\n  - from: a\n    to: internet\n"
        "    ports: [tcp/443, udp/1000-2000]\n    remote_access: true\n"
        "container_data_to: [x, 192.168.0.0/16]\n"
    )
    _seed("site", small.encode())
    _seed("site", b"site: T\nzones: &z\n  - name: a\n    cidrs: *z\n")


if __name__ == "__main__":
    main()
