#!/usr/bin/env python3
"""Multi-fidelity benchmark: compute to reach full-budget random search's score.

Two tasks, each over several seeds, every method run in one process and printed side by side:

- ``synthetic``: a 3-D loss ``f(x, b)`` (mode min) whose low budgets are correlated with the
  full budget but biased away from its optimum (the optimum slides from ``Z_LOW`` at
  ``b = 1`` to ``Z_STAR`` at ``b = 81``), noisy at low budgets and exact at the full one.
  Budgets 1..81.
- ``mlp``: ``MLPClassifier`` on scikit-learn's digits (25 % stratified validation split,
  standardised features), tuning ``learning_rate_init``, ``alpha`` and the hidden layer size;
  the budget is ``max_iter`` (epochs, 3..81; early stopping off so a budget of b is b epochs).
  Score: validation accuracy (mode max).

Methods (per task and seed):

- ``random search``: N = rounds * samples_per_round configurations, all at the full budget
  (``tune`` with one round and ``narrowing="none"``). Its final best is the target S_rs.
- ``sweep``: ``tune(..., budget=(bmin, bmax))`` - rounds of successive halving (eta = 3) from
  a rising base budget, default narrowing and stopping. The first setting listed is the
  primary one (6 rounds x 27 samples). It searches the declared ranges with hard limits at
  their ends, like the baselines; the ``may grow`` row is the product default, where
  narrowing may grow a range past its declared end. The synthetic task also runs other
  rounds x samples_per_round settings with the same N and the ``fixed`` base budget schedule.
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
median best score at equal compute is no worse than every other method's.

Run from the repository root (needs the ``bench`` extra: optuna)::

    .venv/bin/python scripts/bench_fidelity.py               # full run (about 10 minutes)
    .venv/bin/python scripts/bench_fidelity.py --quick       # smoke run (about a minute)
    .venv/bin/python scripts/bench_fidelity.py --seeds 5 --tasks mlp --json out.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import optuna
import ray
from scipy.stats import loguniform, uniform
from sklearn.base import BaseEstimator
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import HalvingRandomSearchCV, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from orchestrator import Float, Int, tune

RAY_CPUS = 2
WORKERS = 2
ETA = 3
TARGET_RATIO = 3.0

# -- the synthetic multi-fidelity loss -----------------------------------------------------

Z_STAR = np.array([0.62, 0.27, 0.71])  # the full-budget optimum (normalised coordinates)
Z_LOW = np.array([0.40, 0.47, 0.53])  # where the optimum sits at the lowest budget
SYNTH_BMAX = 81


def synth_loss(config: dict[str, float], budget: float, bmax: float = SYNTH_BMAX) -> float:
    """Loss at ``budget``: a rippled bowl whose centre slides to ``Z_STAR`` as budget -> bmax.

    ``w = 1 - log(b) / log(bmax)`` is 1 at ``b = 1`` and 0 at the full budget; low budgets
    are biased (centre ``Z_LOW``), higher (+0.3 w) and noisy (0.05 w, a deterministic
    function of config and budget); the full budget is exact, with minimum 0 at ``Z_STAR``.
    """
    z = np.array([(math.log10(config["a"]) + 4.0) / 4.0, config["b"], config["c"]])
    w = 1.0 - math.log(budget) / math.log(bmax)
    d = z - ((1.0 - w) * Z_STAR + w * Z_LOW)
    value = 2.0 * float(d @ d) + 0.05 * float(np.sum(1.0 - np.cos(6.0 * math.pi * d)))
    if w > 0:
        key = zlib.crc32(np.round(np.append(z, budget), 9).tobytes())
        value += 0.3 * w + 0.05 * w * float(np.random.default_rng(key).standard_normal())
    return value


def synth_objective(config: dict[str, Any], budget: float) -> float:
    """The sweep's objective: ``objective(config, budget)``."""
    return synth_loss(config, budget)


