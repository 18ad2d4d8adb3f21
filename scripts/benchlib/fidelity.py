"""Multi-fidelity benchmark: compute to reach full-budget random search's score.

Four tasks, each over several seeds, every method run in one process and printed side by side:

- ``synthetic``: a 3-D loss ``f(x, b)`` (mode min) whose low budgets are correlated with the
  full budget but biased away from its optimum (the optimum slides from ``Z_LOW`` at
  ``b = 1`` to ``Z_STAR`` at ``b = 81``), noisy at low budgets and exact at the full one.
  Budgets 1..81.
- ``mlp``: ``MLPClassifier`` on scikit-learn's digits (25 % stratified validation split,
  standardised features), tuning ``learning_rate_init``, ``alpha`` and the hidden layer size;
  the budget is ``max_iter`` (epochs, 3..81; early stopping off so a budget of b is b epochs).
  Score: validation accuracy (mode max).
- ``forest``: ``RandomForestClassifier`` on the same digits split, tuning ``max_features``,
  ``min_samples_leaf`` and ``max_depth``; the budget is ``n_estimators`` (3..81 trees),
  validation accuracy (mode max); Optuna adds one tree per step with ``warm_start``.
- ``numpy_mlp``: the PyTorch-style example objective ``workers.examples.numpy_mlp`` (an MLP
  in numpy on the digits, minibatch SGD with momentum; it saves and loads its weights and
  momenta as its state), tuning ``lr``, ``alpha`` and the hidden width, budget = epochs
  3..81, validation accuracy (mode max). No halving lines (no scikit-learn estimator).

Methods (per task and seed):

- ``random search``: N = rounds * samples_per_round configurations, all at the full budget
  (``tune`` with one round and ``narrowing="none"``). Its final best is the target S_rs.
- ``sweep``: ``tune(..., budget=(bmin, bmax))`` - rounds of successive halving (eta = 3) from
  a rising base budget, default narrowing and stopping. The first setting listed is the
  primary one (6 rounds x 27 samples). It searches the declared ranges with hard limits at
  their ends, like the baselines; the ``may grow`` row is the product default, where
  narrowing may grow a range past its declared end. The synthetic task also runs other
  rounds x samples_per_round settings with the same N and the ``fixed`` base budget schedule.
  ``continues`` rows: the primary setting with an objective that continues a promoted
  configuration from the state of its rung below (synthetic: the same losses, only the
  missing budget counted; mlp and forest: ``warm_start`` as the product's estimator tasks do
  it, the fitted model handed on in memory; numpy_mlp: its own state). Their compute is what each
  evaluation trained (the ``trained`` metric), not its budget.
- ``halving``: scikit-learn's ``HalvingRandomSearchCV`` (factor 3, resource = the budget,
  min/max resources = bmin/bmax, one fixed train/validation split). Two sizes: N candidates
  (the same configurations as random search), and as many candidates as fit into the
  primary sweep's total compute.
- ``optuna``: TPE (seeded) with ``HyperbandPruner(bmin, bmax, 3)``; one unit of budget per
  reported step (the synthetic loss at steps 1..bmax; one ``partial_fit`` epoch of the MLP,
  then validation accuracy), trials until the primary sweep's total compute is spent.

Measures: compute = sum of budgets (epochs). Evaluations are ordered by start time (sweep,
random search), ``iter`` (halving) or step (Optuna, sequential). "Compute to reach S_rs" is
the cumulative compute at the first full-budget evaluation scoring at least as well as S_rs.
"At equal compute" every method's best full-budget score is taken within the primary sweep's
total compute of that seed (curves that spend more are cut there). Wall time: Ray is started
once before anything is timed; sweeps and random search use 2 Ray workers (each ``tune``
call starts its own worker actors), halving uses ``n_jobs=2``, Optuna runs sequentially
(``n_jobs=1``, TPE is sequential; one BLAS thread). Targets (issue): (a) the sweep reaches
S_rs with at least 3x less compute than random search's N * bmax (median over seeds); (b) its
median best score at equal compute is no worse than every other method's; (c) the continuing
sweep reaches S_rs with at least 1.25x less compute than the same sweep restarting, with a
final best no worse; (d) at the continuing sweep's own total compute, its median best is no
worse than Optuna TPE + Hyperband's within that compute.

Run from the repository root (needs the ``bench`` extra: optuna)::

    .venv/bin/python scripts/bench_fidelity.py               # full run (about 10 minutes)
    .venv/bin/python scripts/bench_fidelity.py --quick       # smoke run (about a minute)
    .venv/bin/python scripts/bench_fidelity.py --seeds 5 --tasks mlp --json out.json
"""

