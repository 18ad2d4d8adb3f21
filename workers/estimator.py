"""Scoring scikit-learn estimators on tuning data: what a worker runs for estimator tasks.

The coordinator puts one :class:`TuningData` into the Ray object store; every worker reads
it from there once (``EstimatorObjective.bind``). It holds only the rows that tuning may see:
the test rows never leave the coordinator.

For each configuration the estimator is cloned, given the configuration, fitted on each
fold's training rows and scored on that fold's validation rows. The score is the mean over
folds; ``score_std``, per-fold scores (``split<k>_score``), ``fit_time`` and ``score_time``
are kept as metric columns (with ``train_score=True`` also the scores on the training rows:
``train_score``, ``train_score_std``, ``split<k>_train_score``). Fit parameters (such as
``sample_weight``) are cut to each fold's rows as scikit-learn's searches cut them.

A scoring of several metrics (a list or dict of scorers, or a callable returning a dict)
scores every one of them: the row's ``score`` is the mean of one of them (the metric the
sweep ranks by, :attr:`EstimatorObjective.score_metric`, else the first), and each metric
``<name>`` gets the columns ``cv_results_`` has for it: ``mean_test_<name>``,
``std_test_<name>``, ``split<k>_test_<name>`` (and ``mean_train_<name>``, ... with
``train_score``). The fits and scores run under the scikit-learn configuration the caller
had (:attr:`TuningData.config`: metadata routing, ...), as scikit-learn's parallel fits do.

With a budget on an iteration count that scikit-learn can continue with ``warm_start``
(:func:`continuation`), a promoted configuration continues: the fitted models of the rung
below are fitted further rather than from scratch (the ``trained`` metric says how much of
the budget this evaluation trained). The fitted models travel between rungs in memory only
(pickled by Ray as everything it moves is; never written to storage), so a resumed run
restarts them.
"""

from __future__ import annotations

import json
import pickle
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .state import MemoryOnly


@dataclass(frozen=True)
class TuningData:
    """The rows tuning may use, and how they are split into folds.

    ``folds`` holds (train, validation) positions into ``X``/``y``; one fold for a plain
    validation split, k for cross-validation. ``row_ids`` are the rows' indices in the
    original dataset (for audits: which rows were used where). ``fit_params`` go to the
    estimator's ``fit`` and ``score_params`` to the scorer (``sample_weight``, say); those as
    long as ``X`` are cut to each fold's rows, the others are passed as they are. ``config``
    is the scikit-learn configuration (``sklearn.get_config()``) the fits and scores run
    under; empty: the worker's own.
    """

    X: Any
    y: np.ndarray | None  # None for an estimator fitted on X alone
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]
    row_ids: np.ndarray
    fit_params: Mapping[str, Any] = field(default_factory=dict)
    score_params: Mapping[str, Any] = field(default_factory=dict)
    config: Mapping[str, Any] = field(default_factory=dict)

    @property
    def n_splits(self) -> int:
        return len(self.folds)


def _rows(data: Any, idx: np.ndarray) -> Any:
    """Rows of arrays, sparse matrices, data frames and lists alike (scikit-learn's way)."""
    from sklearn.utils import _safe_indexing

    return _safe_indexing(data, idx)


