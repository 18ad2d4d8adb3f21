"""The problems the benchmarks tune, and their search spaces in every library's terms.

- Search spaces are declared once, as tuples of :class:`Param` (:func:`real`,
  :func:`integer`, :func:`choice`), and translated for each library: :func:`sweep_space`,
  :func:`optuna_suggest`, :func:`sklearn_distributions` (with :class:`LogUniformInt`),
  :func:`ray_tune_space`; :class:`ObjectiveEstimator` shows scikit-learn's searches an
  objective as an estimator (:func:`plain_config` turns their draws back into numbers).
- The search benchmark's tasks (:data:`SEARCH_TASKS`): synthetic functions with known optima
  (:func:`branin`, :func:`hartmann6`, :func:`rosenbrock_log`, :func:`rastrigin`, and
  :func:`outside`, whose optimum lies outside its declared range) and scikit-learn models on
  bundled data (:class:`RealObjective`).
- The multi-fidelity problems (:class:`FidelityProblem`): a synthetic loss whose low budgets
  are biased and noisy (:func:`synth_loss`), and an MLP on digits whose budget is epochs
  (:class:`MLPObjective`).
- The overhead benchmark's objectives: :func:`trivial`, :func:`sleeper`, over
  :data:`UNIT_PARAMS`.

Only numpy and scikit-learn's estimator base class are imported up front; the models, scipy,
Ray Tune and the product where they are used.
"""

from __future__ import annotations

import math
import time
import warnings
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

Objective = Callable[[dict[str, Any]], Any]
BudgetObjective = Callable[[dict[str, Any], float], float]


# -- search spaces, declared once and translated for each library ---------------------------


@dataclass(frozen=True)
class Param:
    """One hyperparameter: a float or int range (log-scaled or not), or a set of choices.

    ``hard_low``/``hard_high`` are the product's hard limits (None: the sweep may grow the
    range past that end); the other libraries search ``[low, high]`` and nothing else.
    """

    name: str
    kind: str  # "float", "int" or "choice"
    low: float = 0.0
    high: float = 0.0
    log: bool = False
    values: tuple[Any, ...] = ()
    hard_low: float | None = None
    hard_high: float | None = None


def _limits(low: float, high: float, hard: bool | tuple) -> tuple[Any, Any]:
    return (low, high) if hard is True else (None, None) if hard is False else hard


def real(
    name: str, low: float, high: float, *, log: bool = False, hard: bool | tuple = True
) -> Param:
    """A float; ``hard=True`` makes the declared range a hard limit, a pair sets limits."""
    hard_low, hard_high = _limits(low, high, hard)
    return Param(name, "float", low, high, log, hard_low=hard_low, hard_high=hard_high)


def integer(
    name: str, low: int, high: int, *, log: bool = False, hard: bool | tuple = True
) -> Param:
    """An int in ``[low, high]`` (both included); ``hard`` as for :func:`real`."""
    hard_low, hard_high = _limits(low, high, hard)
    return Param(name, "int", low, high, log, hard_low=hard_low, hard_high=hard_high)


def choice(name: str, *values: Any) -> Param:
    return Param(name, "choice", values=values)


def sweep_space(params: Sequence[Param]) -> dict[str, Any]:
    """The product's space: ``Float``, ``Int`` and ``Choice`` with the hard limits."""
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
    """A configuration suggested by an Optuna trial, one ``suggest_*`` call per parameter."""
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
    """scipy's ``loguniform``/``uniform``/``randint`` (and lists) for scikit-learn's searches."""
    from scipy import stats

    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            out[p.name] = list(p.values)
        elif p.kind == "int":
            out[p.name] = (
                stats.randint(int(p.low), int(p.high) + 1)
                if not p.log
                else LogUniformInt(int(p.low), int(p.high))
            )
        elif p.log:
            out[p.name] = stats.loguniform(p.low, p.high)
        else:
            out[p.name] = stats.uniform(p.low, p.high - p.low)
    return out


