"""Side-by-side benchmark: cranewatch analyze against tshark, a dpkt loop, tcpdump and cat.

Every tool reads the same capture in the same run, round-robin, each timed by
`/usr/bin/time -v` (wall clock and peak RSS); the table shows medians, so a
noisy shared machine moves all tools alike and the ratios stay meaningful.

    python bench/run.py                       # generates bench/data/ot5m.pcap if missing
    python bench/run.py --repeat 5 --slow-repeat 1 --large --rotated --churn --out bench/data/results.md

Rows: `cat` (disk), `tcpdump -r F -w /dev/null`, full `cranewatch analyze F
--json out -q` (inventory, flows, app fields, all detectors, JSON), `tshark -r F
-q -z conv,ip`, the dpkt flow loop (bench/dpkt_flows.py); optionally the 4x
file (RSS must not grow with length), two captures on two cores against one,
a 10k-packet capture (start-up cost), the file cut into 1,000 rotated
files as `tcpdump -C` writes them (`--rotated`: the cost of many files), and
a million short DNS connections (`--churn`: the cost of folding, bench/churn.py).
When numba is installed, two rows measure the issue's fused-kernel technique
on this machine (bench/fused_kernel.py): the flow table alone, and with the
least of cranewatch's other per-packet work (`--scan`).
Python tools run with the bytecode cache on (`tool_env`), after one untimed
warm-up run of cranewatch.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
PY = sys.executable


@dataclass
class Row:
    """One tool's runs on one input."""

    name: str
    cmd: list[str]
    packets: int
    size: int
    runs: list[tuple[float, int]] = field(default_factory=list)  # (wall s, peak RSS KiB)

    @property
    def wall(self) -> float:
        # GNU time counts in hundredths: keep ratios finite for very fast tools
        return max(0.01, statistics.median(w for w, _ in self.runs))

    @property
    def rss_mb(self) -> float:
        return max(r for _, r in self.runs) / 1024


