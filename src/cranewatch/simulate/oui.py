"""MAC addresses from real IEEE OUIs of the device makers.

The OUIs are not hard-coded: they are looked up in netaddr's copy of the IEEE
registry by organisation name, so every simulated MAC resolves to its maker in
any OUI database a detector may use.
"""

from __future__ import annotations

import importlib.resources
import random
from functools import lru_cache

import netaddr
from netaddr.eui import ieee


@lru_cache(maxsize=1)
def registry() -> tuple[tuple[int, str], ...]:
    """(OUI as int, organisation) for every MA-L entry, sorted by OUI."""
    data = importlib.resources.files("netaddr.eui").joinpath("oui.txt").read_bytes()
    out = []
    for oui, locs in ieee.OUI_INDEX.items():
        off, size = locs[0]
        first = data[off : off + size].split(b"\n", 1)[0]
        org = first.split(b"\t")[-1].decode("utf-8", "replace").strip()
        out.append((oui, org))
    return tuple(sorted(out))


@lru_cache(maxsize=256)
def ouis_for(org_prefix: str) -> tuple[int, ...]:
    """All OUIs whose organisation name starts with `org_prefix` (case-insensitive)."""
    p = org_prefix.lower()
    found = tuple(o for o, org in registry() if org.lower().startswith(p))
    if not found:
        raise LookupError(f"no IEEE OUI registered to an organisation named {org_prefix!r}")
    return found


def org_of(mac: str) -> str:
    """The registered organisation of a MAC's OUI (netaddr's public API)."""
    return netaddr.EUI(mac).oui.registration().org


class MacMinter:
    """Hands out unique MACs under a maker's OUI, reproducibly from one RNG."""

    def __init__(self, rng: random.Random):
        self.rng = rng
        self.used: set[str] = set()
        self.oui_choice: dict[str, int] = {}

    def mint(self, org_prefix: str, sticky: bool = True) -> str:
        """A new MAC of that maker; `sticky` reuses one OUI per maker in a site."""
        if sticky and org_prefix in self.oui_choice:
            oui = self.oui_choice[org_prefix]
        else:
            oui = self.rng.choice(ouis_for(org_prefix))
            self.oui_choice.setdefault(org_prefix, oui)
        while True:
            mac = (oui << 24) | self.rng.getrandbits(24)
            text = ":".join(f"{(mac >> s) & 0xFF:02x}" for s in range(40, -8, -8))
            if text not in self.used:
                self.used.add(text)
                return text
