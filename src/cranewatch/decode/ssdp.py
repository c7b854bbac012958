"""SSDP (UPnP discovery, UDP 1900): what a device advertises about itself.

NOTIFY announcements and M-SEARCH answers carry SERVER (OS and UPnP stack,
often the product), USN (the device UUID) and LOCATION (its description URL).
M-SEARCH requests only say what a control point looks for (ST).
The head is HTTP over UDP, so `http.py`'s line splitter is reused.
"""

from __future__ import annotations

from cranewatch.decode import http
from cranewatch.decode.select import Selector

SELECT = Selector(l4="udp", ports=(1900,), per_flow=8)

KEYS = (
    ("server", "server"),
    ("usn", "usn"),
    ("location", "location"),
    ("nt", "nt"),
    ("nts", "nts"),
    ("st", "st"),
    ("user_agent", "user-agent"),
)


def parse(data: bytes) -> dict | None:
    """SSDP method or status, SERVER/USN/LOCATION/NT/ST; identity {ssdp_server}."""
    try:
        lines, _ = http.split_head(bytes(data))
        if not lines:
            return None
        start = lines[0].strip()
        out: dict = {"service": "ssdp"}
        if start.startswith("HTTP/"):
            parts = start.split(" ", 2)
            if len(parts) < 2 or not (parts[1].isascii() and parts[1].isdigit()):
                return None
            out["status"] = int(parts[1])
        else:
            method = start.split(" ", 1)[0]
            if method not in ("NOTIFY", "M-SEARCH") or not start.endswith(("HTTP/1.1", "HTTP/1.0")):
                return None
            out["method"] = method
        hdr = http.headers(lines[1:])
        for key, name in KEYS:
            if hdr.get(name):
                out[key] = hdr[name]
        if "server" in out:
            out["identity"] = {"ssdp_server": out["server"]}
            out["subject"] = "src"
        return out
    except Exception:  # a parser must never raise on hostile bytes
        return None
