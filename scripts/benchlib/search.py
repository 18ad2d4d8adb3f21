"""Search-quality benchmark: how good a configuration each tuner finds in N evaluations.

Every method gets the same number of evaluations of the same deterministic objective (a loss
to minimise) on each task and seed; the script prints, per task, the median and spread of the
final loss (regret on tasks with a known optimum) and how many evaluations each method needed
to reach plain random search's final median. Everything runs in one invocation on one
machine, side by side.

Tasks (``--tasks``):

- ``branin`` (2-D), ``hartmann6`` (6-D, multimodal), ``rosenbrock_log`` (4-D, every
  parameter on a log range, Rosenbrock in log10 space) and ``rastrigin`` (4-D, rugged: a
  local minimum near every integer point; declared on [-4, 6.24]^4, the textbook width
  shifted so the optimum at the origin is off the range's centre): known optima inside the
  declared ranges, which are also hard limits (no method may leave them).
- ``outside`` (3-D, log-scaled): the learning rate's optimum (0.1) lies a decade above the
  declared range [1e-5, 1e-2]. A method confined to the range cannot get below its regret
  floor of 1.0; sweep may grow the range (its default), the baselines cannot.
- ``svc_wine``, ``mlp_digits``, ``hgb_breast_cancer``: scikit-learn models on bundled data
  (the estimators and ranges of ``configs/``; the SVC's probabilities come from Platt
  scaling). The loss is validation log-loss (continuous,
  unlike accuracy on a small validation set): 5-fold cross-validation for the SVC, a 25 %
  stratified hold-out for the other two, all inside the 80 % of the rows a seed's split
  keeps for tuning. The remaining 20 % are a test set: each method's chosen configuration is
  refitted on the tuning rows and scored there once (reported, never used to choose).

Methods (``--methods``):

- ``sweep``: ``tune(...)`` with default narrowing and sampler, ``rounds x samples_per_round``
  = the evaluation budget (10 x 20 on the synthetic tasks, 10 x 10 on the real ones), and
  ``overlap=0``: synchronous rounds, each waiting for the one before.
- ``sweep_o1``, ``sweep_o3`` (not run unless named): the same with ``overlap`` 1 or 3 - round
  k samples in ranges proposed from the rounds before k - overlap, so up to overlap + 1
  rounds run at once. ``sweep_big``: half the rounds of twice the samples, overlap 1 (the
  other way to keep more workers busy than a round holds). The summary gives each one's
  median regret (loss) as a multiple of ``sweep``'s; the target is at most 1.25x.
- ``random``: the same ``tune`` call with ``narrowing="none"`` - plain random search, the
  control.
- ``tpe``: Optuna's ``TPESampler(seed=...)`` (defaults), sequential.
- ``optuna_random``: Optuna's ``RandomSampler(seed=...)``.
- ``rscv``: scikit-learn's ``RandomizedSearchCV`` (``n_iter`` = the budget, scipy
  ``loguniform``/``uniform``/``randint`` distributions) over an estimator whose score is the
  task's objective, so every method sees exactly the same function.

Sweeps run on the in-process executor (``orchestrator.execution.serial``): a sweep samples
the same configurations for any number of workers (the round's samples depend only on the seed, the
round and the ranges), so the executor does not change the result; ``--ray`` runs them on
Ray workers instead. Jobs (task x method x seed) run in ``--jobs`` processes, one BLAS
thread each.

Run from the repository root (needs the ``bench`` extra: optuna)::

    .venv/bin/python scripts/bench_search.py                     # everything (~14 minutes)
    .venv/bin/python scripts/bench_search.py --quick             # smoke run (~1 minute)
    .venv/bin/python scripts/bench_search.py --tasks branin hartmann6 --seeds 20 --json out.json
"""

from __future__ import annotations

import os

# One BLAS thread per job process. Only effective before numpy is first imported, hence above
# the imports (the entry script imports nothing else before this module).
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import math
import platform
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import numpy as np

