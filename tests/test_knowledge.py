"""Knowledge files: they load, every entry names its source, and the look-ups behave."""

from __future__ import annotations

import importlib.resources as res
import shutil

import netaddr
import pytest
from ruamel.yaml import YAML

from cranewatch.knowledge import HERE, KnowledgeError, load, load_from

FILES = (
    "cellular_vendors.yaml",
    "clouds.yaml",
    "remote_access.yaml",
    "attack_ics.yaml",
    "initial_ttls.yaml",
)


def _yaml(name: str):
    return YAML(typ="safe").load((HERE / name).read_text())


def _entries(doc):
    """Every mapping in a list anywhere in the document (the 'entries')."""
    if isinstance(doc, dict):
        for value in doc.values():
            yield from _entries(value)
    elif isinstance(doc, list):
        for item in doc:
            if isinstance(item, dict) and ("name" in item or "id" in item or "ttl" in item):
                yield item


@pytest.mark.parametrize("name", FILES)
def test_every_entry_has_a_source(name):
    doc = _yaml(name)
    entries = list(_entries(doc))
    assert entries, name
    missing = [
        e.get("name") or e.get("id") or e.get("ttl")
        for e in entries
        if not str(e.get("source", "")).strip()
    ]
    assert missing == []
    if name == "attack_ics.yaml":
        assert all(str(v.get("source", "")).strip() for v in doc["kinds"].values())


def test_load_is_cached_and_complete():
    kn = load()
    assert load() is kn
    assert kn.initial_ttls == (30, 32, 60, 64, 128, 255)
    assert [kn.hops_from_initial(t) for t in (30, 31, 62, 64, 120, 250, 255)] == [
        0,
        1,
        2,
        0,
        8,
        5,
        0,
    ]
    assert len(kn.vendors) > 20 and kn.clouds and kn.tools
    for kind in ("undeclared-device", "cellular-modem", "rogue-gateway", "remote-access",
                 "container-data-leak", "beaconing", "policy-violation"):  # fmt: skip
        ids = kn.attack(kind)
        assert ids and all(i in kn.techniques for i in ids), kind


def test_attack_ids_are_the_ics_matrix_ones():
    kn = load()
    names = {t.id: t.name for t in kn.techniques.values()}
    assert names["T0822"] == "External Remote Services"
    assert names["T0883"] == "Internet Accessible Device"
    assert names["T0886"] == "Remote Services"
    assert names["T0869"] == "Standard Application Layer Protocol"
    assert names["T0885"] == "Commonly Used Port"
    assert names["T0884"] == "Connection Proxy"
    assert names["T0882"] == "Theft of Operational Information"
    assert kn.attack("remote-access", "inbound") == ["T0822", "T0883"]


@pytest.mark.parametrize(
    ("mac", "maker", "strong"),
    [
        ("00:1e:42:00:00:01", "Teltonika", True),   # registry org "Teltonika"
        ("00:30:44:00:00:01", "Cradlepoint", True),  # "CradlePoint, Inc"
        ("00:14:3e:00:00:01", "Sierra Wireless", True),  # "AirLink Communications, Inc."
        ("00:04:2d:00:00:01", "Digi (Sarian / TransPort)", True),
        ("00:e0:fc:00:00:01", "Huawei", False),
        ("00:90:e8:00:00:01", "Moxa", False),
        ("00:07:7c:00:00:01", "Westermo", False),
    ],
)  # fmt: skip
def test_vendor_rules_match_real_registry_names(mac, maker, strong):
    org = netaddr.EUI(mac).oui.registration().org
    rule = load().cellular_vendor(org)
    assert rule is not None, org
    assert (rule.name, rule.strong) == (maker, strong)


