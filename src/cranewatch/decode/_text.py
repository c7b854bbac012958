"""Text fields of industrial identity records."""

from __future__ import annotations


def device_text(raw: bytes) -> str:
    """NUL- or blank-padded ASCII by spec; anything else is kept, visibly replaced.

    Device names come from the equipment under examination: they are shown,
    never interpreted, so undecodable bytes become U+FFFD rather than an error.
    """
    return raw.split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip()