class EstimatorObjective:
    """An objective that fits and scores a scikit-learn estimator on :class:`TuningData`.

    ``template`` is an unfitted estimator (or pipeline); ``param_prefix`` is put before every
    configuration key (``"model__"`` when the estimator is the last step of a pipeline).
    ``names`` maps a configuration key to the estimator parameter it sets instead, whole
    (no prefix added; None: it sets nothing - the selector of a list of subspaces); ``given``
    maps a choice's stored text to the value the estimator gets (a tuple stored as a list,
    an estimator stored as its name). ``train_score``: also score each fold's model on its
    training rows. ``score_metric``: with a scoring of several metrics, the one whose mean
    is the row's ``score`` (the sweep ranks by it); None, or a name the scoring does not
    give: the first. Call :meth:`bind` with the tuning data to get the callable a worker runs.
    """

    def __init__(
        self,
        template: Any,
        scoring: Any,
        *,
        param_prefix: str = "",
        budget_param: str | None = None,
        names: Mapping[str, str | None] | None = None,
        given: Mapping[str, Mapping[str, Any]] | None = None,
        train_score: bool = False,
        score_metric: str | None = None,
    ) -> None:
        self.template = template
        self.scoring = scoring
        self.train_score = train_score
        self.score_metric = score_metric
        self.param_prefix = param_prefix
        self.budget_param = budget_param
        self.names = dict(names or {})
        # Choices as the user listed them, by their stored (JSON) text: a tuple is stored
        # as a list, and the estimator gets the tuple back.
        self.given = {k: dict(v) for k, v in (given or {}).items()}

    def bind(self, data: TuningData) -> Callable[..., dict[str, float]]:
        from sklearn import config_context
        from sklearn.metrics import check_scoring

        with config_context(**_known(data.config)):
            scorer = check_scoring(self.template, scoring=self.scoring)
        if self.continuation() is not None:
            return _ContinuingObjective(self, data, scorer)
        return _BoundObjective(self, data, scorer)

    def continuation(self) -> str | None:
        """How a promoted configuration continues (see :func:`continuation`); a
        configuration that chooses the estimator itself restarts."""
        step = self.param_prefix[:-2] if self.param_prefix.endswith("__") else ""
        if step in self.names.values():
            return None
        return continuation(self.template, self.budget_param, self.param_prefix)

    def make_estimator(self, config: dict[str, Any], budget: float | None = None) -> Any:
        """A fresh, unfitted estimator with ``config`` (and the budget's parameter) applied.

        The values are cloned, as scikit-learn's searches clone them: an estimator given as
        a choice is never fitted itself, nor shared between fits."""
        from sklearn.base import clone

        params = {}
        for key, value in config.items():
            name = self.names[key] if key in self.names else f"{self.param_prefix}{key}"
            if name is not None:
                params[name] = self._given(key, value)
        if budget is not None and self.budget_param not in (None, "rows"):
            value = int(budget) if float(budget).is_integer() else budget
            params[f"{self.param_prefix}{self.budget_param}"] = value
        return clone(self.template).set_params(**clone(params, safe=False))

    def _given(self, name: str, value: Any) -> Any:
        originals = self.given.get(name)
        if not originals:
            return value
        try:
            return originals.get(json.dumps(value, sort_keys=True), value)
        except (TypeError, ValueError):
            return value

    def train_rows(self, train: np.ndarray, budget: float | None, fold: int) -> np.ndarray:
        """The training rows a budget allows: all, or a fixed random fraction (``rows``)."""
        if budget is None or self.budget_param != "rows":
            return train
        keep = max(1, int(round(budget * len(train))))
        order = np.random.default_rng(fold).permutation(len(train))
        return np.sort(train[order[:keep]])