def ray_tune_space(params: Sequence[Param]) -> dict[str, Any]:
    """Ray Tune's ``param_space`` (its integer ranges exclude the upper end, hence ``+ 1``)."""
    from ray import tune

    out: dict[str, Any] = {}
    for p in params:
        if p.kind == "choice":
            out[p.name] = tune.choice(list(p.values))
        elif p.kind == "int":
            sample = tune.lograndint if p.log else tune.randint
            out[p.name] = sample(int(p.low), int(p.high) + 1)
        else:
            out[p.name] = (tune.loguniform if p.log else tune.uniform)(p.low, p.high)
    return out


class LogUniformInt:
    """A log-uniform integer distribution (scipy has none) with the ``rvs`` sklearn calls.

    Each integer owns ``[v - 0.5, v + 0.5)`` on the log scale; draws are rounded.
    """

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


def plain_config(config: dict[str, Any]) -> dict[str, Any]:
    """A configuration as drawn by scipy or numpy, with numpy scalars made Python numbers."""
    return {k: v.item() if isinstance(v, np.generic) else v for k, v in config.items()}


class ObjectiveEstimator(BaseEstimator):
    """An estimator whose ``score`` is minus an objective at its hyperparameters.

    It lets scikit-learn's searches (``RandomizedSearchCV``, ``HalvingRandomSearchCV``)
    drive the very objective the other methods see; ``fit`` does nothing. A halving search
    sets its resource as one more hyperparameter, so declare it (``budget=1``) up front.
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
        return -self.objective(plain_config(self.config))


@contextmanager
def quiet_fits(*, runtime: bool = False) -> Iterator[None]:
    """No convergence warnings (and with ``runtime``, no numeric ones) while models fit."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        if runtime:
            warnings.simplefilter("ignore", RuntimeWarning)
        yield


# -- synthetic functions with known optima ---------------------------------------------------


def branin(c: dict[str, Any]) -> float:
    """Branin: three global minima of 0.397887, at (-pi, 12.275), (pi, 2.275), (9.42478, 2.475)."""
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
    """Hartmann-6 on [0, 1]^6: six local minima, the global one -3.32237."""
    x = np.array([c[f"x{i}"] for i in range(1, 7)])
    return float(-np.sum(_H6_ALPHA * np.exp(-np.sum(_H6_A * (x - _H6_P) ** 2, axis=1))))


def rosenbrock_log(c: dict[str, Any]) -> float:
    """Rosenbrock in log10 space: 0 where every ``x`` is 10."""
    u = np.log10([c[f"x{i}"] for i in range(1, 5)])
    return float(np.sum(100 * (u[1:] - u[:-1] ** 2) ** 2 + (1 - u[:-1]) ** 2))


RASTRIGIN_LOW, RASTRIGIN_HIGH = -4.0, 6.24  # the textbook width 10.24, shifted up by 1.12


def rastrigin(c: dict[str, Any]) -> float:
    """Rastrigin in 4-D: ``10 d + sum(x_i^2 - 10 cos(2 pi x_i))``, 0 at the origin.

    Rugged: a local minimum near every integer lattice point (11^4 of them in the
    range), on a bowl. The textbook range is [-5.12, 5.12], centred on the optimum; the
    task declares [-4, 6.24] (same width, shifted by 1.12) instead, because an optimum at
    the exact centre of the range flatters range-narrowing methods (shrinking towards the
    middle would find it for free) and the other synthetic tasks have off-centre optima
    too. The range's centre, 1.12 in every coordinate, is no lattice point; the local
    minimum nearest to it (close to all ones) is about 4 above the global one.
    """
    x = np.array([c[f"x{i}"] for i in range(1, 5)], dtype=float)
    return float(10 * x.size + np.sum(x**2 - 10 * np.cos(2 * math.pi * x)))


def outside(c: dict[str, Any]) -> float:
    """0 at lr = 0.1, wd = 1e-4, dropout = 0.3; the declared lr range ends at 1e-2."""
    return (
        (math.log10(c["lr"]) + 1) ** 2
        + 0.5 * (math.log10(c["wd"]) + 4) ** 2
        + 4 * (c["dropout"] - 0.3) ** 2
    )


