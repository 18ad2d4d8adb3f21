"""Built-in estimator tasks: tune a scikit-learn-compatible estimator on a dataset from a config.

```yaml
objective:
  estimator: sklearn.svm.SVC          # import path of any scikit-learn-compatible class
  params: {kernel: rbf}                # fixed parameters
  preprocessing: [standard_scaler]     # optional: standard_scaler, minmax_scaler,
                                       # robust_scaler, or an import path of a transformer
  scoring: accuracy                    # as scikit-learn spells it; default: estimator.score
  dataset: wine                        # iris, wine, breast_cancer, digits, diabetes,
                                       # or {path: data.parquet, target: label}
  split: {test: 0.2, validation: 0.25} # or {test: 0.2, cv: 5}; test: 0 seals nothing
```

The space names the estimator's own parameters (``C``, ``gamma``). Everything is checked
when the config is read: the estimator imports, it accepts every fixed and tuned parameter,
the scoring exists. Scores are greater-is-better (scikit-learn's convention), so the mode
is ``max``.

The space may instead be a list of subspaces, each with its own estimator class
(``estimator:`` an import path, or a choice of them) and that class's parameters;
``objective.estimator`` may then be left out (it is the estimator of a subspace that names
none). The list is searched as one conditional space (:mod:`orchestrator.sklearn.subspaces`):
``estimator`` picks the subspace, and the worker gets an instance of the class it names (in
the pipeline's ``model`` step). The task keeps the list (``subspaces`` in the run's
config), and the space the sweep searched is its ``space``.

```yaml
space:
  - estimator: sklearn.linear_model.LogisticRegression
    C: {type: float, low: 1e-3, high: 1e2, log: true}
  - estimator: sklearn.svm.SVC
    C: {type: float, low: 1e-2, high: 1e3, log: true}
    gamma: {type: float, low: 1e-4, high: 1e-1, log: true}
```
"""

from __future__ import annotations

import difflib
import functools
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestrator.checks import check_keys
from orchestrator.errors import ConfigError, did_you_mean, first_line
from orchestrator.search.fidelity import Budget
from orchestrator.search.space import Choice, Dimension, SearchSpace, encode_choice
from orchestrator.search.specs import parse_dimension, parse_space
from orchestrator.sklearn.datasets import Dataset, check_dataset_spec, load_dataset
from orchestrator.sklearn.splits import Split, SplitSpec, make_split
from orchestrator.sklearn.subspaces import Subspaces, combine
from workers.estimator import EstimatorObjective, TuningData

PREPROCESSORS = {
    "standard_scaler": "sklearn.preprocessing.StandardScaler",
    "minmax_scaler": "sklearn.preprocessing.MinMaxScaler",
    "robust_scaler": "sklearn.preprocessing.RobustScaler",
}
_KEYS = ("estimator", "params", "preprocessing", "scoring", "dataset", "split", "subspaces")
_MODEL_STEP = "model"
#: The name, in a subspace, of the estimator class it tunes.
ESTIMATOR = "estimator"


def import_class(path: str, where: str) -> type:
    """``"package.module.Class"`` or ``"package.module:Class"`` -> the class."""
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(f"{where}: expected an import path like 'sklearn.svm.SVC', got {path!r}")
    module_name, _, name = path.replace(":", ".").rpartition(".")
    if not module_name:
        raise ConfigError(
            f"{where}: {path!r} is not an import path; write it like 'sklearn.svm.SVC'"
        )
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # not found, a malformed name, or the module failed as it loaded
        raise ConfigError(
            f"{where}: cannot import {module_name!r} for {path!r} ({first_line(exc)})"
        ) from None
    if not hasattr(module, name):
        options = [n for n in dir(module) if not n.startswith("_")]
        hint = difflib.get_close_matches(name, options, n=1)
        extra = f"; did you mean '{module_name}.{hint[0]}'?" if hint else ""
        raise ConfigError(
            f"{where}: unknown estimator {path!r}: {module_name} has no {name!r}{extra}"
        )
    return getattr(module, name)


