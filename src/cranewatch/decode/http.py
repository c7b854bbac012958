"""HTTP/1.x message heads, from the first segment of a request or response.

Requests give the method, URI, Host (the server name the client wanted) and
User-Agent; responses give the status, the Server header and the page title,
which often names an embedded device (a modem's or PLC's web UI). The first
4 KiB of body is kept as text for the container-data scanner.
"""

from __future__ import annotations

import re

from cranewatch.decode.select import Selector

PREFIXES = (b"GET ", b"POST", b"PUT ", b"HEAD", b"HTTP", b"DELE", b"OPTI", b"CONN", b"PATC")
SELECT = Selector(l4="tcp", prefixes=PREFIXES, per_flow=8)

METHODS = frozenset(
    {"GET", "POST", "PUT", "HEAD", "DELETE", "OPTIONS", "CONNECT", "PATCH", "TRACE"}
)
MAX_HEAD = 16384
MAX_HEADERS = 100
MAX_VALUE = 1024
BODY_KEEP = 4096
TITLE_RE = re.compile(rb"<title[^>]{0,200}>(.{0,512}?)</title", re.IGNORECASE | re.DOTALL)


def split_head(data: bytes) -> tuple[list[str], bytes]:
    """Start line + header lines (latin-1 text), and the body bytes after the blank line."""
    end = data.find(b"\r\n\r\n", 0, MAX_HEAD)
    sep = 4
    if end < 0:
        end = data.find(b"\n\n", 0, MAX_HEAD)
        sep = 2
    if end < 0:
        head, body = data[:MAX_HEAD], b""
    else:
        head, body = data[:end], data[end + sep :]
    lines = head.decode("latin-1").replace("\r\n", "\n").split("\n", MAX_HEADERS + 1)
    return lines[: MAX_HEADERS + 1], body


def headers(lines: list[str]) -> dict[str, str]:
    """Header lines to a dict keyed by lower-case name (first occurrence wins)."""
    out: dict[str, str] = {}
    for line in lines:
        name, sep, value = line.partition(":")
        name = name.strip().lower()
        if sep and name and name not in out:
            out[name] = value.strip()[:MAX_VALUE]
    return out


def _host_only(host: str) -> str:
    """'example.com:8080' -> 'example.com'; '[::1]:80' -> '::1'."""
    if host.startswith("["):
        return host[1:].split("]", 1)[0]
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _title(body: bytes) -> str | None:
    match = TITLE_RE.search(body, 0, 65536)
    if match is None:
        return None
    text = " ".join(match.group(1).decode("utf-8", "replace").split())
    return text or None


def _request(start: str, hdr: dict[str, str]) -> dict | None:
    parts = start.split(" ")
    if len(parts) < 2 or parts[0] not in METHODS:
        return None
    out: dict = {"method": parts[0], "uri": parts[1][:MAX_VALUE]}
    if len(parts) >= 3 and parts[-1].startswith("HTTP/"):
        out["version"] = parts[-1][5:]
    for key, name in (("host", "host"), ("user_agent", "user-agent")):
        if hdr.get(name):
            out[key] = hdr[name]
    if out.get("host"):
        out["server_name"] = _host_only(out["host"])
    return out


def _response(start: str, hdr: dict[str, str], body: bytes) -> dict | None:
    parts = start.split(" ", 2)
    if len(parts) < 2 or not (parts[1].isascii() and parts[1].isdigit()):
        return None
    out: dict = {"version": parts[0][5:], "status": int(parts[1])}
    if len(parts) == 3:
        out["reason"] = parts[2]
    identity = {}
    if hdr.get("server"):
        out["server"] = identity["http_server"] = hdr["server"]
    title = _title(body)
    if title:
        out["title"] = identity["http_title"] = title
    if identity:
        out["identity"] = identity
        out["subject"] = "src"
    return out


def parse(data: bytes) -> dict | None:
    """Request or response head of an HTTP/1.x message (first segment only)."""
    try:
        data = bytes(data)
        lines, body = split_head(data)
        if not lines:
            return None
        start, hdr = lines[0], headers(lines[1:])
        is_response = start.startswith("HTTP/")
        out = _response(start, hdr, body) if is_response else _request(start, hdr)
        if out is None:
            return None
        for key, name in (("content_type", "content-type"), ("content_length", "content-length")):
            if name in hdr:
                out[key] = hdr[name]
        if body:
            out["body"] = body[:BODY_KEEP].decode("latin-1")
        out["service"] = "http"
        return out
    except Exception:  # a parser must never raise on hostile bytes
        return None
