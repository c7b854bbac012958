"""UN/EDIFACT container messages (BAPLIE bay plan, COPRAR load/discharge order).

Terminals exchange these with shipping lines; each EQD+CN segment names one
container, so a BAPLIE sent in clear to the wrong place leaks the whole stowage.
"""

from __future__ import annotations


def baplie(
    sender: str,
    recipient: str,
    when: str,
    ref: str,
    vessel: str,
    containers: list[tuple[str, str, str]],
) -> bytes:
    """BAPLIE D.95B (SMDG 2.2) with one LOC/EQD group per (number, iso size-type, bay)."""
    segs = [
        f"UNB+UNOA:2+{sender}+{recipient}+{when[2:8]}:{when[8:12]}+{ref}",
        f"UNH+{ref}+BAPLIE:D:95B:UN:SMDG22",
        f"BGM++{ref}+9",
        f"DTM+137:{when}:201",
        f"TDT+20+{ref[-4:]}E+++{sender}:172:20+++9{ref[-6:]}:146::{vessel}",
    ]
    for number, iso, bay in containers:
        segs += [f"LOC+147+{bay}::5", "MEA+WT++KGM:24000", f"EQD+CN+{number}+{iso}+++5"]
    segs += [f"UNT+{len(segs)}+{ref}", f"UNZ+1+{ref}"]
    return ("'\n".join(segs) + "'\n").encode()


def coprar(sender: str, recipient: str, when: str, ref: str, containers: list[str]) -> bytes:
    """COPRAR D.00B loading order listing containers by EQD+CN."""
    segs = [
        f"UNB+UNOA:2+{sender}+{recipient}+{when[2:8]}:{when[8:12]}+{ref}",
        f"UNH+{ref}+COPRAR:D:00B:UN:SMDG21",
        f"BGM+45+{ref}+5",
    ]
    for number in containers:
        segs.append(f"EQD+CN+{number}+45G1:102:5+2+5")
    segs += [f"UNT+{len(segs)}+{ref}", f"UNZ+1+{ref}"]
    return ("'\n".join(segs) + "'\n").encode()
