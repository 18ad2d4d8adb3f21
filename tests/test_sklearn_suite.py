"""scikit-learn's own ``RandomizedSearchCV`` tests, run against ``SweepSearchCV``.

The tests are scikit-learn's, imported from the installed
``sklearn.model_selection.tests.test_search`` and called unchanged: nothing of them is copied
here. Each runs with that module's ``RandomizedSearchCV`` pointed at
:class:`RandomizedSweepSearchCV`, ``SweepSearchCV`` behind ``RandomizedSearchCV``'s
constructor, whose ``n_iter`` is one round of ``n_iter`` candidates.

Selected: every test whose body uses ``RandomizedSearchCV``, or whose parametrization holds it
(a class or an instance); of a test parametrized over several search classes only the
``RandomizedSearchCV`` cases run, with the test's own parameters. A test that stays different
on purpose is an ``xfail(strict=True)`` with its reason in :data:`DIFFERENT`; one that
starts passing must leave that list.

The fits run on Ray workers, on the session's Ray (``tests/conftest.py``) as in
``test_search_cv.py``, but all of them on one :class:`~orchestrator.WorkerPool` for the
module (``SweepSearchCV``'s ``tune`` call gets ``pool=``): a fit that starts its own workers
spends about 2 s on them on two cores, and the suite fits a few dozen times.

The array-API cases are skipped by scikit-learn's test itself unless ``SCIPY_ARRAY_API`` is
set and the array library is installed.
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from types import CodeType
from typing import Any

import numpy as np
import pytest
from sklearn.model_selection import RandomizedSearchCV
from sklearn.model_selection._search import BaseSearchCV

from orchestrator import SweepSearchCV

# scikit-learn's test module imports its test helpers (and pytest marks); without its test
# files installed there is nothing to run.
sk = pytest.importorskip("sklearn.model_selection.tests.test_search")


class RandomizedSweepSearchCV(SweepSearchCV):
    """``SweepSearchCV`` with ``RandomizedSearchCV``'s constructor: ``n_iter`` candidates in
    one round, so no narrowing - what ``RandomizedSearchCV`` itself does."""

    def __init__(
        self,
        estimator: Any,
        param_distributions: Any,
        *,
        n_iter: int = 10,
        scoring: Any = None,
        n_jobs: int | None = None,
        refit: Any = True,
        cv: Any = None,
        verbose: int = 0,
        pre_dispatch: Any = "2*n_jobs",
        random_state: Any = None,
        error_score: Any = np.nan,
        return_train_score: bool = False,
    ) -> None:
        super().__init__(
            estimator,
            param_distributions,
            n_iter=n_iter,
            rounds=1,
            scoring=scoring,
            n_jobs=n_jobs,
            refit=refit,
            cv=cv,
            verbose=verbose,
            pre_dispatch=pre_dispatch,
            random_state=random_state,
            error_score=error_score,
            return_train_score=return_train_score,
        )


#: Tests (``name`` or ``name[case id]``) that differ on purpose: the reason, and what they raise.
DIFFERENT: dict[str, tuple[str, type[BaseException]]] = {
    "test_random_search_cv_results": (
        "scipy.stats.expon (a distribution without an upper bound) is not supported; its list "
        "of dicts is, and with loguniform in expon's place the test fails only on "
        "cv_results_' extra 'round' column (it checks the keys exactly)",
        ValueError,
    ),
    "test_multi_metric_search_forwards_metadata": (
        "the scorers run on Ray workers, on copies of them: the test reads what its scorer "
        "recorded in the calling process (a registry it appends to when called), which no "
        "call reaches; the metadata does reach the workers' scorers (test_search_cv.py: "
        "test_metadata_routing_reaches_the_fits_the_scorers_and_the_splitter)",
        AssertionError,
    ),
    "test_refit_callable_out_bound[RandomizedSearchCV-2]": (
        "a round has a fixed size: n_iter=10 over a grid of 2 runs 10 candidates (each "
        "combination 5 times), where RandomizedSearchCV runs the 2, so index 2 is in range",
        pytest.fail.Exception,
    ),
    **{
        name: (
            "scikit-learn's callbacks (set_callbacks, new in 1.9) are not implemented: the "
            "hooks of each candidate-and-split fit would run on the Ray workers, and reach "
            "the caller's callbacks only through scikit-learn's local socket, which a worker "
            "on another node of a cluster cannot reach",
            AttributeError,
        )
        for name in (
            "test_search_callbacks_no_propagation",
            "test_search_callbacks_propagation",
            "test_search_callbacks_receive_search_instance",
        )
    },
}


@dataclass(frozen=True)
class Case:
    """One call of one of scikit-learn's test functions."""

    func: Any
    params: dict[str, Any]
    marks: tuple[Any, ...]
    id: str


def _is_search(value: Any) -> bool:
    return isinstance(value, BaseSearchCV) or (
        isinstance(value, type) and issubclass(value, BaseSearchCV)
    )


def _is_randomized(value: Any) -> bool:
    return value is RandomizedSearchCV or type(value) is RandomizedSearchCV


def _adapted(value: Any) -> Any:
    if value is RandomizedSearchCV:
        return RandomizedSweepSearchCV
    if type(value) is RandomizedSearchCV:
        return RandomizedSweepSearchCV(**value.get_params(deep=False))
    return value


def _names_used(code: CodeType) -> Iterator[str]:
    """The global names a function's code (and the code nested in it) reads."""
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, CodeType):
            yield from _names_used(const)


