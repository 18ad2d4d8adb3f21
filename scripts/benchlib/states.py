"""What continuing costs: a multi-fidelity sweep whose objective hands on a state of S bytes.

A sweep keeps each promotable configuration's state with the round's work on the
coordinator and writes it to the run's storage (so a lost worker, a lost node or a restart
costs nothing). A state therefore travels worker -> coordinator -> storage, and
coordinator -> worker once per promotion. This measures what that costs against the
compute it saves, for states from 1 KB to 64 MB:

- the objective sleeps ``--epoch-ms`` per unit of budget it trains (sleeping costs no CPU,
  so the costs measured are the sweep's own), returns a score and, when continuing, a state
  of S bytes (a float64 numpy array in a dict: stored as ``.npz``);
- ``restart``: the same objective without a state (every promotion trains its whole budget);
- budget 1..27 with eta 3, 2 rounds x 27 configurations, 2 Ray workers, seed 0.

Printed per state size: wall time, the compute slept (sum of the epochs trained x epoch
time), the most state bytes the coordinator held at once (``state_peak_bytes`` in run.json)
and the driver's peak resident memory. Run from the repository root::

    .venv/bin/python scripts/bench_states.py
    .venv/bin/python scripts/bench_states.py --sizes 1000 1000000 --epoch-ms 20
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .methods import local_ray
from .reporting import argument_parser, machine_facts

SIZES = (1_000, 1_000_000, 16_000_000, 64_000_000)
EPOCH_MS = 10.0


@dataclass(frozen=True)
class SleepTraining:
    """Sleeps ``epoch_s`` per unit of budget trained; with ``state_bytes`` it continues."""

    epoch_s: float
    state_bytes: int

    def __call__(self, config: dict[str, Any], budget: float, state: Any = None) -> dict[str, Any]:
        done = 0 if state is None else int(state["epochs"])
        time.sleep(self.epoch_s * (budget - done))
        return {
            "score": (config["x"] - 0.3) ** 2 + 1.0 / budget,
            "trained": budget - done,
            "state": {"epochs": int(budget), "weights": np.zeros(self.state_bytes // 8)},
        }


@dataclass(frozen=True)
class SleepRestarting:
    """The same training from scratch at every rung (no state)."""

    epoch_s: float

    def __call__(self, config: dict[str, Any], budget: float) -> dict[str, Any]:
        time.sleep(self.epoch_s * budget)
        return {"score": (config["x"] - 0.3) ** 2 + 1.0 / budget, "trained": budget}


def run(objective: Any) -> dict[str, Any]:
    from orchestrator import Float, tune

    with tempfile.TemporaryDirectory(prefix="bench-states-") as run_dir:
        t0 = time.perf_counter()
        result = tune(
            objective,
            {"x": Float(0.0, 1.0)},
            mode="min",
            rounds=2,
            samples_per_round=27,
            seed=0,
            budget=(1, 27),
            sampler="random",
            workers=2,
            run_dir=run_dir,
        )
        wall = time.perf_counter() - t0
        meta = json.loads((Path(run_dir) / "run.json").read_text())
    trained = result.table.column("trained").to_pylist()
    return {
        "wall_s": wall,
        "evaluations": result.table.num_rows,
        "epochs_trained": float(sum(trained)),
        "state_peak_bytes": meta.get("state_peak_bytes", 0),
        "driver_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argument_parser(__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="state bytes")
    p.add_argument("--epoch-ms", type=float, default=EPOCH_MS, help="sleep per budget unit")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    epoch_s = args.epoch_ms / 1000
    lines = []
    with local_ray(logging_level=logging.WARNING):
        run(SleepRestarting(0.0))  # warm-up: imports, worker processes
        base = run(SleepRestarting(epoch_s))
        lines.append(("restart (no state)", base))
        for size in args.sizes:
            lines.append((f"continue, {size:,} B", run(SleepTraining(epoch_s, size))))
    print("machine: " + ", ".join(f"{k} {v}" for k, v in machine_facts(["ray"]).items()))
    print(f"epoch {args.epoch_ms:g} ms; 2 rounds x 27, budget 1..27, eta 3, 2 workers")
    print("| objective | wall s | evaluations | epochs trained | peak state held | driver RSS MB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, r in lines:
        print(
            f"| {name} | {r['wall_s']:.2f} | {r['evaluations']} | {r['epochs_trained']:g} | "
            f"{r['state_peak_bytes'] / 1e6:.1f} MB | {r['driver_peak_rss_mb']:.0f} |"
        )
    return 0