from __future__ import annotations

import argparse
import logging
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from .methods import (
    WORKERS,
    Trace,
    halving_candidates,
    halving_trace,
    hyperband_trace,
    local_ray,
    quiet_optuna,
    random_search_trace,
    sweep_trace,
)
from .problems import (
    FidelityProblem,
    digits_problem,
    forest_problem,
    numpy_mlp_problem,
    synthetic_problem,
)
from .reporting import (
    argument_parser,
    fmt_count,
    fmt_score,
    load_average,
    log,
    machine_facts,
    md_row,
    md_rule,
    median_or_none,
    write_json,
)

ETA = 3
TARGET_RATIO = 3.0
CONTINUE_RATIO = 1.25  # a continuing sweep's compute to S_rs, at least this much below restarting
VERSIONS = ("sweep-orchestrator", "ray", "numpy", "scipy", "scikit-learn", "optuna", "pyarrow")


# -- tasks and settings --------------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """A sweep setting: rounds x samples_per_round, and the base budget schedule."""

    rounds: int
    samples: int
    schedule: str = "geometric"
    bounded: bool = True  # hard limits at the declared ranges (False: ranges may grow past)
    continues: bool = False  # promoted configurations continue from their state

    @property
    def label(self) -> str:
        extra = "" if self.schedule == "geometric" else f", {self.schedule}"
        extra += "" if self.bounded else ", may grow"
        return f"sweep {self.rounds}x{self.samples}{extra}" + (
            ", continues" if self.continues else ""
        )


@dataclass
class Task:
    """One benchmark task: a problem, the seeds it runs on and the sweep settings compared."""

    problem: FidelityProblem
    seeds: list[int]
    settings: list[Setting]

    @property
    def name(self) -> str:
        return self.problem.name

    @property
    def mode(self) -> str:
        return self.problem.mode

    @property
    def bmin(self) -> int:
        return self.problem.bmin

    @property
    def bmax(self) -> int:
        return self.problem.bmax

    @property
    def n_configs(self) -> int:
        return self.settings[0].rounds * self.settings[0].samples


# -- running a task ------------------------------------------------------------------------


@dataclass
class SeedResult:
    """What one method achieved on one seed."""

    method: str
    reach: float | None  # compute to reach S_rs (None: not reached)
    best_at_equal: float | None  # best full-budget score within the primary sweep's compute
    final_best: float | None  # best full-budget score of the whole run
    total: float
    wall_s: float
    configs: int
    info: dict[str, Any]


def run_sweep(problem: FidelityProblem, seed: int, setting: Setting, run_root: str) -> Trace:
    """The product at one setting (its rounds, samples, base budget schedule and limits)."""
    return sweep_trace(
        problem,
        seed,
        rounds=setting.rounds,
        samples=setting.samples,
        schedule=setting.schedule,
        bounded_ranges=setting.bounded,
        eta=ETA,
        run_root=run_root,
        continues=setting.continues,
    )