# -- the search benchmark's scikit-learn tasks ------------------------------------------------


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
        from sklearn.model_selection import StratifiedKFold, train_test_split

        x, _, y, _ = _split(_DATASET[self.task], self.seed)
        model = _model(self.task, c)
        if self.task == "svc_wine":
            folds = StratifiedKFold(5, shuffle=True, random_state=self.seed).split(x, y)
        else:
            idx = np.arange(len(y))
            folds = [train_test_split(idx, test_size=0.25, stratify=y, random_state=self.seed)]
        losses = []
        with quiet_fits(runtime=True):
            for tr, va in folds:
                fitted = clone(model).fit(x[tr], y[tr])
                losses.append(_log_loss(fitted, x[va], y[va]))
        return float(np.mean(losses))

    def test(self, c: dict[str, Any]) -> dict[str, float]:
        """The sealed evaluation: refit on every tuning row, score the test rows once."""
        x, x_test, y, y_test = _split(_DATASET[self.task], self.seed)
        with quiet_fits(runtime=True):
            model = _model(self.task, c).fit(x, y)
        return {
            "test_log_loss": _log_loss(model, x_test, y_test),
            "test_accuracy": float(model.score(x_test, y_test)),
        }


# -- the search benchmark's tasks ---------------------------------------------------------------


@dataclass(frozen=True)
class SearchTask:
    """A task of the search benchmark: a loss to minimise over a space, with its budget."""

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
        """The loss: a scikit-learn task's on this seed's split, or the synthetic function."""
        if self.real:
            return RealObjective(self.name, seed)
        assert self.fn is not None, f"synthetic task {self.name} has no function"
        return self.fn


SEARCH_TASKS: dict[str, SearchTask] = {
    t.name: t
    for t in [
        SearchTask(
            "branin",
            (real("x1", -5, 10), real("x2", 0, 15)),
            10,
            20,
            False,
            f_star=0.397887,
            fn=branin,
            note="2-D, three global minima",
        ),
        SearchTask(
            "hartmann6",
            tuple(real(f"x{i}", 0, 1) for i in range(1, 7)),
            10,
            20,
            False,
            f_star=-3.322368,
            fn=hartmann6,
            note="6-D, multimodal",
        ),
        SearchTask(
            "rosenbrock_log",
            tuple(real(f"x{i}", 1e-2, 1e2, log=True) for i in range(1, 5)),
            10,
            20,
            False,
            f_star=0.0,
            fn=rosenbrock_log,
            note="4-D, log ranges, curved valley",
        ),
        SearchTask(
            "rastrigin",
            tuple(real(f"x{i}", RASTRIGIN_LOW, RASTRIGIN_HIGH) for i in range(1, 5)),
            10,
            20,
            False,
            f_star=0.0,
            fn=rastrigin,
            note="4-D, rugged, a local minimum at every integer point, optimum off-centre",
        ),
        SearchTask(
            "outside",
            (
                real("lr", 1e-5, 1e-2, log=True, hard=False),
                real("wd", 1e-6, 1e-1, log=True, hard=False),
                real("dropout", 0.0, 0.8, hard=(0.0, 1.0)),
            ),
            10,
            20,
            False,
            f_star=0.0,
            floor=1.0,
            fn=outside,
            note="3-D, log ranges, lr optimum a decade above the range",
        ),
        SearchTask(
            "svc_wine",
            (
                real("C", 1e-2, 1e3, log=True, hard=False),
                real("gamma", 1e-4, 1e1, log=True, hard=False),
            ),
            10,
            10,
            True,
            note="RBF SVC, 5-fold CV log-loss",
        ),
        SearchTask(
            "mlp_digits",
            (
                real("learning_rate_init", 1e-4, 1e-1, log=True, hard=False),
                real("alpha", 1e-6, 1e-1, log=True, hard=False),
                integer("hidden_layer_sizes", 8, 256, log=True, hard=(2, 1024)),
                choice("activation", "relu", "tanh", "logistic"),
            ),
            10,
            10,
            True,
            note="one hidden layer, 40 epochs, hold-out log-loss",
        ),
        SearchTask(
            "hgb_breast_cancer",
            (
                real("learning_rate", 1e-3, 1.0, log=True, hard=(None, 1.0)),
                integer("max_leaf_nodes", 4, 64, log=True, hard=(2, None)),
                integer("min_samples_leaf", 2, 64, log=True, hard=(1, None)),
                real("l2_regularization", 1e-6, 10.0, log=True, hard=False),
                integer("max_iter", 20, 200, hard=(5, 1000)),
            ),
            10,
            10,
            True,
            note="histogram gradient boosting, hold-out log-loss",
        ),
    ]
}


