"""The HTML report: self-contained, escapes hostile text, and works in a real headless Chromium."""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from pathlib import Path

import pytest

from _make_sample_findings import make_findings
from _report_helpers import start_browser
from cranewatch.inventory.coverage import declared_not_seen
from cranewatch.inventory.site import load_site
from cranewatch.pipeline import analyze
from cranewatch.report.html import asset_summary, embed_json, render_html, write_html
from cranewatch.report.json_out import findings_document
from test_report_terminal_layout import MB2, MB2_SITE, PN_SITE, PROFINET

DOCS = Path(__file__).resolve().parents[1] / "docs"
HOSTILE = "</script><img src=x onerror=\"document.title='pwned'\"><!--"


@pytest.fixture(scope="module")
def doc() -> dict:
    return make_findings(30)


def embedded(html: str) -> dict:
    m = re.search(
        r'<script type="application/json" id="cranewatch-data">(.*?)</script>', html, re.S
    )
    assert m, "data element missing"
    return json.loads(m.group(1))


def test_html_embeds_the_document_and_nothing_external(doc: dict) -> None:
    html = render_html(doc)
    assert embedded(html) == doc
    assert not re.search(r"<script[^>]+src=|<link[^>]+stylesheet|@import|url\(\s*['\"]?http", html)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert render_html(copy.deepcopy(doc)) == html  # deterministic: same input, same bytes


def test_embedded_json_cannot_close_its_script_element() -> None:
    text = embed_json({"hostnames": [HOSTILE], "x": float("nan"), "sep": "a\u2028b"})
    assert "</" not in text and "<!--" not in text and "\u2028" not in text
    assert json.loads(text) == {"hostnames": [HOSTILE], "x": None, "sep": "a\u2028b"}


def test_write_html_writes_the_rendered_page(doc: dict, tmp_path: Path) -> None:
    out = write_html(doc, tmp_path / "report.html")
    assert out.read_text(encoding="utf-8") == render_html(doc)
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]  # no temp file left


# ---------------------------------------------------------------- in a real browser


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory):
    browser = start_browser(tmp_path_factory.mktemp("chromium") / "profile")
    yield browser.page
    browser.close()


def open_report(page, doc: dict, path: Path) -> None:
    write_html(doc, path)
    page.open(path)


def assert_offline_and_clean(page, path: Path) -> None:
    assert page.errors() == []
    urls = page.requests()
    assert urls, "network recording saw nothing at all"
    assert not [u for u in urls if not u.startswith(("file:", "data:", "about:"))]
    assert {u for u in urls if u.startswith("file:")} == {path.resolve().as_uri()}


def visible_rows(page) -> list[str]:
    return page.eval(
        "[...document.querySelectorAll('#asset-table tbody tr')]"
        ".filter(r => r.offsetParent !== null).map(r => r.dataset.assetId)"
    )


def test_report_in_chromium(page, doc: dict, tmp_path: Path) -> None:
    path = tmp_path / "report.html"
    open_report(page, doc, path)
    assert_offline_and_clean(page, path)

    assert page.eval("document.getElementById('finding-count').textContent") == str(
        len(doc["findings"])
    )
    assert page.eval("document.querySelectorAll('.finding').length") == len(doc["findings"])
    shown = page.eval("[...document.querySelectorAll('.finding')].map(f => f.dataset.id)")
    assert sorted(shown) == sorted(f["id"] for f in doc["findings"])
    for sev in ("critical", "high", "medium", "low", "info"):
        n = sum(f["severity"] == sev for f in doc["findings"])
        got = page.eval(
            f"document.querySelector('#severity-counts [data-severity={sev}] .n').textContent"
        )
        assert got == str(n)

    zones: dict[str, int] = {}
    for a in doc["assets"]:
        zones[a["zone"]] = zones.get(a["zone"], 0) + 1
    assert len(zones) >= 3
    for zone, n in zones.items():
        page.eval(f"document.querySelector('.zone-tab[data-zone={json.dumps(zone)}]').click()")
        box = f"document.querySelector('.zone-map[data-zone={json.dumps(zone)}]')"
        assert page.eval(f"{box}.hidden") is False
        assert page.eval(f"{box}.querySelectorAll('.map-node.asset').length") == n
        assert page.eval(f"+{box}.dataset.nodeCount") == n
        assert page.eval(f"window.cranewatchMap[{json.dumps(zone)}].nodes().length") == n
    assert page.eval("document.querySelectorAll('#timeline-svg .tl-finding').length") == len(
        doc["findings"]
    )
    assert page.errors() == []
    page.screenshot(tmp_path / "report.png")
    assert (tmp_path / "report.png").stat().st_size > 20_000


