#!/usr/bin/env python3
"""Search-quality benchmark: how good a configuration each tuner finds in N evaluations.

Every method gets the same number of evaluations of the same deterministic objective (a loss
to minimise) on each task and seed; the script prints, per task, the median and spread of the
final loss (regret on tasks with a known optimum) and how many evaluations each method needed
to reach plain random search's final median. Everything runs in one invocation on one
machine, side by side.

Tasks (``--tasks``):

- ``branin`` (2-D), ``hartmann6`` (6-D, multimodal) and ``rosenbrock_log`` (4-D, every
  parameter on a log range, Rosenbrock in log10 space): known optima inside the declared
  ranges, which are also hard limits (no method may leave them).
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
  = the evaluation budget (10 x 20 on the synthetic tasks, 10 x 10 on the real ones).
- ``random``: the same ``tune`` call with ``narrowing="none"`` - plain random search, the
  control.
- ``tpe``: Optuna's ``TPESampler(seed=...)`` (defaults), sequential.
- ``optuna_random``: Optuna's ``RandomSampler(seed=...)``.
- ``rscv``: scikit-learn's ``RandomizedSearchCV`` (``n_iter`` = the budget, scipy
  ``loguniform``/``uniform``/``randint`` distributions) over an estimator whose score is the
  task's objective, so every method sees exactly the same function.

Sweeps run on the in-process executor (``orchestrator.execution.serial``): a sweep samples the same
configurations for any number of workers (the round's samples depend only on the seed, the
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

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one BLAS thread per job process

import argparse
import json
import math
import platform
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

METHODS = ("sweep", "random", "tpe", "optuna_random", "rscv")
LABELS = {
    "sweep": "sweep (default)",
    "random": "sweep, narrowing off (random search)",
    "tpe": "Optuna TPE",
    "optuna_random": "Optuna random",
    "rscv": "RandomizedSearchCV",
}


# -- search spaces, declared once and translated for each library -------------------------
@dataclass(frozen=True)
class Param:
    name: str
    kind: str  # "float", "int" or "choice"
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    values: tuple[Any, ...] = ()
    hard_low: float | None = None
    hard_high: float | None = None


def F(name: str, low: float, high: float, *, log: bool = False, hard: bool | tuple = True) -> Param:
    """A float; ``hard=True`` makes the declared range a hard limit, a pair sets limits."""
    limits = (low, high) if hard is True else (None, None) if hard is False else hard
    return Param(name, "float", low, high, log, hard_low=limits[0], hard_high=limits[1])


def I(name: str, low: int, high: int, *, log: bool = False, hard: bool | tuple = True) -> Param:
    limits = (low, high) if hard is True else (None, None) if hard is False else hard
    return Param(name, "int", low, high, log, hard_low=limits[0], hard_high=limits[1])


def C(name: str, *values: Any) -> Param:
    return Param(name, "choice", values=values)


def sweep_space(params: Sequence[Param]) -> dict[str, Any]:
    from orchestrator.search.space import Choice, Float, Int

    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            out[p.name] = Choice(list(p.values))
        else:
            cls = Float if p.kind == "float" else Int
            out[p.name] = cls(p.low, p.high, log=p.log, hard_low=p.hard_low, hard_high=p.hard_high)
    return out


def optuna_suggest(trial: Any, params: Sequence[Param]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            out[p.name] = trial.suggest_categorical(p.name, list(p.values))
        elif p.kind == "int":
            out[p.name] = trial.suggest_int(p.name, int(p.low), int(p.high), log=p.log)
        else:
            out[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
    return out


def sklearn_distributions(params: Sequence[Param]) -> dict[str, Any]:
    from scipy import stats

    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            out[p.name] = list(p.values)
        elif p.kind == "int":
            out[p.name] = (
                stats.randint(int(p.low), int(p.high) + 1)
                if not p.log
                else _LogInt(int(p.low), int(p.high))
            )
        elif p.log:
            out[p.name] = stats.loguniform(p.low, p.high)
        else:
            out[p.name] = stats.uniform(p.low, p.high - p.low)
    return out


class _LogInt:
    """A log-uniform integer distribution (scipy has none) with the ``rvs`` sklearn calls."""

    def __init__(self, low: int, high: int) -> None:
        self.low, self.high = low, high

    def rvs(self, size: Any = None, random_state: Any = None) -> Any:
        rng = (
            np.random.default_rng(random_state)
            if not isinstance(random_state, np.random.RandomState)
            else random_state
        )
        u = rng.uniform(math.log(self.low - 0.5), math.log(self.high + 0.5), size=size)
        return np.clip(np.rint(np.exp(u)), self.low, self.high).astype(int)


# -- synthetic functions with known optima ------------------------------------------------
def branin(c: dict[str, Any]) -> float:
    x1, x2 = c["x1"], c["x2"]
    b, cc, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + cc * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


_H6_A = np.array(
    [
        [10, 3, 17, 3.5, 1.7, 8],
        [0.05, 10, 17, 0.1, 8, 14],
        [3, 3.5, 1.7, 10, 17, 8],
        [17, 8, 0.05, 10, 0.1, 14],
    ]
)
_H6_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
_H6_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])


def hartmann6(c: dict[str, Any]) -> float:
    x = np.array([c[f"x{i}"] for i in range(1, 7)])
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def rosenbrock_log(c: dict[str, Any]) -> float:
    u = np.log10([c[f"x{i}"] for i in range(1, 5)])
    return float(np.sum(100 * (u[1:] - u[:-1] ** 2) ** 2 + (1 - u[:-1]) ** 2))


def outside(c: dict[str, Any]) -> float:
    return (
        (math.log10(c["lr"]) + 1) ** 2
        + 0.5 * (math.log10(c["wd"]) + 4) ** 2
        + 4 * (c["dropout"] - 0.3) ** 2
    )


# -- real scikit-learn tasks ----------------------------------------------------------------
@lru_cache(maxsize=8)
def _split(dataset: str, seed: int) -> tuple[np.ndarray, ...]:
    """80 % tuning rows and 20 % test rows, stratified, one split per seed."""
    from sklearn import datasets
    from sklearn.model_selection import train_test_split

    x, y = getattr(datasets, f"load_{dataset}")(return_X_y=True)
    return tuple(train_test_split(x, y, test_size=0.2, stratify=y, random_state=seed))


def _model(task: str, c: dict[str, Any]) -> Any:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    if task == "svc_wine":  # probabilities by Platt scaling on 5 internal folds
        from sklearn.calibration import CalibratedClassifierCV

        return make_pipeline(
            StandardScaler(),
            CalibratedClassifierCV(
                SVC(C=c["C"], gamma=c["gamma"]), method="sigmoid", ensemble=False
            ),
        )
    if task == "mlp_digits":
        return make_pipeline(
            StandardScaler(),
            MLPClassifier(
                hidden_layer_sizes=(int(c["hidden_layer_sizes"]),),
                alpha=c["alpha"],
                learning_rate_init=c["learning_rate_init"],
                activation=c["activation"],
                max_iter=40,
                random_state=0,
            ),
        )
    return HistGradientBoostingClassifier(
        learning_rate=c["learning_rate"],
        max_leaf_nodes=int(c["max_leaf_nodes"]),
        min_samples_leaf=int(c["min_samples_leaf"]),
        l2_regularization=c["l2_regularization"],
        max_iter=int(c["max_iter"]),
        early_stopping=False,
        random_state=0,
    )


_DATASET = {"svc_wine": "wine", "mlp_digits": "digits", "hgb_breast_cancer": "breast_cancer"}
_LOSS_CAP = 10.0  # a diverged model's log-loss is capped (every method sees the same cap)


def _log_loss(model: Any, x: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import log_loss

    proba = model.predict_proba(x)
    if not np.all(np.isfinite(proba)):
        return _LOSS_CAP
    return min(float(log_loss(y, proba, labels=model.classes_)), _LOSS_CAP)


@dataclass(frozen=True)
class RealObjective:
    """Validation log-loss of one scikit-learn task on one seed's tuning rows."""

    task: str
    seed: int

    def __call__(self, c: dict[str, Any]) -> float:
        from sklearn.base import clone
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.model_selection import StratifiedKFold, train_test_split

        x, _, y, _ = _split(_DATASET[self.task], self.seed)
        model = _model(self.task, c)
        if self.task == "svc_wine":
            folds = StratifiedKFold(5, shuffle=True, random_state=self.seed).split(x, y)
        else:
            idx = np.arange(len(y))
            folds = [train_test_split(idx, test_size=0.25, stratify=y, random_state=self.seed)]
        losses = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            for tr, va in folds:
                fitted = clone(model).fit(x[tr], y[tr])
                losses.append(_log_loss(fitted, x[va], y[va]))
        return float(np.mean(losses))

    def test(self, c: dict[str, Any]) -> dict[str, float]:
        """The sealed evaluation: refit on every tuning row, score the test rows once."""
        from sklearn.exceptions import ConvergenceWarning

        x, x_test, y, y_test = _split(_DATASET[self.task], self.seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            warnings.simplefilter("ignore", RuntimeWarning)
            model = _model(self.task, c).fit(x, y)
        return {
            "test_log_loss": _log_loss(model, x_test, y_test),
            "test_accuracy": float(model.score(x_test, y_test)),
        }


# -- the tasks --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Task:
    name: str
    params: tuple[Param, ...]
    rounds: int
    per_round: int
    real: bool
    f_star: float | None = None  # the known optimum (synthetic tasks)
    floor: float | None = None  # the best regret inside the declared ranges (outside task)
    fn: Callable[[dict[str, Any]], float] | None = None  # a synthetic task's function
    note: str = ""

    @property
    def budget(self) -> int:
        return self.rounds * self.per_round

    def objective(self, seed: int) -> Callable[[dict[str, Any]], float]:
        return RealObjective(self.name, seed) if self.real else self.fn


TASKS: dict[str, Task] = {
    t.name: t
    for t in [
        Task(
            "branin",
            (F("x1", -5, 10), F("x2", 0, 15)),
            10,
            20,
            False,
            f_star=0.397887,
            fn=branin,
            note="2-D, three global minima",
        ),
        Task(
            "hartmann6",
            tuple(F(f"x{i}", 0, 1) for i in range(1, 7)),
            10,
            20,
            False,
            f_star=-3.322368,
            fn=hartmann6,
            note="6-D, multimodal",
        ),
        Task(
            "rosenbrock_log",
            tuple(F(f"x{i}", 1e-2, 1e2, log=True) for i in range(1, 5)),
            10,
            20,
            False,
            f_star=0.0,
            fn=rosenbrock_log,
            note="4-D, log ranges, curved valley",
        ),
        Task(
            "outside",
            (
                F("lr", 1e-5, 1e-2, log=True, hard=False),
                F("wd", 1e-6, 1e-1, log=True, hard=False),
                F("dropout", 0.0, 0.8, hard=(0.0, 1.0)),
            ),
            10,
            20,
            False,
            f_star=0.0,
            floor=1.0,
            fn=outside,
            note="3-D, log ranges, lr optimum a decade above the range",
        ),
        Task(
            "svc_wine",
            (F("C", 1e-2, 1e3, log=True, hard=False), F("gamma", 1e-4, 1e1, log=True, hard=False)),
            10,
            10,
            True,
            note="RBF SVC, 5-fold CV log-loss",
        ),
        Task(
            "mlp_digits",
            (
                F("learning_rate_init", 1e-4, 1e-1, log=True, hard=False),
                F("alpha", 1e-6, 1e-1, log=True, hard=False),
                I("hidden_layer_sizes", 8, 256, log=True, hard=(2, 1024)),
                C("activation", "relu", "tanh", "logistic"),
            ),
            10,
            10,
            True,
            note="one hidden layer, 40 epochs, hold-out log-loss",
        ),
        Task(
            "hgb_breast_cancer",
            (
                F("learning_rate", 1e-3, 1.0, log=True, hard=(None, 1.0)),
                I("max_leaf_nodes", 4, 64, log=True, hard=(2, None)),
                I("min_samples_leaf", 2, 64, log=True, hard=(1, None)),
                F("l2_regularization", 1e-6, 10.0, log=True, hard=False),
                I("max_iter", 20, 200, hard=(5, 1000)),
            ),
            10,
            10,
            True,
            note="histogram gradient boosting, hold-out log-loss",
        ),
    ]
}


# -- methods: each returns the losses in evaluation order and the configuration it chose ----
def run_sweep(task: Task, seed: int, *, control: bool, use_ray: bool) -> dict[str, Any]:
    from orchestrator import tune
    from orchestrator.execution.serial import SerialExecutor

    objective = task.objective(seed)
    space = sweep_space(task.params)
    with tempfile.TemporaryDirectory() as tmp:
        executor = None if use_ray else SerialExecutor(objective, param_names=list(space))
        result = tune(
            objective,
            space,
            mode="min",
            rounds=task.rounds,
            samples_per_round=task.per_round,
            seed=seed,
            **({"narrowing": "none", "sampler": "random"} if control else {}),
            executor=executor,
            run_dir=Path(tmp) / "run",
            workers=2 if use_ray else None,
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


def run_optuna(task: Task, seed: int, *, tpe: bool) -> dict[str, Any]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    objective = task.objective(seed)
    sampler = (
        optuna.samplers.TPESampler(seed=seed) if tpe else optuna.samplers.RandomSampler(seed=seed)
    )
    study = optuna.create_study(direction="minimize", sampler=sampler)
    study.optimize(
        lambda trial: objective(optuna_suggest(trial, task.params)), n_trials=task.budget
    )
    losses = [t.value if t.value is not None else math.inf for t in study.trials]
    return {"losses": losses, "config": dict(study.best_params)}


def run_rscv(task: Task, seed: int) -> dict[str, Any]:
    from sklearn.model_selection import RandomizedSearchCV

    estimator = ObjectiveEstimator(objective=task.objective(seed))
    search = RandomizedSearchCV(
        estimator,
        sklearn_distributions(task.params),
        n_iter=task.budget,
        cv=[(np.array([0]), np.array([1]))],
        refit=False,
        random_state=seed,
        error_score=-math.inf,
    )
    search.fit(np.zeros((2, 1)), np.zeros(2))
    losses = [-s for s in search.cv_results_["mean_test_score"]]
    best = search.cv_results_["params"][int(np.argmin(losses))]
    return {"losses": losses, "config": {k: _plain(v) for k, v in best.items()}}


def _plain(v: Any) -> Any:
    return v.item() if isinstance(v, np.generic) else v


class ObjectiveEstimator(BaseEstimator):
    """An estimator whose ``score`` is minus the task's loss at its hyperparameters.

    It lets ``RandomizedSearchCV`` drive the very objective the other methods see.
    """

    def __init__(self, objective: Any = None, **config: Any) -> None:
        self.objective = objective
        self.config = dict(config)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"objective": self.objective, **self.config}

    def set_params(self, **params: Any) -> ObjectiveEstimator:
        self.objective = params.pop("objective", self.objective)
        self.config.update(params)
        return self

    def fit(self, x: Any, y: Any = None) -> ObjectiveEstimator:
        return self

    def score(self, x: Any, y: Any = None) -> float:
        return -self.objective({k: _plain(v) for k, v in self.config.items()})


def run_job(task_name: str, method: str, seed: int, use_ray: bool = False) -> dict[str, Any]:
    task = TASKS[task_name]
    start = time.perf_counter()
    if method in ("sweep", "random"):
        out = run_sweep(task, seed, control=method == "random", use_ray=use_ray)
    elif method in ("tpe", "optuna_random"):
        out = run_optuna(task, seed, tpe=method == "tpe")
    elif method == "rscv":
        out = run_rscv(task, seed)
    else:
        raise ValueError(f"unknown method {method!r}; expected one of {METHODS}")
    out["wall_s"] = time.perf_counter() - start
    if task.real and out["config"] is not None:
        out.update(task.objective(seed).test(out["config"]))
    out.update(task=task_name, method=method, seed=seed)
    return out


# -- summary ----------------------------------------------------------------------------------
def best_so_far(losses: Sequence[float], budget: int) -> np.ndarray:
    """The best loss after each of ``budget`` evaluations (held flat after a sweep stopped)."""
    curve = np.minimum.accumulate(np.asarray(list(losses)[:budget] or [math.inf], dtype=float))
    if curve.size < budget:
        curve = np.concatenate([curve, np.full(budget - curve.size, curve[-1])])
    return curve


def summarise(task: Task, runs: list[dict[str, Any]], methods: Sequence[str]) -> dict[str, Any]:
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
    return out


def _num(x: float | None) -> str:
    if x is None:
        return "-"
    if x == 0 or 1e-3 <= abs(x) < 1e4:
        return f"{x:.4f}" if abs(x) < 10 else f"{x:.1f}"
    return f"{x:.2e}"


def print_summary(summary: dict[str, Any], task: Task) -> None:
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
    print("| " + " | ".join(columns) + " |")
    print("| --- |" + " ---: |" * (len(columns) - 1))
    budget = summary["budget"]
    for m, e in summary["methods"].items():
        reach = e["evals_to_random_median"]
        reach_s = (
            f"{reach} ({reach / budget:.0%}; {e['seeds_reaching']}/{e['seeds']} seeds)"
            if reach is not None
            else f"not reached ({e['seeds_reaching']}/{e['seeds']})"
        )
        row = (
            f"| {LABELS[m]} | {_num(e['median'])} | {_num(e['q25'])} - {_num(e['q75'])} | "
            f"{reach_s} |"
        )
        if task.real:
            row += f" {e['test_log_loss']:.4f} | {e['test_accuracy']:.4f} |"
        if task.floor is not None:
            row += f" {e['below_floor']}/{e['seeds']} |"
        print(row + f" {e['wall_s']:.2f} |")
    if "sweep_vs_tpe" in summary:
        v = summary["sweep_vs_tpe"]
        print(f"sweep vs TPE per seed: better {v['better']}, tie {v['tie']}, worse {v['worse']}")


def print_overview(summaries: list[dict[str, Any]], methods: Sequence[str]) -> None:
    """Two tables over every task: final loss, and evaluations to reach random's median."""
    shown = [m for m in METHODS if m in methods]

    def loss(s: dict[str, Any], e: dict[str, Any]) -> str:
        return f"{_num(e['median'])} [{_num(e['q25'])} - {_num(e['q75'])}]"

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
        print("| task | " + " | ".join(LABELS[m] for m in shown) + " |")
        print("| --- |" + " ---: |" * len(shown))
        for s in summaries:
            cells = [cell(s, s["methods"][m]) if m in s["methods"] else "-" for m in shown]
            print(f"| {s['task']} | " + " | ".join(cells) + " |")


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
    for s in summaries:
        e = s["methods"].get("sweep")
        if e is not None and "below_floor" in e:
            lines.append(
                f"{s['task']}: below the in-range floor on {e['below_floor']}/"
                f"{e['seeds']} seeds (median regret {_num(e['median'])})"
            )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
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
    tasks = [TASKS[t] for t in args.tasks]
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
        f"{_versions()}",
        flush=True,
    )
    start = time.perf_counter()
    runs: list[dict[str, Any]] = []
    if args.ray:
        import ray

        ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
        for job in jobs:
            runs.append(run_job(*job, use_ray=True))
        ray.shutdown()
    else:
        with ProcessPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(run_job, *job) for job in jobs]
            for i, future in enumerate(as_completed(futures), 1):
                runs.append(future.result())
                if i % max(1, len(jobs) // 20) == 0 or i == len(jobs):
                    print(
                        f"  {i}/{len(jobs)} runs, {time.perf_counter() - start:.0f} s",
                        file=sys.stderr,
                        flush=True,
                    )
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
        args.json.write_text(json.dumps({"runs": runs, "summaries": summaries}, default=str))
    return 0


def _versions() -> str:
    from importlib import metadata

    out = []
    for dist in ("sweep-orchestrator", "optuna", "scikit-learn", "numpy", "ray"):
        try:
            out.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            pass
    return ", ".join(out)


if __name__ == "__main__":
    raise SystemExit(main())
