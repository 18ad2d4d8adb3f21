"""Datasets for estimator tasks: the ones that ship inside scikit-learn, or a file.

``load_dataset("wine")`` or ``load_dataset({"path": "data.csv", "target": "label"})`` returns
a :class:`Dataset` (features as a float array, the target, names). Files are read with
pyarrow (Parquet, or CSV by extension). Every problem is a :class:`ConfigError` naming the
file or column.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from orchestrator.errors import ConfigError, did_you_mean

BUILTIN = {
    "iris": "load_iris",
    "wine": "load_wine",
    "breast_cancer": "load_breast_cancer",
    "digits": "load_digits",
    "diabetes": "load_diabetes",
}


@dataclass(frozen=True)
class Dataset:
    """Features ``X`` (n_rows x n_features, float), target ``y``, and their names."""

    name: str
    X: np.ndarray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target: str

    @property
    def n_rows(self) -> int:
        return int(self.X.shape[0])


def _builtin(name: str) -> Dataset:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, BUILTIN[name])()
    names = getattr(bunch, "feature_names", None)
    names = (
        tuple(map(str, names))
        if names is not None
        else tuple(f"x{i}" for i in range(bunch.data.shape[1]))
    )
    return Dataset(
        name, np.asarray(bunch.data, dtype=float), np.asarray(bunch.target), names, "target"
    )


def _read_table(path: Path, where: str) -> Any:
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.parquet as pq

    if not path.is_file():
        raise ConfigError(f"{where}.path: no such file {str(path)!r}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pq.read_table(path)
        if suffix in (".csv", ".txt") or path.name.lower().endswith(".csv.gz"):
            return pcsv.read_csv(path)
    except (OSError, pa.ArrowException) as exc:
        raise ConfigError(f"{where}.path: cannot read {str(path)!r}: {exc}") from None
    raise ConfigError(f"{where}.path: {str(path)!r} is neither .parquet nor .csv")


def check_dataset_spec(spec: Any, where: str = "objective.dataset") -> None:
    """The shape of a dataset spec, checked without reading anything (config parse time)."""
    if isinstance(spec, str):
        if spec not in BUILTIN:
            raise ConfigError(
                f"{where}: unknown dataset {spec!r}{did_you_mean(spec, BUILTIN)} (built in: "
                f"{', '.join(BUILTIN)}; or give {{path: file.parquet, target: column}})"
            )
        return
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where}: expected a dataset name or {{path, target}}, got {spec!r:.100}"
        )
    unknown = set(spec) - {"path", "target", "features"}
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {sorted(unknown, key=repr)[0]!r}; expected path, "
            "target, features"
        )
    if "path" not in spec or "target" not in spec:
        raise ConfigError(f"{where}: a file dataset needs 'path' and 'target' (the label column)")
    for key in ("path", "target"):
        if not isinstance(spec[key], str) or not spec[key]:
            raise ConfigError(f"{where}.{key}: expected text, got {spec[key]!r:.100}")
    features = spec.get("features")
    if features is not None and (
        isinstance(features, (str, bytes))
        or not isinstance(features, (list, tuple))
        or not all(isinstance(f, str) for f in features)
    ):
        raise ConfigError(
            f"{where}.features: expected a list of column names, got {features!r:.100}"
        )


def _features(
    spec: Mapping[str, Any], columns: list[str], target: str, path: Path, where: str
) -> list[str]:
    """The feature columns: ``features`` as given, or every column but the target."""
    if "features" not in spec or spec["features"] is None:
        features = [c for c in columns if c != target]
        if not features:
            raise ConfigError(
                f"{where}: {path.name} holds only the target column {target!r}; add feature columns"
            )
        return features
    features = spec["features"]
    if not features:
        raise ConfigError(
            f"{where}.features: an empty list; name at least one column, or leave "
            "'features' out to use every column but the target"
        )
    seen: set[str] = set()
    for name in features:
        if name == target:
            raise ConfigError(
                f"{where}.features: {name!r} is the target; a feature cannot be "
                "the label it predicts"
            )
        if name in seen:
            raise ConfigError(f"{where}.features: {name!r} is listed twice")
        seen.add(name)
    return list(features)


def _from_file(spec: Mapping[str, Any], where: str) -> Dataset:
    import pyarrow.compute as pc
    import pyarrow.types as pt

    check_dataset_spec(spec, where)
    path = Path(spec["path"])
    table = _read_table(path, where)
    target = str(spec["target"])
    if target not in table.column_names:
        extra = did_you_mean(
            target, table.column_names, f"; columns: {', '.join(table.column_names)}"
        )
        raise ConfigError(f"{where}.target: {path.name} has no column {target!r}{extra}")
    features = _features(spec, table.column_names, target, path, where)
    if table.num_rows == 0:
        raise ConfigError(f"{where}.path: {path.name} has no rows")
    for name in features:
        if name not in table.column_names:
            raise ConfigError(f"{where}.features: {path.name} has no column {name!r}")
        column = table.column(name)
        if not (
            pt.is_integer(column.type) or pt.is_floating(column.type) or pt.is_boolean(column.type)
        ):
            raise ConfigError(
                f"{where}: feature column {name!r} is {column.type}, not numeric; encode it first "
                "or leave it out with 'features: [...]'"
            )
        if column.null_count:
            raise ConfigError(
                f"{where}: feature column {name!r} has {column.null_count} missing values"
            )
    y_col = table.column(target)
    if y_col.null_count:
        raise ConfigError(
            f"{where}.target: column {target!r} has {y_col.null_count} missing values"
        )
    X = np.column_stack([pc.cast(table.column(n), "float64").to_numpy() for n in features])
    return Dataset(path.stem, X, np.asarray(y_col.to_pylist()), tuple(features), target)


def load_dataset(spec: Any, where: str = "objective.dataset") -> Dataset:
    """A built-in dataset by name, or ``{path, target[, features]}`` for a Parquet/CSV file."""
    check_dataset_spec(spec, where)
    return _builtin(spec) if isinstance(spec, str) else _from_file(spec, where)