def test_asset_filter_and_sort(page, doc: dict, tmp_path: Path) -> None:
    open_report(page, doc, tmp_path / "report.html")
    assert len(visible_rows(page)) == len(doc["assets"])
    zone = sorted({a["zone"] for a in doc["assets"]})[0]
    page.type_into("#asset-filter", zone)
    assert sorted(visible_rows(page)) == sorted(a["id"] for a in doc["assets"] if a["zone"] == zone)
    modem = next(a for a in doc["assets"] if a["vendor"] == "Teltonika")
    page.eval("document.getElementById('asset-filter').value = ''")
    page.type_into("#asset-filter", modem["mac"].upper())  # case does not matter
    assert visible_rows(page) == [modem["id"]]
    page.type_into("#asset-filter", " no-such-thing")
    assert visible_rows(page) == []
    page.eval(
        "const i = document.getElementById('asset-filter'); i.value = '';"
        " i.dispatchEvent(new Event('input'))"
    )
    assert len(visible_rows(page)) == len(doc["assets"])

    page.eval(
        "[...document.querySelectorAll('#asset-table th')].find(t => t.textContent === 'Bytes').click()"
    )
    by_bytes = [a["id"] for a in sorted(doc["assets"], key=lambda a: a["bytes"])]
    assert visible_rows(page) == by_bytes
    page.eval(
        "[...document.querySelectorAll('#asset-table th')].find(t => t.textContent === 'Bytes').click()"
    )
    assert visible_rows(page) == by_bytes[::-1]
    assert page.errors() == []


def test_clicking_a_node_lists_its_flows_and_findings(page, doc: dict, tmp_path: Path) -> None:
    open_report(page, doc, tmp_path / "report.html")
    modem = next(a for a in doc["assets"] if a["vendor"] == "Teltonika")
    ip = modem["ips"][0]
    flows = [f for f in doc["flows"] if ip in (f["orig_ip"], f["resp_ip"])]
    findings = [f for f in doc["findings"] if f["asset"]["mac"] == modem["mac"]]
    assert flows and findings
    page.eval(f"document.querySelector('.zone-tab[data-zone={json.dumps(modem['zone'])}]').click()")
    page.eval(
        f"document.querySelector('.map-node[data-asset-id={json.dumps(modem['id'])}]')"
        ".dispatchEvent(new MouseEvent('click', {bubbles: true}))"
    )
    assert page.eval("document.querySelectorAll('#map-panel .flow-row').length") == min(
        100, len(flows)
    )
    titles = page.eval(
        "[...document.querySelectorAll('#map-panel .panel-finding button')].map(b => b.textContent)"
    )
    assert sorted(titles) == sorted(f["title"] for f in findings)
    assert page.eval("document.querySelectorAll('.map-node.selected').length") == 1
    assert page.eval(
        f"document.querySelector('.map-node[data-asset-id={json.dumps(modem['id'])}]')"
        ".classList.contains('flagged')"
    )
    assert page.errors() == []


def test_hostile_strings_are_shown_as_text(page, doc: dict, tmp_path: Path) -> None:
    bad = copy.deepcopy(doc)
    bad["site"] = HOSTILE
    bad["assets"][0]["hostnames"] = [HOSTILE]
    bad["findings"][0]["title"] = HOSTILE
    bad["findings"][0]["evidence"][0]["detail"] = "<b>bold</b>"
    path = tmp_path / "hostile.html"
    open_report(page, bad, path)
    assert_offline_and_clean(page, path)
    assert page.eval("document.querySelectorAll('img, b').length") == 0
    assert page.eval("document.title") != "pwned"
    assert HOSTILE in page.eval("document.getElementById('asset-table').textContent")
    assert HOSTILE in page.eval("document.querySelector('.finding .f-title').textContent")


