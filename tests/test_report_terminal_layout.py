"""The terminal report as a user reads it: at 80 columns, without a site file, and what is missing."""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.console import Console

from cranewatch.inventory.coverage import declared_not_seen
from cranewatch.inventory.model import ip_key
from cranewatch.inventory.site import load_site
from cranewatch.pipeline import analyze
from cranewatch.report.html import asset_summary
from cranewatch.report.json_out import findings_document
from cranewatch.report.summary import zone_counts
from cranewatch.report.terminal import render

PROFINET = "icsnpp-profinet-io-cm/profinet_io_cm_mixed_1.pcap"
MB2 = "iti-ics-security-tools/ModbusTCP/mb2.pcap"

# The user review's site files: spare-plc is declared but absent from the capture.
PN_SITE = """\
site: PN cell
zones:
  - name: pn-cell
    cidrs: [192.168.1.0/24]
assets:
  - id: io-versamax
    mac: 00:09:91:43:e0:67
    ip: 192.168.1.2
    role: other
  - id: plc-phoenix
    mac: 00:a0:45:6d:d3:43
    role: plc
  - id: io-festo
    ip: 192.168.1.20
    role: other
  - id: spare-plc
    ip: 192.168.1.99
    role: plc
"""
MB2_SITE = """\
site: Test Plant mb2
zones:
  - name: scada
    cidrs: [141.81.0.9, 141.81.0.10/31]
  - name: cell
    cidrs: [141.81.0.0/24]
    gateways: [141.81.0.1]
assets:
  - {id: scada-srv, mac: 78e7.d1e0.025e, ip: 141.81.0.10, zone: scada, role: server}
  - {id: historian, mac: D4-85-64-6C-28-F0, ip: 141.81.0.11, role: server}
  - {id: plc-s7-31, mac: "00:0e:8c:f7:ad:97", ip: 141.81.0.31, role: plc}
  - {id: plc-s7-51, mac: 000e8cf7acda, ip: 141.81.0.51, role: PLC}
  - {id: plc-enip-23, ip: 141.81.0.23, role: plc}
  - {id: plc-enip-43, mac: "00:00:bc:5f:48:fa", role: plc}
  - {id: mb-24, ip: 141.81.0.24, role: sensor}
  - {id: switch1, mac: "00:1b:1b:02:e6:1f", role: switch}
conduits:
  - {from: scada, to: cell, ports: [tcp/502, tcp/102, tcp/44818]}
  - {from: cell, to: historian, ports: [tcp/1433]}
"""


def text(analysis, width: int) -> str:
    console = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    render(analysis, console)
    return console.export_text()


def site_file(tmp_path_factory: pytest.TempPathFactory, body: str):
    path = tmp_path_factory.mktemp("site") / "site.yaml"
    path.write_text(body)
    return load_site(path)


@pytest.fixture(scope="module")
def profinet(captures: Path, tmp_path_factory: pytest.TempPathFactory):
    return analyze([captures / PROFINET], site_file(tmp_path_factory, PN_SITE), jobs=1)


@pytest.fixture(scope="module")
def mb2_no_site(captures: Path):
    return analyze([captures / MB2], None, jobs=1)


@pytest.fixture(scope="module")
def mb2_site(captures: Path, tmp_path_factory: pytest.TempPathFactory):
    return analyze([captures / MB2], site_file(tmp_path_factory, MB2_SITE), jobs=1)