def tool_env() -> dict[str, str]:
    """This environment, with Python's bytecode cache on, as for an installed package.

    Why: a shell with PYTHONDONTWRITEBYTECODE set (some containers and CI
    images set it) makes every Python run compile its modules from source
    again: 0.07 s per cranewatch process, and the dpkt loop's too. pip
    compiles an installed package's bytecode once; users run with it.
    """
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def timed(cmd: list[str]) -> tuple[float, int]:
    """Wall seconds and peak RSS (KiB) of one command, from GNU time -v."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as log:
        proc = subprocess.run(
            ["/usr/bin/time", "-v", "-o", log.name, *cmd],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=tool_env(),
        )
        text = Path(log.name).read_text()
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time .*: (?:(\d+):)?(\d+):([\d.]+)", text)
    h, m, s = (float(x) if x else 0.0 for x in wall.groups())
    rss = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", text).group(1))
    return h * 3600 + m * 60 + s, rss


def count_packets(path: Path) -> int:
    """Records in the capture (cranewatch's reader: it is the fast one)."""
    from cranewatch.sources import open_capture

    capture = open_capture(path)
    return sum(len(batch) for batch in capture.batches())


def ensure_capture(path: Path, packets: int, seed: int) -> Path:
    if not path.exists():
        print(f"generating {path} ({packets:,} packets)...", file=sys.stderr)
        subprocess.run(
            [PY, str(HERE / "generate.py"), "--packets", str(packets), "--seed", str(seed),
             "--out", str(path), "-q"],
            check=True,
        )  # fmt: skip
    return path


def ensure_rotated(path: Path, files: int) -> list[Path]:
    """`path` cut into `files` consecutive pcaps, as `tcpdump -C` writes a long capture."""
    folder = path.with_name(f"{path.stem}-rot{files}")
    out = [folder / f"{path.stem}.{k:04d}.pcap" for k in range(files)]
    if all(p.exists() for p in out):
        return out
    print(f"cutting {path} into {files} files...", file=sys.stderr)
    folder.mkdir(exist_ok=True)
    data = memoryview(path.read_bytes())
    offsets, p = [], 24
    while p + 16 <= len(data):
        offsets.append(p)
        p += 16 + int.from_bytes(data[p + 8 : p + 12], "little")
    cuts = [offsets[len(offsets) * k // files] for k in range(files)] + [len(data)]
    for k, target in enumerate(out):
        target.write_bytes(bytes(data[:24]) + bytes(data[cuts[k] : cuts[k + 1]]))
    return out


def cranewatch_cmd(paths: list[Path], json_out: Path) -> list[str]:
    exe = shutil.which("cranewatch")
    base = [exe] if exe else [PY, "-m", "cranewatch"]
    return [*base, "analyze", *map(str, paths), "--json", str(json_out), "-q"]


def kernel_rows(path: Path, n: int, size: int, wanted: bool) -> list[Row]:
    """The fused numba kernel's two rows, when numba imports (it is no dependency of ours)."""
    if not wanted:
        return []
    if importlib.util.find_spec("numba") is None:
        print("numba is not installed: no fused-kernel rows (pip install numba)", file=sys.stderr)
        return []
    cmd = [PY, str(HERE / "fused_kernel.py"), str(path)]
    subprocess.run([*cmd, "--scan"], stdout=subprocess.DEVNULL, check=True)  # compile, cache
    return [
        Row(FLOW_KERNEL, cmd, n, size),
        Row(SCAN_KERNEL, [*cmd, "--scan"], n, size),
    ]


SLOW = {"tshark -q -z conv,ip", "dpkt flow loop"}
FLOW_KERNEL = "numba kernel: flow table"
SCAN_KERNEL = "numba kernel: + hosts, scan"


def run_rows(rows: list[Row], repeat: int, slow: set[str], slow_repeat: int) -> None:
    """Round-robin: every round runs each tool once, so load spikes hit all of them."""
    for round_no in range(repeat):
        for row in rows:
            if row.name in slow and round_no >= slow_repeat:
                continue
            row.runs.append(timed(row.cmd))
            w, r = row.runs[-1]
            print(f"  round {round_no + 1}: {row.name:28s} {w:8.2f} s {r / 1024:8.0f} MB",
                  file=sys.stderr)  # fmt: skip


def table(rows: list[Row], ref: Row) -> str:
    head = (
        f"| {'tool':28s} | {'wall s':>8s} | {'packets/s':>11s} | {'MB/s':>7s} | "
        f"{'peak RSS MB':>11s} | {'x cranewatch':>12s} | runs |"
    )
    lines = [head, "|" + "|".join("-" * (len(c) + 0) for c in head.split("|")[1:-1]) + "|"]
    for row in rows:
        ratio = row.wall / ref.wall
        lines.append(
            f"| {row.name:28s} | {row.wall:8.2f} | {row.packets / row.wall:11,.0f} | "
            f"{row.size / row.wall / 1e6:7.0f} | {row.rss_mb:11.0f} | {ratio:12.2f} | "
            f"{len(row.runs):4d} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--file", type=Path, default=DATA / "ot5m.pcap")
    ap.add_argument("--packets", type=int, default=5_000_000, help="when generating --file")
    ap.add_argument("--repeat", type=int, default=3, help="rounds of the fast tools")
    ap.add_argument("--slow-repeat", type=int, default=1, help="rounds of tshark and dpkt")
    ap.add_argument("--skip", action="append", default=[],
                    help="tshark, dpkt, tcpdump, cat, kernel")  # fmt: skip
    ap.add_argument("--large", action="store_true", help="also a 4x file (RSS growth)")
    ap.add_argument("--rotated", action="store_true", help="also the file cut in 1,000 files")
    ap.add_argument("--churn", action="store_true", help="also 1M short DNS connections")
    ap.add_argument("--no-extras", action="store_true", help="no two-core or 10k-packet rows")
    ap.add_argument("--out", type=Path, help="also write the report (markdown) here")
    args = ap.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="cwbench-"))
    path = ensure_capture(args.file, args.packets, seed=1)
    n, size = count_packets(path), path.stat().st_size
    print(f"{path}: {n:,} packets, {size / 1e6:,.0f} MB; warming the page cache", file=sys.stderr)
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)

    cw = Row("cranewatch analyze (full)", cranewatch_cmd([path], work / "a.json"), n, size)
    rows = [cw]
    candidates = {
        "cat": Row("cat > /dev/null", ["cat", str(path)], n, size),
        "tcpdump": Row("tcpdump -r F -w /dev/null", ["tcpdump", "-r", str(path), "-w", "/dev/null"],
                       n, size),
        "tshark": Row("tshark -q -z conv,ip", ["tshark", "-r", str(path), "-q", "-z", "conv,ip"],
                      n, size),
        "dpkt": Row("dpkt flow loop", [PY, str(HERE / "dpkt_flows.py"), str(path)], n, size),
    }  # fmt: skip
    for name, row in candidates.items():
        if name not in args.skip and (name == "dpkt" or shutil.which(row.cmd[0])):
            rows.append(row)
    rows += kernel_rows(path, n, size, "kernel" not in args.skip)
    small = ensure_capture(DATA / "ot10k.pcap", 10_000, seed=3)
    extras: list[Row] = []
    if not args.no_extras:
        second = ensure_capture(path.with_name(path.stem + "-b.pcap"), args.packets, seed=2)
        n2 = count_packets(second)
        extras.append(
            Row("cranewatch --jobs 1 (one core)",
                [*cranewatch_cmd([path], work / "f.json"), "--jobs", "1"], n, size)
        )  # fmt: skip
        extras.append(
            Row("cranewatch, 2 captures/2 cores", cranewatch_cmd([path, second], work / "b.json"),
                n + n2, size + second.stat().st_size)
        )  # fmt: skip
        extras.append(
            Row("cranewatch, 10k packets", cranewatch_cmd([small], work / "c.json"),
                count_packets(small), small.stat().st_size)
        )  # fmt: skip
        help_cmd = [*cranewatch_cmd([small], work / "d.json")[:-5], "--help"]
        extras.append(Row("cranewatch --help", help_cmd, 1, 1))
    if args.large:
        big = ensure_capture(path.with_name(path.stem + "-x4.pcap"), 4 * args.packets, seed=4)
        extras.append(
            Row("cranewatch analyze, 4x file", cranewatch_cmd([big], work / "e.json"),
                count_packets(big), big.stat().st_size)
        )  # fmt: skip

    if args.rotated:
        parts = ensure_rotated(path, 1000)
        extras.append(
            Row("cranewatch, same in 1,000 files", cranewatch_cmd(parts, work / "g.json"), n, size)
        )  # fmt: skip

    if args.churn:
        churn = DATA / "churn1m.pcap"
        if not churn.exists():
            print(f"generating {churn}...", file=sys.stderr)
            subprocess.run([PY, str(HERE / "churn.py"), "--out", str(churn)], check=True)
        extras.append(
            Row("cranewatch, 1M DNS connections", cranewatch_cmd([churn], work / "h.json"),
                count_packets(churn), churn.stat().st_size)
        )  # fmt: skip

    print("warm-up run (writes the bytecode cache; not timed)", file=sys.stderr)
    timed(cranewatch_cmd([small], work / "warm.json"))
    started = time.monotonic()
    run_rows(rows + extras, args.repeat, SLOW, args.slow_repeat)
    report = [
        f"capture: {path.name}, {n:,} packets, {size / 1e6:,.0f} MB; "
        f"medians of {args.repeat} rounds ({args.slow_repeat} for tshark and dpkt); "
        f"{os.cpu_count()} cores; {time.monotonic() - started:.0f} s in all",
        "",
        table(rows, cw),
    ]
    if extras:
        report += ["", table(extras, cw)]
    report += ["", *checks(rows, extras, cw)]
    text = "\n".join(report)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    shutil.rmtree(work, ignore_errors=True)
    return 0