def test_empty_document_renders(page, tmp_path: Path) -> None:
    path = tmp_path / "empty.html"
    open_report(
        page,
        {
            "schema": "cranewatch/findings-v1",
            "site": None,
            "inputs": [],
            "assets": [],
            "findings": [],
        },
        path,
    )
    assert_offline_and_clean(page, path)
    assert page.eval("document.getElementById('finding-count').textContent") == "0"


def test_2000_asset_report_stays_usable(page, tmp_path: Path) -> None:
    big = make_findings(2000)
    path = tmp_path / "big.html"
    open_report(page, big, path)
    assert_offline_and_clean(page, path)
    # Rows are added a page at a time so typing in the filter stays fast.
    rows = "document.querySelectorAll('#asset-table tbody tr').length"
    assert page.eval(rows) == 250
    assert "2000 of 2000 assets match" in page.eval(
        "document.getElementById('asset-visible').textContent"
    )
    page.eval("document.getElementById('asset-more').click()")
    assert page.eval(rows) == 500
    zone = max(
        {a["zone"] for a in big["assets"]}, key=lambda z: sum(a["zone"] == z for a in big["assets"])
    )
    page.eval(f"document.querySelector('.zone-tab[data-zone={json.dumps(zone)}]').click()")
    n = sum(a["zone"] == zone for a in big["assets"])
    assert n > 500
    assert page.eval(f"window.cranewatchMap[{json.dumps(zone)}].nodes().length") == n
    page.eval(
        "[...document.querySelectorAll('#asset-table th')].find(t => t.textContent === 'Bytes').click()"
    )
    smallest = sorted(big["assets"], key=lambda a: a["bytes"])[:500]  # two pages shown
    assert visible_rows(page) == [a["id"] for a in smallest]
    page.type_into("#asset-filter", "teltonika")
    assert len(visible_rows(page)) == 1
    assert page.errors() == []


