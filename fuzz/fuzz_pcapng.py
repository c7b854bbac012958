#!/usr/bin/env python3
"""Fuzz the pcapng reader (sources/pcapng.py) over in-memory streams, two chunk sizes.

Run: python fuzz/fuzz_pcapng.py [libFuzzer options] [corpus dirs]; or fuzz/run.py for all.
"""

from _harness import main

if __name__ == "__main__":
    main("pcapng")