# -- multi-fidelity problems ------------------------------------------------------------------


@dataclass(frozen=True)
class HalvingView:
    """A problem as scikit-learn's successive halving sees it: the budget is a resource.

    ``estimator`` has the resource as a parameter; the search draws ``distributions`` and
    scores on the one train/validation split in ``cv`` over the rows ``X``, ``y``.
    """

    estimator: Any
    distributions: dict[str, Any]
    resource: str
    X: np.ndarray
    y: np.ndarray
    cv: list[tuple[np.ndarray, np.ndarray]]
    n_jobs: int


@dataclass(frozen=True)
class FidelityProblem:
    """An objective evaluated at a budget, in the shapes the multi-fidelity methods need.

    ``objective(config, budget)`` is the product's view, ``steps(config, bmax)`` Optuna's
    (one value per unit of budget), ``halving`` scikit-learn's (None: no scikit-learn
    estimator to halve); halving maximises, so its scores times ``halving_sign`` are the
    problem's own. ``continuing(config, budget, state)`` trains only what the state lacks
    and says so in its ``trained`` metric (the sweep's compute is then the sum of those).
    """

    name: str
    mode: str
    bmin: int
    bmax: int
    params: tuple[Param, ...]  # the declared ranges, as every baseline searches them
    objective: BudgetObjective
    steps: Callable[[dict[str, Any], int], Iterator[float]]
    halving: HalvingView | None
    halving_sign: float
    continuing: Callable[..., dict[str, Any]] | None = None

    @property
    def space(self) -> dict[str, Any]:
        return sweep_space(self.params)

    def suggest(self, trial: Any) -> dict[str, Any]:
        return optuna_suggest(trial, self.params)


Z_STAR = np.array([0.62, 0.27, 0.71])  # the full-budget optimum (normalised coordinates)
Z_LOW = np.array([0.40, 0.47, 0.53])  # where the optimum sits at the lowest budget
SYNTH_BMAX = 81
SYNTH_PARAMS = (
    real("a", 1e-4, 1.0, log=True, hard=False),
    real("b", 0.0, 1.0, hard=False),
    real("c", 0.0, 1.0, hard=False),
)


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


def synth_continuing(config: dict[str, Any], budget: float, state: Any) -> dict[str, Any]:
    """The loss as a training that continues: the same value as :func:`synth_objective`,
    and ``trained``: the budget beyond what ``state`` (the budget reached) already had."""
    done = 0.0 if state is None else float(state["budget"])
    return {
        "score": synth_loss(config, budget),
        "trained": budget - done,
        "state": {"budget": budget},
    }


def synth_at_budget(config: dict[str, Any]) -> float:
    """The halving estimator's view: the budget is one more key of the configuration."""
    return synth_loss(config, config["budget"])


def synthetic_problem() -> FidelityProblem:
    """The 3-D synthetic loss, budgets 1..81, mode min."""
    halving = HalvingView(
        ObjectiveEstimator(objective=synth_at_budget, budget=1),
        sklearn_distributions(SYNTH_PARAMS),
        "budget",
        np.zeros((2, 1)),
        np.array([0, 1]),
        [(np.array([0]), np.array([1]))],
        n_jobs=1,
    )
    return FidelityProblem(
        "synthetic",
        "min",
        1,
        SYNTH_BMAX,
        SYNTH_PARAMS,
        synth_objective,
        synth_steps,
        halving,
        -1.0,
        synth_continuing,
    )


def digits_split() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Digits, 25 % stratified validation split (seed 0), standardised on the training part."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X, y = load_digits(return_X_y=True)
    X_tr, X_va, y_tr, y_va = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    scaler = StandardScaler().fit(X_tr)
    return scaler.transform(X_tr), scaler.transform(X_va), y_tr, y_va


