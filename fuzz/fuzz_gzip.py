#!/usr/bin/env python3
"""Fuzz the streaming gunzip (sources/gunzip.py) in front of both readers.

Run: python fuzz/fuzz_gzip.py [libFuzzer options] [corpus dirs]; or fuzz/run.py for all.
"""

from _harness import main

if __name__ == "__main__":
    main("gzip")
