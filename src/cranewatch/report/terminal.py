"""The terminal report: what was read, what is on the wire, what is wrong."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from cranewatch.detect._common import AssetIndex
from cranewatch.detect.model import SEVERITIES
from cranewatch.inventory.coverage import declared_not_seen
from cranewatch.report.summary import OUTSIDE_ZONES, zone_counts

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
MAX_ASSET_ROWS = 60
MAX_NOT_SEEN_LINES = 10
MAX_INPUT_ROWS = 20
MAX_FINDINGS_SHOWN = 60  # the most severe first; every one is in the JSON and HTML reports
# Below WIDE the protocols give way; below NARROW seven columns cannot all be read
# (each got one character at 80), so address and vendor/name are folded two to a cell.
WIDE = 130
NARROW = 120
MAC_WIDTH = 17


def render(analysis, console: Console) -> None:
    """Print inputs, assets per zone, the asset list and the findings."""
    console.print(_inputs_table(analysis))
    console.print(_zones_block(analysis))
    console.print(_assets_table(analysis, console.width))
    console.print(_findings_block(analysis))
    console.print(_summary_line(analysis))


def _ts(value: float | None) -> str:
    if value is None:
        return "-"
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _span(first: float | None, last: float | None) -> str:
    if first is None or last is None:
        return "-"
    seconds = max(0.0, last - first)
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _inputs_table(analysis) -> Table:
    table = Table(title="Inputs", title_justify="left")
    for column in ("file", "format", "packets", "bytes", "first packet (UTC)", "span", "errors"):
        table.add_column(
            column,
            justify="right" if column in ("packets", "bytes", "errors") else "left",
            # the path wraps rather than ending in "...": which file it was is the point
            overflow="fold" if column == "file" else "ellipsis",
        )
    inputs = analysis.inputs
    # a ring of 1,000 rotated files: the damaged ones, then the first few, and a total
    by_damage = sorted(
        range(len(inputs)), key=lambda i: not (inputs[i].errors or inputs[i].warnings)
    )
    shown = [inputs[i] for i in sorted(by_damage[:MAX_INPUT_ROWS])]
    for s in shown:
        errors = Text(str(s.errors), style="yellow" if s.errors else "")
        table.add_row(
            s.path,
            s.format,
            f"{s.packets:,}",
            f"{s.bytes:,}",
            _ts(s.first_ts),
            _span(s.first_ts, s.last_ts),
            errors,
        )
    if len(shown) < len(inputs):
        firsts = [s.first_ts for s in inputs if s.first_ts is not None]
        lasts = [s.last_ts for s in inputs if s.last_ts is not None]
        table.add_row(
            f"all {len(inputs):,} files ({len(inputs) - len(shown):,} not listed; every one in"
            " the JSON and HTML reports)",
            "",
            f"{sum(s.packets for s in inputs):,}",
            f"{sum(s.bytes for s in inputs):,}",
            _ts(min(firsts)) if firsts else "",
            _span(min(firsts), max(lasts)) if firsts and lasts else "",
            str(sum(s.errors for s in inputs)),
            style="bold",
        )
    return table


def _zones_block(analysis) -> Table | Text | Group:
    """The zone table; without a site file a note, since nothing can be declared then."""
    if analysis.site is None:
        return Text(
            f"Assets per zone: no site file (--site FILE), so no zones and nothing declared"
            f" or undeclared; {len(analysis.assets)} assets seen",
            style="italic",
        )
    missing = declared_not_seen(analysis.site, analysis.assets)
    table = _zones_table(analysis, missing)
    return Group(table, _not_seen_lines(missing)) if missing else table


def _zones_table(analysis, missing: list[dict[str, str | None]]) -> Table:
    """Per zone: declared and seen, undeclared, declared but silent."""
    table = Table(title="Assets per zone", title_justify="left")
    for column in ("zone", "assets seen", "declared", "undeclared", "declared, not seen"):
        table.add_column(column, justify="left" if column == "zone" else "right")
    counts = zone_counts(
        ((a.zone, a.declared_id) for a in analysis.assets), (d["zone"] for d in missing)
    )
    for zone, row in counts.items():
        undeclared = Text(str(row["undeclared"]), style="red" if row["undeclared"] else "")
        table.add_row(
            zone, str(row["seen"]), str(row["declared"]), undeclared, str(row["not seen"])
        )
    return table


def _not_seen_lines(missing: list[dict[str, str | None]]) -> Text:
    """Which declared assets were silent, one per line, capped."""
    text = Text(f"Declared, not seen ({len(missing)}):", style="italic")
    for d in missing[:MAX_NOT_SEEN_LINES]:
        where = "  ".join(x for x in (d["ip"], d["mac"]) if x)
        text.append(f"\n  {d['id']}  {where}  ({d['zone'] or OUTSIDE_ZONES})")
    if len(missing) > MAX_NOT_SEEN_LINES:
        text.append(f"\n  +{len(missing) - MAX_NOT_SEEN_LINES} more in the site file")
    return text


def _asset_columns(width: int, has_site: bool) -> list[str]:
    """Today's columns on a wide terminal; fewer, folded ones on a narrow one."""
    if width >= WIDE:
        columns = ["id", "zone", "mac", "ip", "vendor", "name / identity", "protocols"]
    elif width >= NARROW:
        columns = ["id", "zone", "mac", "ip", "vendor", "name / identity"]
    else:
        columns = ["id", "zone", "mac / ip", "vendor / name"]
    # without a site file every asset would read "-": nothing can be declared
    return columns + ["declared as"] if has_site else columns


