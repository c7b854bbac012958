"""The site file: the CONTRACT example loads and answers; every error names line and key."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cranewatch.errors import SiteFileError
from cranewatch.inventory.site import PortRange, Site, load_site

# CONTRACT.md section 1, verbatim, plus the `sts-01-jump` asset its second
# conduit names (the contract's example omits it, and naming an asset that
# does not exist is an error by the same contract).
CONTRACT_SITE = """\
site: Example Container Terminal          # free text, shown in reports
zones:
  - name: sts-01                          # one zone per crane control network is typical
    cidrs: [10.20.1.0/24]
    gateways: [10.20.1.1]                 # the only routers allowed to carry traffic off this subnet
  - name: terminal-it
    cidrs: [10.30.0.0/24]
    gateways: [10.30.0.1]
assets:                                   # the declared devices: the bill of materials
  - id: sts-01-plc                        # unique, operator's own name
    mac: "00:1b:1b:aa:01:10"              # mac or ip or both; matching uses whichever is given
    ip: 10.20.1.10
    zone: sts-01                          # optional: derived from the ip when absent
    vendor: Siemens                       # optional free text
    model: S7-1500                        # optional free text
    role: plc                             # optional: plc hmi drive camera sensor router modem server workstation switch other
  - id: sts-01-jump
    ip: 10.20.1.20
conduits:                                 # allowed flows
  - from: sts-01                          # a zone name, an asset id, a CIDR, or "internet"
    to: terminal-it
    ports: [tcp/502, tcp/44818, udp/2222] # proto/port, proto/low-high, or "any"
  - from: internet
    to: sts-01-jump
    ports: [udp/1194]
    remote_access: true                   # this conduit is the approved remote-maintenance path
container_data_to: [terminal-it]          # zones, asset ids or CIDRs allowed to receive container identifiers
"""

# A richer site: overlapping zones, every endpoint form, every port form.
RICH_SITE = """\
site: Richer Terminal
zones:
  - name: terminal
    cidrs: [10.0.0.0/8]
  - name: sts-01
    cidrs: [10.20.1.0/24, "fd00:20:1::/64"]
    gateways: [10.20.1.1, 10.20.1.2]
  - name: ops
    cidrs: [192.168.50.0/24]
assets:
  - id: plc
    mac: 00-1B-1B-AA-01-10
    ip: 10.20.1.10
    role: PLC
  - id: cam
    mac: 001b.1baa.0111
  - id: historian
    ip: 192.168.50.5
    role: server
  - id: ghost-router
    mac: "02:00:00:00:00:01"
    ip: 10.20.1.1
conduits:
  - from: sts-01
    to: historian
    ports: [udp/1000-2000, tcp/102]
  - from: 192.168.50.0/24
    to: plc
    ports: [tcp/502]
  - from: ops
    to: sts-01
    ports: [icmp]
  - from: cam
    to: internet
    ports: any
  - from: internet
    to: ops
    ports: [tcp/22]
    remote_access: yes