def test_every_oui_of_a_maker_counts():
    """All registry blocks of a maker match, not a hand list of OUIs."""
    kn = load()
    orgs = set()
    with (
        res.files("netaddr.eui").joinpath("oui.txt").open(encoding="utf-8", errors="replace") as fh
    ):
        for line in fh:
            if "(hex)" in line:
                orgs.add(line.split("(hex)")[1].strip())
    quectel = [o for o in orgs if "quectel" in o.lower()]
    assert quectel and all(kn.cellular_vendor(o).name == "Quectel" for o in quectel)
    assert kn.cellular_vendor("Dell Inc.") is None
    assert kn.cellular_vendor("Siemens Healthcare Diagnostics Manufacturing Ltd") is None


def test_lookups():
    kn = load()
    assert kn.cloud_for("eu.rms.teltonika-networks.com").maker == "Teltonika"
    assert kn.cloud_for("teltonika-networks.com.evil.example") is None
    assert kn.tool_for_name("router15.teamviewer.com.").name == "TeamViewer"
    assert kn.tool_for_name("notteamviewer.com") is None
    assert kn.tool_for_banner("SSH-2.0-OpenSSH_9.6").name == "SSH"
    assert kn.tool_for_banner("RFB 003.008").name == "VNC (RFB)"
    assert {t.name for t in kn.tools_for_port("udp", 1194)} == {"OpenVPN"}
    assert kn.tools_for_port("tcp", 5901)[0].name == "VNC (RFB)"
    assert kn.is_cgnat("100.64.3.7") and not kn.is_cgnat("10.0.0.1")
    assert kn.cellular_identity("Teltonika RUT955").strong
    assert not kn.cellular_identity("4G LTE gateway").strong
    assert kn.cellular_identity("Apache/2.4.57 (Debian)") is None


def test_signature_bytes_follow_their_sources():
    kn = load()
    vnc = kn.tool("VNC (RFB)").signatures[0]
    assert vnc.matches(b"RFB 003.008\n") and not vnc.matches(b"HTTP/1.1 200 OK")
    wg = kn.tool("WireGuard").signatures[0]
    assert wg.matches(b"\x01\x00\x00\x00" + bytes(144)) and not wg.matches(
        b"\x01\x00\x00\x00" + bytes(40)
    )
    rdp = kn.tool("RDP").signatures[0]
    assert rdp.matches(b"\x03\x00\x00\x2b\x26\xe0\x00\x00\x00\x00\x00Cookie: mstshash=eng\r\n")


def _broken_copy(tmp_path, name, mutate):
    for f in FILES:
        shutil.copy(HERE / f, tmp_path / f)
    yaml = YAML(typ="safe")
    doc = yaml.load((tmp_path / name).read_text())
    mutate(doc)
    with (tmp_path / name).open("w") as fh:
        yaml.dump(doc, fh)
    return tmp_path


def test_schema_check_rejects_a_missing_source(tmp_path):
    folder = _broken_copy(tmp_path, "clouds.yaml", lambda d: d["clouds"][0].pop("source"))
    with pytest.raises(KnowledgeError, match="no source"):
        load_from(folder)


def test_schema_check_rejects_bad_regex_hex_port_and_technique(tmp_path):
    cases = [
        (
            "cellular_vendors.yaml",
            lambda d: d["vendors"][0].__setitem__("org", "(unclosed"),
            "bad regex",
        ),
        (
            "remote_access.yaml",
            lambda d: d["tools"][0]["signatures"][0].__setitem__("at", [[0, "zz"]]),
            "bad hex",
        ),
        (
            "remote_access.yaml",
            lambda d: d["tools"][0].__setitem__("ports", ["tcp:5938"]),
            "bad port",
        ),
        (
            "attack_ics.yaml",
            lambda d: d["kinds"]["beaconing"].__setitem__("techniques", ["T9999"]),
            "unknown",
        ),
        ("initial_ttls.yaml", lambda d: d["initial_ttls"][0].__setitem__("ttl", 300), "1-255"),
        ("initial_ttls.yaml", lambda d: d["initial_ttls"].append(d["initial_ttls"][1]), "twice"),
    ]
    for i, (name, mutate, message) in enumerate(cases):
        folder = tmp_path / str(i)
        folder.mkdir()
        with pytest.raises(KnowledgeError, match=message):
            load_from(_broken_copy(folder, name, mutate))
