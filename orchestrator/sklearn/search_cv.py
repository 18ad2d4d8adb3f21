"""``SweepSearchCV``: a drop-in for scikit-learn's ``RandomizedSearchCV`` that narrows.

>>> from scipy.stats import loguniform
>>> search = SweepSearchCV(SVC(), {"C": loguniform(1e-2, 1e3), "gamma": loguniform(1e-4, 10)},
...                        rounds=6, samples_per_round=16, cv=5, random_state=0)
>>> search.fit(X, y).best_params_  # doctest: +SKIP

Each round samples ``samples_per_round`` configurations inside the current ranges and
cross-validates them on Ray workers (the data goes into the object store once); between
rounds the ranges narrow around the best. ``n_iter`` (``RandomizedSearchCV``'s budget) may
be given instead: see :meth:`SweepSearchCV.schedule`. After ``fit`` it exposes what
``RandomizedSearchCV`` does - ``best_params_``, ``best_score_``, ``best_estimator_``,
``best_index_``, ``cv_results_`` (plus a ``round`` column), ``n_splits_``, ``refit_time_`` -
and delegates ``predict``/``predict_proba``/``score``/... to the refit estimator.
``param_distributions`` may be a list of dicts, and list its choices as estimators (a
pipeline step): see :func:`search_subspaces`. ``scoring`` may give several metrics (a list or
dict of scorers, or a callable returning a dict): ``cv_results_`` has each one's columns, and
the one ``refit`` names (else the first) ranks the candidates and narrows the ranges. With
scikit-learn's metadata routing enabled, ``fit``'s metadata goes where it is requested
(:meth:`SweepSearchCV.get_metadata_routing`).
"""

from __future__ import annotations

import itertools
import math
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, MetaEstimatorMixin, clone, is_classifier
from sklearn.metrics import check_scoring
from sklearn.model_selection import check_cv
from sklearn.utils import check_random_state, indexable
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples

from orchestrator.api import tune
from orchestrator.checks import whole_number
from orchestrator.data.tune_result import TuneResult
from orchestrator.search.samplers.registry import DEFAULT_SAMPLER
from orchestrator.search.space import (
    Choice,
    Dimension,
    Float,
    Int,
    SearchSpace,
    encode_choice,
    native_value,
)
from orchestrator.sklearn.subspaces import Subspaces, combine
from workers.estimator import EstimatorObjective, TuningData


def _from_distribution(name: str, dist: Any) -> Dimension:
    kind = getattr(getattr(dist, "dist", None), "name", type(dist).__name__)
    if kind in ("loguniform", "reciprocal", "uniform", "randint"):
        low, high = (float(v) for v in dist.support())
        # The distribution's support is a hard limit, as in RandomizedSearchCV: narrowing may
        # grow a range at an edge, but never past what the distribution allows (a
        # probability drawn from uniform(0, 1) must stay a probability).
        if kind == "randint":
            return Int(int(low), int(high), hard_low=int(low), hard_high=int(high), name=name)
        return Float(low, high, log=kind != "uniform", hard_low=low, hard_high=high, name=name)
    raise ValueError(
        f"parameter {name!r}: scipy.stats.{kind} is not supported; use uniform, loguniform, "
        "randint, a list of values, or orchestrator.Float / Int / Choice"
    )


def _stored_text(value: Any) -> str | None:
    """A list value's stored text, or None for a value that is not plain JSON (an estimator)."""
    try:
        return encode_choice(native_value(value))
    except ValueError:
        return None


def _object_labels(dicts: Sequence[Mapping[str, Any]]) -> dict[str, dict[int, str]]:
    """Per parameter, a text for each listed value that is not plain JSON (an estimator, a
    function, ...), by ``id``: its class (or function) name, with ``_2``, ``_3`` ... where
    two differ and share a name, or the name is a listed string; one object listed in
    several dicts keeps one text."""
    out: dict[str, dict[int, str]] = {}
    for name in dict.fromkeys(k for d in dicts for k in d):
        lists = [d[name] for d in dicts if isinstance(d.get(name), (list, tuple, np.ndarray))]
        values = [v for lst in lists for v in lst]
        taken = {t for t in map(_stored_text, values) if t is not None}
        labels: dict[int, str] = {}
        for value in values:
            if id(value) in labels or _stored_text(value) is not None:
                continue
            base = getattr(value, "__name__", None)
            base = base if isinstance(base, str) else type(value).__name__
            label, k = base, 2
            while encode_choice(label) in taken:
                label, k = f"{base}_{k}", k + 1
            taken.add(encode_choice(label))
            labels[id(value)] = label
        if labels:
            out[name] = labels
    return out