def estimator_class(path: str, where: str) -> type:
    """The scikit-learn-compatible estimator class at an import path (else a ConfigError)."""
    cls = import_class(path, where)
    if not (isinstance(cls, type) and hasattr(cls, "fit") and hasattr(cls, "get_params")):
        raise ConfigError(f"{where}: {path!r} is not a scikit-learn-compatible estimator class")
    return cls


def _estimator_paths(spec: Any, where: str) -> tuple[str, ...]:
    """A subspace's ``estimator``: an import path, or ``{type: choice, values: [paths]}``;
    each one imported and checked."""
    if isinstance(spec, str):
        paths: tuple[Any, ...] = (spec,)
    elif isinstance(spec, Mapping):
        check_keys(where, spec, ("type", "values"))
        values = spec.get("values")
        if spec.get("type") != "choice" or not isinstance(values, list) or not values:
            raise ConfigError(
                f"{where}: expected {{type: choice, values: [import paths]}}, got {spec!r:.100}"
            )
        paths = tuple(values)
    else:
        raise ConfigError(
            f"{where}: expected an import path like sklearn.svm.SVC, or "
            f"{{type: choice, values: [import paths]}}, got {spec!r:.100}"
        )
    for k, path in enumerate(paths):
        estimator_class(path, where if len(paths) == 1 else f"{where}.values[{k}]")
    if len(set(paths)) < len(paths):
        raise ConfigError(f"{where}: an estimator is listed twice in {list(paths)!r}")
    return paths


def _is_classifier(cls: type) -> bool | None:
    from sklearn.base import is_classifier

    try:
        return bool(is_classifier(cls()))
    except Exception:  # a class that needs constructor arguments: not checked
        return None


def _check_scoring(scoring: Any, where: str) -> str | None:
    if scoring is None:
        return None
    from sklearn.metrics import get_scorer_names

    names = sorted(get_scorer_names())
    if scoring not in names:
        extra = did_you_mean(scoring, names)
        raise ConfigError(
            f"{where}: unknown scoring {scoring!r}{extra} (see sklearn.metrics.get_scorer_names())"
        )
    return scoring


def _check_params(cls: type, names: Iterable[str], where: str) -> None:
    try:
        accepted = sorted(cls().get_params(deep=False))
    except Exception:  # an estimator that needs constructor arguments: check by signature
        import inspect

        accepted = sorted(p for p in inspect.signature(cls).parameters if p != "self")
    for name in names:
        if name not in accepted:
            raise ConfigError(
                f"{where}.{name}: {cls.__name__} does not accept a parameter "
                f"{name!r}{did_you_mean(name, accepted)} "
                f"(it accepts: {', '.join(accepted)})"
            )


@dataclass(frozen=True)
class PreparedTask:
    """An estimator task ready to tune: the objective, the tuning rows, and the sealed rows."""

    objective: EstimatorObjective
    data: TuningData
    dataset: Dataset
    split: Split