def _asset_cells(asset, has_site: bool, wide: bool) -> dict[str, str]:
    ident = ", ".join(
        str(v)
        for k, v in asset.identity.items()
        if k in ("product", "model", "station_name", "description")
    )
    name = ", ".join(asset.hostnames[:2] + ([ident] if ident else []))
    ip = (asset.ips[0] if asset.ips else "") + (
        f" +{len(asset.ips) - 1}" if len(asset.ips) > 1 else ""
    )
    cells = {
        "id": asset.id,
        "zone": asset.zone or "",
        "mac": asset.mac or "",
        "ip": ip,
        "vendor": (asset.vendor or "")[: 28 if wide else 16],
        "name / identity": name[: 48 if wide else 32],
        "protocols": ", ".join(asset.protocols[:5]),
        "declared as": asset.declared_id or ("-" if not has_site else "UNDECLARED"),
    }
    # folded here, at a MAC's width, so that rich never narrows the column below a MAC
    cells["mac / ip"] = "\n".join(x for x in (asset.mac, *_fold(ip, MAC_WIDTH)) if x)
    cells["vendor / name"] = "\n".join(x for x in ((asset.vendor or "")[:28], name[:48]) if x)
    return cells


def _fold(text: str, width: int) -> list[str]:
    return [text[i : i + width] for i in range(0, len(text), width)]


def _assets_table(analysis, width: int) -> Table:
    """The inventory; the narrower the terminal, the fewer columns, so each stays readable."""
    has_site = analysis.site is not None
    wide = width >= WIDE
    table = Table(title=f"Assets ({len(analysis.assets)})", title_justify="left")
    columns = _asset_columns(width, has_site)
    for column in columns:
        table.add_column(
            column,
            no_wrap=column in ("id", "mac", "ip", "mac / ip"),
            overflow="fold",
        )
    for asset in analysis.assets[:MAX_ASSET_ROWS]:
        cells = _asset_cells(asset, has_site, wide)
        style = "" if asset.declared_id or not has_site else "red"
        table.add_row(*(cells[c] for c in columns), style=style)
    if len(analysis.assets) > MAX_ASSET_ROWS:
        table.caption = f"{len(analysis.assets) - MAX_ASSET_ROWS} more in the JSON/HTML report"
    return table


def _findings_block(analysis) -> Group:
    """One entry per finding: severity, kind and title, then where and the first evidence.

    A list rather than a table: titles and evidence are sentences, and a
    seven-column table is unreadable in an 80-column terminal.
    """
    lines: list[Text] = [Text(f"Findings ({len(analysis.findings)})", style="italic")]
    by_address = AssetIndex(analysis.assets)
    for f in analysis.findings[:MAX_FINDINGS_SHOWN]:
        head = Text("  ")
        head.append(f" {f.severity.upper():<8} ", style=SEVERITY_STYLE[f.severity])
        head.append(f" {f.id}  ", style="bold")
        head.append(f"{f.kind:<20}", style="magenta")
        head.append(f.title)
        lines.append(head)
        where = Text("             ", style="dim")
        where.append(f"asset {_asset_text(f, by_address)}", style="dim")
        if f.peer_ip or f.peer_name:
            peer = " ".join(x for x in (f.peer_name, f.peer_ip) if x)
            peer += f":{f.peer_port}" if f.peer_port else ""
            where.append(f"  peer {peer}", style="dim")
        if f.attack_ics:
            where.append(f"  ATT&CK {', '.join(f.attack_ics)}", style="dim")
        if f.related:
            where.append(f"  see also {', '.join(f.related)}", style="dim")
        lines.append(where)
        if f.evidence:
            first = f.evidence[0]
            more = f" (+{len(f.evidence) - 1} more)" if len(f.evidence) > 1 else ""
            lines.append(Text(f"             {_ts(first.ts)}  {first.detail}{more}", style="dim"))
    if len(analysis.findings) > MAX_FINDINGS_SHOWN:
        rest = Counter(f.severity for f in analysis.findings[MAX_FINDINGS_SHOWN:])
        more = ", ".join(f"{rest[s]} {s}" for s in SEVERITIES if rest[s])
        lines.append(
            Text(
                f"  {len(analysis.findings) - MAX_FINDINGS_SHOWN} more ({more}): see the JSON,"
                " HTML or CSV report",
                style="italic",
            )  # fmt: skip
        )
    if not analysis.findings:
        lines.append(Text("  none"))
    return Group(*lines)


def _asset_text(f, by_address: AssetIndex) -> str:
    """'sts-06-plc (a-0012, sts-06) 10.20.6.10 5c:21:67:96:c8:da': the name a reader assigns work by.

    The site file's id when the asset is declared, else the inventory id; then its zone.
    """
    addresses = " ".join(x for x in (f.asset_ip, f.asset_mac) if x) or "-"
    asset = by_address.mac(f.asset_mac) or by_address.ip(f.asset_ip)
    if asset is None:
        return addresses
    name = asset.declared_id or asset.id
    extra = ", ".join(x for x in (asset.id if asset.declared_id else None, asset.zone) if x)
    return f"{name}{f' ({extra})' if extra else ''} {addresses}"


def _summary_line(analysis) -> Text:
    counts = Counter(f.severity for f in analysis.findings)
    text = Text(f"{len(analysis.assets)} assets, {len(analysis.flows)} flows, findings: ")
    parts = [(f"{counts[s]} {s}", SEVERITY_STYLE[s]) for s in SEVERITIES if counts[s]]
    if not parts:
        text.append("none")
    for i, (label, style) in enumerate(parts):
        text.append(("" if i == 0 else ", ") + label, style=style)
    return text