from .methods import local_ray, optuna_losses, rscv_losses, sweep_losses
from .problems import SEARCH_TASKS, RealObjective, SearchTask
from .reporting import argument_parser, fmt_loss, log, md_row, md_rule, package_versions, write_json

METHODS = ("sweep", "random", "tpe", "optuna_random", "rscv")  # the default --methods
# Sweeps that differ from ``sweep`` only in overlap and round split: name -> (rounds divided
# by, samples per round multiplied by, overlap). Opt-in (--methods), not in the default run.
SWEEP_VARIANTS = {"sweep_o1": (1, 1), "sweep_o3": (1, 3), "sweep_big": (2, 1)}
ALL_METHODS = ("sweep", *SWEEP_VARIANTS, *METHODS[1:])
OVERLAP_TARGET = 1.25  # a variant's median regret at most this multiple of sweep's
LABELS = {
    "sweep": "sweep (default)",
    "sweep_o1": "sweep, overlap 1",
    "sweep_o3": "sweep, overlap 3",
    "sweep_big": "sweep, rounds of 2x, overlap 1",
    "random": "sweep, narrowing off (random search)",
    "tpe": "Optuna TPE",
    "optuna_random": "Optuna random",
    "rscv": "RandomizedSearchCV",
}
VERSIONS = ("sweep-orchestrator", "optuna", "scikit-learn", "numpy", "ray")


def run_job(task_name: str, method: str, seed: int, use_ray: bool = False) -> dict[str, Any]:
    """One method on one task and seed: its losses, choice, wall time (and test scores)."""
    task = SEARCH_TASKS[task_name]
    objective = task.objective(seed)
    start = time.perf_counter()
    if method in ("sweep", "random", *SWEEP_VARIANTS):
        split, overlap = SWEEP_VARIANTS.get(method, (1, 0))
        out = sweep_losses(
            objective,
            task.params,
            rounds=task.rounds // split,
            per_round=task.per_round * split,
            seed=seed,
            control=method == "random",
            use_ray=use_ray,
            overlap=overlap,
        )
    elif method in ("tpe", "optuna_random"):
        sampler = "tpe" if method == "tpe" else "random"
        out = optuna_losses(
            objective, task.params, sampler=sampler, seed=seed, n_trials=task.budget
        )
    elif method == "rscv":
        out = rscv_losses(objective, task.params, seed=seed, n_iter=task.budget)
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {ALL_METHODS}")
    out["wall_s"] = time.perf_counter() - start
    if task.real and out["config"] is not None:
        out.update(RealObjective(task.name, seed).test(out["config"]))
    out.update(task=task_name, method=method, seed=seed)
    return out


# -- summary ----------------------------------------------------------------------------------


def best_so_far(losses: Sequence[float], budget: int) -> np.ndarray:
    """The best loss after each of ``budget`` evaluations (held flat after a sweep stopped)."""
    curve = np.minimum.accumulate(np.asarray(list(losses)[:budget] or [math.inf], dtype=float))
    if curve.size < budget:
        curve = np.concatenate([curve, np.full(budget - curve.size, curve[-1])])
    return curve


