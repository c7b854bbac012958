"""A capture of connection churn: DNS queries, each from a new source port.

Why: memory is bounded by folding idle flows into conversations
(`inventory/fold.py`), so a capture of many short connections (DNS, HTTP
polling, a scanner) measures what folding costs per connection; the OT-like
benchmark file has 28k 5-tuples, this one a million.

    python bench/churn.py --pairs 1000000 --out bench/data/churn1m.pcap
"""

from __future__ import annotations

import argparse
import random
import struct
import sys
from pathlib import Path

import dpkt

RESOLVER = bytes([10, 60, 0, 53])
ROUTER_MAC = bytes.fromhex("001b1b000001")
NAME = "telemetry.example.com"


def _frame(src: bytes, dst: bytes, sport: int, dport: int, payload: bytes, smac, dmac) -> bytes:
    udp = dpkt.udp.UDP(sport=sport, dport=dport, data=payload)
    udp.ulen = len(udp)
    ip = dpkt.ip.IP(src=src, dst=dst, p=17, data=udp)
    ip.len = len(ip)
    return bytes(dpkt.ethernet.Ethernet(src=smac, dst=dmac, type=0x0800, data=ip))


def write(out: Path, pairs: int, clients: int = 50, seed: int = 1) -> None:
    """`pairs` query/response pairs 0.5 ms apart, from `clients` hosts, random source ports."""
    query = bytes(dpkt.dns.DNS(id=1, qd=[dpkt.dns.DNS.Q(name=NAME)]))
    answer = dpkt.dns.DNS.RR(name=NAME, type=1, cls=1, ttl=60, rdata=bytes([203, 0, 113, 10]))
    reply = bytes(dpkt.dns.DNS(id=1, qr=1, qd=[dpkt.dns.DNS.Q(name=NAME)], an=[answer]))
    rnd = random.Random(seed)
    with open(out, "wb") as fh:
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        chunk = []
        for i in range(pairs):
            who = rnd.randrange(clients)
            host, mac = bytes([10, 50, 0, 10 + who]), bytes([0x3C, 0x52, 0x82, 0, 0, who])
            port = rnd.randrange(1024, 65535)
            usec = 1_700_000_000_000_000 + i * 500
            q = _frame(host, RESOLVER, port, 53, query, mac, ROUTER_MAC)
            r = _frame(RESOLVER, host, 53, port, reply, ROUTER_MAC, mac)
            for frame, at in ((q, usec), (r, usec + 200)):
                chunk.append(
                    struct.pack("<IIII", at // 1_000_000, at % 1_000_000, len(frame), len(frame))
                )
                chunk.append(frame)
            if len(chunk) > 200_000:
                fh.write(b"".join(chunk))
                chunk = []
        fh.write(b"".join(chunk))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "data" / "churn1m.pcap")
    args = ap.parse_args(argv)
    write(args.out, args.pairs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
