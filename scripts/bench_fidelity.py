#!/usr/bin/env python3
"""Multi-fidelity benchmark: compute to reach full-budget random search's score.

The benchmark is ``benchlib/fidelity.py`` (its docstring says what it runs and prints); this
file starts it. Run from the repository root (needs the ``bench`` extra: optuna)::

    .venv/bin/python scripts/bench_fidelity.py --quick       # smoke run (about a minute)
    .venv/bin/python scripts/bench_fidelity.py --help
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's orchestrator
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib, beside this file

from benchlib import fidelity

if __name__ == "__main__":
    raise SystemExit(fidelity.main())
