"""The atheris side of every fuzz_<target>.py: instrument cranewatch, then fuzz one target."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import targets  # noqa: E402


def main(target: str) -> None:
    """libFuzzer over `targets.load(target)`; argv is passed through to libFuzzer.

    Only cranewatch is instrumented: coverage of numpy, pydantic or ruamel
    would drown the signal from our own branches.
    """
    import atheris

    with atheris.instrument_imports(include=["cranewatch"]):
        one = targets.load(target)
    atheris.Setup(sys.argv, one)
    atheris.Fuzz()