def synth_steps(config: dict[str, Any], bmax: int) -> Iterator[float]:
    """Optuna's view: the loss after each unit of budget, 1..bmax."""
    for step in range(1, bmax + 1):
        yield synth_loss(config, step)


def synth_suggest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "a": trial.suggest_float("a", 1e-4, 1.0, log=True),
        "b": trial.suggest_float("b", 0.0, 1.0),
        "c": trial.suggest_float("c", 0.0, 1.0),
    }


class SynthEstimator(BaseEstimator):
    """The synthetic loss as an estimator for HalvingRandomSearchCV (``budget`` = resource)."""

    def __init__(self, a: float = 0.01, b: float = 0.5, c: float = 0.5, budget: int = 1) -> None:
        self.a, self.b, self.c, self.budget = a, b, c, budget

    def fit(self, X: Any, y: Any = None) -> SynthEstimator:
        return self

    def score(self, X: Any, y: Any = None) -> float:
        return -synth_loss({"a": self.a, "b": self.b, "c": self.c}, self.budget)


def synth_halving(seed: int, n_candidates: int, bmin: int, bmax: int) -> tuple[Any, Any, Any]:
    """A HalvingRandomSearchCV over the synthetic loss (scores are negated losses)."""
    X, y = np.zeros((2, 1)), np.array([0, 1])
    search = HalvingRandomSearchCV(
        SynthEstimator(),
        {"a": loguniform(1e-4, 1.0), "b": uniform(0, 1), "c": uniform(0, 1)},
        n_candidates=n_candidates,
        factor=ETA,
        resource="budget",
        min_resources=bmin,
        max_resources=bmax,
        cv=[(np.array([0]), np.array([1]))],
        refit=False,
        return_train_score=False,
        random_state=seed,
        n_jobs=1,
    )
    return search, X, y


# -- the real task: an MLP on digits -------------------------------------------------------


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits, 25 % stratified validation split (seed 0), standardised on the training part."""
    X, y = load_digits(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_va), y_tr, y_va


def make_mlp(config: dict[str, Any], max_iter: int) -> MLPClassifier:
    """The MLP of a configuration; early stopping off, so ``max_iter`` epochs always run."""
    return MLPClassifier(
        hidden_layer_sizes=(int(config["hidden"]),),
        learning_rate_init=config["lr"],
        alpha=config["alpha"],
        max_iter=max_iter,
        n_iter_no_change=10**9,
        random_state=0,
    )


class MLPObjective:
    """``objective(config, budget)``: validation accuracy after ``budget`` epochs."""

    def __init__(self, data: tuple[np.ndarray, ...]) -> None:
        self.X_tr, self.X_va, self.y_tr, self.y_va = data

    def __call__(self, config: dict[str, Any], budget: float) -> float:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model = make_mlp(config, int(budget)).fit(self.X_tr, self.y_tr)
        return float(model.score(self.X_va, self.y_va))

    def steps(self, config: dict[str, Any], bmax: int) -> Iterator[float]:
        """Optuna's view: one ``partial_fit`` epoch per step, then validation accuracy."""
        model, classes = make_mlp(config, 1), np.unique(self.y_tr)
        for _ in range(bmax):
            model.partial_fit(self.X_tr, self.y_tr, classes=classes)
            yield float(model.score(self.X_va, self.y_va))


def mlp_suggest(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "lr": trial.suggest_float("lr", 1e-4, 1e-1, log=True),
        "alpha": trial.suggest_float("alpha", 1e-6, 1e-1, log=True),
        "hidden": trial.suggest_int("hidden", 16, 256, log=True),
    }


