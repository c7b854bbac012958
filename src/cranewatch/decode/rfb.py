"""RFB (VNC) protocol version banner: b"RFB 003.008\\n".

The server speaks first with its highest version; the client answers with
the version it picked, in the same format. The bytes alone do not say which
end sent them, so the parser reports the version and leaves the server to
the caller (first banner of a flow, or the side on the listening port).
A VNC server on a crane PLC or HMI is remote access, worth knowing even on
an unusual port, hence the prefix selector.
"""

from __future__ import annotations

import re

from cranewatch.decode.select import Selector

SELECT = Selector(l4="tcp", prefixes=(b"RFB ",), per_flow=4)

_BANNER = re.compile(rb"RFB (\d{3})\.(\d{3})\n?")


def parse(data: bytes) -> dict | None:
    """Protocol version from the 12-byte banner, or None when it is not one."""
    match = _BANNER.match(bytes(data[:12]))
    if match is None:
        return None
    major, minor = int(match.group(1)), int(match.group(2))
    return {
        "service": "vnc",
        "version": f"{major}.{minor}",
        "banner": match.group(0).decode("ascii").strip(),
    }
