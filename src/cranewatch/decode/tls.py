"""TLS handshake hellos: server name, ALPN and client fingerprints (JA3, JA4).

Only the first flight is read: a ClientHello (SNI, offered ciphers and
extensions, JA3 and JA4) or a ServerHello (chosen cipher and version, JA3S).
Every length field is checked against the bytes present, so a hello cut
short by the packet yields what it holds plus `truncated: True`; the
fingerprints are given only when the whole hello was present, because a
partial fingerprint would match nothing.

JA3/JA3S: https://github.com/salesforce/ja3 (BSD-3-Clause).
JA4 (TLS client only): https://github.com/FoxIO-LLC/ja4 technical_details/JA4.md
(BSD-3-Clause; the other JA4+ methods have a different licence and are not here).
"""

from __future__ import annotations

import hashlib

from cranewatch.decode.select import Selector

SELECT = Selector(l4="tcp", prefixes=(b"\x16\x03",), per_flow=4)

MAX_RECORDS = 8
MAX_ITEMS = 512
VERSION_TEXT = {
    0x0002: "SSL 2.0",
    0x0300: "SSL 3.0",
    0x0301: "TLS 1.0",
    0x0302: "TLS 1.1",
    0x0303: "TLS 1.2",
    0x0304: "TLS 1.3",
}
JA4_VERSION = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0002: "s2",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
EXT_SNI, EXT_GROUPS, EXT_POINTS, EXT_SIGALGS, EXT_ALPN, EXT_VERSIONS = 0, 10, 11, 13, 16, 43


def is_grease(value: int) -> bool:
    """RFC 8701 GREASE values (0x0a0a, 0x1a1a, ... 0xfafa), ignored by every fingerprint."""
    return (value & 0x0F0F) == 0x0A0A and (value >> 8) == (value & 0xFF)


class _Reader:
    """Cursor over bytes whose reads never pass `end`; `short` records any overrun."""

    def __init__(self, buf: bytes, off: int = 0, end: int | None = None) -> None:
        self.buf, self.off = buf, off
        self.end = len(buf) if end is None else min(end, len(buf))
        self.short = False

    def take(self, n: int) -> bytes:
        if self.off + n > self.end:
            self.short = True
            n = max(0, self.end - self.off)
        out = self.buf[self.off : self.off + n]
        self.off += n
        return out

    def u8(self) -> int | None:
        raw = self.take(1)
        return raw[0] if len(raw) == 1 else None

    def u16(self) -> int | None:
        raw = self.take(2)
        return int.from_bytes(raw, "big") if len(raw) == 2 else None

    def vec(self, len_bytes: int) -> bytes:
        """A length-prefixed vector, cut to what is present."""
        raw = self.take(len_bytes)
        if len(raw) < len_bytes:
            return b""
        return self.take(int.from_bytes(raw, "big"))


def _u16s(raw: bytes) -> list[int]:
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw) - 1, 2)][:MAX_ITEMS]


def _handshake_bytes(data: bytes) -> tuple[bytes, int]:
    """Join the handshake records at the start of `data`: (bytes, record version)."""
    out = bytearray()
    off = 0
    version = int.from_bytes(data[1:3], "big")
    for _ in range(MAX_RECORDS):
        if off + 5 > len(data) or data[off] != 0x16 or data[off + 1] != 3:
            break
        length = int.from_bytes(data[off + 3 : off + 5], "big")
        chunk = data[off + 5 : off + 5 + length]
        out += chunk
        off += 5 + length
        if len(chunk) < length:
            break
    return bytes(out), version


def _extensions(r: _Reader, client: bool) -> tuple[list[int], dict]:
    """Extension codes in order and the decoded ones we use."""
    codes: list[int] = []
    info: dict = {}
    while r.off + 4 <= r.end and len(codes) < MAX_ITEMS:
        code, body = r.u16(), r.vec(2)
        codes.append(code)
        e = _Reader(body)
        if code == EXT_SNI and client:
            names = _Reader(e.vec(2))
            if names.u8() == 0:
                info["sni"] = names.vec(2).decode("utf-8", "replace")
        elif code == EXT_ALPN:
            alpn = _Reader(e.vec(2))
            protos = []
            while alpn.off < alpn.end and len(protos) < 16:
                protos.append(alpn.vec(1))
            info["alpn_raw"] = [p for p in protos if p]
        elif code == EXT_GROUPS:
            info["groups"] = _u16s(e.vec(2))
        elif code == EXT_POINTS:
            info["point_formats"] = list(e.vec(1))
        elif code == EXT_SIGALGS:
            info["sig_algs"] = _u16s(e.vec(2))
        elif code == EXT_VERSIONS:
            info["versions"] = _u16s(e.vec(1)) if client else _u16s(e.take(2))
    return codes, info