def test_screenshot_for_the_readme(page, doc: dict, tmp_path: Path) -> None:
    """Full-page screenshot; CRANEWATCH_UPDATE_SCREENSHOT=1 also refreshes docs/ (not in CI)."""
    open_report(page, doc, tmp_path / "report.html")
    shot = page.screenshot(tmp_path / "report-full.png", full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("CRANEWATCH_UPDATE_SCREENSHOT") == "1":
        page.screenshot(tmp_path / "report-top.png")
        shutil.copyfile(tmp_path / "report-top.png", DOCS / "report-screenshot.png")


# ------------------------------------------- summary: counted as the terminal counts


def summary_fact(page, label: str) -> str | None:
    return page.eval(
        "(() => { const dt = [...document.querySelectorAll('#summary-facts dt')]"
        f".find(d => d.textContent === {json.dumps(label)});"
        " return dt ? dt.nextElementSibling.textContent : null; })()"
    )


@pytest.fixture(scope="module")
def real_docs(captures: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    """Findings documents of the review's runs, with `declared_not_seen` as documented."""
    folder = tmp_path_factory.mktemp("sites")
    docs = {}
    for name, capture, body in (
        ("mb2", MB2, MB2_SITE),
        ("mb2-no-site", MB2, None),
        ("profinet", PROFINET, PN_SITE),
    ):
        site = None
        if body is not None:
            (folder / f"{name}.yaml").write_text(body)
            site = load_site(folder / f"{name}.yaml")
        analysis = analyze([captures / capture], site, jobs=1)
        doc = findings_document(analysis)
        if site is not None:
            doc["declared_not_seen"] = declared_not_seen(site, analysis.assets)
        docs[name] = doc
    return docs


def test_summary_counts_agree_with_the_terminal(page, real_docs: dict, tmp_path: Path) -> None:
    """mb2 with its site file: the terminal's zone table sums to 8 declared, 44 undeclared."""
    path = tmp_path / "mb2.html"
    open_report(page, real_docs["mb2"], path)
    assert_offline_and_clean(page, path)
    assert summary_fact(page, "Assets") == (
        "52 in 2 zone(s) and 9 outside every zone: 8 declared, 44 undeclared; 6 flagged"
    )
    assert summary_fact(page, "Declared, not seen") == "none"
    chips = page.eval(
        "[...document.querySelectorAll('#summary-body .tag')].map(t => t.textContent)"
    )
    assert "undeclared-device 44" in chips


def test_summary_without_a_site_file_declares_nothing(
    page, real_docs: dict, tmp_path: Path
) -> None:
    path = tmp_path / "nosite.html"
    open_report(page, real_docs["mb2-no-site"], path)
    assert_offline_and_clean(page, path)
    assets = summary_fact(page, "Assets")
    assert assets == "52: no site file, so no zones and nothing declared or undeclared; 0 flagged"
    assert summary_fact(page, "Declared, not seen") is None
    statuses = page.eval(
        "Array.from(document.querySelectorAll('tr[data-status]')).map(r => r.dataset.status)"
    )
    assert statuses and set(statuses) <= {"seen", "flagged"}  # never "undeclared" without a site


def test_summary_names_declared_assets_not_seen(page, real_docs: dict, tmp_path: Path) -> None:
    path = tmp_path / "profinet.html"
    open_report(page, real_docs["profinet"], path)
    assert_offline_and_clean(page, path)
    item = "document.querySelector('#not-seen [data-declared-id=\"spare-plc\"]')"
    assert "192.168.1.99" in page.eval(f"{item}.textContent")
    assert "zone pn-cell" in page.eval(f"{item}.textContent")
    assert summary_fact(page, "Assets").startswith("11 in 1 zone(s) and 6 outside every zone: ")


def test_long_not_seen_list_is_capped_and_an_old_document_says_so(
    page, doc: dict, tmp_path: Path
) -> None:
    many = copy.deepcopy(doc)
    many["declared_not_seen"] = [
        {"id": f"spare-{i}", "zone": "sts-01", "mac": None, "ip": f"10.20.1.{i}", "role": "plc"}
        for i in range(25)
    ]
    open_report(page, many, tmp_path / "many.html")
    items = "document.querySelectorAll('#not-seen .not-seen-item').length"
    assert page.eval(items) == 20
    page.eval("document.querySelector('#not-seen button').click()")
    assert page.eval(items) == 25
    old = copy.deepcopy(doc)
    del old["declared_not_seen"]  # a findings file written before the list
    open_report(page, old, tmp_path / "old.html")
    assert summary_fact(page, "Declared, not seen") == "not recorded in this findings file"
    assert page.errors() == []


def test_asset_summary_counts_without_a_browser(doc: dict) -> None:
    odd = copy.deepcopy(doc)
    odd["assets"][0]["zone"] = None
    odd["assets"][0]["declared_id"] = "x"
    odd["declared_not_seen"] = [{"id": "y", "zone": None}, "junk"]
    summary = asset_summary(odd)
    declared = sum(1 for a in odd["assets"] if a["declared_id"])
    assert summary["declared"] == declared
    assert summary["declared"] + summary["undeclared"] == summary["assets"] == len(odd["assets"])
    assert summary["outside"] == 1 and summary["zones"] == 4
    assert summary["not_seen"] == [{"id": "y", "zone": None}]
    assert asset_summary({"site": None, "assets": []})["site_file"] is False


def test_related_findings_link_to_each_other(page, doc: dict, tmp_path: Path) -> None:
    linked = copy.deepcopy(doc)
    first, other = linked["findings"][0], linked["findings"][-1]
    first["related"] = [other["id"]]
    open_report(page, linked, tmp_path / "related.html")
    box = f"document.querySelector('.finding[data-id={json.dumps(first['id'])}]')"
    page.eval(f"{box}.open = true")
    button = f"{box}.querySelector('button.related')"
    assert page.eval(f"{button}.textContent") == f"{other['id']} {other['kind']}"
    page.eval(f"{button}.click()")
    assert page.eval(f"document.querySelector('.finding[data-id={json.dumps(other['id'])}]').open")
    assert page.errors() == []