def summarise(
    task: SearchTask, runs: list[dict[str, Any]], methods: Sequence[str]
) -> dict[str, Any]:
    offset = task.f_star or 0.0
    curves = {
        m: np.array(
            [
                best_so_far(r["losses"], task.budget) - offset
                for r in sorted(runs, key=lambda r: r["seed"])
                if r["method"] == m
            ]
        )
        for m in methods
    }
    curves = {m: c for m, c in curves.items() if c.size}
    out: dict[str, Any] = {"task": task.name, "budget": task.budget, "methods": {}}
    target = float(np.median(curves["random"][:, -1])) if "random" in curves else None
    out["random_median"] = target
    for m, c in curves.items():
        final = c[:, -1]
        median_curve = np.median(c, axis=0)
        reach = None
        if target is not None:
            hit = np.nonzero(median_curve <= target)[0]
            reach = int(hit[0]) + 1 if hit.size else None
        per_seed = [
            int(np.nonzero(row <= target)[0][0]) + 1
            if target is not None and np.any(row <= target)
            else None
            for row in c
        ]
        mine = [r for r in runs if r["method"] == m]
        entry = {
            "seeds": int(c.shape[0]),
            "median": float(np.median(final)),
            "q25": float(np.quantile(final, 0.25)),
            "q75": float(np.quantile(final, 0.75)),
            "evals_to_random_median": reach,
            "seeds_reaching": sum(p is not None for p in per_seed),
            "wall_s": float(np.median([r["wall_s"] for r in mine])),
            "evals": float(np.median([len(r["losses"]) for r in mine])),
        }
        if task.floor is not None:
            entry["below_floor"] = int(np.sum(final < task.floor))
        if task.real:
            entry["test_log_loss"] = float(np.median([r["test_log_loss"] for r in mine]))
            entry["test_accuracy"] = float(np.median([r["test_accuracy"] for r in mine]))
        out["methods"][m] = entry
    if "sweep" in curves and "tpe" in curves:
        s, t = curves["sweep"][:, -1], curves["tpe"][:, -1]
        out["sweep_vs_tpe"] = {
            "better": int(np.sum(s < t)),
            "tie": int(np.sum(s == t)),
            "worse": int(np.sum(s > t)),
        }
    if "sweep" in curves:
        reference = out["methods"]["sweep"]["median"]
        out["vs_sweep"] = {
            m: ratio(out["methods"][m]["median"], reference) for m in SWEEP_VARIANTS if m in curves
        }
    return out


def ratio(value: float, reference: float) -> float:
    """``value / reference``; 1 when both are 0, infinite when only the reference is."""
    if reference == 0:
        return 1.0 if value == 0 else math.inf
    return value / reference


def fmt_ratio(r: float) -> str:
    return f"{r:.2f}x"


def overlap_verdict(vs_sweep: dict[str, float]) -> str:
    """Whether every variant's median regret is within the target multiple of sweep's."""
    over = [f"{LABELS[m]} {fmt_ratio(r)}" for m, r in vs_sweep.items() if r > OVERLAP_TARGET]
    if not over:
        return f"within {OVERLAP_TARGET}x of sweep (overlap 0): yes, every variant"
    return f"within {OVERLAP_TARGET}x of sweep (overlap 0): no - {', '.join(over)}"


def print_summary(summary: dict[str, Any], task: SearchTask) -> None:
    kind = "validation log-loss" if task.real else "regret"
    print(
        f"\n### {task.name}: {task.note}; {task.budget} evaluations "
        f"(sweep {task.rounds} x {task.per_round}), {kind}"
    )
    extra = (
        ["test log-loss", "test accuracy"]
        if task.real
        else [f"below the in-range floor {task.floor:g}"]
        if task.floor is not None
        else []
    )
    columns = [
        "method",
        f"median {kind}",
        "25-75 %",
        "evaluations to reach random's median",
        *extra,
        "wall s",
    ]
    print(md_row(columns))
    print(md_rule(len(columns), numeric=True))
    budget = summary["budget"]
    for m, e in summary["methods"].items():
        reach = e["evals_to_random_median"]
        reach_s = (
            f"{reach} ({reach / budget:.0%}; {e['seeds_reaching']}/{e['seeds']} seeds)"
            if reach is not None
            else f"not reached ({e['seeds_reaching']}/{e['seeds']})"
        )
        spread = f"{fmt_loss(e['q25'])} - {fmt_loss(e['q75'])}"
        cells = [LABELS[m], fmt_loss(e["median"]), spread, reach_s]
        if task.real:
            cells += [f"{e['test_log_loss']:.4f}", f"{e['test_accuracy']:.4f}"]
        if task.floor is not None:
            cells.append(f"{e['below_floor']}/{e['seeds']}")
        print(md_row([*cells, f"{e['wall_s']:.2f}"]))
    if "sweep_vs_tpe" in summary:
        v = summary["sweep_vs_tpe"]
        print(f"sweep vs TPE per seed: better {v['better']}, tie {v['tie']}, worse {v['worse']}")
    if summary.get("vs_sweep"):
        what = "loss" if task.real else "regret"
        ratios = ", ".join(f"{LABELS[m]} {fmt_ratio(r)}" for m, r in summary["vs_sweep"].items())
        print(f"median {what} / sweep's (overlap 0): {ratios}")
        print(overlap_verdict(summary["vs_sweep"]))


