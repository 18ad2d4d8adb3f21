#!/usr/bin/env python3
"""Overhead benchmark: sweep versus other ways to run trials versus the physical minimum.

The benchmark is ``benchlib/overhead.py`` (its docstring says what it runs and prints); this
file starts it. Run from the repository root::

    .venv/bin/python scripts/bench_overhead.py --quick    # smoke run (seconds)
    .venv/bin/python scripts/bench_overhead.py --help
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's orchestrator
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib, beside this file

from benchlib import overhead

if __name__ == "__main__":
    raise SystemExit(overhead.main())
