#!/usr/bin/env python3
"""Fuzz decode/pn_dcp.py parse(data).

Run: python fuzz/fuzz_pn_dcp.py [libFuzzer options] [corpus dirs]; or fuzz/run.py for all.
"""

from _harness import main

if __name__ == "__main__":
    main("pn_dcp")
