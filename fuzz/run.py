#!/usr/bin/env python3
"""Run the fuzz targets one after another, N seconds each.

    python fuzz/run.py --seconds 600                 # every target, atheris if installed
    python fuzz/run.py --seconds 600 dns tls pcap    # some targets
    python fuzz/run.py --seconds 2 --engine mutate   # no atheris: seeded random mutation

Engines:
  atheris  libFuzzer via atheris (`pip install atheris`), coverage-guided. New
           interesting inputs go to a work folder (not the seed corpus); crashing,
           hanging (-timeout) and memory-hungry (-rss_limit_mb) inputs are saved
           as fuzz/regressions/<target>/crash-*, timeout-*, oom-*.
  mutate   plain-Python mutation of the seeds (bit flips, interesting integers,
           cut/duplicate/splice), deterministic for a given --seed; used by the CI
           smoke test. A failing input is saved the same way with --save.

Exit status: 0 when no target failed, 1 otherwise. One summary line per target.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import targets  # noqa: E402

CORPUS = HERE / "corpus"
REGRESSIONS = HERE / "regressions"
# Inputs larger than this are not tried: big inputs cost speed, not coverage.
MAX_LEN = {"pcap": 16384, "pcapng": 16384, "gzip": 16384, "l2l4": 8192, "site": 8192}
DEFAULT_MAX_LEN = 4096
HANG_SECONDS = 10
# libFuzzer processes of these targets grow by 1-14 KB per input (atheris-side: the
# same loops in plain Python stay flat), so they are restarted this often instead of
# reaching the RSS limit with a false out-of-memory finding.
RUNS_PER_PROCESS = {"l2l4": 100_000, "pcap": 150_000, "pcapng": 500_000, "gzip": 500_000}
RSS_LIMIT_MB = 2048
INTERESTING = (0, 1, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)


def seeds(target: str) -> list[bytes]:
    """Seed corpus plus every saved regression input of a target."""
    out = []
    for folder in (CORPUS / target, REGRESSIONS / target):
        if folder.is_dir():
            out += [p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()]
    return out or [b""]


# ---------------------------------------------------------------- atheris


def run_atheris(target: str, seconds: int, work: Path) -> tuple[bool, str]:
    """libFuzzer for `seconds`; restarted after a finding until the time is used."""
    art = REGRESSIONS / target
    art.mkdir(parents=True, exist_ok=True)
    corpus = work / target
    corpus.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + seconds
    ok, runs, execs = True, 0, 0
    limit = RUNS_PER_PROCESS.get(target)
    while (left := int(deadline - time.monotonic())) > 0 and (runs < 8 or limit):
        runs += 1
        cmd = [
            sys.executable,
            str(HERE / f"fuzz_{target}.py"),
            str(corpus),
            str(CORPUS / target),
            f"-max_total_time={left}",
            f"-timeout={HANG_SECONDS}",
            f"-rss_limit_mb={RSS_LIMIT_MB}",
            f"-max_len={MAX_LEN.get(target, DEFAULT_MAX_LEN)}",
            f"-artifact_prefix={art}/",
            "-print_final_stats=1",
        ]
        if limit:
            cmd.append(f"-runs={limit}")
        log = work / f"{target}.{runs}.log"
        with log.open("w") as fh:
            code = subprocess.call(cmd, stdout=fh, stderr=subprocess.STDOUT)
        text = log.read_text(errors="replace")
        execs += _stat(text, "stat::number_of_executed_units")
        if code != 0:
            ok = False
            print(f"  {target}: finding (exit {code}), log {log}", flush=True)
    return ok, f"{execs} execs in {runs} run(s)"


def _stat(text: str, key: str) -> int:
    for line in text.splitlines():
        if line.startswith(key):
            return int(line.split(":")[-1].strip())
    return 0


# ---------------------------------------------------------------- mutate


def mutate(rng: random.Random, data: bytes, pool: list[bytes], limit: int) -> bytes:
    """One to four random edits of `data` (libFuzzer's simpler mutators, by hand)."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(7)
        pos = rng.randrange(len(buf) + 1)
        if op == 0 and buf:  # flip a bit
            i = rng.randrange(len(buf))
            buf[i] ^= 1 << rng.randrange(8)
        elif op == 1 and buf:  # random byte
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 2:  # interesting integer, 1/2/4 bytes, either order
            width = rng.choice((1, 2, 4))
            value = rng.choice(INTERESTING) & ((1 << (8 * width)) - 1)
            buf[pos : pos + width] = value.to_bytes(width, rng.choice(("big", "little")))
        elif op == 3 and buf:  # cut a range
            end = min(len(buf), pos + rng.randint(1, 64))
            del buf[pos:end]
        elif op == 4 and buf:  # duplicate a range
            start = rng.randrange(len(buf))
            piece = buf[start : start + rng.randint(1, 64)]
            buf[pos:pos] = piece * rng.randint(1, 8)
        elif op == 5:  # splice in part of another seed
            other = rng.choice(pool)
            start = rng.randrange(len(other) + 1)
            buf[pos:] = other[start:]
        else:  # truncate
            del buf[pos:]
    return bytes(buf[:limit])


class Hang(Exception):
    pass


def _alarm(_signum, _frame):
    raise Hang()


def run_mutate(
    target: str, seconds: float, seed: int, save: bool, one: Callable[[bytes], None] | None = None
) -> tuple[bool, str]:
    """Mutate seeds for `seconds`; stop at the first input that raises or hangs."""
    one = one or targets.load(target)
    pool = seeds(target)
    limit = MAX_LEN.get(target, DEFAULT_MAX_LEN)
    rng = random.Random(f"{seed}:{target}")
    deadline = time.monotonic() + seconds
    execs = 0
    use_alarm = hasattr(signal, "SIGALRM") and _main_thread()
    old = signal.signal(signal.SIGALRM, _alarm) if use_alarm else None
    try:
        for data in pool:  # seeds and regressions first, unmutated
            execs += 1
            problem = _try(one, data, use_alarm)
            if problem:
                return False, _failed(target, data, problem, save)
        while time.monotonic() < deadline:
            data = mutate(rng, rng.choice(pool), pool, limit)
            execs += 1
            problem = _try(one, data, use_alarm)
            if problem:
                return False, _failed(target, data, problem, save)
    finally:
        if use_alarm:
            signal.alarm(0)
            signal.signal(signal.SIGALRM, old)
    return True, f"{execs} execs"


def _main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _try(one, data: bytes, use_alarm: bool) -> str | None:
    if use_alarm:
        signal.alarm(HANG_SECONDS)
    try:
        one(data)
    except Hang:
        return f"hang: over {HANG_SECONDS} s"
    except Exception:
        return traceback.format_exc(limit=-3)
    finally:
        if use_alarm:
            signal.alarm(0)
    return None


def _failed(target: str, data: bytes, problem: str, save: bool) -> str:
    kind = "timeout" if problem.startswith("hang") else "crash"
    where = ""
    if save:
        folder = REGRESSIONS / target
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{kind}-{hashlib.sha1(data).hexdigest()}"
        path.write_bytes(data)
        where = f" saved {path}"
    return f"{kind} on {len(data)} bytes{where}\n{problem}"


# ---------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("targets", nargs="*", help=f"default: all of {', '.join(targets.TARGETS)}")
    ap.add_argument("--seconds", type=float, default=60, help="per target (default 60)")
    ap.add_argument("--engine", choices=("auto", "atheris", "mutate"), default="auto")
    ap.add_argument("--seed", type=int, default=1, help="mutate engine's random seed")
    ap.add_argument("--save", action="store_true", help="mutate: keep failing inputs")
    ap.add_argument("--work", type=Path, default=None, help="atheris work corpus folder")
    args = ap.parse_args(argv)
    names = args.targets or list(targets.TARGETS)
    unknown = [n for n in names if n not in targets.TARGETS]
    if unknown:
        ap.error(f"unknown target(s): {', '.join(unknown)}")
    engine = args.engine
    if engine == "auto":
        try:
            import atheris  # noqa: F401

            engine = "atheris"
        except ImportError:
            engine = "mutate"
    work = args.work or Path(tempfile.mkdtemp(prefix="cranewatch-fuzz-"))
    failed = 0
    for name in names:
        start = time.monotonic()
        if engine == "atheris":
            ok, info = run_atheris(name, max(1, int(args.seconds)), work)
        else:
            ok, info = run_mutate(name, args.seconds, args.seed, args.save)
        took = time.monotonic() - start
        print(f"{name}: {'ok' if ok else 'FAILED'} {engine} {took:.0f}s {info}", flush=True)
        failed += not ok
    if engine == "atheris":
        print(f"work corpus and logs: {work}")
    return 1 if failed else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
