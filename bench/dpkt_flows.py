"""The baseline: a plain Python dpkt loop building a bidirectional 5-tuple flow table.

What a quick script would do: one dpkt object per packet. Used by run.py as
the "plain Python" reference point, not by cranewatch.

    python bench/dpkt_flows.py capture.pcap
"""

from __future__ import annotations

import socket
import sys

import dpkt


def flows(path: str) -> dict:
    """(proto, endpoint, endpoint) -> [packets, bytes], endpoints sorted."""
    table: dict = {}
    with open(path, "rb") as fh:
        for _ts, buf in dpkt.pcap.UniversalReader(fh):
            eth = dpkt.ethernet.Ethernet(buf)
            ip = eth.data
            if isinstance(ip, dpkt.ip.IP):
                src, dst, proto = ip.src, ip.dst, ip.p
            elif isinstance(ip, dpkt.ip6.IP6):
                src, dst, proto = ip.src, ip.dst, ip.nxt
            else:
                continue
            l4 = ip.data
            sport = getattr(l4, "sport", 0)
            dport = getattr(l4, "dport", 0)
            a, b = (src, sport), (dst, dport)
            key = (proto, a, b) if a <= b else (proto, b, a)
            entry = table.get(key)
            if entry is None:
                entry = table[key] = [0, 0]
            entry[0] += 1
            entry[1] += len(buf)
    return table


def main() -> int:
    table = flows(sys.argv[1])
    packets = sum(v[0] for v in table.values())
    top = sorted(table.items(), key=lambda kv: -kv[1][1])[:3]
    for (proto, a, b), (n, size) in top:
        fam = socket.AF_INET6 if len(a[0]) == 16 else socket.AF_INET
        ends = [f"{socket.inet_ntop(fam, ip)}:{port}" for ip, port in (a, b)]
        print(f"{proto} {ends[0]} {ends[1]} {n} packets {size} bytes")
    print(f"{len(table)} flows, {packets} IP packets")
    return 0


if __name__ == "__main__":
    sys.exit(main())