def print_overview(summaries: list[dict[str, Any]], methods: Sequence[str]) -> None:
    """Two tables over every task: final loss, and evaluations to reach random's median."""
    shown = [m for m in ALL_METHODS if m in methods]

    def loss(s: dict[str, Any], e: dict[str, Any]) -> str:
        return f"{fmt_loss(e['median'])} [{fmt_loss(e['q25'])} - {fmt_loss(e['q75'])}]"

    def reach(s: dict[str, Any], e: dict[str, Any]) -> str:
        r = e["evals_to_random_median"]
        where = f"{r} of {s['budget']}" if r is not None else "not reached"
        return f"{where} ({e['seeds_reaching']}/{e['seeds']})"

    for title, cell in (
        (
            "Median final regret (synthetic) or validation log-loss (scikit-learn), "
            "[25th - 75th percentile]",
            loss,
        ),
        (
            "Evaluations to reach random search's final median (median curve; seeds that reach it)",
            reach,
        ),
    ):
        print(f"\n{title}:\n")
        print(md_row(["task", *(LABELS[m] for m in shown)]))
        print(md_rule(len(shown) + 1, numeric=True))
        for s in summaries:
            cells = [cell(s, s["methods"][m]) if m in s["methods"] else "-" for m in shown]
            print(md_row([s["task"], *cells]))
    variants = [m for m in SWEEP_VARIANTS if any(m in s.get("vs_sweep", {}) for s in summaries)]
    if variants:
        print(
            f"\nMedian regret (validation log-loss) as a multiple of sweep's (overlap 0); "
            f"target <= {OVERLAP_TARGET}x:\n"
        )
        print(md_row(["task", *(LABELS[m] for m in variants)]))
        print(md_rule(len(variants) + 1, numeric=True))
        for s in summaries:
            vs = s.get("vs_sweep", {})
            print(md_row([s["task"], *(fmt_ratio(vs[m]) if m in vs else "-" for m in variants)]))