def _id_part(name: str, value: Any, index: int) -> str:
    if isinstance(value, type):
        return value.__name__
    if _is_search(value):
        return type(value).__name__
    if value is None or isinstance(value, (bool, int, float, str)):
        return str(value)
    return f"{name}{index}"


def _parametrizations(func: Any) -> list[tuple[dict[str, Any], list[Any], str]]:
    """The test's parametrize marks, crossed as pytest crosses them: (params, marks, id)."""
    axes = []
    for mark in getattr(func, "pytestmark", []):  # the innermost decorator first, as pytest
        if mark.name != "parametrize":
            continue
        argnames, argvalues = mark.args[0], mark.args[1]
        names = [n.strip() for n in argnames.split(",")] if isinstance(argnames, str) else argnames
        ids = mark.kwargs.get("ids")
        axis = []
        for i, entry in enumerate(argvalues):
            values = getattr(entry, "values", None)  # pytest.param(...)
            marks = list(getattr(entry, "marks", ())) if values is not None else []
            values = values if values is not None else (entry if len(names) > 1 else (entry,))
            params = dict(zip(names, values))
            if isinstance(ids, (list, tuple)):
                part = str(ids[i])
            else:
                part = "-".join(_id_part(n, v, i) for n, v in params.items())
            axis.append((params, marks, part))
        axes.append(axis)
    out = []
    for combo in itertools.product(*axes):
        params = {k: v for p, _, _ in combo for k, v in p.items()}
        marks = [m for _, ms, _ in combo for m in ms]
        out.append((params, marks, "-".join(part for _, _, part in combo)))
    return out


def scikit_learn_cases() -> list[Case]:
    """The selected calls of scikit-learn's tests, ``RandomizedSearchCV`` cases only."""
    cases = []
    for name, func in sorted(vars(sk).items()):
        if not (name.startswith("test_") and inspect.isfunction(func)):
            continue
        uses_it = "RandomizedSearchCV" in set(_names_used(inspect.unwrap(func).__code__))
        kept = [
            m for m in getattr(func, "pytestmark", []) if m.name in ("filterwarnings", "skipif")
        ]
        for params, marks, part in _parametrizations(func):
            searches = [v for v in params.values() if _is_search(v)]
            if any(not _is_randomized(v) for v in searches):
                continue  # a case of another search class
            if not (searches or uses_it):
                continue
            adapted = {k: _adapted(v) for k, v in params.items()}
            case_id = f"{name}[{part}]" if part else name
            cases.append(Case(func, adapted, tuple(kept + marks), case_id))
    return cases


CASES = scikit_learn_cases()


def _param(case: Case) -> Any:
    marks = list(case.marks)
    name = case.id.split("[")[0]
    different = DIFFERENT.get(case.id, DIFFERENT.get(name))
    if different is not None:
        reason, raises = different
        marks.append(pytest.mark.xfail(strict=True, reason=reason, raises=raises))
    return pytest.param(case, id=case.id, marks=marks)


@pytest.fixture(scope="module")
def worker_pool(ray_cluster):
    """Workers started once for the module's fits (see the module docstring)."""
    from orchestrator import WorkerPool

    with WorkerPool(workers=2) as pool:
        yield pool


@pytest.mark.ray
@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_scikit_learn(case: Case, worker_pool: Any, monkeypatch: Any, request: Any) -> None:
    from orchestrator.sklearn import search_cv

    monkeypatch.setattr(sk, "RandomizedSearchCV", RandomizedSweepSearchCV)
    monkeypatch.setattr(search_cv, "tune", functools.partial(search_cv.tune, pool=worker_pool))
    kwargs = dict(case.params)
    for name in inspect.signature(case.func).parameters:
        if name not in kwargs:  # a fixture of pytest's own (capsys, ...)
            kwargs[name] = request.getfixturevalue(name)
    case.func(**kwargs)


def test_the_selection_is_what_it_claims():
    """Every reason names a selected test, and no other search class got in."""
    ids = {c.id for c in CASES} | {c.id.split("[")[0] for c in CASES}
    assert set(DIFFERENT) <= ids, set(DIFFERENT) - ids
    for case in CASES:
        assert not any(
            _is_search(v) and not issubclass(v if isinstance(v, type) else type(v), SweepSearchCV)
            for v in case.params.values()
        ), case.id
    assert "test_random_search_cv_results" in ids and "test_pickle" in ids
    assert not any(i.startswith("test_grid_search_cv_results") for i in ids)


@pytest.mark.ray
def test_random_search_cv_results_differs_only_by_expon_and_the_round_column(
    worker_pool: Any, monkeypatch: Any
) -> None:
    """The reason ``test_random_search_cv_results`` gives, checked: with a bounded
    distribution in ``expon``'s place and without the ``round`` column, scikit-learn's test
    (a list of dicts, masked ``param_<name>`` columns of scikit-learn's dtypes) passes."""
    from scipy.stats import loguniform

    from orchestrator.sklearn import search_cv

    cv_results = search_cv.cv_results

    def without_round(*args: Any, **kwargs: Any) -> dict[str, Any]:
        out = cv_results(*args, **kwargs)
        out.pop("round")
        return out

    monkeypatch.setattr(sk, "RandomizedSearchCV", RandomizedSweepSearchCV)
    monkeypatch.setattr(search_cv, "tune", functools.partial(search_cv.tune, pool=worker_pool))
    monkeypatch.setattr(sk, "expon", lambda scale: loguniform(scale / 100, scale * 5))
    monkeypatch.setattr(search_cv, "cv_results", without_round)
    sk.test_random_search_cv_results()
