"""The terminal report: what was read, what is on the wire, what is wrong."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime

from rich.console import Console, Group
from rich.table import Table
from rich.text import Text

from cranewatch.detect.model import SEVERITIES

SEVERITY_STYLE = {
    "critical": "bold white on red",
    "high": "bold red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}
MAX_ASSET_ROWS = 60


def render(analysis, console: Console) -> None:
    """Print inputs, assets per zone, the asset list and the findings."""
    console.print(_inputs_table(analysis))
    console.print(_zones_table(analysis))
    console.print(_assets_table(analysis, wide=console.width >= 130))
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
            column, justify="right" if column in ("packets", "bytes", "errors") else "left"
        )
    for s in analysis.inputs:
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
    return table


def _zones_table(analysis) -> Table:
    """Per zone: declared and seen, undeclared, declared but silent."""
    table = Table(title="Assets per zone", title_justify="left")
    for column in ("zone", "assets seen", "declared", "undeclared", "declared, not seen"):
        table.add_column(column, justify="left" if column == "zone" else "right")
    seen: dict[str, Counter] = defaultdict(Counter)
    for asset in analysis.assets:
        zone = asset.zone or "(outside zones)"
        seen[zone]["seen"] += 1
        seen[zone]["declared" if asset.declared_id else "undeclared"] += 1
    silent: Counter = Counter()
    if analysis.site is not None:
        present = {a.declared_id for a in analysis.assets if a.declared_id}
        for declared in analysis.site.assets:
            if declared.id not in present:
                silent[declared.zone or "(outside zones)"] += 1
    for zone in sorted(set(seen) | set(silent)):
        counts = seen[zone]
        undeclared = Text(
            str(counts["undeclared"]), style="red" if counts["undeclared"] and analysis.site else ""
        )
        table.add_row(
            zone, str(counts["seen"]), str(counts["declared"]), undeclared, str(silent[zone])
        )
    return table


def _assets_table(analysis, wide: bool) -> Table:
    """The inventory; on a narrow terminal the protocol column gives way to the rest."""
    table = Table(title=f"Assets ({len(analysis.assets)})", title_justify="left")
    columns = ["id", "zone", "mac", "ip", "vendor", "name / identity", "protocols", "declared as"]
    if not wide:
        columns.remove("protocols")
    for column in columns:
        table.add_column(column, no_wrap=column in ("id", "mac", "ip"), overflow="fold")
    for asset in analysis.assets[:MAX_ASSET_ROWS]:
        ident = ", ".join(
            str(v)
            for k, v in asset.identity.items()
            if k in ("product", "model", "station_name", "description")
        )
        name = ", ".join(asset.hostnames[:2] + ([ident] if ident else []))
        style = "" if asset.declared_id or analysis.site is None else "red"
        cells = {
            "id": asset.id,
            "zone": asset.zone or "",
            "mac": asset.mac or "",
            "ip": (asset.ips[0] if asset.ips else "")
            + (f" +{len(asset.ips) - 1}" if len(asset.ips) > 1 else ""),
            "vendor": (asset.vendor or "")[: 28 if wide else 16],
            "name / identity": name[: 48 if wide else 32],
            "protocols": ", ".join(asset.protocols[:5]),
            "declared as": asset.declared_id or ("-" if analysis.site is None else "UNDECLARED"),
        }
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
    for f in analysis.findings:
        head = Text("  ")
        head.append(f" {f.severity.upper():<8} ", style=SEVERITY_STYLE[f.severity])
        head.append(f" {f.id}  ", style="bold")
        head.append(f"{f.kind:<20}", style="magenta")
        head.append(f.title)
        lines.append(head)
        where = Text("             ", style="dim")
        asset = " ".join(x for x in (f.asset_ip, f.asset_mac) if x)
        where.append(f"asset {asset or '-'}", style="dim")
        if f.peer_ip or f.peer_name:
            peer = " ".join(x for x in (f.peer_name, f.peer_ip) if x)
            peer += f":{f.peer_port}" if f.peer_port else ""
            where.append(f"  peer {peer}", style="dim")
        if f.attack_ics:
            where.append(f"  ATT&CK {', '.join(f.attack_ics)}", style="dim")
        lines.append(where)
        if f.evidence:
            first = f.evidence[0]
            more = f" (+{len(f.evidence) - 1} more)" if len(f.evidence) > 1 else ""
            lines.append(Text(f"             {_ts(first.ts)}  {first.detail}{more}", style="dim"))
    if not analysis.findings:
        lines.append(Text("  none"))
    return Group(*lines)


def _summary_line(analysis) -> Text:
    counts = Counter(f.severity for f in analysis.findings)
    text = Text(f"{len(analysis.assets)} assets, {len(analysis.flows)} flows, findings: ")
    parts = [(f"{counts[s]} {s}", SEVERITY_STYLE[s]) for s in SEVERITIES if counts[s]]
    if not parts:
        text.append("none")
    for i, (label, style) in enumerate(parts):
        text.append(("" if i == 0 else ", ") + label, style=style)
    return text