def check_targets(summaries: list[dict[str, Any]]) -> list[str]:
    lines = []
    third = [s for s in summaries if "sweep" in s["methods"] and "random" in s["methods"]]
    met = [
        s["task"]
        for s in third
        if (r := s["methods"]["sweep"]["evals_to_random_median"]) is not None
        and r <= s["budget"] / 3
    ]
    lines.append(
        f"reaches random search's final median in <= 1/3 of the evaluations: "
        f"{len(met)}/{len(third)} tasks ({', '.join(met) or 'none'})"
    )
    vs = [s for s in summaries if "sweep" in s["methods"] and "tpe" in s["methods"]]
    ok = [s["task"] for s in vs if s["methods"]["sweep"]["median"] <= s["methods"]["tpe"]["median"]]
    lines.append(
        f"median final loss matches or beats TPE's: {len(ok)}/{len(vs)} tasks "
        f"({', '.join(ok) or 'none'})"
    )
    for m in SWEEP_VARIANTS:
        pairs = [(s["task"], s["vs_sweep"][m]) for s in summaries if m in s.get("vs_sweep", {})]
        if pairs:
            ok = [t for t, r in pairs if r <= OVERLAP_TARGET]
            worst = max(pairs, key=lambda p: p[1])
            lines.append(
                f"{LABELS[m]}: median regret within {OVERLAP_TARGET}x of sweep's (overlap 0) "
                f"on {len(ok)}/{len(pairs)} tasks (worst: {worst[0]} {fmt_ratio(worst[1])})"
            )
    for s in summaries:
        e = s["methods"].get("sweep")
        if e is not None and "below_floor" in e:
            lines.append(
                f"{s['task']}: below the in-range floor on {e['below_floor']}/"
                f"{e['seeds']} seeds (median regret {fmt_loss(e['median'])})"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argument_parser(__doc__)
    parser.add_argument(
        "--tasks", nargs="+", default=list(SEARCH_TASKS), choices=list(SEARCH_TASKS)
    )
    parser.add_argument(
        "--methods",
        nargs="+",
        default=list(METHODS),
        choices=list(ALL_METHODS),
        help=f"default: {' '.join(METHODS)}",
    )
    parser.add_argument(
        "--seeds", type=int, default=None, help="seeds per task (default: 20 synthetic, 10 real)"
    )
    parser.add_argument(
        "--first-seed",
        type=int,
        default=0,
        help="seeds are first-seed, first-seed + 1, ... (default 0)",
    )
    parser.add_argument("--jobs", type=int, default=2, help="job processes (default 2)")
    parser.add_argument("--quick", action="store_true", help="3 seeds, synthetic tasks only")
    parser.add_argument(
        "--ray", action="store_true", help="run sweeps on 2 Ray workers instead of in-process"
    )
    parser.add_argument("--json", type=Path, help="write every run and the summary here")
    args = parser.parse_args(argv)
    tasks = [SEARCH_TASKS[t] for t in args.tasks]
    if args.quick:
        tasks = [t for t in tasks if not t.real] or tasks[:1]
    try:
        import optuna  # noqa: F401
    except ImportError:
        if {"tpe", "optuna_random"} & set(args.methods):
            parser.error("Optuna is missing: install the bench extra (pip install -e '.[bench]')")

    jobs = []
    for task in tasks:
        n = args.seeds or (3 if args.quick else 10 if task.real else 20)
        jobs += [
            (task.name, m, seed)
            for m in args.methods
            for seed in range(args.first_seed, args.first_seed + n)
        ]
    print(
        f"{len(jobs)} runs over {len(tasks)} tasks, {args.jobs} processes; machine: "
        f"{platform.machine()} {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{versions_text()}",
        flush=True,
    )
    start = time.perf_counter()
    runs: list[dict[str, Any]] = []
    if args.ray:
        with local_ray(log_to_driver=False):
            for job in jobs:
                runs.append(run_job(*job, use_ray=True))
    else:
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_job, *job) for job in jobs]
            for i, future in enumerate(as_completed(futures), 1):
                runs.append(future.result())
                if i % max(1, len(jobs) // 20) == 0 or i == len(jobs):
                    log(f"  {i}/{len(jobs)} runs, {time.perf_counter() - start:.0f} s")
    summaries = []
    for task in tasks:
        s = summarise(task, [r for r in runs if r["task"] == task.name], args.methods)
        summaries.append(s)
        print_summary(s, task)
    print_overview(summaries, args.methods)
    print("\nTargets:")
    for line in check_targets(summaries):
        print(f"- {line}")
    print(f"\ntotal {time.perf_counter() - start:.0f} s")
    if args.json:
        write_json(args.json, {"runs": runs, "summaries": summaries}, indent=None)
    return 0


def versions_text() -> str:
    """The versions of the packages measured, as "name version, ..." (missing ones left out)."""
    return ", ".join(f"{d} {v}" for d, v in package_versions(VERSIONS).items() if v is not None)