container_data_to: [historian, 10.99.0.0/16, ops]
"""


def _load(tmp_path: Path, text: str, name: str = "site.yaml") -> Site:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return load_site(path)


@pytest.fixture()
def contract_site(tmp_path: Path) -> Site:
    return _load(tmp_path, CONTRACT_SITE)


@pytest.fixture()
def rich(tmp_path: Path) -> Site:
    return _load(tmp_path, RICH_SITE)


# ---------------------------------------------------------------- the contract example


def test_contract_example_loads(contract_site: Site, tmp_path: Path) -> None:
    s = contract_site
    assert s.name == "Example Container Terminal"
    assert s.path == str(tmp_path / "site.yaml")
    assert [z.name for z in s.zones] == ["sts-01", "terminal-it"]
    assert [str(c) for c in s.zones[0].cidrs] == ["10.20.1.0/24"]
    plc = s.asset_by_id("sts-01-plc")
    assert plc is not None
    assert (plc.mac, plc.ip, plc.zone, plc.vendor, plc.model, plc.role) == (
        "00:1b:1b:aa:01:10",
        "10.20.1.10",
        "sts-01",
        "Siemens",
        "S7-1500",
        "plc",
    )
    assert s.asset_by_id("sts-01-jump").zone == "sts-01"  # derived from its ip
    assert s.asset_by_id("nope") is None
    assert s.gateways_of("sts-01") == ["10.20.1.1"]
    assert s.gateways_of("nope") == []
    assert s.container_data_to == ["terminal-it"]
    first, second = s.conduits
    assert (first.src, first.dst, first.remote_access) == ("sts-01", "terminal-it", False)
    assert first.ports == [
        PortRange("tcp", 502, 502),
        PortRange("tcp", 44818, 44818),
        PortRange("udp", 2222, 2222),
    ]
    assert (second.src, second.dst, second.remote_access) == ("internet", "sts-01-jump", True)
    lines = CONTRACT_SITE.splitlines()
    assert "from: sts-01" in lines[first.line - 1]
    assert "from: internet" in lines[second.line - 1]


def test_contract_example_lookups(contract_site: Site) -> None:
    s = contract_site
    assert s.zone_of("10.20.1.77") == "sts-01"
    assert s.zone_of("10.30.0.9") == "terminal-it"
    assert s.zone_of("198.51.100.7") is None
    assert s.zone_of("not an ip") is None
    assert s.is_inside("10.20.1.77") and not s.is_inside("198.51.100.7")
    c = s.conduit_for("10.20.1.10", "10.30.0.5", "tcp", 502)
    assert c is s.conduits[0]
    assert s.conduit_for("10.20.1.10", "10.30.0.5", "udp", 2222) is s.conduits[0]
    assert s.conduit_for("10.20.1.10", "10.30.0.5", "tcp", 503) is None
    assert s.conduit_for("10.20.1.10", "10.30.0.5", "udp", 502) is None  # wrong protocol
    assert s.conduit_for("10.30.0.5", "10.20.1.10", "tcp", 502) is None  # conduits are directional
    vpn = s.conduit_for("198.51.100.7", "10.20.1.20", "udp", 1194)
    assert vpn is s.conduits[1] and vpn.remote_access
    assert s.conduit_for("198.51.100.7", "10.20.1.10", "udp", 1194) is None  # not the jump host
    assert s.conduit_for("10.30.0.7", "10.20.1.20", "udp", 1194) is None  # inside is not internet
    assert s.container_data_allowed("10.30.0.40")
    assert not s.container_data_allowed("10.20.1.10")
    assert not s.container_data_allowed("203.0.113.9")
    assert not s.container_data_allowed(None)


# ---------------------------------------------------------------- lookups in depth


def test_most_specific_zone_wins(rich: Site) -> None:
    assert rich.zone_of("10.20.1.10") == "sts-01"
    assert rich.zone_of("10.20.2.10") == "terminal"
    assert rich.zone_of("fd00:20:1::5") == "sts-01"
    assert rich.zone_of("::ffff:10.20.1.10") == "sts-01"  # v4-mapped is the v4 host
    assert rich.zone_of("fd00:99::1") is None
    assert rich.asset_by_id("plc").zone == "sts-01"
    assert rich.asset_by_id("cam").zone is None  # mac only: no ip to derive from


def test_mac_forms_are_normalised(rich: Site) -> None:
    assert rich.asset_by_id("plc").mac == "00:1b:1b:aa:01:10"
    assert rich.asset_by_id("cam").mac == "00:1b:1b:aa:01:11"
    assert rich.asset_by_id("plc").role == "plc"


def test_asset_for_matches_on_what_is_declared(rich: Site) -> None:
    assert rich.asset_for("00:1b:1b:aa:01:10", "10.20.1.10").id == "plc"
    assert rich.asset_for("00:1B:1B:AA:01:10", None).id == "plc"
    assert rich.asset_for(None, "10.20.1.10").id == "plc"  # behind a router: by ip
    # another MAC using the plc's ip is not the plc (it declared its MAC)...
    assert rich.asset_for("02:11:22:33:44:55", "10.20.1.10") is None
    # ...but an asset declared by ip only is matched by its ip whatever the MAC
    assert rich.asset_for("02:11:22:33:44:55", "192.168.50.5").id == "historian"
    assert rich.asset_for("00:1b:1b:aa:01:11", "10.20.1.99").id == "cam"
    assert rich.asset_for(None, None) is None
    assert rich.asset_for("02:11:22:33:44:55", "10.20.1.99") is None


def test_endpoint_forms(rich: Site) -> None:
    m = rich.endpoint_matches
    assert m("sts-01", "10.20.1.50") and not m("sts-01", "10.20.2.50")
    assert m("terminal", "10.20.2.50") and not m("terminal", "10.20.1.50")
    assert m("192.168.50.0/24", "192.168.50.9") and not m("192.168.50.0/24", "192.168.51.9")
    assert m("internet", "8.8.8.8") and not m("internet", "10.1.2.3")
    assert not m("internet", None) and not m("internet", "garbage")
    assert m("plc", "10.20.1.10", "02:00:00:00:00:01")  # by ip: the MAC may be a router's
    assert not m("plc", "10.20.1.11", "00:1b:1b:aa:01:10")
    assert m("plc", None, "00:1b:1b:aa:01:10")  # non-IP traffic: by MAC
    assert m("cam", "10.20.1.77", "00:1b:1b:aa:01:11") and not m("cam", "10.20.1.77", None)
    assert not m("no-such-thing", "10.20.1.10")


def test_conduit_forms(rich: Site) -> None:
    c = rich.conduit_for
    hist, ops_plc, ping, cam_out, ssh = rich.conduits
    # port ranges include both ends and nothing past them
    assert c("10.20.1.5", "192.168.50.5", "udp", 1000) is hist
    assert c("10.20.1.5", "192.168.50.5", "udp", 2000) is hist
    assert c("10.20.1.5", "192.168.50.5", "udp", 2001) is None
    assert c("10.20.1.5", "192.168.50.5", "udp", 999) is None
    assert c("10.20.1.5", "192.168.50.5", "tcp", 102) is hist
    assert c("10.20.1.5", "192.168.50.6", "tcp", 102) is None  # not the historian
    # CIDR source, asset id destination
    assert c("192.168.50.77", "10.20.1.10", "tcp", 502) is ops_plc
    assert c("192.168.50.77", "10.20.1.11", "tcp", 502) is None
    # icmp admits icmp and icmpv6, nothing else
    assert c("192.168.50.77", "10.20.1.11", "icmp", 0) is ping
    assert c("192.168.50.77", "10.20.1.11", "icmpv6", 0) is ping
    assert c("192.168.50.77", "10.20.1.11", "udp", 7) is None
    # `ports: any` and an asset declared by MAC only
    cam = "00:1b:1b:aa:01:11"
    assert c("10.20.1.40", "203.0.113.5", "udp", 4444, src_mac=cam) is cam_out
    assert c("10.20.1.40", "10.30.0.5", "udp", 4444, src_mac=cam) is None  # 10.30 is inside
    assert c("10.20.1.40", "203.0.113.5", "udp", 4444, src_mac="00:1b:1b:aa:01:12") is None
    assert ssh.remote_access and c("203.0.113.9", "192.168.50.9", "tcp", 22) is ssh
    assert not any(x.remote_access for x in (hist, ops_plc, ping, cam_out))


def test_container_data_forms(rich: Site) -> None:
    assert rich.container_data_allowed("192.168.50.5")  # asset id (also in ops)
    assert rich.container_data_allowed("10.99.3.4")  # CIDR
    assert rich.container_data_allowed("192.168.50.200")  # zone
    assert not rich.container_data_allowed("10.20.1.10")
    assert not rich.container_data_allowed("8.8.8.8")


def test_empty_sections_and_no_site_name(tmp_path: Path) -> None:
    s = _load(tmp_path, "zones:\nassets:\nconduits:\n")
    assert (s.name, s.zones, s.assets, s.conduits, s.container_data_to) == ("", [], [], [], [])
    assert s.zone_of("10.0.0.1") is None and s.conduit_for("1.1.1.1", "2.2.2.2", "tcp", 1) is None


def test_lookups_are_fast(rich: Site) -> None:
    """Per-flow calls: 1e5 conduit checks must take well under a second."""
    import time

    ips = [f"10.20.{i % 3}.{i % 250}" for i in range(2000)]
    start = time.perf_counter()
    for i in range(100_000):
        rich.conduit_for(ips[i % 2000], "192.168.50.5", "udp", 1500)
    assert time.perf_counter() - start < 3.0


# ---------------------------------------------------------------- errors

BASE = """\
site: T
zones:
  - name: a
    cidrs: [10.0.0.0/24]
    gateways: [10.0.0.1]
