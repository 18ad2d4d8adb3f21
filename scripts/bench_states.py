#!/usr/bin/env python3
"""What handing a training state from rung to rung costs (see ``benchlib/states.py``).

Run from the repository root::

    .venv/bin/python scripts/bench_states.py
    .venv/bin/python scripts/bench_states.py --help
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's orchestrator
sys.path.insert(0, str(Path(__file__).resolve().parent))  # benchlib, beside this file

from benchlib import states

if __name__ == "__main__":
    raise SystemExit(states.main())
