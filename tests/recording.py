"""A classifier that records which dataset rows it is fitted and scored on.

The dataset's first feature is the row's index in the original file, so the rows an
estimator sees can be audited from any worker: each call appends a line to a file of its
own process under ``log_dir``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin


class RecordingClassifier(ClassifierMixin, BaseEstimator):
    """Nearest class mean on features 1.. (feature 0 is the row id); ``shrink`` is tunable."""

    def __init__(self, log_dir: str = "", shrink: float = 0.0) -> None:
        self.log_dir = log_dir
        self.shrink = shrink

    def _record(self, what: str, X: np.ndarray) -> None:
        if self.log_dir:
            path = Path(self.log_dir) / f"{os.getpid()}.log"
            with path.open("a") as fh:
                rows = ",".join(str(int(r)) for r in X[:, 0])
                fh.write(f"{what} {rows} {self.shrink!r}\n")

    def fit(self, X, y):
        X = np.asarray(X, dtype=float)
        self._record("fit", X)
        self.classes_ = np.unique(y)
        feats = X[:, 1:]
        self.means_ = np.array([feats[y == c].mean(axis=0) for c in self.classes_]) * (
            1 - self.shrink
        )
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X):
        X = np.asarray(X, dtype=float)
        self._record("predict", X)
        d = ((X[:, None, 1:] - self.means_[None]) ** 2).sum(axis=2)
        return self.classes_[np.argmin(d, axis=1)]


def calls(path: str | os.PathLike) -> list[tuple[str, list[int], float]]:
    """The calls one log file recorded, in order: (action, rows in order, shrink)."""
    out = []
    for line in Path(path).read_text().splitlines():
        what, rows, shrink = line.split(" ")
        out.append((what, [int(r) for r in rows.split(",") if r], float(shrink)))
    return out


def all_calls(log_dir: str | os.PathLike) -> list[tuple[str, list[int], float]]:
    """The calls every process under ``log_dir`` recorded."""
    return [c for path in sorted(Path(log_dir).glob("*.log")) for c in calls(path)]


def seen_rows(log_dir: str | os.PathLike) -> dict[str, set[int]]:
    """Rows seen per action ('fit', 'predict') across every process's log."""
    seen: dict[str, set[int]] = {"fit": set(), "predict": set()}
    for what, rows, _ in all_calls(log_dir):
        seen[what] |= set(rows)
    return seen
