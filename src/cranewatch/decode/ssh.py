"""SSH identification string (RFC 4253 section 4.2): software and version.

Each side sends `SSH-protoversion-softwareversion [comments]` in clear before
key exchange, so the banner names the sender's SSH implementation (often the
OS or the embedded device family, e.g. dropbear on routers and modems).
"""

from __future__ import annotations

from cranewatch.decode.select import Selector

SELECT = Selector(l4="tcp", prefixes=(b"SSH-",), per_flow=2)

MAX_BANNER = 255
PRE_BANNER = 1024  # RFC 4253 lets a server send other lines before its identification


def _banner_start(data: bytes) -> int:
    """Offset of the identification line: at 0, or after pre-banner lines."""
    if data.startswith(b"SSH-"):
        return 0
    pos = data.find(b"\nSSH-", 0, PRE_BANNER)
    return pos + 1 if pos >= 0 else -1


def parse(data: bytes) -> dict | None:
    """Banner line, protocol version, software and comments; identity {ssh_banner}."""
    try:
        start = _banner_start(bytes(data[: PRE_BANNER + MAX_BANNER]))
        if start < 0:
            return None
        data = bytes(data[start : start + MAX_BANNER + 2])
        line = data.split(b"\n", 1)[0].rstrip(b"\r")
        banner = line.decode("utf-8", "replace")
        if not banner.isprintable():
            banner = "".join(c if c.isprintable() else "?" for c in banner)
        ident, _, comments = banner.partition(" ")
        parts = ident.split("-", 2)
        out: dict = {
            "banner": banner,
            "proto_version": parts[1] if len(parts) > 1 else "",
            "software": parts[2] if len(parts) > 2 else "",
            "identity": {"ssh_banner": banner},
            "subject": "src",
            "service": "ssh",
        }
        if comments:
            out["comments"] = comments
        return out
    except Exception:  # a parser must never raise on hostile bytes
        return None
