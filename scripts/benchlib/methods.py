"""The methods the benchmarks compare: how each tuner or runner is called, in one place.

- Shared: the local Ray every benchmark starts once (:func:`local_ray`), Optuna quietened
  (:func:`quiet_optuna`) and its samplers by name (:func:`optuna_sampler`), a timed
  ``tune`` call (:func:`timed_tune`).
- Fixed budget (search benchmark), each returning the losses in evaluation order and the
  configuration it chose: the product (:func:`sweep_losses`, also as plain random search
  and with overlapping rounds),
  Optuna TPE or random (:func:`optuna_losses`), ``RandomizedSearchCV`` (:func:`rscv_losses`).
- Multi-fidelity (fidelity benchmark), each returning a :class:`Trace` of costs and
  full-budget scores: random search at the full budget (:func:`random_search_trace`), the
  product with a budget (:func:`sweep_trace`), ``HalvingRandomSearchCV``
  (:func:`halving_trace`, with its compute schedule), Optuna TPE + Hyperband
  (:func:`hyperband_trace`).
- Throughput (overhead benchmark), each returning wall seconds for N trials: the product
  (:func:`sweep_seconds`), one Ray task per trial, Ray Tune, Optuna, joblib, a plain loop.

Optuna, Ray, Ray Tune, joblib and the product are imported where they are used, so a
benchmark that does not run a method does not need its library.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import math
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .problems import (
    UNIT_PARAMS,
    BudgetObjective,
    FidelityProblem,
    Objective,
    ObjectiveEstimator,
    Param,
    optuna_suggest,
    plain_config,
    quiet_fits,
    ray_tune_space,
    sklearn_distributions,
    sweep_space,
)
from .reporting import peak_rss_mib

RAY_CPUS = 2  # the local Ray every benchmark starts
WORKERS = 2  # workers (or jobs) a parallel method gets


# -- shared -------------------------------------------------------------------------------


@contextlib.contextmanager
def local_ray(**options: Any) -> Iterator[None]:
    """A local Ray with :data:`RAY_CPUS` CPUs and no dashboard, shut down on the way out."""
    import ray

    ray.init(address="local", num_cpus=RAY_CPUS, include_dashboard=False, **options)
    try:
        yield
    finally:
        ray.shutdown()


def quiet_optuna() -> None:
    """Optuna logs warnings only, and does not warn about its experimental features."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def optuna_sampler(kind: str, seed: int) -> Any:
    """Optuna's ``TPESampler`` (``"tpe"``) or ``RandomSampler`` (``"random"``), seeded."""
    import optuna

    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown Optuna sampler {kind!r}")


def timed_tune(objective: Any, space: dict[str, Any], **options: Any) -> tuple[Any, float]:
    """``tune(objective, space, **options)`` and its wall seconds (the whole call)."""
    from orchestrator import tune

    t0 = time.perf_counter()
    result = tune(objective, space, **options)
    return result, time.perf_counter() - t0


# -- fixed budget: the losses in evaluation order and the configuration chosen ---------------


def sweep_losses(
    objective: Objective,
    params: tuple[Param, ...],
    *,
    rounds: int,
    per_round: int,
    seed: int,
    control: bool,
    use_ray: bool,
    overlap: int | str,
) -> dict[str, Any]:
    """The product's defaults (``control``: narrowing off, random sampler: random search).

    In-process unless ``use_ray`` (then on :data:`WORKERS` Ray workers): a round's samples
    depend only on the seed, the round, the ranges and ``overlap``, so the executor does not
    change them. ``overlap`` L: round k samples in ranges proposed from the rounds before
    k - L (0: every round waits for the one before; ``"auto"`` resolves to 0 in-process
    but to at least 1 on Ray workers, so pass a number to compare like with like).
    """
    from orchestrator import tune
    from orchestrator.execution.serial import SerialExecutor

    space = sweep_space(params)
    control_options: dict[str, Any] = {"narrowing": "none", "sampler": "random"} if control else {}
    with tempfile.TemporaryDirectory() as tmp:
        executor = None if use_ray else SerialExecutor(objective, param_names=list(space))
        result = tune(
            objective,
            space,
            mode="min",
            rounds=rounds,
            samples_per_round=per_round,
            seed=seed,
            **control_options,
            overlap=overlap,
            executor=executor,
            run_dir=Path(tmp) / "run",
            workers=WORKERS if use_ray else None,
        )
        table = result.table.sort_by("trial_id")
        status = table.column("status").to_pylist()
        scores = table.column("score").to_pylist()
        losses = [s if st == "ok" and s is not None else math.inf for s, st in zip(scores, status)]
        return {
            "losses": losses,
            "config": result.best_config,
            "rounds_run": result.rounds_run,
            "stop": result.stop_reason,
        }


