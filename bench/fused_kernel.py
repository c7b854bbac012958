"""The issue's fused-kernel technique, measured here: one numba function per 4 MiB block.

Not used by cranewatch: a baseline for the benchmark, like dpkt_flows.py,
that answers "how fast would a compiled hot path be on this machine?". It
needs numba (`pip install numba`, about 210 MB with llvmlite); run.py adds its
rows only when numba imports. The kernel walks the pcap records, parses
Ethernet / 802.1Q / IPv4 / IPv6 / TCP / UDP and counts the bidirectional
5-tuple in an open-addressing hash table (the issue's prototype). With
`--scan` it also does the least of what cranewatch does besides: a host
table of (MAC, IP) pairs and one pass over every byte of the block for the
container-number and EDIFACT prefilters (runs of 4 digits, 'H+' / 'D+'), as
cranewatch's numpy scan does before it maps hits to payloads. Per-flow first
and last times are kept in both modes. That is a lower bound of cranewatch's
per-packet work in a compiled kernel, not an implementation of it: no deep
parsing, no events, no detectors, no report.

    python bench/fused_kernel.py capture.pcap [--scan]

Prints "N flows, M IP packets" as dpkt_flows.py does (the counts must agree),
then the timings of the import and of the kernel on stderr.
"""

from __future__ import annotations

import sys
import time

T0 = time.perf_counter()
import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

T_IMPORT = time.perf_counter() - T0
SLOTS = 1 << 20  # flow and host table slots: more than 2x the flows of the 5M file
BLOCK = 4 << 20
_FNV = np.uint64(1099511628211)


@njit(cache=True, nogil=True, inline="always")
def _u16(buf, p):
    return (np.int64(buf[p]) << 8) | np.int64(buf[p + 1])


@njit(cache=True, nogil=True, inline="always")
def _mix(x):
    """splitmix64's finaliser: structured keys (addresses a bit apart) spread over the table."""
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


@njit(cache=True, nogil=True, inline="always")
def _insert(keys, k, mask):
    """Slot of key k (k != 0), claiming an empty one; -1 - slot when new."""
    slot = k & mask
    while True:
        s = np.int64(slot)
        if keys[s] == k:
            return s
        if keys[s] == 0:
            keys[s] = k
            return -1 - s
        slot = (slot + np.uint64(1)) & mask


@njit(cache=True, nogil=True)
def _prefilter(buf, n, found):
    """Count 4-digit runs and 'H+' / 'D+' over a whole block, as cranewatch's numpy scan does.

    One branch-free pass over contiguous bytes (LLVM vectorises it); hits in
    headers would be dropped by the payload offsets, as cranewatch does.
    """
    digits = plus = 0
    for i in range(n - 3):
        four = (buf[i] ^ 48) < 10
        four &= (buf[i + 1] ^ 48) < 10
        four &= (buf[i + 2] ^ 48) < 10
        four &= (buf[i + 3] ^ 48) < 10
        digits += four
        plus += ((buf[i] | 12) == 76) & (buf[i + 1] == 43)
    found[0] += digits
    found[1] += plus


@njit(cache=True, nogil=True)
def _walk(buf, n, flows, counts, hosts, scan, found):  # noqa: C901, PLR0912, PLR0915
    """Every whole record of buf[:n]; the offset of the first one not whole."""
    mask = np.uint64(SLOTS - 1)
    off = 0
    while off + 16 <= n:
        incl = np.int64(buf[off + 8]) | (np.int64(buf[off + 9]) << 8)
        incl |= (np.int64(buf[off + 10]) << 16) | (np.int64(buf[off + 11]) << 24)
        if off + 16 + incl > n:
            break
        ts = np.float64(
            np.int64(buf[off])
            | (np.int64(buf[off + 1]) << 8)
            | (np.int64(buf[off + 2]) << 16)
            | (np.int64(buf[off + 3]) << 24)
        )
        p, end = off + 16, off + 16 + incl
        off = end
        if incl < 14:
            continue
        et = _u16(buf, p + 12)
        q = p + 14
        if et == 0x8100 and q + 4 <= end:
            et = _u16(buf, q + 2)
            q += 4
        src, dst = np.uint64(0), np.uint64(0)
        if et == 0x0800 and q + 20 <= end:
            proto = np.int64(buf[q + 9])
            for i in range(4):
                src = (src << np.uint64(8)) | np.uint64(buf[q + 12 + i])
                dst = (dst << np.uint64(8)) | np.uint64(buf[q + 16 + i])
            l4 = q + (np.int64(buf[q]) & 15) * 4
        elif et == 0x86DD and q + 40 <= end:
            proto = np.int64(buf[q + 6])
            src, dst = np.uint64(14695981039346656037), np.uint64(14695981039346656037)
            for i in range(16):
                src = (src ^ np.uint64(buf[q + 8 + i])) * _FNV
                dst = (dst ^ np.uint64(buf[q + 24 + i])) * _FNV
            l4 = q + 40
        else:
            continue
        sport = dport = 0
        if (proto == 6 and l4 + 20 <= end) or (proto == 17 and l4 + 8 <= end):
            sport, dport = _u16(buf, l4), _u16(buf, l4 + 2)
        a = _mix(src ^ (np.uint64(sport) << np.uint64(48)))
        b = _mix(dst ^ (np.uint64(dport) << np.uint64(48)))
        if a > b:
            a, b = b, a
        k = _mix(_mix(a ^ np.uint64(proto)) ^ b) | np.uint64(1)
        s = _insert(flows, k, mask)
        if s < 0:
            s = -1 - s
            counts[s, 2] = ts
        counts[s, 0] += 1
        counts[s, 1] += incl
        counts[s, 3] = ts
        if not scan:
            continue
        mac = np.uint64(0)
        for i in range(6):
            mac = (mac << np.uint64(8)) | np.uint64(buf[p + 6 + i])
        h = _insert(hosts, _mix(_mix(mac) ^ src) | np.uint64(1), mask)
        if h < 0:
            found[2] += 1
    return off


def run(path: str, scan: bool) -> tuple[int, int, float]:
    """(flows, IP packets, kernel seconds) of one pcap."""
    flows = np.zeros(SLOTS, np.uint64)
    hosts = np.zeros(SLOTS, np.uint64)
    counts = np.zeros((SLOTS, 4), np.float64)
    found = np.zeros(3, np.int64)
    buf = np.empty(BLOCK + (1 << 18), np.uint8)
    view = memoryview(buf)
    started = time.perf_counter()
    with open(path, "rb", buffering=0) as fh:
        fh.seek(24)
        carry = 0
        while got := fh.readinto(view[carry : carry + BLOCK]):
            n = carry + got
            done = _walk(buf, n, flows, counts, hosts, scan, found)
            if scan:
                _prefilter(buf, done, found)
            carry = n - done
            buf[:carry] = buf[done:n]
    seconds = time.perf_counter() - started
    return int(np.count_nonzero(flows)), int(counts[:, 0].sum()), seconds


def main() -> int:
    scan = "--scan" in sys.argv[2:]
    flows, packets, seconds = run(sys.argv[1], scan)
    print(f"{flows} flows, {packets} IP packets")
    print(f"import {T_IMPORT:.2f} s, kernel {seconds:.2f} s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
