#!/usr/bin/env python3
"""Fuzz decode/nbns.py parse(data).

Run: python fuzz/fuzz_nbns.py [libFuzzer options] [corpus dirs]; or fuzz/run.py for all.
"""

from _harness import main

if __name__ == "__main__":
    main("nbns")