def _dimension(
    name: str, value: Any, labels: Mapping[int, str]
) -> tuple[Dimension, dict[str, Any] | None]:
    """One entry of a dict: its dimension, and for a list its values as given by stored text."""
    if isinstance(value, (Float, Int)):
        return value, None
    if isinstance(value, Choice):
        return value, {encode_choice(native_value(v)): v for v in value.values}
    if hasattr(value, "rvs"):
        return _from_distribution(name, value), None
    if isinstance(value, (list, tuple, np.ndarray)):
        stored = [labels[id(v)] if id(v) in labels else native_value(v) for v in value]
        choice = Choice(tuple(stored), name=name)
        return choice, {encode_choice(s): v for s, v in zip(stored, value)}
    raise ValueError(
        f"parameter {name!r}: expected a list, a scipy.stats distribution or "
        f"Float/Int/Choice, got {value!r}"
    )


def search_subspaces(param_distributions: Any) -> Subspaces:
    """``RandomizedSearchCV``-style ``param_distributions`` -> the space the sweep searches,
    and the way back to the names and values given (:class:`Subspaces`).

    A dict is one space: lists become choices; ``scipy.stats`` ``uniform``, ``loguniform``
    and ``randint`` become ``Float``, log ``Float`` and ``Int`` whose hard limits are the
    distribution's support (ranges never grow past it); ``Float``/``Int``/``Choice`` pass
    through. A list value that is not plain JSON (an estimator, for a pipeline step) is a
    choice stored as a text (its class name); the estimator gets the object back. A list of
    dicts is a list of subspaces, one drawn per candidate (see
    :mod:`orchestrator.sklearn.subspaces`).
    """
    if isinstance(param_distributions, SearchSpace):
        return Subspaces.single(param_distributions)
    if isinstance(param_distributions, Mapping):
        dicts: list[Mapping[str, Any]] = [param_distributions]
    elif (
        isinstance(param_distributions, (list, tuple))
        and param_distributions
        and all(isinstance(d, Mapping) for d in param_distributions)
    ):
        dicts = list(param_distributions)
    else:
        raise ValueError(
            "param_distributions must be a dict of parameter names to distributions or lists, "
            f"or a non-empty list of such dicts, got {param_distributions!r:.200}"
        )
    several = not isinstance(param_distributions, Mapping)

    def where(i: int) -> str:
        return f"param_distributions[{i}]"

    labels = _object_labels(dicts)
    subspaces, given = [], []
    for i, spec in enumerate(dicts):
        dims: dict[str, Dimension] = {}
        originals: dict[str, dict[str, Any]] = {}
        for name, value in spec.items():
            try:
                dims[name], values = _dimension(name, value, labels.get(name, {}))
            except ValueError as exc:
                raise ValueError(f"{where(i)}: {exc}" if several else str(exc)) from None
            if values is not None:
                originals[name] = values
        subspaces.append(dims)
        given.append(originals)
    if not several:
        return Subspaces.single(SearchSpace(subspaces[0]), given[0])
    return combine(subspaces, given, where=where)


def space_from_distributions(param_distributions: Any) -> SearchSpace:
    """The space the sweep searches for ``param_distributions`` (see :func:`search_subspaces`)."""
    return search_subspaces(param_distributions).space


def given_choices(param_distributions: Any) -> dict[str, dict[str, Any]]:
    """Per choice of the searched space, its values as given, by their stored text: a sweep
    stores choices as plain JSON values (a tuple as a list, a number among strings as text,
    an estimator as its class name), and the estimator and ``cv_results_`` get back exactly
    what the user listed."""
    return {k: dict(v) for k, v in search_subspaces(param_distributions).given.items()}


def _estimator_has(attr: str):
    # Raises the estimator's own AttributeError, which available_if chains as the cause of
    # the search's (as scikit-learn's searches do).
    def check(self: SweepSearchCV) -> bool:
        getattr(self.best_estimator_ if hasattr(self, "best_estimator_") else self.estimator, attr)
        return True

    return check


#: The most rounds, and the fewest candidates per round, ``n_iter`` alone is split into.
_MAX_ROUNDS, _MIN_PER_ROUND = 8, 8