@dataclass(frozen=True)
class EstimatorTask:
    """A validated ``objective:`` mapping (see the module docstring)."""

    estimator: str
    dataset: str | Mapping[str, Any]  # a built-in name, or {path, target, features}
    params: Mapping[str, Any] = field(default_factory=dict)
    preprocessing: tuple[str, ...] = ()
    scoring: str | None = None
    split: SplitSpec = field(default_factory=SplitSpec)
    # The list of subspaces `space:` gave, as written (see the module docstring); empty for
    # a space of the estimator's parameters.
    subspaces: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def parse(cls, spec: Mapping[str, Any], where: str = "objective") -> EstimatorTask:
        for key in spec:
            if key not in _KEYS:
                extra = did_you_mean(key, _KEYS, f"; expected one of: {', '.join(_KEYS)}")
                raise ConfigError(f"{where}: unknown key {key!r}{extra}")
        subspaces = spec.get("subspaces") or ()
        if not isinstance(subspaces, (list, tuple)):
            raise ConfigError(
                f"{where}.subspaces: expected a list of subspaces, got {subspaces!r:.100}"
            )
        if "estimator" not in spec and subspaces:  # the first subspace's estimator
            first = subspaces[0]
            named = first.get(ESTIMATOR) if isinstance(first, Mapping) else None
            if named is None:
                raise ConfigError(
                    f"{where}: missing key 'estimator' (the estimator of the subspaces that "
                    f"name none, as {_subspace_where(0, len(subspaces))} does)"
                )
            paths = _estimator_paths(named, _subspace_where(0, len(subspaces), ESTIMATOR))
            spec = {**spec, "estimator": paths[0]}
        for key in ("estimator", "dataset"):
            if key not in spec:
                raise ConfigError(f"{where}: missing key {key!r}")
        params = spec.get("params") or {}
        if not isinstance(params, Mapping):
            raise ConfigError(
                f"{where}.params: expected a mapping of fixed parameters, got {params!r}"
            )
        prep = spec.get("preprocessing") or ()
        prep = (prep,) if isinstance(prep, str) else prep
        if not isinstance(prep, (list, tuple)) or not all(isinstance(p, str) for p in prep):
            raise ConfigError(
                f"{where}.preprocessing: expected a name or a list of names "
                f"(built in: {', '.join(PREPROCESSORS)}), got {prep!r:.100}"
            )
        check_dataset_spec(spec["dataset"], f"{where}.dataset")
        task = cls(
            estimator=spec["estimator"],
            dataset=spec["dataset"],
            params=dict(params),
            preprocessing=tuple(prep),
            scoring=_check_scoring(spec.get("scoring"), f"{where}.scoring"),
            split=SplitSpec.parse(spec.get("split"), f"{where}.split"),
            subspaces=tuple(subspaces),
        )
        default = task.estimator_class()
        _check_params(default, task.params, f"{where}.params")
        task.transformers()
        if subspaces:
            kinds = {}
            for path in task.estimator_paths():
                found = estimator_class(path, "space")
                _check_params(found, task.params, f"{where}.params")
                kinds[path] = _is_classifier(found)
            if len({kind for kind in kinds.values() if kind is not None}) > 1:
                classifiers = [p for p, k in kinds.items() if k]
                others = [p for p, k in kinds.items() if k is False]
                raise ConfigError(
                    f"space: the estimators mix classifiers ({', '.join(classifiers)}) and "
                    f"others ({', '.join(others)}); one task tunes one kind"
                )
            task.search_space()  # every subspace checked, and the combined space built
        return task

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "estimator": self.estimator,
            "params": dict(self.params),
            "preprocessing": list(self.preprocessing),
            "scoring": self.scoring,
            "dataset": self.dataset,
            "split": self.split.to_dict(),
        }
        if self.subspaces:
            out["subspaces"] = [dict(sub) for sub in self.subspaces]
        return out

    def estimator_class(self) -> type:
        return estimator_class(self.estimator, "objective.estimator")

    # -- a list of subspaces -------------------------------------------------------------
    @functools.cached_property
    def _subspace_dims(self) -> list[tuple[dict[str, Dimension], tuple[str, ...]]]:
        """Each subspace's dimensions (its ``estimator`` a choice of import paths, first, when
        any subspace names one) and estimator classes, checked: every parameter is one its
        estimators accept."""
        n = len(self.subspaces)
        tunes = any(isinstance(s, Mapping) and ESTIMATOR in s for s in self.subspaces)
        out = []
        for i, sub in enumerate(self.subspaces):
            where = _subspace_where(i, n)
            if not isinstance(sub, Mapping) or not sub:
                raise ConfigError(
                    f"{where}: expected a mapping of parameter names to specs (a subspace), "
                    f"got {sub!r:.100}"
                )
            if ESTIMATOR in sub:
                paths = _estimator_paths(sub[ESTIMATOR], _subspace_where(i, n, ESTIMATOR))
            else:
                paths = (self.estimator,)
            dims: dict[str, Dimension] = {}
            if tunes:
                dims[ESTIMATOR] = Choice(paths, name=ESTIMATOR)
            for name, spec in sub.items():
                if name != ESTIMATOR:
                    dims[str(name)] = parse_dimension(str(name), spec, where)
            try:
                SearchSpace(dims)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
            for path in paths:
                cls = estimator_class(path, where)
                accepted = [n for n, d in dims.items() if n != ESTIMATOR and _applies(d, path)]
                _check_params(cls, accepted, where)
            out.append((dims, paths))
        return out

    @functools.cached_property
    def subspace_map(self) -> Subspaces | None:
        """The subspaces as one conditional space (None without a list of subspaces)."""
        if not self.subspaces:
            return None
        parts = self._subspace_dims
        n = len(parts)
        try:
            return combine([dims for dims, _ in parts], where=lambda i: _subspace_where(i, n))
        except ValueError as exc:  # (each subspace was checked: the combined space failed)
            text = str(exc)
            raise ConfigError(text if text.startswith("space") else f"space: {text}") from None

    def estimator_paths(self) -> tuple[str, ...]:
        """Every estimator class the task may fit, by import path (the default first)."""
        paths = [self.estimator]
        if self.subspaces:
            paths += [p for _, found in self._subspace_dims for p in found]
        return tuple(dict.fromkeys(paths))

    @property
    def tunes_estimator(self) -> bool:
        """Whether the configuration chooses the estimator class (a subspace names it)."""
        mapping = self.subspace_map
        return mapping is not None and ESTIMATOR in mapping.names.values()

    def search_space(self) -> SearchSpace | None:
        """The space a list of subspaces gives (None without one)."""
        mapping = self.subspace_map
        return mapping.space if mapping is not None else None

    def transformers(self) -> list[tuple[str, Any]]:
        steps = []
        for i, name in enumerate(self.preprocessing):
            if name not in PREPROCESSORS and "." not in str(name):
                extra = did_you_mean(name, PREPROCESSORS)
                raise ConfigError(
                    f"objective.preprocessing[{i}]: unknown preprocessing {name!r}{extra} "
                    f"(built in: {', '.join(PREPROCESSORS)}; or an import path of a transformer)"
                )
            cls = import_class(PREPROCESSORS.get(name, name), f"objective.preprocessing[{i}]")
            if not hasattr(cls, "transform"):
                raise ConfigError(f"objective.preprocessing[{i}]: {name!r} is not a transformer")
            steps.append((f"prep{i}", cls()))
        return steps

    def check_space(self, names: Iterable[str], where: str = "space") -> None:
        """Every tuned parameter must be one the estimator accepts (with a list of
        subspaces, checked as it was read: ``names`` are the combined space's)."""
        mapping = self.subspace_map
        if mapping is None:
            _check_params(self.estimator_class(), names, where)
        elif list(names) != list(mapping.space):
            raise ConfigError(
                f"{where}: the parameters {list(names)!r} are not those of the subspaces in "
                f"objective.subspaces ({list(mapping.space)!r})"
            )

    def check_budget(self, budget: Budget | None, space_names: Iterable[str]) -> None:
        """A budget must name what carries it: an estimator parameter, or ``rows``."""
        if budget is None:
            return
        if budget.param is None:
            raise ConfigError(
                "budget.param: an estimator task needs the parameter that carries the budget "
                "(e.g. max_iter, n_estimators) or 'rows' for a fraction of the training rows"
            )
        if budget.param == "rows":
            return
        mapping = self.subspace_map
        tuned = set(space_names) | (set(mapping.names.values()) if mapping else set())
        if budget.param in tuned or budget.param in self.params:
            raise ConfigError(
                f"budget.param: {budget.param!r} is set by the budget; remove it from "
                "'space' and 'objective.params'"
            )
        for path in self.estimator_paths():
            _check_params(estimator_class(path, "space"), [budget.param], "budget.param")

    def template(self) -> Any:
        """The unfitted estimator (a pipeline when there is preprocessing)."""
        model = self.estimator_class()(**self.params)
        steps = self.transformers()
        if not steps and not self.tunes_estimator:
            return model
        from sklearn.pipeline import Pipeline

        # (a pipeline whose `model` step a configuration may replace)
        return Pipeline([*steps, (_MODEL_STEP, model)])

    def make_objective(self, budget_param: str | None = None) -> EstimatorObjective:
        prefix = f"{_MODEL_STEP}__" if self.preprocessing or self.tunes_estimator else ""
        names: dict[str, str | None] = {}
        given: dict[str, dict[str, Any]] = {}
        mapping = self.subspace_map
        for key, name in (mapping.names if mapping else {}).items():
            if name == ESTIMATOR:  # an import path -> an instance, in the model step
                names[key] = _MODEL_STEP
                given[key] = {
                    encode_choice(path): estimator_class(path, "space")(**self.params)
                    for path in mapping.space[key].values  # type: ignore[union-attr]
                }
            else:
                names[key] = None if name is None else f"{prefix}{name}"
        return EstimatorObjective(
            self.template(),
            self.scoring,
            param_prefix=prefix,
            budget_param=budget_param,
            names=names,
            given=given,
        )

    def prepare(self, seed: int, budget_param: str | None = None) -> PreparedTask:
        """Load the dataset, split it with ``seed``, keep only tuning rows for the workers."""
        from sklearn.base import is_classifier

        dataset = load_dataset(self.dataset)
        classification = is_classifier(self.estimator_class()())
        try:
            split = make_split(dataset.y, self.split, seed=seed, classification=classification)
        except ValueError as exc:
            raise ConfigError(f"objective.split: cannot split {dataset.name!r} ({exc})") from None
        data = TuningData(
            X=dataset.X[split.tune_rows],
            y=dataset.y[split.tune_rows],
            folds=split.folds,
            row_ids=split.tune_rows,
        )
        return PreparedTask(self.make_objective(budget_param), data, dataset, split)


