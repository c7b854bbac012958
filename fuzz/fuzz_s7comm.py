#!/usr/bin/env python3
"""Fuzz decode/s7comm.py parse(data).

Run: python fuzz/fuzz_s7comm.py [libFuzzer options] [corpus dirs]; or fuzz/run.py for all.
"""

from _harness import main

if __name__ == "__main__":
    main("s7comm")