def section(out: str, title: str) -> list[str]:
    """The lines of one table, from its title to its bottom border."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("└"))
    return lines[start : end + 1]


def first_column(rows: list[str]) -> list[str]:
    return [r.split("│")[1].strip() for r in rows if r.startswith("│")]


def test_80_columns_keep_every_asset_cell_readable(profinet) -> None:
    out = text(profinet, 80)
    assert max(len(line) for line in out.splitlines()) <= 80
    table = section(out, "Assets (")
    body = "\n".join(table)
    # one cell per line, each whole: no column squeezed to a letter per line
    for whole in ("00:09:91:43:e0:67", "192.168.1.2", "versamax-pns11,", "io-versamax"):
        assert whole in body
    assert "Intelligent" in body and "LLC." in body
    assert "LT-US-DSWANSON" in body and "UNDECLARED" in body
    cells = [c.strip() for r in table if r.startswith("│") for c in r.split("│")[1:-1]]
    assert all(len(c) != 1 for c in cells), "a column one character wide"
    assert "00:a0:45:6d:d3:44" in body  # the MAC of the IPv6-first asset is not folded
    assert "a-0011" in body


def test_80_columns_show_the_whole_input_path(profinet, captures: Path) -> None:
    rows = section(text(profinet, 80), "Inputs")
    assert "".join(first_column(rows)) == str(captures / PROFINET)


@pytest.mark.parametrize(
    ("width", "header"),
    [
        (200, "id zone mac ip vendor name / identity protocols declared as"),
        (160, "id zone mac ip vendor name / identity protocols declared as"),
        (120, "id zone mac ip vendor name / identity declared as"),
        (80, "id zone mac / ip vendor / name declared as"),
    ],
)
def test_asset_columns_by_width(profinet, width: int, header: str) -> None:
    """Wide terminals keep the layout they had; only narrow ones fold columns."""
    table = section(text(profinet, width), "Assets (")
    row = next(r for r in table if r.startswith("┃") and "id" in r)
    assert " ".join(c.strip() for c in row.strip("┃").split("┃")) == header


def test_without_a_site_file_nothing_is_declared_or_undeclared(mb2_no_site) -> None:
    for width in (80, 160):
        out = text(mb2_no_site, width)
        words = " ".join(out.split())
        assert "no site file (--site FILE), so no zones and nothing declared or undeclared" in words
        assert "undeclared" not in words.replace("nothing declared or undeclared", "").lower()
        assert "declared as" not in out and "(outside zones)" not in out
        assert "52 assets seen" in out


def test_declared_but_not_seen_assets_are_named(profinet) -> None:
    out = text(profinet, 80)
    assert "Declared, not seen (1):" in out
    line = next(x for x in out.splitlines() if "spare-plc" in x)
    assert "192.168.1.99" in line and "pn-cell" in line
    assert declared_not_seen(profinet.site, profinet.assets) == [
        {"id": "spare-plc", "zone": "pn-cell", "mac": None, "ip": "192.168.1.99", "role": "plc"}
    ]


def test_not_seen_list_is_capped_and_in_address_order(tmp_path: Path) -> None:
    ips = [f"10.0.0.{n}" for n in (100, 9, 10, 2, 33, 4, 51, 6, 7, 8, 11, 12, 13)]
    body = "site: s\nzones:\n  - {name: z, cidrs: [10.0.0.0/24]}\nassets:\n" + "".join(
        f"  - {{id: dev-{ip.rsplit('.', 1)[1]}, ip: {ip}}}\n" for ip in ips
    )
    (tmp_path / "site.yaml").write_text(body)
    analysis = SimpleNamespace(
        site=load_site(tmp_path / "site.yaml"), inputs=[], assets=[], flows=[], findings=[]
    )
    out = text(analysis, 100)
    listed = [x.split()[0] for x in out.split("Declared, not seen (13):")[1].splitlines()[1:11]]
    assert listed == [f"dev-{n}" for n in (2, 4, 6, 7, 8, 9, 10, 11, 12, 13)]
    assert "+3 more in the site file" in out


def test_html_summary_counts_as_the_terminal_does(mb2_site) -> None:
    """The review's mb2 run: 8 declared + 44 undeclared in 2 zones and 9 outside them."""
    rows = section(text(mb2_site, 160), "Assets per zone")
    table = {
        r.split("│")[1].strip(): [int(c) for c in r.split("│")[2:-1]]
        for r in rows
        if r.startswith("│")
    }
    assert table == {"(outside zones)": [9, 1, 8, 0], "cell": [40, 5, 35, 0], "scada": [3, 2, 1, 0]}
    summary = asset_summary(findings_document(mb2_site))
    assert (summary["declared"], summary["undeclared"]) == (8, 44)
    assert (summary["zones"], summary["outside"], summary["assets"]) == (2, 9, 52)


def test_zone_counts_and_ip_order() -> None:
    counts = zone_counts([("a", "x"), ("a", None), (None, None)], ["a", None, "b"])
    assert list(counts) == ["(outside zones)", "a", "b"]
    assert counts["a"] == {"seen": 2, "declared": 1, "undeclared": 1, "not seen": 1}
    ips = ["141.81.0.104", "141.81.0.9", "::1", None, "141.81.0.14", "junk"]
    assert sorted(ips, key=ip_key) == [
        "141.81.0.9",
        "141.81.0.14",
        "141.81.0.104",
        "::1",
        None,
        "junk",
    ]