def _dash(values: list[int]) -> str:
    return "-".join(str(v) for v in values if not is_grease(v))


def _sha12(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else "000000000000"


def _alpn_chars(alpn: list[bytes]) -> str:
    """JA4 ALPN part: first and last character of the first value, hex nibbles if not alnum."""
    if not alpn:
        return "00"
    first = alpn[0]
    a, z = chr(first[0]), chr(first[-1])
    if a.isascii() and a.isalnum() and z.isascii() and z.isalnum():
        return a + z
    text = first.hex()
    return text[0] + text[-1]


def ja4(legacy: int, ciphers: list[int], codes: list[int], info: dict) -> str:
    """JA4 for a TLS-over-TCP ClientHello (FoxIO JA4.md)."""
    versions = [v for v in info.get("versions", []) if not is_grease(v)]
    version = JA4_VERSION.get(max(versions) if versions else legacy, "00")
    ciphers = [c for c in ciphers if not is_grease(c)]
    exts = [e for e in codes if not is_grease(e)]
    sni = "d" if EXT_SNI in exts else "i"
    head = f"t{version}{sni}{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}"
    head += _alpn_chars(info.get("alpn_raw", []))
    cipher_text = ",".join(f"{c:04x}" for c in sorted(ciphers))
    ext_text = ",".join(f"{e:04x}" for e in sorted(exts) if e not in (EXT_SNI, EXT_ALPN))
    sigs = ",".join(f"{s:04x}" for s in info.get("sig_algs", []) if not is_grease(s))
    c_text = f"{ext_text}_{sigs}" if sigs and ext_text else ext_text
    return f"{head}_{_sha12(cipher_text)}_{_sha12(c_text)}"


def _common(out: dict, codes: list[int], info: dict) -> None:
    out["extensions"] = codes
    if "alpn_raw" in info:
        out["alpn"] = [p.decode("latin-1") for p in info["alpn_raw"]]
    versions = [v for v in info.get("versions", []) if not is_grease(v)]
    top = max(versions) if versions else out["legacy_version"]
    out["version"] = VERSION_TEXT.get(top, f"0x{top:04x}")


def _client_hello(r: _Reader, out: dict) -> None:
    legacy = r.u16() or 0
    r.take(32)
    out["session_id_len"] = len(r.vec(1))
    ciphers = _u16s(r.vec(2))
    r.vec(1)  # compression methods
    ext_block = r.vec(2)
    ext = _Reader(ext_block)
    codes, info = _extensions(ext, client=True)
    out.update(handshake="client_hello", legacy_version=legacy, ciphers=ciphers)
    _common(out, codes, info)
    for key in ("groups", "point_formats", "sig_algs"):
        if key in info:
            out[key] = info[key]
    if "sni" in info:
        out["sni"] = out["server_name"] = info["sni"]
    if r.short or ext.short:
        out["truncated"] = True
        return
    out["ja3"] = ",".join(
        [
            str(legacy),
            _dash(ciphers),
            _dash(codes),
            _dash(info.get("groups", [])),
            _dash(info.get("point_formats", [])),
        ]
    )
    out["ja3_hash"] = hashlib.md5(out["ja3"].encode()).hexdigest()
    out["ja4"] = ja4(legacy, ciphers, codes, info)


def _server_hello(r: _Reader, out: dict) -> None:
    legacy = r.u16() or 0
    r.take(32)
    r.vec(1)
    cipher = r.u16()
    r.u8()
    ext = _Reader(r.vec(2))
    codes, info = _extensions(ext, client=False)
    out.update(handshake="server_hello", legacy_version=legacy, cipher=cipher)
    _common(out, codes, info)
    if r.short or ext.short or cipher is None:
        out["truncated"] = True
        return
    out["ja3s"] = f"{legacy},{cipher},{_dash(codes)}"
    out["ja3s_hash"] = hashlib.md5(out["ja3s"].encode()).hexdigest()


def parse(data: bytes) -> dict | None:
    """ClientHello/ServerHello fields from the first TLS record(s) of a TCP payload."""
    try:
        data = bytes(data)
        if len(data) < 9 or data[0] != 0x16 or data[1] != 3:
            return None
        hs, record_version = _handshake_bytes(data)
        if len(hs) < 4 or hs[0] not in (1, 2):
            return None
        length = int.from_bytes(hs[1:4], "big")
        r = _Reader(hs, 4, 4 + length)
        out: dict = {"record_version": record_version, "service": "tls"}
        if hs[0] == 1:
            _client_hello(r, out)
        else:
            _server_hello(r, out)
        if 4 + length > len(hs):
            out["truncated"] = True
        if out.get("truncated"):
            for key in ("ja3", "ja3_hash", "ja4", "ja3s", "ja3s_hash"):
                out.pop(key, None)
        return out
    except Exception:  # a parser must never raise on hostile bytes
        return None
