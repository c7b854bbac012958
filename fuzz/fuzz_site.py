#!/usr/bin/env python3
"""Fuzz the site-file loader (inventory/site.py loads_site) on UTF-8 text.

Run: python fuzz/fuzz_site.py [libFuzzer options] [corpus dirs]; or fuzz/run.py for all.
"""

from _harness import main

if __name__ == "__main__":
    main("site")