def optuna_losses(
    objective: Objective, params: tuple[Param, ...], *, sampler: str, seed: int, n_trials: int
) -> dict[str, Any]:
    """Optuna with its ``sampler`` (defaults, seeded), one trial at a time."""
    import optuna

    quiet_optuna()
    study = optuna.create_study(direction="minimize", sampler=optuna_sampler(sampler, seed))
    study.optimize(lambda trial: objective(optuna_suggest(trial, params)), n_trials=n_trials)
    losses = [t.value if t.value is not None else math.inf for t in study.trials]
    return {"losses": losses, "config": dict(study.best_params)}


def rscv_losses(
    objective: Objective, params: tuple[Param, ...], *, seed: int, n_iter: int
) -> dict[str, Any]:
    """``RandomizedSearchCV`` over an estimator whose score is minus the objective."""
    from sklearn.model_selection import RandomizedSearchCV

    search = RandomizedSearchCV(
        ObjectiveEstimator(objective=objective),
        sklearn_distributions(params),
        n_iter=n_iter,
        cv=[(np.array([0]), np.array([1]))],
        refit=False,
        random_state=seed,
        error_score=-math.inf,
    )
    search.fit(np.zeros((2, 1)), np.zeros(2))
    losses = [-s for s in search.cv_results_["mean_test_score"]]
    best = search.cv_results_["params"][int(np.argmin(losses))]
    return {"losses": losses, "config": plain_config(best)}


# -- multi-fidelity: costs and full-budget scores in evaluation order ------------------------


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

    def __init__(self, objective: BudgetObjective, bmax: int) -> None:
        self.objective, self.bmax = objective, bmax

    def __call__(self, config: dict[str, Any]) -> float:
        return self.objective(config, self.bmax)


def trace_from_table(table: Any, bmax: float, wall_s: float, info: dict[str, Any]) -> Trace:
    """A sweep's rows ordered by start time (then trial id); an evaluation costs its budget,
    or what it trained (``trained``) when it continued from a lower rung."""
    names = ["trial_id", "started_at", "budget", "status", "score"]
    names += [n for n in ("trained",) if n in table.column_names]
    rows = table.select(names).to_pylist()
    rows.sort(key=lambda r: (r["started_at"], r["trial_id"]))
    costs = np.array(
        [
            r["trained"]
            if r.get("trained") is not None
            else (bmax if r["budget"] is None else r["budget"])
            for r in rows
        ],
        float,
    )
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


def random_search_trace(problem: FidelityProblem, seed: int, n: int, run_root: str) -> Trace:
    """N configurations at the full budget: one round, narrowing off."""
    run_dir = tempfile.mkdtemp(prefix=f"rs-{problem.name}-{seed}-", dir=run_root)
    result, wall = timed_tune(
        AtFullBudget(problem.objective, problem.bmax),
        problem.space,
        mode=problem.mode,
        rounds=1,
        samples_per_round=n,
        seed=seed,
        workers=WORKERS,
        narrowing="none",
        run_dir=run_dir,
    )
    return trace_from_table(result.table, problem.bmax, wall, {"best": result.best_score})


def sweep_trace(
    problem: FidelityProblem,
    seed: int,
    *,
    rounds: int,
    samples: int,
    schedule: str,
    bounded_ranges: bool,
    eta: int,
    run_root: str,
    continues: bool = False,
) -> Trace:
    """The product: ``tune`` with the budget, default narrowing and stopping.

    ``bounded_ranges`` puts hard limits at the declared ends (see :func:`bounded`);
    ``continues``: the problem's continuing objective, so a promoted configuration trains
    only what its state lacks (the compute is then what each evaluation trained).
    """
    run_dir = tempfile.mkdtemp(prefix=f"sweep-{problem.name}-{seed}-", dir=run_root)
    budget = {"min": problem.bmin, "max": problem.bmax, "eta": eta, "schedule": schedule}
    space = bounded(problem.space) if bounded_ranges else problem.space
    objective = problem.continuing if continues else problem.objective
    if objective is None:
        raise ValueError(f"{problem.name} has no continuing objective")
    result, wall = timed_tune(
        objective,
        space,
        mode=problem.mode,
        rounds=rounds,
        samples_per_round=samples,
        seed=seed,
        workers=WORKERS,
        budget=budget,
        run_dir=run_dir,
    )
    info = {
        "best": result.best_score,
        "rounds_run": result.rounds_run,
        "stop_reason": result.stop_reason,
    }
    trace = trace_from_table(result.table, problem.bmax, wall, info)
    if trace.best_within(math.inf, problem.mode) != result.best_score:  # the product's own best
        raise RuntimeError(
            f"sweep best {result.best_score} != best full-budget row "
            f"{trace.best_within(math.inf, problem.mode)}"
        )
    return trace