class LogIntLayer:
    """A one-layer ``hidden_layer_sizes`` drawn log-uniformly from the integers low..high."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def rvs(self, random_state: Any = None) -> tuple[int]:
        rng = (
            np.random.default_rng(random_state)
            if not hasattr(random_state, "uniform")
            else random_state
        )
        value = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
        return (min(self.high, int(value)),)


HalvingFactory = Callable[[int, int, int, int], tuple[Any, Any, Any]]


def mlp_halving(data: tuple[np.ndarray, ...]) -> HalvingFactory:
    """A factory of HalvingRandomSearchCV runs on the fixed train/validation split."""
    X_tr, X_va, y_tr, y_va = data
    X, y = np.vstack([X_tr, X_va]), np.concatenate([y_tr, y_va])
    cv = [(np.arange(len(y_tr)), np.arange(len(y_tr), len(y)))]
    dists = {
        "learning_rate_init": loguniform(1e-4, 1e-1),
        "alpha": loguniform(1e-6, 1e-1),
        "hidden_layer_sizes": LogIntLayer(16, 256),
    }

    def make(seed: int, n_candidates: int, bmin: int, bmax: int) -> tuple[Any, Any, Any]:
        estimator = MLPClassifier(n_iter_no_change=10**9, random_state=0)
        search = HalvingRandomSearchCV(
            estimator,
            dists,
            n_candidates=n_candidates,
            factor=ETA,
            resource="max_iter",
            min_resources=bmin,
            max_resources=bmax,
            cv=cv,
            refit=False,
            return_train_score=False,
            random_state=seed,
            n_jobs=WORKERS,
        )
        return search, X, y

    return make


# -- tasks, settings and traces ------------------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """A sweep setting: rounds x samples_per_round, and the base budget schedule."""

    rounds: int
    samples: int
    schedule: str = "geometric"
    bounded: bool = True  # hard limits at the declared ranges (False: ranges may grow past)

    @property
    def label(self) -> str:
        extra = "" if self.schedule == "geometric" else f", {self.schedule}"
        return f"sweep {self.rounds}x{self.samples}{extra}" + ("" if self.bounded else ", may grow")


@dataclass
class Task:
    """One benchmark task: its objective in the four shapes the methods need."""

    name: str
    mode: str
    bmin: int
    bmax: int
    space: dict[str, Any]  # the declared ranges, as every baseline searches them
    objective: Callable[[dict[str, Any], float], float]
    steps: Callable[[dict[str, Any], int], Iterator[float]]
    suggest: Callable[[optuna.Trial], dict[str, Any]]
    halving: HalvingFactory  # (seed, n_candidates, bmin, bmax) -> (search, X, y)
    halving_sign: float  # halving maximises; multiply its scores by this for the task's score
    seeds: list[int]
    settings: list[Setting]

    @property
    def n_configs(self) -> int:
        return self.settings[0].rounds * self.settings[0].samples


@dataclass
class Trace:
    """A method's evaluations in order: cost of each, and its score if it was full-budget."""

    costs: np.ndarray
    full_scores: np.ndarray  # NaN where the evaluation was not an ok full-budget one
    wall_s: float
    configs: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        return float(self.costs.sum())

    def reach(self, target: float, mode: str) -> float | None:
        """Cumulative compute at the first full-budget score at least as good as target."""
        good = self.full_scores >= target if mode == "max" else self.full_scores <= target
        hits = np.flatnonzero(good)
        return float(np.cumsum(self.costs)[hits[0]]) if hits.size else None

    def best_within(self, compute: float, mode: str) -> float | None:
        """The best full-budget score among evaluations finished within ``compute``."""
        inside = self.full_scores[np.cumsum(self.costs) <= compute + 1e-9]
        inside = inside[~np.isnan(inside)]
        if inside.size == 0:
            return None
        return float(inside.max() if mode == "max" else inside.min())


class AtFullBudget:
    """The objective at the full budget, for random search through ``tune`` (no budget)."""

    def __init__(self, objective: Callable[[dict[str, Any], float], float], bmax: int) -> None:
        self.objective, self.bmax = objective, bmax

    def __call__(self, config: dict[str, Any]) -> float:
        return self.objective(config, self.bmax)