def make_mlp(config: dict[str, Any], max_iter: int) -> Any:
    """The MLP of a configuration; early stopping off, so ``max_iter`` epochs always run."""
    from sklearn.neural_network import MLPClassifier

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
        with quiet_fits():
            model = make_mlp(config, int(budget)).fit(self.X_tr, self.y_tr)
        return float(model.score(self.X_va, self.y_va))

    def continuing(self, config: dict[str, Any], budget: float, state: Any) -> dict[str, Any]:
        """What an estimator task of the product does with ``warm_start``: the MLP of the
        rung below (in ``state``, in memory) is fitted for the missing epochs only."""
        import pickle

        from workers.state import MemoryOnly

        earlier = pickle.loads(state) if isinstance(state, MemoryOnly) else None
        done = 0 if earlier is None else earlier.n_epochs
        model = make_mlp(config, int(budget)) if earlier is None else earlier
        if earlier is not None:
            model.set_params(max_iter=int(budget) - done, warm_start=True)
        with quiet_fits():
            model.fit(self.X_tr, self.y_tr)
        model.n_epochs = int(budget)
        return {
            "score": float(model.score(self.X_va, self.y_va)),
            "trained": float(int(budget) - done),
            "state": MemoryOnly(pickle.dumps(model)),
        }

    def steps(self, config: dict[str, Any], bmax: int) -> Iterator[float]:
        """Optuna's view: one ``partial_fit`` epoch per step, then validation accuracy."""
        model, classes = make_mlp(config, 1), np.unique(self.y_tr)
        for _ in range(bmax):
            model.partial_fit(self.X_tr, self.y_tr, classes=classes)
            yield float(model.score(self.X_va, self.y_va))


class LogIntLayer:
    """A one-layer ``hidden_layer_sizes`` drawn log-uniformly from the integers low..high.

    Unlike :class:`LogUniformInt` it draws on ``[log low, log (high + 1))`` and rounds down.
    """

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


MLP_PARAMS = (
    real("lr", 1e-4, 1e-1, log=True, hard=False),
    real("alpha", 1e-6, 1e-1, log=True, hard=False),
    integer("hidden", 16, 256, log=True, hard=False),
)


def digits_problem(bmax: int, n_jobs: int) -> FidelityProblem:
    """``MLPClassifier`` on digits, budget = epochs 3..bmax, validation accuracy (mode max).

    Halving fits the estimator's own parameters (``max_iter`` is the resource) on the fixed
    train/validation split, ``n_jobs`` at a time.
    """
    from scipy.stats import loguniform
    from sklearn.neural_network import MLPClassifier

    data = digits_split()
    X_tr, X_va, y_tr, y_va = data
    y = np.concatenate([y_tr, y_va])
    halving = HalvingView(
        MLPClassifier(n_iter_no_change=10**9, random_state=0),
        {
            "learning_rate_init": loguniform(1e-4, 1e-1),
            "alpha": loguniform(1e-6, 1e-1),
            "hidden_layer_sizes": LogIntLayer(16, 256),
        },
        "max_iter",
        np.vstack([X_tr, X_va]),
        y,
        [(np.arange(len(y_tr)), np.arange(len(y_tr), len(y)))],
        n_jobs=n_jobs,
    )
    objective = MLPObjective(data)
    return FidelityProblem(
        "mlp",
        "max",
        3,
        bmax,
        MLP_PARAMS,
        objective,
        objective.steps,
        halving,
        1.0,
        objective.continuing,
    )


FOREST_PARAMS = (
    real("max_features", 0.05, 1.0, hard=True),
    integer("min_samples_leaf", 1, 32, log=True, hard=False),
    integer("max_depth", 2, 32, log=True, hard=False),
)