class _BoundObjective:
    def __init__(self, objective: EstimatorObjective, data: TuningData, scorer: Callable) -> None:
        self._objective = objective
        self._data = data
        self._scorer = scorer

    def __call__(self, config: dict[str, Any], budget: float | None = None) -> dict[str, float]:
        summary, _ = self._fit_folds(
            budget, lambda k: self._objective.make_estimator(config, budget)
        )
        return summary

    def _fit_folds(
        self, budget: float | None, estimator_for: Callable[[int], Any]
    ) -> tuple[dict[str, Any], list[Any]]:
        """Fit ``estimator_for(k)`` on each fold ``k`` and score it: the row, and the models."""
        scores, fit_times, score_times, fitted = [], [], [], []
        train_scores: list[Any] = []
        for k, (train, val) in enumerate(self._data.folds):
            estimator = estimator_for(k)
            score, fit_t, score_t, train_score = fit_and_score(
                estimator,
                self._scorer,
                self._data,
                self._objective.train_rows(train, budget, k),
                val,
                train_score=self._objective.train_score,
            )
            scores.append(score)
            fit_times.append(fit_t)
            score_times.append(score_t)
            if train_score is not None:
                train_scores.append(train_score)
            fitted.append(estimator)
        if any(isinstance(s, Mapping) for s in scores):
            return self._metrics_row(scores, train_scores, fit_times, score_times), fitted
        summary = _summary(scores, fit_times, score_times)
        if self._objective.train_score:
            summary.update(_summary(train_scores, [], [], prefix="train_"))
        return summary, fitted

    def _metrics_row(
        self,
        scores: list[Any],
        train_scores: list[Any],
        fit_times: list[float],
        score_times: list[float],
    ) -> dict[str, Any]:
        """The row of a scoring of several metrics: the times, each metric's columns (as
        ``cv_results_`` names them), and the ranked metric's mean as ``score``."""
        names = _metric_names(scores)
        wanted = self._objective.score_metric
        ranked = wanted if wanted in names else names[0]
        row = _times(fit_times, score_times)
        parts = [("test", scores)] + ([("train", train_scores)] if train_scores else [])
        for part, per_fold in parts:
            for name in names:
                values = [float(s[name]) for s in per_fold]
                row[f"mean_{part}_{name}"] = float(np.mean(values))
                row[f"std_{part}_{name}"] = float(np.std(values))
                if len(values) > 1:
                    row.update({f"split{k}_{part}_{name}": v for k, v in enumerate(values)})
        return {"score": row[f"mean_test_{ranked}"], **row}


def _metric_names(scores: list[Any]) -> list[str]:
    """The metric names a scoring of several metrics gave on every fold, in its order."""
    names = list(scores[0]) if isinstance(scores[0], Mapping) else []
    if not names or any(not isinstance(s, Mapping) or list(s) != names for s in scores):
        raise ValueError(
            "the scoring must give the same metrics on every fold (a number, or a dict of "
            f"numbers by name), got {[sorted(s) if isinstance(s, Mapping) else s for s in scores]}"
        )
    return names


def _summary(
    scores: list[float], fit_times: list[float], score_times: list[float], prefix: str = ""
) -> dict[str, Any]:
    """A configuration's row: the mean score over folds, its spread, per-fold scores, times
    (``prefix``: the scores alone, under ``<prefix>score``, ``split<k>_<prefix>score``)."""
    if prefix:
        out = {
            f"{prefix}score": float(np.mean(scores)),
            f"{prefix}score_std": float(np.std(scores)),
        }
        if len(scores) > 1:
            out.update({f"split{k}_{prefix}score": float(s) for k, s in enumerate(scores)})
        return out
    out = {
        "score": float(np.mean(scores)),
        "score_std": float(np.std(scores)),
        **_times(fit_times, score_times),
    }
    if len(scores) > 1:
        out.update({f"split{k}_score": float(s) for k, s in enumerate(scores)})
    return out


def _times(fit_times: list[float], score_times: list[float]) -> dict[str, float]:
    return {
        "fit_time": float(np.mean(fit_times)),
        "fit_time_std": float(np.std(fit_times)),
        "score_time": float(np.mean(score_times)),
        "score_time_std": float(np.std(score_times)),
    }


#: Estimators whose ``max_iter`` with ``warm_start`` counts all iterations so far ("total")
#: or adds that many to them ("increment"), by class name (scikit-learn's own classes).
_MAX_ITER = {
    "HistGradientBoostingClassifier": "total",
    "HistGradientBoostingRegressor": "total",
    "MLPClassifier": "increment",
    "MLPRegressor": "increment",
    "SGDClassifier": "increment",
    "SGDRegressor": "increment",
}