def seed_results(
    task: Task, seed: int, run_root: str, log: Callable[[str], None]
) -> dict[str, Any]:
    """Every method on one seed; S_rs and the equal compute come from this seed's runs."""
    problem = task.problem
    rs = random_search_trace(problem, seed, task.n_configs, run_root)
    s_rs = rs.best_within(math.inf, task.mode)
    assert s_rs is not None, "random search scored no configuration at the full budget"
    traces: dict[str, Trace] = {"random search": rs}
    for setting in task.settings:
        traces[setting.label] = run_sweep(problem, seed, setting, run_root)
    equal = traces[task.settings[0].label].total
    if problem.halving is not None:
        traces[f"halving, {task.n_configs} cands"] = halving_trace(
            problem, seed, task.n_configs, ETA
        )
        n_eq = halving_candidates(equal, task.bmin, task.bmax, ETA)
        traces["halving, equal compute"] = halving_trace(problem, seed, n_eq, ETA)
    traces["optuna TPE+Hyperband"] = hyperband_trace(problem, seed, equal, ETA)
    out = {
        name: SeedResult(
            name,
            t.reach(s_rs, task.mode),
            t.best_within(equal, task.mode),
            t.best_within(math.inf, task.mode),
            t.total,
            t.wall_s,
            t.configs,
            t.info,
        )
        for name, t in traces.items()
    }
    for setting in task.settings:  # Optuna within what a continuing sweep spent
        if setting.continues:
            own = traces[setting.label].total
            out[setting.label].info["optuna_at_own_compute"] = traces[
                "optuna TPE+Hyperband"
            ].best_within(own, task.mode)
    log(
        f"  seed {seed}: S_rs={s_rs:.4f}, equal compute={equal:g}, "
        + ", ".join(
            f"{n}: reach={fmt_count(r.reach)} best@eq={fmt_score(r.best_at_equal)}"
            for n, r in out.items()
        )
    )
    return {"seed": seed, "s_rs": s_rs, "equal_compute": equal, "methods": out}


def warm_up(task: Task, run_root: str) -> None:
    """Untimed small runs: first imports, loky's worker pool, Ray worker processes."""
    run_sweep(task.problem, 0, Setting(2, 6), run_root)
    if task.problem.halving is not None:
        halving_trace(task.problem, 0, 9, ETA)
    random_search_trace(task.problem, 0, 4, run_root)


def run_task(task: Task, run_root: str, log: Callable[[str], None]) -> list[dict[str, Any]]:
    log(f"{task.name}: warming up, then {len(task.seeds)} seeds")
    warm_up(task, run_root)
    return [seed_results(task, seed, run_root, log) for seed in task.seeds]


# -- summaries and printing ----------------------------------------------------------------


