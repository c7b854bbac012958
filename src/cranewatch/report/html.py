"""One self-contained HTML report from a findings document.

Why one file with everything inline: the report is handed over (by mail, on a stick, to
an authority) and opened on machines with no network. So the page carries its data as
JSON, its own CSS and JS, and the vendored d3-force (with its licence) - nothing is
fetched. The page is built in the browser from the embedded JSON, so the Python side stays
a thin, deterministic renderer: the same document gives the same bytes.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from cranewatch.report.summary import OUTSIDE_ZONES, zone_counts

# Load order matters: d3-force expects the other three on the global `d3`.
VENDOR_SCRIPTS = ("d3-dispatch", "d3-quadtree", "d3-timer", "d3-force")


def _resource(*parts: str) -> str:
    return resources.files("cranewatch.report").joinpath(*parts).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("cranewatch.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"], default=True),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


def _comment_safe(text: str) -> str:
    """Text that cannot end a /* */ comment or the surrounding <script> element."""
    return text.replace("*/", "* /").replace("</", "<\\/")


@lru_cache(maxsize=1)
def _vendor_js() -> str:
    """The vendored scripts, each preceded by its licence as the ISC licence asks."""
    chunks = []
    for name in VENDOR_SCRIPTS:
        licence = _comment_safe(_resource("vendor", name, "LICENSE"))
        code = _resource("vendor", name, f"{name}.min.js")
        if "</script" in code.lower():  # would end the inline <script>; never in d3
            raise ValueError(f"vendored {name} cannot be inlined")
        chunks.append(f"/* {name} - licence:\n{licence}*/\n{code}\n")
    return "\n".join(chunks)


def _finite(value: Any) -> Any:
    """Replace NaN/inf (not JSON) by None, so JSON.parse in the page never fails."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def embed_json(doc: dict[str, Any]) -> str:
    """JSON safe inside <script type="application/json">.

    `<`, `>` and `&` only ever occur inside JSON strings, where \\u003c etc. mean the same
    character; escaping them means no "</script>" or "<!--" can appear in the element.
    U+2028/9 are escaped for old JS parsers that treat them as line ends.
    """
    text = json.dumps(_finite(doc), ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    for raw, esc in (
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("&", "\\u0026"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(raw, esc)
    return text


def asset_summary(doc: dict[str, Any]) -> dict[str, Any]:
    """The summary's asset counts, counted by `summary.zone_counts` as the terminal's are.

    Counted here rather than in the page so the two reports cannot disagree;
    "(outside zones)" is not a zone. `not_seen` is the document's optional
    `declared_not_seen` list, None when the document does not carry it.
    """
    assets = doc.get("assets") or []
    listed = doc.get("declared_not_seen")
    not_seen = [d for d in listed if isinstance(d, dict)] if isinstance(listed, list) else None
    counts = zone_counts(
        ((a.get("zone"), a.get("declared_id")) for a in assets),
        (d.get("zone") for d in not_seen or []),
    )
    total = sum(counts.values(), Counter())
    return {
        "site_file": doc.get("site") is not None,
        "assets": len(assets),
        "zones": sum(1 for z, row in counts.items() if z != OUTSIDE_ZONES and row["seen"]),
        "outside": counts.get(OUTSIDE_ZONES, Counter())["seen"],
        "declared": total["declared"],
        "undeclared": total["undeclared"],
        "not_seen": not_seen,
    }


def render_html(doc: dict[str, Any]) -> str:
    """The report page for one findings document (CONTRACT section 2, optionally "flows")."""
    template = _environment().get_template("report.html.j2")
    site = doc.get("site") or "unnamed site"
    tool = doc.get("tool") or {}
    return template.render(
        title=f"cranewatch report - {site}",
        site=site,
        tool_version=str(tool.get("version", "")),
        data_json=Markup(embed_json(doc)),
        summary_json=Markup(embed_json(asset_summary(doc))),
        css=Markup(_resource("templates", "report.css")),
        app_js=Markup(_resource("templates", "report.js")),
        vendor_js=Markup(_vendor_js()),
    )


def write_html(doc: dict[str, Any], path: str | Path) -> Path:
    """Render and write atomically (a reader never sees half a report)."""
    from cranewatch.report.atomic import atomic_write

    path = Path(path)
    atomic_write(path, render_html(doc).encode("utf-8"))
    return path
