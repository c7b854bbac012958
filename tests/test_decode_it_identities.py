"""LLDP, CDP and DHCP identities found by our parsers match the MANIFEST ground truth.

For every capture whose `identities` column names lldp:/cdp:/dhcp: items, the
parsers run over that file's matching packets, located anywhere in the frame
(LLDP after 0x88CC, CDP at its LLC/SNAP header or CDP header, DHCP at its magic
cookie), which also reaches frames inside GRE/ERSPAN, CAPWAP, 802.11 and Teredo.
Comparison is on name-like keys; tshark's vendor tables are not comparable.
"""

from __future__ import annotations

import pytest

from _decode_it_helpers import CAPTURES, frames, identity_items, identity_rows, scan_after
from cranewatch.decode import cdp, dhcp, lldp


def _ids(kind: str) -> list:
    rows = [r for r in identity_rows((kind,)) if identity_items(r, kind)]
    return [pytest.param(r, id=r["path"]) for r in rows] or [pytest.param(None, id="no-shared")]


def _path(row):
    if row is None or not (CAPTURES / row["path"]).is_file():
        pytest.skip("shared captures not present")
    return CAPTURES / row["path"]


def _flat(text: str) -> str:
    """Whitespace-normalised text: the manifest prints CR/LF inside values as spaces."""
    return " ".join(text.split())


def lldp_results(path) -> list[dict]:
    out = []
    for data in scan_after(path, b"\x88\xcc"):
        got = lldp.parse(data[2:])
        if got:
            out.append(got)
    return out


def cdp_results(path) -> list[dict]:
    """CDP at an LLC/SNAP header (802.3) or at a bare CDP header (C-HDLC, GRE)."""
    out = []
    candidates = list(scan_after(path, cdp.SNAP))
    candidates += list(scan_after(path, b"\x00\x01\x00", back=4))  # device-id TLV first
    for data in candidates:
        got = cdp.parse(data)
        if got:
            out.append(got)
    return out


def dhcp_results(path) -> list[dict]:
    out = []
    for data in scan_after(path, dhcp.MAGIC, back=dhcp.FIXED):
        got = dhcp.parse(data)
        if got:
            out.append(got)
    return out


@pytest.mark.parametrize("row", _ids("lldp"))
def test_lldp_identities_match_manifest(row):
    results = lldp_results(_path(row))
    assert results, "no LLDPDU parsed"
    for want in identity_items(row, "lldp"):
        match = [
            r
            for r in results
            if ("sysname" not in want or r.get("system_name") == want["sysname"])
            and ("chassis" not in want or r.get("chassis_id") == want["chassis"])
            and _flat(r.get("system_description", "")).startswith(_flat(want.get("sysdesc", "")))
        ]
        assert match, f"no LLDPDU with {want}"
        if want.get("mgmt", "0.0.0.0") != "0.0.0.0":
            assert any(want["mgmt"] in r.get("management_addresses", []) for r in match)
            assert any(r.get("subject_ip") == want["mgmt"] for r in match)
        if "chassis" in want:
            assert any(r.get("subject_mac") == want["chassis"] for r in match)
        if "sysname" in want:
            assert any(r["identity"].get("hostname") == want["sysname"] for r in match)


@pytest.mark.parametrize("row", _ids("cdp"))
def test_cdp_identities_match_manifest(row):
    results = cdp_results(_path(row))
    assert results, "no CDP parsed"
    for want in identity_items(row, "cdp"):
        match = [
            r
            for r in results
            if r.get("device_id") == want["device"] and r.get("platform") == want["platform"]
        ]
        assert match, f"no CDP with {want}"
        ident = match[0]["identity"]
        assert ident["hostname"] == want["device"] and ident["model"] == want["platform"]
        assert "\n" not in ident.get("firmware", "")


@pytest.mark.parametrize("row", _ids("dhcp"))
def test_dhcp_identities_match_manifest(row):
    results = dhcp_results(_path(row))
    assert results, "no DHCP parsed"
    for want in identity_items(row, "dhcp"):
        mine = [r for r in results if r.get("chaddr") == want["mac"]]
        assert mine, f"no DHCP message for chaddr {want['mac']}"
        for key in ("hostname", "vendor_class"):
            if key in want:
                assert any(r.get(key) == want[key] for r in mine), f"{key}={want[key]} not found"


def test_dhcp_client_identity_has_subject_mac_and_server_flag():
    path = CAPTURES / "tcpdump/dhcp-mud.pcap"
    if not path.is_file():
        pytest.skip("shared captures not present")
    results = dhcp_results(path)
    clients = [r for r in results if r["op"] == 1]
    servers = [r for r in results if r["op"] == 2]
    assert clients and servers
    for r in clients:
        assert r["subject_mac"] == r["chaddr"] == "b8:27:eb:b8:53:c8"
        assert r["identity"]["hostname"] == "raspberrypi"
        assert "dhcp_server" not in r
    for r in servers:
        assert r["dhcp_server"] is True
        assert "subject_mac" not in r and "identity" not in r


def test_cdp_over_chdlc_starts_at_cdp_header():
    """Cisco HDLC carries CDP as protocol 0x2000 with no LLC: data = frame[4:]."""
    path = CAPTURES / "tcpdump/HDLC.pcap"
    if not path.is_file():
        pytest.skip("shared captures not present")
    got = [cdp.parse(f[4:]) for lt, f in frames(path) if lt == 104 and f[2:4] == b"\x20\x00"]
    names = {g["device_id"] for g in got if g}
    assert names == {"R0", "R1"}