def summarise(task: Task, seeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method: medians over seeds."""
    rs_compute = task.n_configs * task.bmax
    rows = []
    for name in seeds[0]["methods"]:
        results = [s["methods"][name] for s in seeds]
        reach = median_or_none([r.reach for r in results])
        rows.append(
            {
                "method": name,
                "configs": median_or_none([r.configs for r in results]),
                "reached": sum(r.reach is not None for r in results),
                "seeds": len(results),
                "reach": reach,
                "ratio": None if reach is None else rs_compute / reach,
                "best_at_equal": median_or_none([r.best_at_equal for r in results], task.mode),
                "final_best": median_or_none([r.final_best for r in results], task.mode),
                "total": median_or_none([r.total for r in results]),
                "wall_s": median_or_none([r.wall_s for r in results]),
            }
        )
    return rows


def format_table(task: Task, rows: list[dict[str, Any]], seeds: list[dict[str, Any]]) -> str:
    eq = median_or_none([s["equal_compute"] for s in seeds])
    head = (
        f"{task.name}: mode {task.mode}, budget {task.bmin}..{task.bmax}, N = "
        f"{task.n_configs} configurations, {len(seeds)} seeds; median S_rs = "
        f"{fmt_score(median_or_none([s['s_rs'] for s in seeds], task.mode))}; random search "
        f"N*bmax = {task.n_configs * task.bmax:,}; equal compute (median) = {fmt_count(eq)}"
    )
    cols = [
        "method",
        "configs",
        "compute to reach S_rs",
        "x less than N*bmax",
        "best @ equal compute",
        "final best",
        "total compute",
        "wall s",
    ]
    lines = [head, md_row(cols), md_rule(len(cols), numeric=False)]
    for r in rows:
        reach = f"{fmt_count(r['reach'])} ({r['reached']}/{r['seeds']})"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        cells = [r["method"], fmt_count(r["configs"]), reach, ratio]
        cells += [fmt_score(r["best_at_equal"]), fmt_score(r["final_best"])]
        lines.append(md_row([*cells, fmt_count(r["total"]), f"{r['wall_s']:.1f}"]))
    return "\n".join(lines)


def per_seed_wins(task: Task, seeds: list[dict[str, Any]], other: str) -> int:
    """Seeds on which the primary sweep's score at equal compute is at least as good."""
    primary, wins = task.settings[0].label, 0
    for s in seeds:
        ours, theirs = s["methods"][primary].best_at_equal, s["methods"][other].best_at_equal
        if theirs is None or (
            ours is not None and (ours >= theirs if task.mode == "max" else ours <= theirs)
        ):
            wins += 1
    return wins


def table_notes(task: Task) -> str:
    return (
        "  random search's own 'compute to reach' is where its best configuration happened "
        f"to come; finding it costs the full N*bmax = {task.n_configs * task.bmax:,}.\n"
        "  best @ equal compute: best full-budget score within the primary sweep's total "
        f"compute ({task.settings[0].label}) of the same seed; (k/n): seeds that reached S_rs"
        "; medians over seeds, a seed that did not reach counts as infinite compute."
    )


def targets(task: Task, rows: list[dict[str, Any]], seeds: list[dict[str, Any]]) -> list[str]:
    """(a) >= 3x less compute than N*bmax to reach S_rs; (b) no worse at equal compute."""
    by = {r["method"]: r for r in rows}
    primary = by[task.settings[0].label]
    ratio = primary["ratio"]
    ok_a = ratio is not None and ratio >= TARGET_RATIO
    out = [
        f"{task.name} (a) {'PASS' if ok_a else 'MISS'}: {task.settings[0].label} reaches "
        f"S_rs with {'-' if ratio is None else f'{ratio:.2f}x'} less compute than random "
        f"search's N*bmax (target >= {TARGET_RATIO:g}x; reached on {primary['reached']}/"
        f"{primary['seeds']} seeds)"
    ]
    sign = 1.0 if task.mode == "max" else -1.0
    out += continuing_targets(task, by, seeds)
    ours = primary["best_at_equal"]
    for name, r in by.items():
        if name == primary["method"] or name.startswith("sweep"):
            continue
        theirs = r["best_at_equal"]
        ok = ours is not None and (theirs is None or sign * ours >= sign * theirs)
        out.append(
            f"{task.name} (b) {'PASS' if ok else 'MISS'}: at equal compute sweep "
            f"{fmt_score(ours)} vs {name} {fmt_score(theirs)} (median; sweep at least "
            f"as good on {per_seed_wins(task, seeds, name)}/{len(seeds)} seeds)"
        )
    return out


def continuing_targets(
    task: Task, by: dict[str, dict[str, Any]], seeds: list[dict[str, Any]]
) -> list[str]:
    """(c) a continuing sweep reaches S_rs with >= 1.25x less compute than the same sweep
    restarting, its final best no worse (medians); (d) at its own total compute it is at
    least as good as TPE + Hyperband (median of the per-seed bests)."""
    out = []
    sign = 1.0 if task.mode == "max" else -1.0
    for setting in task.settings:
        if not setting.continues:
            continue
        cont = by[setting.label]
        restart = by.get(replace(setting, continues=False).label)
        if restart is not None:
            ratio = (
                None
                if cont["reach"] is None or restart["reach"] is None
                else restart["reach"] / cont["reach"]
            )
            same = (
                cont["final_best"] is not None
                and restart["final_best"] is not None
                and sign * cont["final_best"] >= sign * restart["final_best"] - 1e-12
            )
            total = restart["total"] / cont["total"] if cont["total"] else None
            ok = ratio is not None and ratio >= CONTINUE_RATIO and same
            out.append(
                f"{task.name} (c) {'PASS' if ok else 'MISS'}: {setting.label} reaches S_rs with "
                f"{'-' if ratio is None else f'{ratio:.2f}x'} less compute than restarting "
                f"(target >= {CONTINUE_RATIO:g}x; total compute {total:.2f}x less), final best "
                f"{fmt_score(cont['final_best'])} vs {fmt_score(restart['final_best'])}"
            )
        results = [s["methods"][setting.label] for s in seeds]
        theirs = median_or_none([r.info.get("optuna_at_own_compute") for r in results], task.mode)
        ours = median_or_none([r.final_best for r in results], task.mode)
        ok = ours is not None and (theirs is None or sign * ours >= sign * theirs)
        out.append(
            f"{task.name} (d) {'PASS' if ok else 'MISS'}: at the continuing sweep's own compute "
            f"{fmt_score(ours)} vs optuna TPE+Hyperband {fmt_score(theirs)} (median)"
        )
    return out


# -- command line --------------------------------------------------------------------------


def build_tasks(args: argparse.Namespace) -> list[Task]:
    """The tasks to run, at full or --quick size."""
    q = args.quick
    synth_settings = (
        [Setting(6, 27), Setting(6, 27, continues=True), Setting(18, 9)]
        if q
        else [
            Setting(6, 27),
            Setting(6, 27, continues=True),
            Setting(3, 54),
            Setting(9, 18),
            Setting(18, 9),
            Setting(6, 27, "fixed"),
            Setting(18, 9, "fixed"),
            Setting(6, 27, bounded=False),
        ]
    )
    synth = Task(synthetic_problem(), list(range(args.seeds or (2 if q else 10))), synth_settings)
    mlp = Task(
        digits_problem(27 if q else 81, n_jobs=WORKERS),
        list(range(args.seeds or (1 if q else 3))),
        [Setting(4, 9), Setting(4, 9, continues=True)]
        if q
        else [Setting(6, 27), Setting(6, 27, continues=True), Setting(6, 27, bounded=False)],
    )
    numpy_mlp = Task(
        numpy_mlp_problem(27 if q else 81),
        list(range(args.seeds or (1 if q else 3))),
        [Setting(4, 9), Setting(4, 9, continues=True)]
        if q
        else [Setting(6, 27), Setting(6, 27, continues=True)],
    )
    forest = Task(
        forest_problem(27 if q else 81, n_jobs=WORKERS),
        list(range(args.seeds or (1 if q else 3))),
        [Setting(4, 9), Setting(4, 9, continues=True)]
        if q
        else [Setting(6, 27), Setting(6, 27, continues=True)],
    )
    return [t for t in (synth, mlp, forest, numpy_mlp) if t.name in args.tasks]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argument_parser(__doc__)
    p.add_argument("--quick", action="store_true", help="small smoke run (about a minute)")
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds per task (default: synthetic 10, mlp 3; --quick: 2 and 1)",
    )
    p.add_argument(
        "--tasks",
        default="synthetic,mlp,forest,numpy_mlp",
        help="comma-separated: synthetic,mlp,forest,numpy_mlp",
    )
    p.add_argument("--json", default=None, help="write every per-seed number to this file")
    args = p.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_optuna()
    facts = machine_facts(VERSIONS)
    tasks = build_tasks(args)
    started = time.perf_counter()
    report: dict[str, Any] = {}
    with local_ray(logging_level=logging.WARNING):
        with tempfile.TemporaryDirectory(prefix="bench-fidelity-") as run_root:
            for task in tasks:
                seeds = run_task(task, run_root, log)
                rows = summarise(task, seeds)
                report[task.name] = {
                    "rows": rows,
                    "targets": targets(task, rows, seeds),
                    "seeds": seeds,
                }
    elapsed = time.perf_counter() - started
    print("machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    for task in tasks:
        rep = report[task.name]
        print("\n" + format_table(task, rep["rows"], rep["seeds"]) + "\n" + table_notes(task))
    print("\ntargets:")
    for rep in report.values():
        print("\n".join("  " + line for line in rep["targets"]))
    load = load_average()
    print(f"\ntotal runtime {elapsed:.0f} s (1-minute load average at the end: {load})")
    if args.json:
        write_json(args.json, {"machine": facts, "tasks": report})
    return 0
