"""Command line: parse options, call the pipeline, choose the exit code.

Every error a user can cause ends here as one line on stderr and exit 2;
nothing below prints a traceback.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from cranewatch import __version__
from cranewatch.errors import EXIT_FAIL_ON, EXIT_INTERRUPTED, EXIT_USAGE, CranewatchError

app = typer.Typer(
    name="cranewatch",
    help=(
        "Find what should not be inside a port's crane and terminal networks: hidden cellular "
        "modems, rogue gateways, undeclared devices, remote access, beaconing and container data "
        "leaving the site. Passive: reads captures, never sends a packet.\n\n"
        "Start with `cranewatch demo`, then `cranewatch analyze your.pcap --site site.yaml`."
    ),
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


class Severity(StrEnum):
    critical = "critical"
    high = "high"
    medium = "medium"
    low = "low"
    info = "info"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"cranewatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """cranewatch: passive crane and terminal network inspection."""


@app.command()
def analyze(
    captures: Annotated[
        list[Path],
        typer.Argument(
            metavar="CAPTURE",
            help="pcap or pcapng files, optionally gzip-compressed (format is detected from the"
            " bytes), or folders of them: every capture below a folder, in name order with numbers"
            " as numbers (dump2 before dump10), as rotated captures were written.",
        ),
    ],
    site: Annotated[
        Path | None,
        typer.Option(
            "--site",
            "-s",
            metavar="FILE",
            help="Site file (YAML): zones, declared assets, allowed conduits.",
        ),
    ] = None,
    json_out: Annotated[
        str | None,
        typer.Option(
            "--json", "-j", metavar="FILE", help="Write findings JSON here ('-' for stdout)."
        ),
    ] = None,
    fail_on: Annotated[
        Severity | None,
        typer.Option("--fail-on", help="Exit 1 when a finding of this severity or worse is found."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No progress bar and no terminal report.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", metavar="FILE", help="Write a self-contained HTML report (works offline)."
        ),
    ] = None,
    csv_dir: Annotated[
        Path | None,
        typer.Option(
            "--csv", metavar="DIR", help="Write assets.csv, flows.csv, findings.csv here."
        ),
    ] = None,
    stix: Annotated[
        Path | None,
        typer.Option(
            "--stix", metavar="FILE", help="Write the findings as a STIX 2.1 bundle (JSON)."
        ),
    ] = None,
    evidence: Annotated[
        Path | None,
        typer.Option(
            "--evidence",
            metavar="DIR",
            help="Write one small pcap per finding with its packets here.",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            min=1,
            metavar="N",
            help="Processes reading captures (default: one per core for 64 MB or more; "
            "1 reads everything in this process).",
        ),
    ] = None,
) -> None:
    """Inventory and findings from captures, judged against the site file.

    Examples:

      cranewatch analyze span.pcap.gz --site site.yaml --json findings.json

      cranewatch analyze day1.pcapng day2.pcapng --fail-on high

      cranewatch analyze /captures/span-ring/ --site site.yaml --json findings.json

      cranewatch analyze crane3.pcap --site site.yaml --html report.html --evidence evidence/
    """
    from cranewatch.run import Outputs, run_analysis

    outputs = Outputs(json=json_out, html=html, csv=csv_dir, stix=stix, evidence=evidence)
    code = _guarded(
        lambda: run_analysis(
            captures,
            site,
            outputs,
            fail_on=fail_on.value if fail_on else None,
            quiet=quiet,
            jobs=jobs,
        )
    )
    raise typer.Exit(code)


@app.command()
def report(
    findings: Annotated[
        Path,
        typer.Argument(
            metavar="FINDINGS",
            help="A findings JSON written by `analyze --json` ('-' reads standard input).",
        ),
    ],
    html: Annotated[
        Path | None, typer.Option("--html", metavar="FILE", help="Write the HTML report here.")
    ] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv", metavar="DIR", help="Write the CSV files here.")
    ] = None,
    stix: Annotated[
        Path | None, typer.Option("--stix", metavar="FILE", help="Write a STIX 2.1 bundle here.")
    ] = None,
) -> None:
    """Render reports from a saved findings file, without the capture.

    Example:

      cranewatch report findings.json --html report.html --stix bundle.json
    """
    from cranewatch.run import Outputs, run_report

    outputs = Outputs(html=html, csv=csv_dir, stix=stix)
    raise typer.Exit(_guarded(lambda: run_report(findings, outputs)))


@app.command()
def simulate(
    out: Annotated[
        Path,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Folder for capture.pcap, site.yaml and truth.json."
        ),
    ],
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Same seed, same bytes.")] = 1,
    duration: Annotated[
        float, typer.Option("--duration", metavar="SECONDS", help="Seconds of traffic to simulate.")
    ] = 600.0,
    scale: Annotated[
        float,
        typer.Option(
            "--scale", metavar="FACTOR", help="Multiply the number of cranes and the traffic."
        ),
    ] = 1.0,
) -> None:
    """Write a simulated container-terminal capture with planted anomalies, and its site file."""
    from cranewatch.simulate import simulate as run_simulation

    def go() -> int:
        result = run_simulation(out, seed=seed, duration=duration, scale=scale)
        typer.echo(
            f"wrote {result.capture} ({result.packets} packets), {result.site}, {result.truth}"
        )
        return 0

    raise typer.Exit(_guarded(go))


@app.command()
def demo(
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", metavar="DIR", help="Keep the simulated capture and findings here."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", metavar="N", help="Scenario seed.")] = 1,
) -> None:
    """Simulate a container terminal with planted anomalies, then analyze it. No input needed."""
    from cranewatch.run import run_demo

    raise typer.Exit(_guarded(lambda: run_demo(out, seed)))


def _guarded(work) -> int:
    """Run a command body; turn user errors and Ctrl-C into one line and an exit code."""
    try:
        return int(work() or 0)
    except CranewatchError as exc:
        typer.echo(f"cranewatch: error: {exc}", err=True)
        return exc.exit_code
    except KeyboardInterrupt as exc:
        after = f" after {exc.progress}" if getattr(exc, "progress", "") else ""
        written, cut = getattr(exc, "written", []), getattr(exc, "cut", [])
        outcome = (
            f"complete before it: {', '.join(written)}; no other output was written"
            if written
            else "no output file was written"
        )
        folders = [c for c in cut if Path(c).is_dir()]  # a file being written is not left
        if folders:
            outcome += f" but part of {', '.join(folders)}"
        typer.echo(f"cranewatch: interrupted{after}; {outcome}", err=True)
        return EXIT_INTERRUPTED
    except OSError as exc:
        name = exc.filename if exc.filename is not None else ""
        typer.echo(f"cranewatch: error: {name}: {exc.strerror or exc}", err=True)
        return EXIT_USAGE
    except MemoryError:
        typer.echo("cranewatch: error: out of memory; try --jobs 1 or fewer captures", err=True)
        return EXIT_USAGE


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        typer.echo("cranewatch: interrupted", err=True)
        sys.exit(EXIT_INTERRUPTED)


__all__ = ["app", "main", "EXIT_FAIL_ON"]