def halving_compute(n_candidates: int, bmin: int, bmax: int, eta: int) -> int:
    """Total resources HalvingRandomSearchCV spends (scikit-learn's own schedule)."""
    required = 1 + math.floor(math.log(n_candidates, eta))
    possible = 1 + math.floor(math.log(bmax // bmin, eta))
    total, n = 0, n_candidates
    for itr in range(min(required, possible)):
        total += n * min(int(eta**itr * bmin), bmax)
        n = math.ceil(n / eta)
    return total


def halving_candidates(compute: float, bmin: int, bmax: int, eta: int) -> int:
    """The most candidates whose halving run spends at most ``compute``."""
    n = eta
    while halving_compute(n + 1, bmin, bmax, eta) <= compute:
        n += 1
    return n


def halving_trace(problem: FidelityProblem, seed: int, n_candidates: int, eta: int) -> Trace:
    """HalvingRandomSearchCV; its rows ordered by iteration, each candidate counted once."""
    from sklearn.experimental import enable_halving_search_cv  # noqa: F401 - enables the next
    from sklearn.model_selection import HalvingRandomSearchCV

    view = problem.halving
    if view is None:
        raise ValueError(f"{problem.name} has no scikit-learn estimator to halve")
    search = HalvingRandomSearchCV(
        view.estimator,
        view.distributions,
        n_candidates=n_candidates,
        factor=eta,
        resource=view.resource,
        min_resources=problem.bmin,
        max_resources=problem.bmax,
        cv=view.cv,
        refit=False,
        return_train_score=False,
        random_state=seed,
        n_jobs=view.n_jobs,
    )
    t0 = time.perf_counter()
    with quiet_fits():
        search.fit(view.X, view.y)
    wall = time.perf_counter() - t0
    res = search.cv_results_
    order = np.argsort(np.asarray(res["iter"]), kind="stable")
    costs = np.asarray(res["n_resources"], float)[order]
    scores = problem.halving_sign * np.asarray(res["mean_test_score"], float)[order]
    full = np.where(costs == problem.bmax, scores, np.nan)
    info = {"n_candidates": n_candidates, "iterations": int(search.n_iterations_)}
    return Trace(costs, full, wall, n_candidates, info)


def hyperband_trace(problem: FidelityProblem, seed: int, compute: float, eta: int) -> Trace:
    """TPE + Hyperband pruning, one unit of budget per step, until ``compute`` is spent."""
    import optuna
    from threadpoolctl import threadpool_limits

    costs: list[float] = []
    full: list[float] = []

    def objective(trial: optuna.Trial) -> float:
        value = math.nan
        for step, value in enumerate(problem.steps(problem.suggest(trial), problem.bmax), 1):
            costs.append(1.0)
            full.append(value if step == problem.bmax else math.nan)
            trial.report(value, step)
            if step < problem.bmax and trial.should_prune():
                raise optuna.TrialPruned()
        return value

    def stop(study: optuna.Study, _: Any) -> None:
        if len(costs) >= compute:
            study.stop()

    study = optuna.create_study(
        direction="maximize" if problem.mode == "max" else "minimize",
        sampler=optuna_sampler("tpe", seed),
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=problem.bmin, max_resource=problem.bmax, reduction_factor=eta
        ),
    )
    t0 = time.perf_counter()
    with threadpool_limits(1):  # one BLAS thread, like each sweep worker and loky worker
        study.optimize(objective, callbacks=[stop])
    wall = time.perf_counter() - t0
    info = {"trials": len(study.trials)}
    return Trace(np.array(costs), np.array(full), wall, len(study.trials), info)


# -- throughput: wall seconds for N trials -----------------------------------------------------


def make_configs(n: int) -> list[dict[str, float]]:
    """N configurations ``{"x": ...}`` drawn uniformly from [0, 1] (seed 0)."""
    rng = np.random.default_rng(0)
    return [{"x": float(v)} for v in rng.random(n)]


def sweep_seconds(
    objective: Objective,
    n: int,
    workers: int,
    warm_n: int = 0,
    rounds: int = 1,
    pool: Any = None,
) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one ``tune`` call over ``n`` trials, and facts from its result.

    With ``warm_n``, an untimed ``tune`` over ``warm_n`` trials runs first (driver imports
    and first-call costs; without a ``pool`` every ``tune`` call still starts its own
    worker actors). The ``n`` trials are ``rounds`` rounds of ``n // rounds``, narrowing
    off; ``peak_rss_mib`` is this process's high-water mark right after the call.
    """
    if warm_n:
        sweep_seconds(objective, warm_n, workers, pool=pool)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as run_dir:
        result, wall = timed_tune(
            objective,
            sweep_space(UNIT_PARAMS),
            mode="min",
            rounds=rounds,
            samples_per_round=n // rounds,
            seed=0,
            workers=workers,
            run_dir=run_dir,
            narrowing="none",
            pool=pool,
        )
        peak = peak_rss_mib()
        meta = json.loads((Path(run_dir) / "run.json").read_text())
    table = result.table
    statuses = table.column("status").to_pylist()
    durations = table.column("duration_s").to_numpy()
    facts = {
        "rows": table.num_rows,
        "not_ok": sum(1 for s in statuses if s != "ok"),
        "objective_s": float(durations.sum()),
        "shards": len(set(table.column("shard").to_pylist())),
        "workers_start_s": float(meta["workers_start_s"]),
        "peak_rss_mib": peak,
    }
    if facts["rows"] != n or facts["not_ok"]:
        raise RuntimeError(f"sweep returned {facts['rows']} rows, {facts['not_ok']} not ok")
    return wall, facts


def ray_tasks_seconds(objective: Objective, n: int, workers: int, warm_n: int = 0) -> float:
    """Wall seconds to run ``n`` trials as one bare Ray task each (submit all, get all).

    With ``warm_n``, ``warm_n`` untimed tasks run first, so Ray's task worker processes
    are up and the function is exported before the clock starts.
    """
    import ray

    cpus = min(1.0, RAY_CPUS / workers)
    task = ray.remote(num_cpus=cpus)(objective)
    if warm_n:
        ray.get([task.remote(config) for config in make_configs(warm_n)])
    configs = make_configs(n)
    t0 = time.perf_counter()
    refs = [task.remote(config) for config in configs]
    results = ray.get(refs)
    wall = time.perf_counter() - t0
    if len(results) != n:
        raise RuntimeError(f"ray tasks returned {len(results)} results for {n} trials")
    return wall


def in_process_seconds(objective: Objective, n: int) -> float:
    """Wall seconds to call the objective ``n`` times in a plain loop, in this process."""
    configs = make_configs(n)
    t0 = time.perf_counter()
    for config in configs:
        objective(config)
    return time.perf_counter() - t0


def ray_tune_seconds(objective: Objective, n: int, warm_n: int = 0) -> float:
    """Wall seconds of one ``Tuner.fit`` over ``n`` samples, Tune's defaults otherwise.

    Only the storage (a fresh temporary directory) and the console output (off, it would
    interleave with the table) are set; Tune's default ``reuse_actors=False`` starts one
    actor process per trial. With ``warm_n``, an untimed fit runs first.
    """
    from ray import tune as ray_tune

    if warm_n:
        ray_tune_seconds(objective, warm_n)

    def trainable(config: dict[str, Any]) -> dict[str, Any]:
        return {"score": objective(config)}

    with tempfile.TemporaryDirectory(prefix="bench-tune-") as storage:
        tuner = ray_tune.Tuner(
            trainable,
            param_space=ray_tune_space(UNIT_PARAMS),
            tune_config=ray_tune.TuneConfig(num_samples=n),
            run_config=ray_tune.RunConfig(storage_path=storage, name="bench", verbose=0),
        )
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # Tune prints tables despite verbose=0
            grid = tuner.fit()
        wall = time.perf_counter() - t0
    if len(grid) != n or grid.num_errors:
        raise RuntimeError(f"ray tune ran {len(grid)} trials, {grid.num_errors} errors")
    return wall


def optuna_seconds(objective: Objective, n: int, workers: int, warm_n: int = 0) -> float:
    """Wall seconds of ``study.optimize`` over ``n`` trials on ``workers`` threads.

    In-memory storage, ``RandomSampler``; with ``warm_n``, an untimed study runs first.
    """
    import optuna

    if warm_n:
        optuna_seconds(objective, warm_n, workers)

    def optuna_objective(trial: optuna.Trial) -> float:
        return objective(optuna_suggest(trial, UNIT_PARAMS))

    study = optuna.create_study(direction="minimize", sampler=optuna_sampler("random", 0))
    t0 = time.perf_counter()
    study.optimize(optuna_objective, n_trials=n, n_jobs=workers)
    wall = time.perf_counter() - t0
    if len(study.trials) != n:
        raise RuntimeError(f"optuna ran {len(study.trials)} trials for {n}")
    return wall


def joblib_seconds(objective: Objective, n: int, workers: int, warm_n: int = 0) -> float:
    """Wall seconds of ``joblib.Parallel(n_jobs=workers)`` over ``n`` trials.

    With ``warm_n``, an untimed call runs first, so the loky worker processes (reused
    across calls) are up before the clock starts.
    """
    import joblib

    if warm_n:
        joblib_seconds(objective, warm_n, workers)
    configs = make_configs(n)
    t0 = time.perf_counter()
    results = joblib.Parallel(n_jobs=workers)(joblib.delayed(objective)(c) for c in configs)
    wall = time.perf_counter() - t0
    if len(results) != n:
        raise RuntimeError(f"joblib returned {len(results)} results for {n} trials")
    return wall
