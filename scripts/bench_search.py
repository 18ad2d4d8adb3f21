#!/usr/bin/env python3
"""Search-quality benchmark: how good a configuration each tuner finds in N evaluations.

The benchmark is ``benchlib/search.py`` (its docstring says what it runs and prints); this
file starts it. Run from the repository root (needs the ``bench`` extra: optuna)::

    .venv/bin/python scripts/bench_search.py --quick             # smoke run (~1 minute)
    .venv/bin/python scripts/bench_search.py --help
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's orchestrator
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib, beside this file

from benchlib import search

if __name__ == "__main__":
    raise SystemExit(search.main())
