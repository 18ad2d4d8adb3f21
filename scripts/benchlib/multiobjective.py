"""Multi-objective benchmark: hypervolume at equal evaluations against Optuna.

Two problems with two objectives, both minimised:

- ``zdt1``: the ZDT1 test function in ``--dims`` dimensions (default 6) on [0, 1]^d,
  f1 = x0, f2 = g (1 - sqrt(f1 / g)), g = 1 + 9 mean(x1..). Its true front is f2 = 1 -
  sqrt(f1) (x1.. = 0), whose hypervolume against the reference point (1.1, 1.1) is
  1.21 - 1/3 = 0.8767; the table gives each method's hypervolume as a share of it.
- ``forest``: ``workers.examples.forest_size``, a random forest on scikit-learn's digits:
  validation error against model size (tree nodes); trees 2-100 (log), depth 2-20,
  max_features 0.05-1. No known front: hypervolume against the reference point (0.2 error,
  8,000 nodes: the part of the front worth shipping) with nodes counted in thousands, as a
  share of the union of every method's fronts over all seeds.

Methods, each given the same number of evaluations (rounds x samples_per_round):

- ``sweep``: ``tune(objectives=..., mode=[min, min])`` with its defaults (the guided sampler,
  the elite box keeping the front), in process;
- ``sweep_random``: the same with uniform draws in the narrowed ranges;
- ``nsga2``: Optuna's NSGAIISampler, population = samples_per_round (so it gets as many
  generations as sweep has rounds);
- ``motpe``: Optuna's TPESampler on the two objectives (its multi-objective TPE);
- ``random``: plain random search (Optuna's RandomSampler).

Printed: per problem, the median (and quartiles) of the hypervolume share over seeds, and
each method's ratio to ``sweep``. Run from the repository root::

    .venv/bin/python scripts/bench_multiobjective.py              # about 10 minutes
    .venv/bin/python scripts/bench_multiobjective.py --quick      # a smoke run
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .reporting import argument_parser, log, machine_facts, md_row, md_rule, write_json

METHODS = ("sweep", "sweep_random", "nsga2", "motpe", "random")
VERSIONS = ("ray", "numpy", "scikit-learn", "optuna")
ZDT1_BEST = 1.21 - 1.0 / 3.0  # the true front's hypervolume against (1.1, 1.1)


@dataclass(frozen=True)
class Problem:
    name: str
    objective: Callable[[dict[str, Any]], dict[str, float]]
    space: dict[str, tuple[str, float, float, bool]]  # name: (kind, low, high, log)
    reference: tuple[float, float]
    scale: tuple[float, float] = (1.0, 1.0)  # objectives are divided by these first
    best: float | None = None  # the true front's hypervolume, if known


def zdt1(dims: int) -> Problem:
    def objective(config: dict[str, Any]) -> dict[str, float]:
        x = np.array([config[f"x{i}"] for i in range(dims)])
        g = 1.0 + 9.0 * float(x[1:].mean())
        f1 = float(x[0])
        return {"f1": f1, "f2": g * (1.0 - math.sqrt(f1 / g))}

    space = {f"x{i}": ("float", 0.0, 1.0, False) for i in range(dims)}
    return Problem("zdt1", objective, space, (1.1, 1.1), best=ZDT1_BEST)


def forest() -> Problem:
    from workers.examples import forest_size

    def objective(config: dict[str, Any]) -> dict[str, float]:
        out = forest_size(config)
        return {"f1": out["val_error"], "f2": out["nodes"]}

    space = {
        "trees": ("int", 2, 100, True),
        "depth": ("int", 2, 20, False),
        "max_features": ("float", 0.05, 1.0, False),
    }
    return Problem("forest", objective, space, (0.2, 8.0), scale=(1.0, 1000.0))


def front_of(points: np.ndarray) -> np.ndarray:
    if points.size == 0:
        return points
    keep = [not np.any(np.all(points <= p, axis=1) & np.any(points < p, axis=1)) for p in points]
    return points[np.array(keep)]


def hypervolume(points: np.ndarray, reference: Sequence[float]) -> float:
    from orchestrator.search.pareto import hypervolume_2d

    return hypervolume_2d(np.asarray(points, dtype=float).reshape(-1, 2), reference)


# -- the methods ---------------------------------------------------------------------------
def run_sweep(problem: Problem, rounds: int, per_round: int, seed: int, sampler: str) -> np.ndarray:
    from orchestrator import Float, Int, tune
    from orchestrator.execution.serial import SerialExecutor
    from workers.multi_objective import MultiObjective

    dims: dict[str, Any] = {}
    for name, (kind, low, high, log_scale) in problem.space.items():
        cls = Float if kind == "float" else Int
        dims[name] = cls(low, high, log=log_scale, hard_low=low, hard_high=high)
    objective = MultiObjective(problem.objective, ["f1", "f2"])
    with tempfile.TemporaryDirectory(prefix="bench-mo-") as run_dir:
        result = tune(
            problem.objective,
            dims,
            mode=["min", "min"],
            objectives=["f1", "f2"],
            rounds=rounds,
            samples_per_round=per_round,
            seed=seed,
            sampler=sampler,
            executor=SerialExecutor(objective, param_names=list(dims)),
            run_dir=f"{run_dir}/run",
        )
    t = result.table
    ok = np.array([s == "ok" for s in t.column("status").to_pylist()])
    return np.column_stack([t.column("f1").to_numpy(), t.column("f2").to_numpy()])[ok]


def run_optuna(problem: Problem, method: str, n: int, per_round: int, seed: int) -> np.ndarray:
    import optuna

    if method == "nsga2":
        sampler: Any = optuna.samplers.NSGAIISampler(population_size=per_round, seed=seed)
    elif method == "motpe":
        sampler = optuna.samplers.TPESampler(seed=seed)
    else:
        sampler = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(directions=["minimize", "minimize"], sampler=sampler)

    def objective(trial: Any) -> tuple[float, float]:
        config = {}
        for name, (kind, low, high, log_scale) in problem.space.items():
            suggest = trial.suggest_float if kind == "float" else trial.suggest_int
            config[name] = suggest(name, low, high, log=log_scale)
        out = problem.objective(config)
        return out["f1"], out["f2"]

    study.optimize(objective, n_trials=n)
    return np.array([t.values for t in study.trials if t.values is not None], dtype=float)


def run_method(problem: Problem, method: str, rounds: int, per_round: int, seed: int) -> np.ndarray:
    if method == "sweep":
        points = run_sweep(problem, rounds, per_round, seed, "guided")
    elif method == "sweep_random":
        points = run_sweep(problem, rounds, per_round, seed, "random")
    else:
        points = run_optuna(problem, method, rounds * per_round, per_round, seed)
    return points / np.asarray(problem.scale)


# -- the report -----------------------------------------------------------------------------
def quartiles(values: Sequence[float]) -> tuple[float, float, float]:
    q = np.quantile(np.asarray(values, dtype=float), [0.25, 0.5, 0.75])
    return float(q[0]), float(q[1]), float(q[2])


def summarise(
    problem: Problem, fronts: dict[str, list[np.ndarray]]
) -> tuple[float, dict[str, list[float]]]:
    """The hypervolume each run reached, as a share of the true front's (or of the union of
    every front found, where the true one is unknown)."""
    best = problem.best
    if best is None:
        union = front_of(np.vstack([f for runs in fronts.values() for f in runs]))
        best = hypervolume(union, problem.reference)
    shares = {
        m: [hypervolume(f, problem.reference) / best for f in runs] for m, runs in fronts.items()
    }
    return best, shares


def format_table(problem: Problem, best: float, shares: dict[str, list[float]], n: int) -> str:
    base = statistics.median(shares["sweep"]) if "sweep" in shares else None
    source = "the true front's" if problem.best is not None else "the union of all fronts'"
    lines = [
        f"{problem.name}: hypervolume share of {source} ({best:.4g}), {n} evaluations, "
        f"{len(next(iter(shares.values())))} seeds",
        md_row(["method", "median", "25%", "75%", "vs sweep"]),
        md_rule(5, numeric=True),
    ]
    for method, values in shares.items():
        lo, mid, hi = quartiles(values)
        ratio = f"{mid / base:.2f}x" if base else "-"
        lines.append(md_row([method, f"{mid:.3f}", f"{lo:.3f}", f"{hi:.3f}", ratio]))
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> Any:
    parser = argument_parser(__doc__)
    parser.add_argument("--problems", nargs="+", default=["zdt1", "forest"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--seeds", type=int, default=10, help="seeds for zdt1 (forest: a third)")
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--samples-per-round", type=int, default=25)
    parser.add_argument("--dims", type=int, default=6, help="ZDT1's dimensions")
    parser.add_argument("--quick", action="store_true", help="2 seeds, 3 rounds of 8")
    parser.add_argument("--json", help="also write the numbers to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.seeds, args.rounds, args.samples_per_round = 2, 3, 8
    return args


def main(argv: Sequence[str] | None = None) -> int:
    import optuna

    args = parse_args(argv)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    facts = machine_facts(VERSIONS)
    started = time.perf_counter()
    problems = {"zdt1": lambda: zdt1(args.dims), "forest": forest}
    report: dict[str, Any] = {}
    tables = []
    n = args.rounds * args.samples_per_round
    for name in args.problems:
        problem = problems[name]()
        seeds = args.seeds if name == "zdt1" else max(1, args.seeds // 3)
        fronts: dict[str, list[np.ndarray]] = {m: [] for m in args.methods}
        for seed in range(seeds):
            for method in args.methods:
                t0 = time.perf_counter()
                points = run_method(problem, method, args.rounds, args.samples_per_round, seed)
                fronts[method].append(front_of(points))
                log(f"{name} seed {seed} {method}: {time.perf_counter() - t0:.1f} s")
        best, shares = summarise(problem, fronts)
        tables.append(format_table(problem, best, shares, n))
        report[name] = {"reference": problem.reference, "best": best, "shares": shares}
    print("machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    for table in tables:
        print("\n" + table)
    print(f"\ntotal runtime {time.perf_counter() - started:.0f} s")
    if args.json:
        write_json(args.json, {"machine": facts, "problems": report})
    return 0
