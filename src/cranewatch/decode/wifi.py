"""Columnar IEEE 802.11 link decode (link types 105, radiotap 127 and PPI 192).

Wireless captures and CAPWAP tunnels from WLAN controllers carry 802.11 frames.
Only data frames (type 2) are followed into their payload: the header length
comes from the frame control (4 addresses when ToDS and FromDS are both set,
+2 for QoS, +4 HT control when the order bit is set on a QoS frame), then an
A-MSDU subframe header if the QoS field says so, then LLC/SNAP with an
EtherType. The station addresses of data frames (SA and DA, which depend on
ToDS/FromDS) fill src_mac/dst_mac even for protected or null frames, whose
payload is skipped: they still show which stations are present. Management and
control frames give no columns.
"""

from __future__ import annotations

import numpy as np

from cranewatch.decode.tunnels import KIND_ETHERNET, KIND_WIFI

_SNAP = (0xAAAA03000000, 0xAAAA030000F8)  # RFC 1042 and 802.1H bridge tunnel


def _idx(win, rows) -> np.ndarray:
    return np.arange(win.n)[rows]


def _le16(win, idx: np.ndarray, rel, k: int = 0) -> np.ndarray:
    word = win.read(2, idx, rel, k).astype(np.int32)
    return ((word & 0xFF) << 8) | (word >> 8)


def wifi(win, p, rows, cap: np.ndarray, level, swapped: bool = False) -> np.ndarray:
    """802.11 frames starting at the packet start: link columns, relative L3 offset."""
    idx = _idx(win, rows)
    fc = win.read(2, idx, 0)
    fc0, flags = fc >> 8, fc & 0xFF
    if swapped:
        fc0, flags = flags, fc0
    data = (fc0 & 0x0F) == 0x08  # protocol version 0, type 2
    qos = (fc0 & 0x80) != 0
    to_ds, from_ds = (flags & 1) != 0, (flags & 2) != 0
    four = to_ds & from_ds
    base = 24 + 6 * four
    hdr = base + 2 * qos + 4 * (qos & ((flags & 0x80) != 0))
    has_mac = data & (cap >= hdr)
    a1, a2, a3 = (win.read(8, idx, at) >> 16 for at in (4, 10, 16))
    a4 = win.read(8, idx, 24) >> 16
    dst = np.where(to_ds, a3, a1)
    src = np.where(four, a4, np.where(from_ds, a3, a2))
    # a payload to follow: not a null frame, not protected
    body = has_mac & ((fc0 & 0x40) == 0) & ((flags & 0x40) == 0)
    amsdu = body & qos & ((win.read(1, idx, base) & 0x80) != 0)
    if amsdu.any():  # first A-MSDU subframe: DA, SA, length, then LLC
        whole = amsdu & (hdr + 14 <= cap)
        dst = np.where(whole, win.read(8, idx, hdr) >> 16, dst)
        src = np.where(whole, win.read(8, idx, hdr, 6) >> 16, src)
        body &= ~amsdu | whole
        hdr = hdr + 14 * amsdu
    snap = win.read(8, idx, hdr)
    llc = snap >> 16
    body &= ((llc == _SNAP[0]) | (llc == _SNAP[1])) & (hdr + 8 <= cap)
    zero = np.uint64(0)
    p.has_mac[rows] = has_mac
    p.src_mac[rows] = np.where(has_mac, src, zero)
    p.dst_mac[rows] = np.where(has_mac, dst, zero)
    p.ethertype[rows] = np.where(body, snap & 0xFFFF, 0)
    return np.where(body, hdr + 8, -1).astype(np.int32)


def wifi_swapped(win, p, rows, cap: np.ndarray, level) -> np.ndarray:
    """802.11 with the frame control bytes swapped, as Cisco APs send it in CAPWAP."""
    return wifi(win, p, rows, cap, level, swapped=True)


def radiotap(win, p, rows, cap: np.ndarray, level) -> np.ndarray:
    """Radiotap (version 0, little-endian length), then an 802.11 frame."""
    idx = _idx(win, rows)
    length = _le16(win, idx, 0, 2)
    ok = (win.read(1, idx, 0) == 0) & (length >= 8) & (length < cap)
    level.mark(idx[ok], length[ok], cap[ok], KIND_WIFI)
    return np.full(len(idx), -1, dtype=np.int32)


def ppi(win, p, rows, cap: np.ndarray, level) -> np.ndarray:
    """Per-Packet Information header (version 0), then an 802.11 or Ethernet frame."""
    idx = _idx(win, rows)
    length = _le16(win, idx, 0, 2)
    dlt = _le16(win, idx, 0, 4)  # low 16 bits of the 32-bit little-endian DLT
    ok = (win.read(1, idx, 0) == 0) & (length >= 8) & (length < cap)
    ok &= ((dlt == KIND_WIFI) | (dlt == KIND_ETHERNET)) & (win.read(2, idx, 6) == 0)
    level.mark(idx[ok], length[ok], cap[ok], dlt[ok].astype(np.int64))
    return np.full(len(idx), -1, dtype=np.int32)