def checks(rows: list[Row], extras: list[Row], cw: Row) -> list[str]:
    """The issue's targets, each with the measured value."""
    by = {r.name: r for r in rows + extras}
    out = []

    def check(label: str, value: float, ok: bool, unit: str = "") -> None:
        out.append(f"- [{'x' if ok else ' '}] {label}: {value:,.2f}{unit}")

    if "tshark -q -z conv,ip" in by:
        r = by["tshark -q -z conv,ip"].wall / cw.wall
        check("analyze >= 20x faster than tshark conv,ip", r, r >= 20, "x")
    if "dpkt flow loop" in by:
        r = by["dpkt flow loop"].wall / cw.wall
        check("analyze >= 30x faster than the dpkt loop", r, r >= 30, "x")
    pps = cw.packets / cw.wall
    check("analyze >= 1.5M packets/s end to end", pps / 1e6, pps >= 1.5e6, "M")
    check("peak RSS <= 1 GiB", cw.rss_mb, cw.rss_mb <= 1024, " MB")
    if "cranewatch analyze, 4x file" in by:
        growth = by["cranewatch analyze, 4x file"].rss_mb / cw.rss_mb - 1
        check("RSS on the 4x file within 10%", 100 * growth, growth <= 0.10, " %")
    if "cranewatch, 10k packets" in by:
        w = by["cranewatch, 10k packets"].wall
        check("10k-packet analyze under 1.5 s", w, w < 1.5, " s")
    if "cranewatch, 2 captures/2 cores" in by and "cranewatch --jobs 1 (one core)" in by:
        two, one = by["cranewatch, 2 captures/2 cores"], by["cranewatch --jobs 1 (one core)"]
        r = (two.packets / two.wall) / (one.packets / one.wall)
        check("two captures on two cores >= 1.6x one-core throughput", r, r >= 1.6, "x")
    for name in (FLOW_KERNEL, SCAN_KERNEL):
        if name in by:
            speed = [f"{by[ref].wall / by[name].wall:.2f}x {ref.split()[0]}"
                     for ref in sorted(SLOW) if ref in by]  # fmt: skip
            out.append(f"- (not a target) {name}, one core: {', '.join(speed) or 'no baseline'}")
    return out


if __name__ == "__main__":
    sys.exit(main())
