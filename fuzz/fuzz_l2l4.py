#!/usr/bin/env python3
"""Fuzz decode/l2l4.py on synthetic batches, then dispatch, payload_scan, flow and host tables.

Run: python fuzz/fuzz_l2l4.py [libFuzzer options] [corpus dirs]; or fuzz/run.py for all.
"""

from _harness import main

if __name__ == "__main__":
    main("l2l4")
