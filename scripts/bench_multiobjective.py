#!/usr/bin/env python3
"""Multi-objective benchmark: hypervolume at equal evaluations against Optuna.

The benchmark is ``benchlib/multiobjective.py`` (its docstring says what it runs and prints); this
file starts it. Run from the repository root (needs the ``bench`` extra: optuna)::

    .venv/bin/python scripts/bench_multiobjective.py --quick   # a smoke run (about a minute)
    .venv/bin/python scripts/bench_multiobjective.py --help
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's orchestrator
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib, beside this file

from benchlib import multiobjective

if __name__ == "__main__":
    raise SystemExit(multiobjective.main())
