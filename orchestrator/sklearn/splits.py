"""Data splits, made once per sweep with its seed: tuning rows (train/validation or k folds)
and the sealed test rows.

Pure: row indices in, row indices out. Classification targets are stratified.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from orchestrator.checks import whole_number
from orchestrator.errors import ConfigError


@dataclass(frozen=True)
class SplitSpec:
    """``test``: fraction of rows sealed for the one final evaluation (0: no test set).
    ``validation``: fraction of the remaining rows to score on (hold-out), unless ``cv`` is
    given: then k-fold cross-validation on the remaining rows."""

    test: float = 0.2
    validation: float = 0.25
    cv: int | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.test < 1:
            raise ConfigError(f"split.test: must be in [0, 1), got {self.test!r}")
        if self.cv is None and not 0 < self.validation < 1:
            raise ConfigError(f"split.validation: must be in (0, 1), got {self.validation!r}")
        whole_number("split.cv", self.cv, minimum=2, allow_none=True)

    @classmethod
    def parse(cls, spec: Any, where: str = "objective.split") -> SplitSpec:
        if spec is None:
            return cls()
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: expected a mapping like {{test: 0.2, validation: 0.25}}")
        unknown = set(spec) - {"test", "validation", "cv"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {sorted(unknown, key=repr)[0]!r}; "
                "expected test, validation, cv"
            )
        if "cv" in spec and "validation" in spec:
            raise ConfigError(
                f"{where}: give either 'validation' (hold-out) or 'cv' (k folds), not both"
            )
        for key in ("test", "validation"):
            value = spec.get(key)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, (int, float))
            ):
                raise ConfigError(f"{where}.{key}: expected a fraction, got {value!r}")
        return cls(
            test=float(spec.get("test", 0.2)),
            validation=float(spec.get("validation", 0.25)),
            cv=spec.get("cv"),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"test": self.test}
        out.update({"cv": self.cv} if self.cv else {"validation": self.validation})
        return out


@dataclass(frozen=True)
class Split:
    """Row indices of the original dataset: tuning rows, their folds, and the test rows.

    ``folds`` index into ``tune_rows`` (positions), as the workers see only those rows.
    """

    tune_rows: np.ndarray
    test_rows: np.ndarray
    folds: tuple[tuple[np.ndarray, np.ndarray], ...]


def make_split(y: np.ndarray, spec: SplitSpec, *, seed: int, classification: bool) -> Split:
    """Split ``len(y)`` rows by ``spec``, deterministic in ``seed``."""
    from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

    rows = np.arange(len(y))
    rng = np.random.SeedSequence(entropy=seed, spawn_key=(2**31 - 1,)).generate_state(1)[0]
    state = int(rng)
    if spec.test > 0:
        stratify = y if classification else None
        tune_rows, test_rows = train_test_split(
            rows, test_size=spec.test, random_state=state, stratify=stratify
        )
    else:
        tune_rows, test_rows = rows, rows[:0]
    tune_rows, test_rows = np.sort(tune_rows), np.sort(test_rows)
    y_tune = y[tune_rows]
    positions = np.arange(len(tune_rows))
    if spec.cv:
        splitter = (StratifiedKFold if classification else KFold)(
            n_splits=spec.cv, shuffle=True, random_state=state
        )
        folds = tuple((np.sort(tr), np.sort(va)) for tr, va in splitter.split(positions, y_tune))
    else:
        train, val = train_test_split(
            positions,
            test_size=spec.validation,
            random_state=state,
            stratify=y_tune if classification else None,
        )
        folds = ((np.sort(train), np.sort(val)),)
    return Split(tune_rows=tune_rows, test_rows=test_rows, folds=folds)