def continuation(template: Any, budget_param: str | None, prefix: str = "") -> str | None:
    """How ``template`` continues to a larger budget: ``"total"`` when its budget parameter,
    with ``warm_start``, counts what all fits built (``n_estimators`` of forests and
    gradient boosting, ``max_iter`` of HistGradientBoosting), ``"increment"`` when each fit
    adds that many (``max_iter`` of MLP and SGD), None when it restarts (any other estimator
    or budget parameter, and a budget on rows)."""
    if budget_param in (None, "rows"):
        return None
    try:
        params = template.get_params(deep=True)
    except Exception:
        return None
    if f"{prefix}warm_start" not in params or f"{prefix}{budget_param}" not in params:
        return None
    final = params.get(prefix[:-2]) if prefix.endswith("__") else template
    if budget_param == "n_estimators":
        return "total"
    if budget_param == "max_iter":
        return _MAX_ITER.get(type(final).__name__)
    return None


class _ContinuingObjective(_BoundObjective):
    """Fits each fold's model further from the rung below (``state``: the fitted models and
    the budget they reached), or from scratch at a configuration's first rung."""

    def __call__(
        self, config: dict[str, Any], budget: float | None = None, state: Any = None
    ) -> dict[str, Any]:
        objective = self._objective
        mode = objective.continuation()
        # A state is what this objective returned at the rung below, handed on in memory.
        earlier = pickle.loads(state) if isinstance(state, MemoryOnly) else None
        total = int(round(float(budget or 0)))
        reached = 0 if earlier is None else int(earlier["budget"])
        more = max(1, total - reached)  # what this evaluation trains

        def estimator_for(k: int) -> Any:
            if earlier is None:
                return objective.make_estimator(config, budget)
            estimator = earlier["fitted"][k]
            name = f"{objective.param_prefix}{objective.budget_param}"
            value = reached + more if mode == "total" else more
            return estimator.set_params(
                **{name: value, f"{objective.param_prefix}warm_start": True}
            )

        out, fitted = self._fit_folds(budget, estimator_for)
        out["trained"] = float(more if earlier is not None else total)
        out["state"] = MemoryOnly(pickle.dumps({"budget": reached + more, "fitted": fitted}))
        return out


def fit_and_score(
    estimator: Any,
    scorer: Callable,
    data: TuningData,
    train: np.ndarray,
    val: np.ndarray,
    *,
    train_score: bool = False,
) -> tuple[Any, float, float, Any]:
    """Fit on ``train`` rows, score on ``val`` rows: (score, fit seconds, score seconds, the
    score on the ``train`` rows when ``train_score``, else None). A score is a number, or
    for a scoring of several metrics a dict of numbers by metric name. Both run under
    ``data.config``."""
    from sklearn import config_context
    from sklearn.exceptions import ConvergenceWarning

    def target(rows: np.ndarray) -> Any:
        return None if data.y is None else data.y[rows]

    def score_on(rows: np.ndarray) -> Any:
        params = _params_of_rows(data.X, data.score_params, rows)
        return _score_value(scorer(estimator, _rows(data.X, rows), target(rows), **params))

    with config_context(**_known(data.config)):
        fit_params = _params_of_rows(data.X, data.fit_params, train)
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            estimator.fit(_rows(data.X, train), target(train), **fit_params)
        t1 = time.perf_counter()
        score = score_on(val)
        score_t = time.perf_counter() - t1
        # after the validation score, as scikit-learn's searches do
        on_train = score_on(train) if train_score else None
    return score, t1 - t0, score_t, on_train


def _known(config: Mapping[str, Any]) -> dict[str, Any]:
    """The settings of a scikit-learn configuration that this scikit-learn has (a worker's
    may be another version than the caller's)."""
    if not config:
        return {}
    from sklearn import get_config

    here = get_config()
    return {key: value for key, value in config.items() if key in here}


def _score_value(value: Any) -> Any:
    """A scorer's value: a number, or a dict of numbers by metric name."""
    if isinstance(value, Mapping):
        return {str(name): float(v) for name, v in value.items()}
    return float(value)


def _params_of_rows(X: Any, params: Mapping[str, Any], rows: np.ndarray) -> dict[str, Any]:
    """``params`` for these rows: those as long as ``X`` cut to them, the others as they are
    (scikit-learn's rule for fit parameters)."""
    if not params:
        return {}
    from sklearn.utils.validation import _check_method_params

    return _check_method_params(X, params=params, indices=rows)