def _subspace_where(i: int, n: int, key: str | None = None) -> str:
    where = "space" if n == 1 else f"space[{i}]"
    return f"{where}.{key}" if key else where


def _applies(dim: Dimension, path: str) -> bool:
    """Whether a subspace's parameter may be active with the estimator ``path`` (a
    condition on ``estimator`` may leave it out)."""
    return all(parent != ESTIMATOR or path in values for parent, values in dim.when)


def task_space(spec: Any, space: Any) -> tuple[Any, SearchSpace]:
    """An estimator task's ``space:`` -> (the task's mapping, the space the sweep searches).

    A mapping of the estimator's parameters is the space. A list of subspaces (or a mapping
    that names ``estimator``) goes into the task, under ``subspaces``, and the sweep searches
    the conditional space it makes. A run's stored config (``objective.subspaces`` and the
    space it made) reads back to the same, and must agree.
    """
    if not isinstance(spec, Mapping):
        return spec, parse_space(space)
    if spec.get("subspaces"):  # a run's stored config
        task = EstimatorTask.parse(spec)
        stored = parse_space(space)
        if stored != task.search_space():
            raise ConfigError(
                "space: not the space that objective.subspaces makes; a run's config keeps both "
                "as the run wrote them (give a list of subspaces under `space` instead)"
            )
        return spec, stored
    if isinstance(space, (list, tuple)) or (isinstance(space, Mapping) and ESTIMATOR in space):
        if isinstance(space, (list, tuple)) and not space:
            raise ConfigError("space: the list of subspaces is empty; give at least one")
        spec = {**spec, "subspaces": list(space) if isinstance(space, (list, tuple)) else [space]}
        found = EstimatorTask.parse(spec).search_space()
        assert found is not None
        return spec, found
    return spec, parse_space(space)


def split_table(split: Split) -> Any:
    """The split as an Arrow table: one row per dataset row with its role and fold."""
    import pyarrow as pa

    n = len(split.tune_rows) + len(split.test_rows)
    role = np.array(["test"] * n, dtype=object)
    fold = np.full(n, -1)
    single = len(split.folds) == 1
    for k, (train, val) in enumerate(split.folds):
        role[split.tune_rows[val]] = "validation" if single else "tune"
        fold[split.tune_rows[val]] = k
        if single:
            role[split.tune_rows[train]] = "train"
    return pa.table(
        {
            "row": pa.array(np.arange(n), pa.int64()),
            "role": pa.array(role.tolist()),
            "fold": pa.array([None if f < 0 else f for f in fold.tolist()], pa.int32()),
        }
    )
