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
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from orchestrator.errors import ConfigError, did_you_mean, first_line
from orchestrator.search.fidelity import Budget
from orchestrator.sklearn.datasets import Dataset, check_dataset_spec, load_dataset
from orchestrator.sklearn.splits import Split, SplitSpec, make_split
from workers.estimator import EstimatorObjective, TuningData

PREPROCESSORS = {
    "standard_scaler": "sklearn.preprocessing.StandardScaler",
    "minmax_scaler": "sklearn.preprocessing.MinMaxScaler",
    "robust_scaler": "sklearn.preprocessing.RobustScaler",
}
_KEYS = ("estimator", "params", "preprocessing", "scoring", "dataset", "split")
_MODEL_STEP = "model"


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

    @classmethod
    def parse(cls, spec: Mapping[str, Any], where: str = "objective") -> EstimatorTask:
        for key in spec:
            if key not in _KEYS:
                extra = did_you_mean(key, _KEYS, f"; expected one of: {', '.join(_KEYS)}")
                raise ConfigError(f"{where}: unknown key {key!r}{extra}")
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
        )
        _check_params(task.estimator_class(), task.params, f"{where}.params")
        task.transformers()
        return task

    def to_dict(self) -> dict[str, Any]:
        return {
            "estimator": self.estimator,
            "params": dict(self.params),
            "preprocessing": list(self.preprocessing),
            "scoring": self.scoring,
            "dataset": self.dataset,
            "split": self.split.to_dict(),
        }

    def estimator_class(self) -> type:
        cls = import_class(self.estimator, "objective.estimator")
        if not (isinstance(cls, type) and hasattr(cls, "fit") and hasattr(cls, "get_params")):
            raise ConfigError(
                f"objective.estimator: {self.estimator!r} is not a scikit-learn-compatible "
                "estimator class"
            )
        return cls

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
        """Every tuned parameter must be one the estimator accepts."""
        _check_params(self.estimator_class(), names, where)

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
        if budget.param in set(space_names) or budget.param in self.params:
            raise ConfigError(
                f"budget.param: {budget.param!r} is set by the budget; remove it from "
                "'space' and 'objective.params'"
            )
        _check_params(self.estimator_class(), [budget.param], "budget.param")

    def template(self) -> Any:
        """The unfitted estimator (a pipeline when there is preprocessing)."""
        model = self.estimator_class()(**self.params)
        steps = self.transformers()
        if not steps:
            return model
        from sklearn.pipeline import Pipeline

        return Pipeline([*steps, (_MODEL_STEP, model)])

    def make_objective(self, budget_param: str | None = None) -> EstimatorObjective:
        prefix = f"{_MODEL_STEP}__" if self.preprocessing else ""
        return EstimatorObjective(
            self.template(), self.scoring, param_prefix=prefix, budget_param=budget_param
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