# -- the four methods ----------------------------------------------------------------------


def trace_from_table(table: Any, bmax: float, wall_s: float, info: dict[str, Any]) -> Trace:
    """A sweep's rows ordered by start time (then trial id)."""
    rows = table.select(["trial_id", "started_at", "budget", "status", "score"]).to_pylist()
    rows.sort(key=lambda r: (r["started_at"], r["trial_id"]))
    costs = np.array([bmax if r["budget"] is None else r["budget"] for r in rows], float)
    full = np.array(
        [
            r["score"]
            if r["status"] == "ok" and (r["budget"] is None or r["budget"] == bmax)
            else np.nan
            for r in rows
        ],
        float,
    )
    configs = len(
        set(zip(table.column("round").to_pylist(), table.column("config_id").to_pylist()))
    )
    return Trace(costs, full, wall_s, configs, info)


def bounded(space: dict[str, Any]) -> dict[str, Any]:
    """The same ranges with hard limits at their ends, so narrowing never grows past them.

    By default the sweep may grow a range past the declared one when the incumbent sits at
    its edge; the baselines cannot, so the primary comparison keeps the sweep inside too.
    """
    return {
        name: dataclasses.replace(dim, hard_low=dim.low, hard_high=dim.high)
        for name, dim in space.items()
    }


def run_random_search(task: Task, seed: int, n: int, run_root: str) -> Trace:
    """N configurations at the full budget: one round, narrowing off."""
    run_dir = tempfile.mkdtemp(prefix=f"rs-{task.name}-{seed}-", dir=run_root)
    t0 = time.perf_counter()
    result = tune(
        AtFullBudget(task.objective, task.bmax),
        task.space,
        mode=task.mode,
        rounds=1,
        samples_per_round=n,
        seed=seed,
        workers=WORKERS,
        narrowing="none",
        run_dir=run_dir,
    )
    wall = time.perf_counter() - t0
    return trace_from_table(result.table, task.bmax, wall, {"best": result.best_score})


def run_sweep(task: Task, seed: int, setting: Setting, run_root: str) -> Trace:
    """The product: ``tune`` with the budget, default narrowing and stopping."""
    run_dir = tempfile.mkdtemp(prefix=f"sweep-{task.name}-{seed}-", dir=run_root)
    budget = {"min": task.bmin, "max": task.bmax, "eta": ETA, "schedule": setting.schedule}
    space = bounded(task.space) if setting.bounded else task.space
    t0 = time.perf_counter()
    result = tune(
        task.objective,
        space,
        mode=task.mode,
        rounds=setting.rounds,
        samples_per_round=setting.samples,
        seed=seed,
        workers=WORKERS,
        budget=budget,
        run_dir=run_dir,
    )
    wall = time.perf_counter() - t0
    info = {
        "best": result.best_score,
        "rounds_run": result.rounds_run,
        "stop_reason": result.stop_reason,
    }
    trace = trace_from_table(result.table, task.bmax, wall, info)
    if trace.best_within(math.inf, task.mode) != result.best_score:  # the product's own best
        raise RuntimeError(
            f"sweep best {result.best_score} != best full-budget row "
            f"{trace.best_within(math.inf, task.mode)}"
        )
    return trace