assets:
  - id: x
    mac: 00:1b:1b:aa:01:10
    ip: 10.0.0.5
"""
CONDUIT = "conduits:\n  - from: a\n    to: internet\n    ports: [{ports}]\n"

# (case, yaml, line, key path that must start the message, more words the message must hold)
ERRORS = [
    ("unknown top key", BASE + "conduit: []\n", 10, "conduit:", ["unknown key", "'conduits'"]),
    ("unknown asset key", BASE + "    maac: 1\n", 10, "assets[0].maac:", ["did you mean 'mac'"]),
    (
        "unknown zone key",
        BASE.replace("    gateways", "    gateway"),
        5,
        "zones[0].gateway:",
        ["did you mean 'gateways'"],
    ),
    (
        "misspelt required key",
        BASE.replace("    cidrs", "    cidr"),
        4,
        "zones[0].cidr:",
        ["did you mean 'cidrs'"],
    ),
    (
        "key indented too deep",
        BASE.replace("    ip: 10.0.0.5", "      ip: 10.0.0.5"),
        9,
        "not valid YAML:",
        ["this line is indented deeper than the key above it", "(parser: "],
    ),
    (
        "item indented too little",
        BASE.replace("    ip: 10.0.0.5", "  ip: 10.0.0.5"),
        9,
        "not valid YAML:",
        ["indented less than the list or mapping it belongs to"],
    ),
    ("tab", BASE.replace("    ip: 10.0.0.5", "\tip: 10.0.0.5"), 9, "not valid YAML:", ["a tab"]),
    (
        "two colons",
        BASE.replace("  - name: a", "  - name: a: b"),
        3,
        "not valid YAML:",
        ["a second ': ' on one line: quote the value"],
    ),
    (
        "asset names a zone a more specific one overrides",
        BASE.replace("assets:", "  - name: inner\n    cidrs: [10.0.0.0/28]\nassets:")
        + "    zone: a\n",
        12,
        "assets[0].zone:",
        ["10.0.0.5 is in zone 'inner' (10.0.0.0/28), more specific than 'a'; write zone: inner"],
    ),
    (
        "a MAC declared twice",
        BASE + "  - id: y\n    mac: 00-1B-1B-AA-01-10\n",
        11,
        "assets[1].mac:",
        ["MAC 00:1b:1b:aa:01:10 is declared twice (first at assets[0])"],
    ),
    (
        "a group MAC",
        BASE + "  - id: y\n    mac: ff:ff:ff:ff:ff:ff\n",
        11,
        "assets[1].mac:",
        ["ff:ff:ff:ff:ff:ff is a multicast or broadcast address, not a device"],
    ),
    (
        "zone named in another case",
        BASE + "    zone: A\n",
        10,
        "assets[0].zone:",
        ["zone 'A' does not exist (did you mean 'a'?)"],
    ),
    (
        "unknown key standing for a missing one",
        BASE.replace("    cidrs", "    subnet"),
        4,
        "zones[0].subnet:",
        ["unknown key 'subnet'", "(missing here: 'cidrs')"],
    ),
    (
        "unknown conduit key",
        BASE + CONDUIT.format(ports="any") + "    remote: true\n",
        14,
        "conduits[0].remote:",
        ["did you mean 'remote_access'"],
    ),
    (
        "duplicate id",
        BASE + "  - id: x\n    ip: 10.0.0.6\n",
        10,
        "assets[1].id:",
        ["duplicate asset id 'x'"],
    ),
    (
        "duplicate zone",
        BASE.replace("assets:", "  - name: a\n    cidrs: [10.1.0.0/24]\nassets:"),
        6,
        "zones[1].name:",
        ["duplicate zone name"],
    ),
    (
        "bad mac",
        BASE + "  - id: y\n    mac: '00:1b:1b:aa:01'\n",
        11,
        "assets[1].mac:",
        ["'00:1b:1b:aa:01' is not a MAC address (six hex pairs: 00:1b:1b:aa:01:10,"],
    ),
    (
        "bad ip",
        BASE + "  - id: y\n    ip: 10.0.0.256\n",
        11,
        "assets[1].ip:",
        ["not an IP address"],
    ),
    (
        "bad cidr",
        BASE.replace("10.0.0.0/24", "10.0.0.0/33"),
        4,
        "zones[0].cidrs[0]:",
        ["not a CIDR"],
    ),
    (
        "cidr host bits",
        BASE.replace("10.0.0.0/24", "10.0.0.1/24"),
        4,
        "zones[0].cidrs[0]:",
        ["did you mean 10.0.0.0/24"],
    ),
    (
        "cidr list item",
        BASE.replace("[10.0.0.0/24]", "\n      - 10.0.0.0/24\n      - 10.1.0/24"),
        6,
        "zones[0].cidrs[1]:",
        ["'10.1.0/24' is not a CIDR"],
    ),
    (
        "conduit unknown zone",
        BASE + "conduits:\n  - from: aa\n    to: a\n    ports: [any]\n",
        11,
        "conduits[0].from:",
        ["'aa' is not a zone", "did you mean 'a'"],
    ),
    (
        "conduit unknown asset",
        BASE + "conduits:\n  - from: a\n    to: y\n    ports: [any]\n",
        12,
        "conduits[0].to:",
        ["'y'"],
    ),
    (
        "conduit bad cidr",
        BASE + "conduits:\n  - from: 10.0.0.0/40\n    to: a\n    ports: [any]\n",
        11,
        "conduits[0].from:",
        ["not a CIDR"],
    ),
    (
        "container_data_to unknown",
        BASE + "container_data_to: [a, nope]\n",
        10,
        "container_data_to[1]:",
        ["'nope'"],
    ),
    ("not yaml", BASE + "  - id: [\n", 11, "not valid YAML", []),
    ("yaml duplicate key", BASE + "    ip: 10.0.0.7\n", 10, "not valid YAML", ["duplicate key"]),
    ("yaml bad indent", "site: T\nzones:\n  - name: a\n   cidrs: []\n", 4, "not valid YAML", []),
    ("top level list", "- a\n- b\n", 1, "the top level must be a mapping", []),
    ("top level scalar", "just words\n", 1, "the top level must be a mapping", []),
    ("empty file", "# nothing\n", 1, "the file is empty", []),
    (
        "string for list",
        BASE.replace("[10.0.0.0/24]", "10.0.0.0/24"),
        4,
        "zones[0].cidrs:",
        ["expected a list"],
    ),
    (
        "mapping for list",
        "site: T\nassets:\n  id: x\n  ip: 10.0.0.5\n",
        2,
        "assets:",
        ["expected a list"],
    ),
    ("list for text", BASE.replace("site: T", "site: [T]"), 1, "site:", ["expected text"]),
    (
        "zone not mapping",
        BASE.replace("  - name: a\n", "  - a\n  - name: a\n"),
        3,
        "zones[0]:",
        ["expected a mapping"],
    ),
    ("missing key", BASE + "  - mac: 00:1b:1b:aa:01:11\n", 10, "assets[1]:", ["required key 'id'"]),
    ("no address", BASE + "  - id: y\n    role: plc\n", 10, "assets[1]:", ["neither mac nor ip"]),
    (
        "port out of range",
        BASE + CONDUIT.format(ports="tcp/502, tcp/70000"),
        13,
        "conduits[0].ports[1]:",
        ["'tcp/70000'"],
    ),
    (
        "port reversed range",
        BASE + CONDUIT.format(ports="udp/2000-1000"),
        13,
        "conduits[0].ports[0]:",
        ["low one first"],
    ),
    (
        "port without proto",
        BASE + CONDUIT.format(ports="502"),
        13,
        "conduits[0].ports[0]:",
        ["tcp/502"],
    ),
    (
        "port unknown proto",
        BASE + CONDUIT.format(ports="http"),
        13,
        "conduits[0].ports[0]:",
        ["not a port spec"],
    ),
    (
        "ports not list",
        BASE + "conduits:\n  - from: a\n    to: internet\n    ports: tcp/502\n",
        13,
        "conduits[0].ports:",
        ["expected a list"],
    ),
    (
        "ports missing",
        BASE + "conduits:\n  - from: a\n    to: internet\n",
        11,
        "conduits[0]:",
        ["required key 'ports'"],
    ),
    ("bad role", BASE + "    role: plcc\n", 10, "assets[0].role:", ["not a role", "'plc'"]),
    (
        "unknown asset zone",
        BASE + "    zone: b\n",
        10,
        "assets[0].zone:",
        ["zone 'b' does not exist"],
    ),
    (
        "ip outside zone",
        BASE + "  - id: y\n    ip: 10.9.0.6\n    zone: a\n",
        11,
        "assets[1].ip:",
        ["not in zone 'a'"],
    ),
    (
        "gateway not ip",
        BASE.replace("gateways: [10.0.0.1]", "gateways: [router1]"),
        5,
        "zones[0].gateways[0]:",
        ["'router1' is not an IP address"],
    ),
    (
        "bad bool",
        BASE + CONDUIT.format(ports="any") + "    remote_access: maybe\n",
        14,
        "conduits[0].remote_access:",
        ["true or false"],
    ),
    (
        "reserved name",
        BASE + "  - id: internet\n    ip: 10.0.0.9\n",
        10,
        "assets[1].id:",
        ["reserved"],
    ),
]


@pytest.mark.parametrize(
    ("yaml", "line", "where", "words"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_site_errors(tmp_path: Path, yaml: str, line: int, where: str, words: list[str]) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(yaml, encoding="utf-8")
    with pytest.raises(SiteFileError) as info:
        load_site(path)
    err = info.value
    assert (err.path, err.line) == (str(path), line), str(err)
    assert err.message.startswith(where), err.message
    for word in words:
        assert word in err.message
    text = str(err)
    assert text.startswith(f"{path}:{line}: ") and "\n" not in text


def test_first_error_in_file_order_is_reported(tmp_path: Path) -> None:
    text = BASE.replace("00:1b:1b:aa:01:10", "bad-mac") + "  - id: y\n    ip: 300.1.1.1\n"
    with pytest.raises(SiteFileError) as info:
        _load(tmp_path, text)
    assert info.value.line == 8 and "assets[0].mac" in info.value.message


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(SiteFileError) as info:
        load_site(tmp_path / "absent.yaml")
    assert info.value.line is None and "cannot read" in info.value.message
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00site")
    with pytest.raises(SiteFileError):
        load_site(tmp_path / "bin.yaml")


def test_contract_document_example_still_matches(tmp_path: Path) -> None:
    """If the shared CONTRACT.md is present, its site block (plus the jump host) loads."""
    root = Path(__file__).resolve().parents[1]
    shared = Path(os.environ.get("CRANEWATCH_SHARED", root.parent / "shared"))
    contract = shared / "spec" / "CONTRACT.md"
    if not contract.exists():
        pytest.skip("CONTRACT.md not present")
    block = re.search(r"```yaml\n(.*?)```", contract.read_text(encoding="utf-8"), re.S).group(1)
    if "id: sts-01-jump" not in block:
        block = block.replace("conduits:", "  - id: sts-01-jump\n    ip: 10.20.1.20\nconduits:", 1)
    s = _load(tmp_path, block)
    assert s.conduit_for("198.51.100.7", "10.20.1.20", "udp", 1194).remote_access


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("tcp/502", PortRange("tcp", 502, 502)),
        ("TCP/502", PortRange("tcp", 502, 502)),
        (" udp/1000-2000 ", PortRange("udp", 1000, 2000)),
        ("tcp", PortRange("tcp", 0, 65535)),
        ("udp/any", PortRange("udp", 0, 65535)),
        ("icmp", PortRange("icmp")),
        ("ANY", PortRange("any")),
    ],
)
def test_port_spec_forms(spec: str, expected: PortRange) -> None:
    from cranewatch.inventory.site import parse_port_spec

    assert parse_port_spec(spec) == expected


def test_asset_id_may_not_shadow_a_zone(tmp_path: Path) -> None:
    text = (
        "zones:\n  - name: ops\n    cidrs: [10.0.0.0/24]\nassets:\n  - id: ops\n    ip: 10.0.0.2\n"
    )
    with pytest.raises(SiteFileError) as info:
        _load(tmp_path, text)
    assert info.value.line == 5 and info.value.message.startswith("assets[0].id:")
    assert "also a zone name" in info.value.message
