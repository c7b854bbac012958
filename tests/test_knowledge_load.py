"""Knowledge start-up and look-ups: a fast YAML loader that reads the files as ruamel does,
suffix look-ups through an index, remembered answers, and the OUI registry read with numpy.
"""

from __future__ import annotations

import random

import netaddr
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ruamel.yaml import YAML

from cranewatch.inventory.build import _oui_index, oui_vendor
from cranewatch.knowledge import HERE, KnowledgeError, _fast_loader, load, load_from, parse_yaml

YAML_FILES = sorted(HERE.glob("*.yaml"))


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_fast_loader_reads_every_file_as_ruamel(path):
    if _fast_loader() is None:
        pytest.skip("PyYAML without libyaml: ruamel is used anyway")
    text = path.read_text(encoding="utf-8")
    assert parse_yaml(text) == YAML(typ="safe", pure=True).load(text)


def test_duplicate_keys_fail_loudly(tmp_path):
    for name in ("cellular_vendors.yaml", "clouds.yaml", "remote_access.yaml", "attack_ics.yaml"):
        (tmp_path / name).write_text((HERE / name).read_text(encoding="utf-8"), encoding="utf-8")
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        clouds.read_text(encoding="utf-8").replace("clouds:", "clouds: []\nclouds:", 1),
        encoding="utf-8",
    )
    with pytest.raises(KnowledgeError, match="duplicate"):
        load_from(tmp_path)


def _linear(name, pairs):
    """The plain scan the index replaces: longest matching domain, first listed on ties."""
    name = name.lower().rstrip(".")
    best, best_len = None, -1
    for domain, value in pairs:
        if (name == domain or name.endswith("." + domain)) and len(domain) > best_len:
            best, best_len = value, len(domain)
    return best


KN = load()
DOMAINS = [d for c in KN.clouds for d in c.domains] + [d for t in KN.tools for d in t.names]
LABEL = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.lists(LABEL, max_size=3),
    domain=st.sampled_from(DOMAINS + ["example.com", "com", ""]),
    upper=st.booleans(),
    dot=st.booleans(),
)
def test_suffix_index_equals_linear_scan(prefix, domain, upper, dot):
    name = ".".join([*prefix, domain]).strip(".") + ("." if dot else "")
    name = name.upper() if upper else name
    clouds = [(d, c) for c in KN.clouds for d in c.domains]
    tools = [(d, t) for t in KN.tools for d in t.names]
    assert KN.cloud_for(name) is _linear(name, clouds)
    assert KN.tool_for_name(name) is _linear(name, tools)


def test_remembered_answers_equal_fresh_ones():
    fresh = load_from(HERE)
    for text in ["Teltonika RUT955", "SSH-2.0-OpenSSH_8.9", "AnyDesk", "nothing", "RMS"]:
        assert KN.cellular_identity(text) == fresh.cellular_identity(text)
        assert KN.cellular_identity(text) == fresh.cellular_identity(text)  # second: remembered
        assert KN.tool_for_banner(text) == fresh.tool_for_banner(text)
    for l4, port in [("tcp", 5938), ("udp", 1194), ("tcp", 3389), ("tcp", 1), ("ip", 50)]:
        want = [t for t in fresh.tools if t.has_port(l4, port)]
        assert KN.tools_for_port(l4, port) == want
        KN.tools_for_port(l4, port).clear()  # a caller's list is its own
        assert KN.tools_for_port(l4, port) == want
    for ip in ["100.64.0.1", "100.127.255.254", "100.128.0.1", "10.0.0.1", "garbage", None]:
        assert KN.is_cgnat(ip) == fresh.is_cgnat(ip) == fresh.is_cgnat(ip)


def _netaddr_org(mac: str) -> str | None:
    try:
        return netaddr.EUI(mac).oui.registration().org.rstrip(", ")  # as the inventory tidies it
    except (netaddr.NotRegisteredError, ValueError, IndexError):
        return None


def test_oui_vendor_equals_netaddr():
    keys = _oui_index()[0].tolist()
    rng = random.Random(3)
    ouis = rng.sample(keys, 400) + [rng.randrange(1 << 24) for _ in range(200)]
    for oui in ouis + [0x001B1B, 0x000E8C, 0x001E42]:
        mac = ":".join(f"{b:02x}" for b in (oui >> 16, (oui >> 8) & 0xFF, oui & 0xFF, 1, 2, 3))
        assert oui_vendor(mac) == _netaddr_org(mac), mac
    assert oui_vendor("not a mac") is None


def test_registry_names_lose_a_trailing_comma():
    """IEEE lists Siemens' 00:1b:1b as "Siemens AG,": reports show "Siemens AG"."""
    assert _netaddr_org("00:1b:1b:02:9a:c3") == oui_vendor("00:1b:1b:02:9a:c3") == "Siemens AG"
    assert netaddr.EUI("00:1b:1b:02:9a:c3").oui.registration().org == "Siemens AG,"
