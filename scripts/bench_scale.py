#!/usr/bin/env python3
"""Scaling benchmark: how well each tuner keeps W workers busy on heavy-tailed evaluations.

The benchmark is ``benchlib/scale.py`` (its docstring says what it runs and prints); this
file starts it. Run from the repository root (needs the ``bench`` extra: optuna, ray[tune])::

    .venv/bin/python scripts/bench_scale.py --quick    # smoke run (~1 minute)
    .venv/bin/python scripts/bench_scale.py --help
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's orchestrator
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib, beside this file

from benchlib import scale

if __name__ == "__main__":
    raise SystemExit(scale.main())