def halving_compute(n_candidates: int, bmin: int, bmax: int) -> int:
    """Total resources HalvingRandomSearchCV spends (scikit-learn's own schedule)."""
    required = 1 + math.floor(math.log(n_candidates, ETA))
    possible = 1 + math.floor(math.log(bmax // bmin, ETA))
    total, n = 0, n_candidates
    for itr in range(min(required, possible)):
        total += n * min(int(ETA**itr * bmin), bmax)
        n = math.ceil(n / ETA)
    return total


def halving_candidates(compute: float, bmin: int, bmax: int) -> int:
    """The most candidates whose halving run spends at most ``compute``."""
    n = ETA
    while halving_compute(n + 1, bmin, bmax) <= compute:
        n += 1
    return n


def run_halving(task: Task, seed: int, n_candidates: int) -> Trace:
    """HalvingRandomSearchCV; its rows ordered by iteration, each candidate counted once."""
    search, X, y = task.halving(seed, n_candidates, task.bmin, task.bmax)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        search.fit(X, y)
    wall = time.perf_counter() - t0
    res = search.cv_results_
    order = np.argsort(np.asarray(res["iter"]), kind="stable")
    costs = np.asarray(res["n_resources"], float)[order]
    scores = task.halving_sign * np.asarray(res["mean_test_score"], float)[order]
    full = np.where(costs == task.bmax, scores, np.nan)
    info = {"n_candidates": n_candidates, "iterations": int(search.n_iterations_)}
    return Trace(costs, full, wall, n_candidates, info)


def run_optuna(task: Task, seed: int, compute: float) -> Trace:
    """TPE + Hyperband pruning, one unit of budget per step, until ``compute`` is spent."""
    costs: list[float] = []
    full: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        value = math.nan
        for step, value in enumerate(task.steps(task.suggest(trial), task.bmax), start=1):
            costs.append(1.0)
            full.append(value if step == task.bmax else math.nan)
            trial.report(value, step)
            if step < task.bmax and trial.should_prune():
                raise optuna.TrialPruned()
        return value

    def stop(study: optuna.Study, _: Any) -> None:
        if len(costs) >= compute:
            study.stop()

    study = optuna.create_study(
        direction="maximize" if task.mode == "max" else "minimize",
        sampler=optuna.samplers.TPESampler(seed=seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=task.bmin, max_resource=task.bmax, reduction_factor=ETA
        ),
    )
    t0 = time.perf_counter()
    with threadpool_limits(1):  # one BLAS thread, like each sweep worker and loky worker
        study.optimize(objective, callbacks=[stop])
    wall = time.perf_counter() - t0
    info = {"trials": len(study.trials)}
    return Trace(np.array(costs), np.array(full), wall, len(study.trials), info)


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


def seed_results(
    task: Task, seed: int, run_root: str, log: Callable[[str], None]
) -> dict[str, Any]:
    """Every method on one seed; S_rs and the equal compute come from this seed's runs."""
    rs = run_random_search(task, seed, task.n_configs, run_root)
    s_rs = rs.best_within(math.inf, task.mode)
    traces: dict[str, Trace] = {"random search": rs}
    for setting in task.settings:
        traces[setting.label] = run_sweep(task, seed, setting, run_root)
    equal = traces[task.settings[0].label].total
    traces[f"halving, {task.n_configs} cands"] = run_halving(task, seed, task.n_configs)
    n_eq = halving_candidates(equal, task.bmin, task.bmax)
    traces["halving, equal compute"] = run_halving(task, seed, n_eq)
    traces["optuna TPE+Hyperband"] = run_optuna(task, seed, equal)
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
    log(
        f"  seed {seed}: S_rs={s_rs:.4f}, equal compute={equal:g}, "
        + ", ".join(
            f"{n}: reach={_fmt_num(r.reach)} best@eq={_fmt_score(r.best_at_equal)}"
            for n, r in out.items()
        )
    )
    return {"seed": seed, "s_rs": s_rs, "equal_compute": equal, "methods": out}


def warm_up(task: Task, run_root: str) -> None:
    """Untimed small runs: first imports, loky's worker pool, Ray worker processes."""
    small = Task(**{**task.__dict__, "seeds": [0], "settings": [Setting(2, 6)]})
    run_sweep(small, 0, Setting(2, 6), run_root)
    run_halving(small, 0, 9)
    run_random_search(small, 0, 4, run_root)


def run_task(task: Task, run_root: str, log: Callable[[str], None]) -> list[dict[str, Any]]:
    log(f"{task.name}: warming up, then {len(task.seeds)} seeds")
    warm_up(task, run_root)
    return [seed_results(task, seed, run_root, log) for seed in task.seeds]


# -- summaries and printing ----------------------------------------------------------------


def _median(values: Sequence[float | None], mode: str | None = None) -> float | None:
    """Median; None (not reached / no score) counts as the worst value."""
    worst = math.inf if mode in (None, "min") else -math.inf
    vals = [worst if v is None else v for v in values]
    med = statistics.median(vals) if vals else None
    return None if med is None or math.isinf(med) else med


def _fmt_num(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _fmt_score(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def summarise(task: Task, seeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per method: medians over seeds."""
    rs_compute = task.n_configs * task.bmax
    rows = []
    for name in seeds[0]["methods"]:
        results = [s["methods"][name] for s in seeds]
        reach = _median([r.reach for r in results])
        rows.append(
            {
                "method": name,
                "configs": _median([r.configs for r in results]),
                "reached": sum(r.reach is not None for r in results),
                "seeds": len(results),
                "reach": reach,
                "ratio": None if reach is None else rs_compute / reach,
                "best_at_equal": _median([r.best_at_equal for r in results], task.mode),
                "final_best": _median([r.final_best for r in results], task.mode),
                "total": _median([r.total for r in results]),
                "wall_s": _median([r.wall_s for r in results]),
            }
        )
    return rows


def format_table(task: Task, rows: list[dict[str, Any]], seeds: list[dict[str, Any]]) -> str:
    eq = _median([s["equal_compute"] for s in seeds])
    head = (
        f"{task.name}: mode {task.mode}, budget {task.bmin}..{task.bmax}, N = "
        f"{task.n_configs} configurations, {len(seeds)} seeds; median S_rs = "
        f"{_fmt_score(_median([s['s_rs'] for s in seeds], task.mode))}; random search "
        f"N*bmax = {task.n_configs * task.bmax:,}; equal compute (median) = {_fmt_num(eq)}"
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
    lines = [head, "| " + " | ".join(cols) + " |", "|" + " --- |" * len(cols)]
    for r in rows:
        reach = f"{_fmt_num(r['reach'])} ({r['reached']}/{r['seeds']})"
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        lines.append(
            f"| {r['method']} | {_fmt_num(r['configs'])} | {reach} | {ratio} | "
            f"{_fmt_score(r['best_at_equal'])} | {_fmt_score(r['final_best'])} | "
            f"{_fmt_num(r['total'])} | {r['wall_s']:.1f} |"
        )
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
    ours = primary["best_at_equal"]
    for name, r in by.items():
        if name == primary["method"] or name.startswith("sweep"):
            continue
        theirs = r["best_at_equal"]
        ok = ours is not None and (theirs is None or sign * ours >= sign * theirs)
        out.append(
            f"{task.name} (b) {'PASS' if ok else 'MISS'}: at equal compute sweep "
            f"{_fmt_score(ours)} vs {name} {_fmt_score(theirs)} (median; sweep at least "
            f"as good on {per_seed_wins(task, seeds, name)}/{len(seeds)} seeds)"
        )
    return out


def machine_facts() -> dict[str, Any]:
    from importlib import metadata

    cpu = (
        next(
            (
                line.split(":", 1)[1].strip()
                for line in open("/proc/cpuinfo")
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if os.path.exists("/proc/cpuinfo")
        else platform.processor()
    )
    facts: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu": cpu,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_1min": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
    }
    for dist in (
        "sweep-orchestrator",
        "ray",
        "numpy",
        "scipy",
        "scikit-learn",
        "optuna",
        "pyarrow",
    ):
        try:
            facts[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            facts[dist] = None
    facts["commit"] = git_commit()
    return facts


def git_commit() -> str | None:
    """The repository's commit, with ``+dirty`` if the product code has local changes."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(
            ["git", "-C", root, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", root, "status", "--porcelain", "--", "orchestrator", "workers"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+dirty" if dirty else "")


# -- command line --------------------------------------------------------------------------


def build_tasks(args: argparse.Namespace) -> list[Task]:
    """The tasks to run, at full or --quick size."""
    q = args.quick
    synth_settings = (
        [Setting(6, 27), Setting(18, 9)]
        if q
        else [
            Setting(6, 27),
            Setting(3, 54),
            Setting(9, 18),
            Setting(18, 9),
            Setting(6, 27, "fixed"),
            Setting(18, 9, "fixed"),
            Setting(6, 27, bounded=False),
        ]
    )
    synth = Task(
        "synthetic",
        "min",
        1,
        SYNTH_BMAX,
        {"a": Float(1e-4, 1.0, log=True), "b": Float(0.0, 1.0), "c": Float(0.0, 1.0)},
        synth_objective,
        synth_steps,
        synth_suggest,
        synth_halving,
        -1.0,
        list(range(args.seeds or (2 if q else 10))),
        synth_settings,
    )
    data = digits_split()
    mlp_obj = MLPObjective(data)
    mlp = Task(
        "mlp",
        "max",
        3,
        27 if q else 81,
        {
            "lr": Float(1e-4, 1e-1, log=True),
            "alpha": Float(1e-6, 1e-1, log=True),
            "hidden": Int(16, 256, log=True),
        },
        mlp_obj,
        mlp_obj.steps,
        mlp_suggest,
        mlp_halving(data),
        1.0,
        list(range(args.seeds or (1 if q else 3))),
        [Setting(4, 9)] if q else [Setting(6, 27), Setting(6, 27, bounded=False)],
    )
    return [t for t in (synth, mlp) if t.name in args.tasks]


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small smoke run (about a minute)")
    p.add_argument(
        "--seeds",
        type=int,
        default=None,
        help="seeds per task (default: synthetic 10, mlp 3; --quick: 2 and 1)",
    )
    p.add_argument("--tasks", default="synthetic,mlp", help="comma-separated: synthetic,mlp")
    p.add_argument("--json", default=None, help="write every per-seed number to this file")
    args = p.parse_args(argv)
    args.tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    return args


def write_json(path: str, facts: dict[str, Any], report: dict[str, Any]) -> None:
    def plain(seeds: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**s, "methods": {k: asdict(v) for k, v in s["methods"].items()}} for s in seeds]

    out = {
        "machine": facts,
        "tasks": {name: {**rep, "seeds": plain(rep["seeds"])} for name, rep in report.items()},
    }
    with open(path, "w") as fh:
        json.dump(out, fh, indent=2, default=str)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    facts = machine_facts()
    tasks = build_tasks(args)
    started = time.perf_counter()
    ray.init(
        address="local", num_cpus=RAY_CPUS, include_dashboard=False, logging_level=logging.WARNING
    )
    report: dict[str, Any] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-fidelity-") as run_root:
            for task in tasks:
                seeds = run_task(task, run_root, log)
                rows = summarise(task, seeds)
                report[task.name] = {
                    "rows": rows,
                    "targets": targets(task, rows, seeds),
                    "seeds": seeds,
                }
    finally:
        ray.shutdown()
    elapsed = time.perf_counter() - started
    print("machine: " + ", ".join(f"{k} {v}" for k, v in facts.items()))
    for task in tasks:
        rep = report[task.name]
        print("\n" + format_table(task, rep["rows"], rep["seeds"]) + "\n" + table_notes(task))
    print("\ntargets:")
    for rep in report.values():
        print("\n".join("  " + line for line in rep["targets"]))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    print(f"\ntotal runtime {elapsed:.0f} s (1-minute load average at the end: {load})")
    if args.json:
        write_json(args.json, facts, report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
