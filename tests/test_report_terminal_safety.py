"""The terminal report prints wire data as characters, never as markup, emoji or control codes."""

from __future__ import annotations

import io

import pytest

from cranewatch import pipeline
from cranewatch.inventory.site import load_site
from cranewatch.report.terminal import render
from cranewatch.run import _report_console
from cranewatch.simulate import simulate

EVIL = ":skull: [bold red]EVIL[/bold red] [link=http://x]click[/link]\x1b[2J\x07"


@pytest.fixture(scope="module")
def analysis(tmp_path_factory):
    sim = simulate(tmp_path_factory.mktemp("sim"), seed=1, duration=60)
    result = pipeline.analyze([sim.capture], load_site(sim.site))
    result.assets[0].hostnames = [EVIL]
    result.assets[1].mac = "00:0c:29:cd:18:ec"  # ':cd:' is an emoji code
    return result


def test_hostile_hostname_prints_as_text(analysis):
    console = _report_console(stderr=False)
    console.file = io.StringIO()
    console.width = 240
    render(analysis, console)
    out = console.file.getvalue()
    assert "[bold red]EVIL[/bold red]" in out and ":skull:" in out
    assert "\U0001f480" not in out and "\U0001f4bf" not in out
    assert "\x1b" not in out and "\x07" not in out
    assert "00:0c:29:cd:18:ec" in out


def test_a_thousand_inputs_and_many_findings_stay_a_readable_page(analysis):
    """A ring of rotated files printed 1,000 rows; 881 findings printed 5,500 lines."""
    import copy
    import dataclasses

    from cranewatch.report.terminal import MAX_FINDINGS_SHOWN, MAX_INPUT_ROWS

    big = copy.copy(analysis)
    one = analysis.inputs[0]
    big.inputs = [dataclasses.replace(one, path=f"ring/dump{i}", warnings=[]) for i in range(1000)]
    big.inputs[500] = dataclasses.replace(big.inputs[500], errors=3)
    big.findings = analysis.findings * (1 + 2 * MAX_FINDINGS_SHOWN // len(analysis.findings))
    console = _report_console(stderr=False)
    console.file = io.StringIO()
    console.width = 240
    render(big, console)
    out = console.file.getvalue()
    assert sum("ring/dump" in line for line in out.splitlines()) == MAX_INPUT_ROWS
    assert "ring/dump500 " in out  # the damaged one is always listed
    assert f"all 1,000 files ({1000 - MAX_INPUT_ROWS} not listed;" in out
    assert f"{len(big.findings) - MAX_FINDINGS_SHOWN} more (" in out
