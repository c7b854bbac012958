"""remote-access 'looked up X, no session captured': only when no session was captured."""

from __future__ import annotations

from _detect_helpers import ctx, event, flow
from cranewatch.detect import remote_access
from cranewatch.inventory.site import loads_site

JUMP, RELAY, NAME = "10.50.1.30", "198.51.100.39", "relay-b137e0b0.net.anydesk.com"
SITE = f"""
site: T
zones:
  - {{name: crane-a, cidrs: [10.50.1.0/24]}}
assets:
  - {{id: jump, ip: {JUMP}}}
conduits:
  - {{from: jump, to: internet, ports: [tcp/7070], remote_access: true}}
"""


def _dns() -> list:
    query = event("dns", JUMP, "10.50.1.1", {"queries": [[NAME, "A"]]}, ts=999.0)
    answer = event("dns", "10.50.1.1", JUMP, {"qr": True, "names": [[NAME, RELAY]]}, ts=999.1)
    return [query, answer]


def test_a_session_an_approved_conduit_allows_is_no_lookup_finding():
    session = flow(JUMP, RELAY, dport=7070, name=NAME)
    found = remote_access.detect(ctx(loads_site(SITE, "s.yaml"), flows=[session], events=_dns()))
    assert found == []


def test_a_lookup_without_any_session_is_still_reported():
    found = remote_access.detect(ctx(loads_site(SITE, "s.yaml"), events=_dns()))
    assert [f.title for f in found] == [f"AnyDesk in use on {JUMP}: looked up {NAME}"]