class SweepSearchCV(MetaEstimatorMixin, BaseEstimator):
    """Coarse-to-fine hyperparameter search with cross-validation, on Ray.

    Parameters mirror ``RandomizedSearchCV``. The search runs ``rounds`` rounds of
    ``samples_per_round`` candidates (default 8 x 16); ``n_iter``, the number of candidates
    in all, may replace either or both (``n_iter = rounds x samples_per_round``), see
    :meth:`schedule`. ``return_train_score`` adds the scores on the training folds to
    ``cv_results_``. ``address``/``workers`` choose the Ray cluster and worker count
    (default: a local Ray, every CPU). ``run_dir`` keeps the sweep's Parquet store (default:
    a temporary folder, removed after ``fit``); ``narrowing`` and ``sampler`` are passed to
    ``tune``.
    """

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any,
        *,
        rounds: int | None = None,
        samples_per_round: int | None = None,
        n_iter: int | None = None,
        scoring: Any = None,
        cv: Any = 5,
        refit: bool | str | Callable[[dict[str, Any]], int] = True,
        random_state: Any = None,
        address: str | None = None,
        workers: int | None = None,
        narrowing: Any = None,
        sampler: str = DEFAULT_SAMPLER,
        run_dir: str | None = None,
        n_jobs: int | None = None,
        verbose: int = 0,
        error_score: Any = np.nan,
        pre_dispatch: Any = None,
        return_train_score: bool = False,
    ) -> None:
        self.estimator = estimator
        self.param_distributions = param_distributions
        self.rounds = rounds
        self.samples_per_round = samples_per_round
        self.n_iter = n_iter
        self.scoring = scoring
        self.cv = cv
        self.refit = refit
        self.random_state = random_state
        self.address = address
        self.workers = workers
        self.narrowing = narrowing
        self.sampler = sampler
        self.run_dir = run_dir
        self.n_jobs = n_jobs  # the workers, when ``workers`` is not given (-1: one per CPU)
        self.verbose = verbose  # 1 or more: a line per round
        self.error_score = error_score  # a failed candidate's score, or "raise"
        self.pre_dispatch = pre_dispatch  # accepted for scikit-learn's signature: workers pull
        self.return_train_score = return_train_score

    def __sklearn_tags__(self) -> Any:
        # A search is a classifier when its estimator is (is_classifier, stratified CV, ...).
        from copy import deepcopy

        from sklearn.utils import get_tags

        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.estimator_type = inner.estimator_type
        tags.classifier_tags = deepcopy(inner.classifier_tags)
        tags.regressor_tags = deepcopy(inner.regressor_tags)
        tags.input_tags.pairwise = inner.input_tags.pairwise
        tags.input_tags.sparse = inner.input_tags.sparse
        return tags

    @property
    def _estimator_type(self) -> str | None:  # scikit-learn < 1.6 reads this instead of tags
        return getattr(self.estimator, "_estimator_type", None)

    def schedule(self) -> tuple[int, int]:
        """The (rounds, samples_per_round) ``fit`` runs; ``n_iter`` is their product.

        - neither ``n_iter``, ``rounds`` nor ``samples_per_round``: 8 rounds of 16;
        - ``rounds`` or ``samples_per_round`` alone: the other one as by default;
        - ``n_iter`` with one of them: the other is ``n_iter`` divided by it (it must divide
          evenly), with both: ``n_iter`` must be their product;
        - ``n_iter`` alone: exactly ``n_iter`` candidates, as ``RandomizedSearchCV`` runs, in
          the most rounds (up to 8) of at least 8 candidates each that divide ``n_iter``
          evenly: 128 gives 8 x 16, 60 gives 6 x 10, 10 one round of 10. An ``n_iter`` below
          16, or one that no such count divides (a prime), is one round: a random search.
        """
        rounds = whole_number("rounds", self.rounds, minimum=1, allow_none=True)
        per_round = whole_number(
            "samples_per_round", self.samples_per_round, minimum=1, allow_none=True
        )
        n_iter = whole_number("n_iter", self.n_iter, minimum=1, allow_none=True)
        if n_iter is None:
            return (8 if rounds is None else rounds), (16 if per_round is None else per_round)
        if rounds is None and per_round is None:
            fits = [r for r in range(1, _MAX_ROUNDS + 1) if n_iter % r == 0]
            rounds = max(r for r in fits if r == 1 or n_iter // r >= _MIN_PER_ROUND)
            return rounds, n_iter // rounds
        if rounds is not None and per_round is not None:
            if rounds * per_round != n_iter:
                raise ValueError(
                    f"n_iter={n_iter} is not rounds x samples_per_round = {rounds} x "
                    f"{per_round}; give n_iter with one of them, or both of them alone"
                )
            return rounds, per_round
        given, name = (rounds, "rounds") if rounds is not None else (per_round, "samples_per_round")
        if n_iter % given:
            raise ValueError(
                f"n_iter={n_iter} is not a multiple of {name}={given}: n_iter is "
                "rounds x samples_per_round"
            )
        other = n_iter // given
        return (given, other) if rounds is not None else (other, given)

    def fit(self, X: Any, y: Any = None, *, groups: Any = None, **fit_params: Any) -> SweepSearchCV:
        """Run the sweep on (X, y) with cross-validation, then refit the best on all of it.

        ``groups`` goes to the ``cv`` splitter. ``fit_params`` go to the estimator's ``fit``,
        as with ``RandomizedSearchCV``: arrays as long as ``X`` cut to each fold's training
        rows, other values as they are, and all of them to the refit on the whole data;
        ``sample_weight`` also weights the scores when the scorer takes it (else a warning).
        With scikit-learn's metadata routing enabled, ``fit_params`` and ``groups`` go where
        the estimator's ``fit``, the scorer(s) and the splitter request them instead (see
        :meth:`get_metadata_routing`).
        """
        from sklearn import get_config
        from sklearn.utils.validation import _check_method_params

        if isinstance(self.error_score, str) and self.error_score != "raise":
            raise ValueError(f"error_score must be 'raise' or a number, got {self.error_score!r}")
        if not (isinstance(self.refit, (bool, str)) or callable(self.refit)):
            raise ValueError(f"refit must be True, False or a callable, got {self.refit!r}")
        scorers = _named_scorers(self.estimator, self.scoring)
        if scorers is not None:
            _check_multimetric_refit(self.refit, list(scorers))
        rounds, per_round = self.schedule()
        mapping = search_subspaces(self.param_distributions)
        space = mapping.space
        X, y, groups = indexable(X, y, groups)  # lists, sparse matrices, frames alike
        fit_params = _check_method_params(X, params=fit_params)
        self.scorer_ = (
            scorers if scorers is not None else check_scoring(self.estimator, self.scoring)
        )
        fit_params, split_params, score_params = self._routed_params(fit_params, groups)
        cv = check_cv(self.cv, y, classifier=is_classifier(self.estimator))
        folds = tuple((np.asarray(tr), np.asarray(va)) for tr, va in cv.split(X, y, **split_params))
        if not folds:
            raise ValueError(
                "No fits were performed. Was the CV iterator empty? Were there no candidates?"
            )
        expected = cv.get_n_splits(X, y, **split_params)
        if expected != len(folds):
            raise ValueError(
                "cv.split and cv.get_n_splits return inconsistent results. Expected "
                f"{expected} splits, got {len(folds)}"
            )
        y_arr = np.asarray(y) if y is not None else None
        n_rows = _num_samples(X)
        data = TuningData(
            X=X,
            y=y_arr,
            folds=folds,
            row_ids=np.arange(n_rows),
            fit_params=fit_params,
            score_params=score_params,
            config=get_config(),  # the fits run as here (routing, ...), as scikit-learn's do
        )
        seed = int(check_random_state(self.random_state).randint(2**31 - 1))
        objective = EstimatorObjective(
            self.estimator,
            self.scoring,
            names=mapping.names,
            given=mapping.given,
            train_score=self.return_train_score,
            score_metric=_ranked_metric(self.refit, scorers),
        )
        self.result_ = self._run(objective, space, data, seed, rounds, per_round)
        self.n_splits_ = len(folds)
        metrics = list(scorers) if scorers is not None else _metrics_in(self.result_, space)
        self.multimetric_ = metrics is not None
        self.cv_results_ = cv_results(
            self.result_,
            mapping,
            self.n_splits_,
            train_scores=self.return_train_score,
            metrics=metrics,
        )
        if isinstance(self.error_score, str):  # "raise": the candidate's own error, if it can
            _raise_first_failure(self.result_, mapping, objective, data)
        _check_failures(self.result_, self.n_splits_, self.error_score)
        if metrics is not None and scorers is None:  # a callable that gave several metrics
            _check_multimetric_refit(self.refit, metrics)
        names = metrics if metrics is not None else ["score"]
        _score_failures(self.cv_results_, self.result_, self.error_score, self.n_splits_, names)
        _warn_non_finite(self.cv_results_, names)
        self._pick_best(metrics)
        if self.refit:
            t0 = time.perf_counter()
            # The values cloned, as scikit-learn's searches clone them: an estimator listed as
            # a choice is never fitted itself.
            best = clone(self.estimator).set_params(**clone(self.best_params_, safe=False))
            best.fit(X, **fit_params) if y is None else best.fit(X, y, **fit_params)
            self.best_estimator_ = best
            self.refit_time_ = time.perf_counter() - t0
            if hasattr(best, "n_features_in_"):
                self.n_features_in_ = best.n_features_in_
        return self

    def _routed_params(
        self, params: dict[str, Any], groups: Any
    ) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        """``fit``'s keyword arguments as (the estimator's fit's, the splitter's, the
        scorer's). With metadata routing: where each requests them; without: all to the
        estimator, ``groups`` to the splitter, ``sample_weight`` to a scorer that takes it."""
        from sklearn import get_config

        if get_config().get("enable_metadata_routing", False):
            from sklearn.utils.metadata_routing import process_routing

            if groups is not None:
                params = {**params, "groups": groups}
            routed = process_routing(self, "fit", **params)
            return (
                dict(routed.estimator.fit),
                dict(routed.splitter.split),
                dict(routed.scorer.score),
            )
        score_params = {}
        weights = params.get("sample_weight")
        if weights is not None and _takes_sample_weight(self.scorer_, self):
            score_params["sample_weight"] = weights
        return params, {"groups": groups}, score_params

    def _pick_best(self, metrics: list[str] | None) -> None:
        """``best_index_``, ``best_params_`` and ``best_score_`` as scikit-learn's searches set
        them: by the refit callable, else by the refit metric (one metric: the score); with
        several metrics and ``refit=False``, none (no metric is the one)."""
        results = self.cv_results_
        if metrics is not None and not self.refit:
            return
        if callable(self.refit):  # picks the best index itself, as scikit-learn's does
            index = self.refit(results)
            if not isinstance(index, (int, np.integer)):
                raise TypeError("best_index_ returned is not an integer")
            if not 0 <= index < len(results["params"]):
                raise IndexError(
                    f"best_index_ index out of range: refit returned {index} for "
                    f"{len(results['params'])} candidates"
                )
            self.best_index_ = int(index)
        else:
            metric = self.refit if metrics is not None else "score"
            self.best_index_ = int(np.argmin(results[f"rank_test_{metric}"]))
        self.best_params_ = results["params"][self.best_index_]
        if metrics is None:
            self.best_score_ = float(results["mean_test_score"][self.best_index_])
        elif not callable(self.refit):  # a callable picks no metric (scikit-learn's rule)
            self.best_score_ = float(results[f"mean_test_{self.refit}"][self.best_index_])

    def get_metadata_routing(self) -> Any:
        """Where ``fit``'s and ``score``'s metadata go with scikit-learn's metadata routing
        enabled, as with ``RandomizedSearchCV``: ``fit``'s to the estimator's ``fit``, the
        scorer(s) and the ``cv`` splitter's ``split``; ``score``'s to the scorer(s)."""
        from sklearn.utils.metadata_routing import MetadataRouter, MethodMapping

        return (
            MetadataRouter(owner=self)
            .add(
                estimator=self.estimator,
                method_mapping=MethodMapping().add(caller="fit", callee="fit"),
            )
            .add(
                scorer=check_scoring(self.estimator, scoring=self.scoring),
                method_mapping=MethodMapping()
                .add(caller="score", callee="score")
                .add(caller="fit", callee="score"),
            )
            .add(
                splitter=self.cv,
                method_mapping=MethodMapping().add(caller="fit", callee="split"),
            )
        )

    def _run(
        self,
        objective: EstimatorObjective,
        space: SearchSpace,
        data: TuningData,
        seed: int,
        rounds: int,
        samples_per_round: int,
    ) -> TuneResult:
        tmp: str | None = None
        if self.run_dir is not None:
            run_dir = Path(self.run_dir)
        else:
            tmp = tempfile.mkdtemp(prefix="sweep-search-cv-")
            run_dir = Path(tmp) / "run"
        try:
            return tune(
                objective,
                space,
                mode="max",
                rounds=rounds,
                samples_per_round=samples_per_round,
                seed=seed,
                workers=self.workers if self.workers is not None else _workers(self.n_jobs),
                address=self.address,
                on_round=_round_line if self.verbose else None,
                run_dir=run_dir,
                sampler=_sampler(self.sampler, space, rounds, samples_per_round),
                narrowing=self.narrowing,
                name="search-cv",
                data=data,
            )
        finally:
            if tmp is not None:
                shutil.rmtree(tmp, ignore_errors=True)

    # -- delegation to the refit estimator ----------------------------------------------
    def _check_refit(self, method: str) -> None:
        if not self.refit:
            raise AttributeError(f"{method} is only available with refit=True")
        if not hasattr(self, "best_estimator_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this SweepSearchCV is not fitted yet; call fit first")

    @property
    def classes_(self) -> np.ndarray:
        self._check_refit("classes_")
        return self.best_estimator_.classes_

    @available_if(_estimator_has("predict"))
    def predict(self, X: Any) -> Any:
        self._check_refit("predict")
        return self.best_estimator_.predict(X)

    @available_if(_estimator_has("predict_proba"))
    def predict_proba(self, X: Any) -> Any:
        self._check_refit("predict_proba")
        return self.best_estimator_.predict_proba(X)

    @available_if(_estimator_has("predict_log_proba"))
    def predict_log_proba(self, X: Any) -> Any:
        self._check_refit("predict_log_proba")
        return self.best_estimator_.predict_log_proba(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X: Any) -> Any:
        self._check_refit("decision_function")
        return self.best_estimator_.decision_function(X)

    @available_if(_estimator_has("transform"))
    def transform(self, X: Any) -> Any:
        self._check_refit("transform")
        return self.best_estimator_.transform(X)

    @available_if(_estimator_has("inverse_transform"))
    def inverse_transform(self, X: Any) -> Any:
        self._check_refit("inverse_transform")
        return self.best_estimator_.inverse_transform(X)

    @available_if(_estimator_has("score_samples"))
    def score_samples(self, X: Any) -> Any:
        self._check_refit("score_samples")
        return self.best_estimator_.score_samples(X)

    def score(self, X: Any, y: Any = None, **params: Any) -> float:
        """The search's scorer on (X, y), with the refit best estimator; with several
        metrics, the refit one (a callable ``refit``: the first metric). ``params`` go to
        the scorer(s) with scikit-learn's metadata routing enabled, as they request them."""
        from sklearn import get_config

        routing = get_config().get("enable_metadata_routing", False)
        if params and not routing:  # as scikit-learn's searches
            raise ValueError(
                f"passing {sorted(params)} to SweepSearchCV.score is only supported if "
                "scikit-learn's metadata routing is enabled "
                "(sklearn.set_config(enable_metadata_routing=True))"
            )
        self._check_refit("score")
        score_params: dict[str, Any] = {}
        if routing:
            from sklearn.utils.metadata_routing import process_routing

            score_params = dict(process_routing(self, "score", **params).scorer.score)
        metric = self.refit if isinstance(self.refit, str) else None
        scorer = self.scorer_
        if isinstance(scorer, dict) and score_params:
            # Routed metadata is addressed to the scorers together, which route it on.
            scorer = check_scoring(self.estimator, scoring=self.scoring)
        elif isinstance(scorer, dict):
            scorer = scorer[_pick(metric, scorer)]
        value = scorer(self.best_estimator_, X, y, **score_params)
        if isinstance(value, Mapping):
            value = value[_pick(metric, value)]
        return float(value)


def _pick(metric: str | None, names: Mapping[str, Any]) -> str:
    """The metric of several that ``score`` gives: ``metric`` (refit's), else the first."""
    if metric is not None and metric in names:
        return metric
    return next(iter(names))


def _named_scorers(estimator: Any, scoring: Any) -> dict[str, Any] | None:
    """A scoring of several metrics given as a list, tuple or set of scorer names or a dict
    of scorers by name: its scorers, by name, in its order. None for one scorer (a name, a
    callable, None) - a callable may still return several, known once it has run."""
    if not isinstance(scoring, (list, tuple, set, dict)):
        return None
    check_scoring(estimator, scoring=scoring)  # scikit-learn's own checks of the names
    items = scoring.items() if isinstance(scoring, dict) else ((name, name) for name in scoring)
    return {name: check_scoring(estimator, scoring=scorer) for name, scorer in items}


def _check_multimetric_refit(refit: Any, metrics: Sequence[str]) -> None:
    """With several metrics, ``refit`` names the one that picks the best (as scikit-learn
    requires), is a callable that picks it, or is False."""
    if refit is False or callable(refit) or (isinstance(refit, str) and refit in metrics):
        return
    raise ValueError(
        f"with several metrics ({', '.join(map(str, metrics))}), refit must be the name of "
        "the one that picks the best candidate (and that the rounds narrow on), a callable "
        f"that picks best_index_ from cv_results_, or False; got {refit!r}"
    )


def _ranked_metric(refit: Any, scorers: Mapping[str, Any] | None) -> str | None:
    """The metric the sweep ranks (and narrows) by, of several: refit's, else the first
    (None: a scoring of one metric, or a callable - its first, or refit's if it gives it)."""
    if isinstance(refit, str):
        return refit
    return next(iter(scorers)) if scorers else None


#: The prefix of the column of a metric's mean test score in a multimetric trial row.
_MEAN_TEST = "mean_test_"


def _metrics_in(result: TuneResult, space: SearchSpace) -> list[str] | None:
    """The metrics a callable scoring gave (the columns of its mean test scores, by name),
    or None if it gave one score."""
    found = [
        name[len(_MEAN_TEST) :]
        for name in result.table.column_names
        if name.startswith(_MEAN_TEST) and name not in space
    ]
    return sorted(found) or None


class WholeGrid:
    """A round that is the whole grid of a space of lists, in scikit-learn's
    ``ParameterGrid`` order (names sorted, the last one varying fastest)."""

    name = "whole-grid"

    def sample(
        self, space: SearchSpace, n: int, rng: np.random.Generator, history: Any = None
    ) -> dict[str, list[Any]]:
        names = sorted(space)
        axes = [[native_value(v) for v in getattr(space[k], "values", ())] for k in names]
        combos = list(itertools.product(*axes))
        return {name: [c[i] for c in combos] for i, name in enumerate(names)}


def _sampler(sampler: Any, space: SearchSpace, rounds: int, samples_per_round: int) -> Any:
    """The default sampler, except for one round that is exactly the grid of a space of
    lists: then the grid in order (:class:`WholeGrid`), the candidates and the order
    ``RandomizedSearchCV`` evaluates when ``n_iter`` covers its grid."""
    if not (isinstance(sampler, str) and sampler == DEFAULT_SAMPLER and rounds == 1):
        return sampler
    choices = [dim for dim in space.values() if isinstance(dim, Choice)]
    if getattr(space, "conditional", False) or len(choices) < len(space):
        return sampler
    size = math.prod(len(dim.values) for dim in choices)
    return WholeGrid() if size == samples_per_round else sampler


def _workers(n_jobs: int | None) -> int | None:
    """scikit-learn's ``n_jobs`` as a worker count: None or -1 mean one per CPU."""
    if n_jobs is None or n_jobs == -1:
        return None
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs must be a positive number of workers or -1, got {n_jobs!r}")
    return n_jobs


def _round_line(report: Any) -> None:
    best = "-" if report.best_score is None else f"{report.best_score:.6g}"
    done = f"round {report.round_index + 1}/{report.rounds}: {report.trials} candidates"
    print(f"[SweepSearchCV] {done}, best {best}")


#: The statuses of candidates whose fit (or scoring) raised, or never finished: scikit-learn's
#: failed fits. An ``invalid`` candidate was fitted and scored, and its score is not finite.
_FAILED = ("failed", "timeout")


def _takes_sample_weight(scorer: Any, search: Any) -> bool:
    """Whether ``scorer`` takes ``sample_weight`` (a dict of scorers by name: whether one of
    them does); for each that does not, scikit-learn's warning."""
    import inspect

    named = scorer.items() if isinstance(scorer, Mapping) else [(None, scorer)]
    takes = []
    for name, one in named:
        accepts = getattr(one, "_accept_sample_weight", None)
        if callable(accepts):
            ok = bool(accepts())
        else:
            try:
                ok = "sample_weight" in inspect.signature(one).parameters
            except (TypeError, ValueError):
                ok = False
        if not ok:
            what = one if name is None else f"{name}={one}"
            warnings.warn(
                f"The scoring {what} does not support sample_weight, which may lead to "
                f"statistically incorrect results when fitting {search} with sample_weight.",
                UserWarning,
                stacklevel=4,
            )
        takes.append(ok)
    return any(takes)


def _raise_first_failure(
    result: TuneResult, mapping: Subspaces, objective: EstimatorObjective, data: Any
) -> None:
    """``error_score="raise"``: fit the first failed candidate again, in this process, so that
    its own exception (type, message, traceback) reaches the caller, as it does from
    scikit-learn's searches. The sweep's fits ran in workers, which kept only the error's
    text; if the candidate does not fail again, :func:`_check_failures` raises with that."""
    table = result.table.sort_by("trial_id")
    statuses = table.column("status").to_pylist()
    if "failed" in statuses:
        objective.bind(data)(mapping.configs(table)[statuses.index("failed")])


def _warn_non_finite(results: Mapping[str, Any], metrics: Sequence[str] = ("score",)) -> None:
    """scikit-learn's warning when a candidate's mean test (or train) score, of any of the
    metrics, is not finite."""
    for metric in metrics:
        for part in ("test", "train"):
            means = results.get(f"mean_{part}_{metric}")
            if means is not None and not np.isfinite(means).all():
                warnings.warn(
                    f"One or more of the {part} scores are non-finite: {means}",
                    UserWarning,
                    stacklevel=3,
                )


def _score_failures(
    results: dict[str, Any],
    result: TuneResult,
    error_score: Any,
    n_splits: int,
    metrics: Sequence[str] = ("score",),
) -> None:
    """A numeric ``error_score`` becomes the failed candidates' test (and train) scores and
    ranks, of every metric; a candidate that was scored, but not with a finite number,
    keeps its score."""
    if isinstance(error_score, str) or not np.isfinite(float(error_score)):
        return
    statuses = result.table.sort_by("trial_id").column("status").to_pylist()
    failed = np.array([s in _FAILED for s in statuses])
    for metric in metrics:
        for part in ("test", "train"):
            keys = (
                f"mean_{part}_{metric}",
                *(f"split{k}_{part}_{metric}" for k in range(n_splits)),
            )
            for key in keys:
                if key in results:
                    results[key] = np.where(failed, float(error_score), results[key])
        results[f"rank_test_{metric}"] = _rank(results[f"mean_test_{metric}"])


def _rank(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = best (highest); ties share the lowest rank; NaN ranks last."""
    from scipy.stats import rankdata

    filled = np.where(np.isnan(scores), -np.inf, scores)
    return np.asarray(rankdata(-filled, method="min"), dtype=np.int32)


def _check_failures(result: TuneResult, n_splits: int, error_score: Any = np.nan) -> None:
    """Every candidate failed: an error (as scikit-learn's); some did: a FitFailedWarning,
    or with ``error_score="raise"`` an error naming the first failure. Candidates scored
    with a non-finite number did not fail (see :func:`_warn_non_finite`)."""
    from sklearn.exceptions import FitFailedWarning

    table = result.table.sort_by("trial_id")
    statuses = table.column("status").to_pylist()
    errors = [e for s, e in zip(statuses, table.column("error").to_pylist()) if s in _FAILED and e]
    failed = sum(s in _FAILED for s in statuses)
    if not failed:
        return
    detail = f"; the first error: {errors[0]}" if errors else ""
    if isinstance(error_score, str) and error_score == "raise":
        raise ValueError(f"{failed} of {len(statuses)} candidates failed{detail}")
    if failed == len(statuses):
        raise ValueError(
            f"All the {len(statuses)} candidates failed ({len(statuses) * n_splits} fits){detail}"
        )
    warnings.warn(
        f"{failed} of {len(statuses)} candidates failed; their score is NaN{detail}",
        FitFailedWarning,
        stacklevel=3,
    )


def cv_results(
    result: TuneResult,
    space: SearchSpace | Subspaces,
    n_splits: int,
    given: Mapping[str, Mapping[str, Any]] | None = None,
    *,
    train_scores: bool = False,
    metrics: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The sweep's trial table in ``RandomizedSearchCV``'s ``cv_results_`` format: each
    candidate's parameters in the names given, with the values given (``space`` a
    :class:`Subspaces`, or a space and ``given``: see :func:`given_choices`); ``param_<name>``
    masked where a candidate's subspace lacks the parameter; with ``train_scores``, the
    scores on the training folds too. ``metrics``: the names of a scoring of several
    metrics, whose columns (``mean_test_<name>``, ...) the trial rows hold; None: one score.
    A failed candidate's fit time is the time until its failure, and its score time 0."""
    from workers.evaluate import RESERVED_COLUMNS, metric_column_name

    mapping = space if isinstance(space, Subspaces) else Subspaces.single(space, given)
    table = result.table.sort_by("trial_id")
    rows = table.to_pylist()
    params = [mapping.to_user(config) for config in mapping.configs(table)]
    nan = float("nan")
    taken = frozenset(RESERVED_COLUMNS | set(mapping.space))

    def col(key: str) -> np.ndarray:  # a metric column (stored as metric_<key> if taken)
        name = metric_column_name(key, taken)
        return np.array([nan if r.get(name) is None else float(r[name]) for r in rows])

    failed = np.array([r["status"] in _FAILED for r in rows], dtype=bool)
    until_failure = np.array([nan if r["duration_s"] is None else r["duration_s"] for r in rows])
    out: dict[str, Any] = {
        "mean_fit_time": np.where(failed, until_failure, col("fit_time")),
        "std_fit_time": np.where(failed, 0.0, col("fit_time_std")),
        "mean_score_time": np.where(failed, 0.0, col("score_time")),
        "std_score_time": np.where(failed, 0.0, col("score_time_std")),
    }
    out.update(_param_columns(params))
    out["params"] = params
    scores = np.array([nan if r["score"] is None else float(r["score"]) for r in rows])

    def stored(part: str, name: str) -> tuple[np.ndarray, np.ndarray, Callable[[int], str]]:
        """A metric's mean and spread, and the names of its per-fold columns."""
        if metrics is None:  # one score: the row's own columns
            prefix = "" if part == "test" else "train_"
            mean = scores if part == "test" else col("train_score")
            return mean, col(f"{prefix}score_std"), lambda k: f"split{k}_{prefix}score"
        mean, std = col(f"mean_{part}_{name}"), col(f"std_{part}_{name}")
        return mean, std, lambda k: f"split{k}_{part}_{name}"

    for name in metrics or ["score"]:
        for part in ("test", "train") if train_scores else ("test",):
            mean, std, fold = stored(part, name)
            for k in range(n_splits):
                out[f"split{k}_{part}_{name}"] = col(fold(k)) if n_splits > 1 else mean
            out[f"mean_{part}_{name}"] = mean
            out[f"std_{part}_{name}"] = std
            if part == "test":
                out[f"rank_test_{name}"] = _rank(mean)
    out["round"] = np.array([r["round"] for r in rows])
    return out


def _param_columns(params: Sequence[Mapping[str, Any]]) -> dict[str, np.ma.MaskedArray]:
    """``param_<name>`` columns as scikit-learn builds them: the dtype the values share
    (object for strings, sequences and mixed values), masked where a candidate lacks the
    parameter."""
    found: dict[str, dict[int, Any]] = {}
    for i, candidate in enumerate(params):
        for name, value in candidate.items():
            found.setdefault(f"param_{name}", {})[i] = value
    out = {}
    for key, values in found.items():
        try:
            arr = np.array(list(values.values()))
        except ValueError:  # sequences of different lengths
            dtype = np.dtype(object)
        else:
            dtype = arr.dtype if arr.dtype.kind != "U" and arr.ndim == 1 else np.dtype(object)
        column = np.ma.MaskedArray(np.empty(len(params), dtype=dtype), mask=True)
        for i, value in values.items():
            column[i] = value  # unmasks it
        out[key] = column
    return out