class ForestObjective:
    """``RandomForestClassifier`` on the digits, budget = ``n_estimators``, validation
    accuracy. ``continuing`` grows the forest of the rung below with ``warm_start`` (as the
    product's estimator tasks do; the forest handed on in memory): scikit-learn draws the
    new trees as a forest fitted at once would, so the scores equal restarting's."""

    def __init__(self, data: tuple[np.ndarray, ...]) -> None:
        self.X_tr, self.X_va, self.y_tr, self.y_va = data

    def make(self, config: dict[str, Any], trees: int) -> Any:
        from sklearn.ensemble import RandomForestClassifier

        return RandomForestClassifier(
            n_estimators=trees,
            max_features=float(config["max_features"]),
            min_samples_leaf=int(config["min_samples_leaf"]),
            max_depth=int(config["max_depth"]),
            random_state=0,
        )

    def __call__(self, config: dict[str, Any], budget: float) -> float:
        model = self.make(config, int(budget)).fit(self.X_tr, self.y_tr)
        return float(model.score(self.X_va, self.y_va))

    def continuing(self, config: dict[str, Any], budget: float, state: Any) -> dict[str, Any]:
        import pickle

        from workers.state import MemoryOnly

        model = pickle.loads(state) if isinstance(state, MemoryOnly) else None
        done = 0 if model is None else len(model.estimators_)
        if model is None:
            model = self.make(config, int(budget))
        else:
            model.set_params(n_estimators=int(budget), warm_start=True)
        model.fit(self.X_tr, self.y_tr)
        return {
            "score": float(model.score(self.X_va, self.y_va)),
            "trained": float(int(budget) - done),
            "state": MemoryOnly(pickle.dumps(model)),
        }

    def steps(self, config: dict[str, Any], bmax: int) -> Iterator[float]:
        """Optuna's view: one more tree per step (``warm_start``), then the accuracy."""
        model = self.make(config, 1)
        for trees in range(1, bmax + 1):
            model.set_params(n_estimators=trees, warm_start=True)
            model.fit(self.X_tr, self.y_tr)
            yield float(model.score(self.X_va, self.y_va))


def forest_problem(bmax: int, n_jobs: int) -> FidelityProblem:
    """A random forest on the digits, budget = trees 3..bmax, accuracy (mode max)."""
    from sklearn.ensemble import RandomForestClassifier

    data = digits_split()
    X_tr, X_va, y_tr, y_va = data
    y = np.concatenate([y_tr, y_va])
    halving = HalvingView(
        RandomForestClassifier(random_state=0),
        sklearn_distributions(FOREST_PARAMS),
        "n_estimators",
        np.vstack([X_tr, X_va]),
        y,
        [(np.arange(len(y_tr)), np.arange(len(y_tr), len(y)))],
        n_jobs=n_jobs,
    )
    objective = ForestObjective(data)
    return FidelityProblem(
        "forest",
        "max",
        3,
        bmax,
        FOREST_PARAMS,
        objective,
        objective.steps,
        halving,
        1.0,
        objective.continuing,
    )


NUMPY_MLP_PARAMS = (
    real("lr", 1e-3, 0.3, log=True, hard=False),
    real("alpha", 1e-6, 1e-1, log=True, hard=False),
    integer("hidden", 16, 128, log=True, hard=False),
)


def numpy_mlp_restarting(config: dict[str, Any], budget: float) -> float:
    """:func:`workers.examples.numpy_mlp` trained from scratch at every rung."""
    from workers.examples import numpy_mlp

    return numpy_mlp(config, budget)["score"]


def numpy_mlp_steps(config: dict[str, Any], bmax: int) -> Iterator[float]:
    """Optuna's view: one epoch per step, continuing the same model."""
    from workers.examples import numpy_mlp

    state = None
    for epoch in range(1, bmax + 1):
        out = numpy_mlp(config, epoch, state)
        state = out["state"]
        yield out["score"]


def numpy_mlp_problem(bmax: int) -> FidelityProblem:
    """The PyTorch-style example (``workers.examples.numpy_mlp``): an MLP on the digits in
    numpy, budget = epochs 3..bmax, validation accuracy (mode max); it saves and loads its
    weights and momenta as its state. No scikit-learn estimator: no halving line."""
    from workers.examples import numpy_mlp

    return FidelityProblem(
        "numpy_mlp",
        "max",
        3,
        bmax,
        NUMPY_MLP_PARAMS,
        numpy_mlp_restarting,
        numpy_mlp_steps,
        None,
        1.0,
        numpy_mlp,
    )


# -- the overhead benchmark's objectives ------------------------------------------------------

UNIT_PARAMS = (real("x", 0.0, 1.0, hard=False),)  # one float in [0, 1]


def trivial(config: dict[str, Any]) -> float:
    """The cheapest possible objective: the per-trial cost is all overhead."""
    return config["x"]


def sleeper(seconds: float) -> Objective:
    """An objective that costs ``seconds`` of wall time and no CPU, and returns ``x``.

    A closure, so the duration travels with the function when Ray, Tune or joblib pickle it
    (a module global would be pickled with whatever value it had at that moment).
    """

    def sleepy(config: dict[str, Any]) -> float:
        time.sleep(seconds)
        return config["x"]

    return sleepy
