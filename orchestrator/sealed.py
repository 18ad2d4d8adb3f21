"""The sealed test set: evaluated once, on the final configuration, and recorded.

Tuning never sees the test rows (the workers receive only tuning rows). After the sweep,
:func:`evaluate_test` refits the best configuration on all tuning rows (train + validation)
and scores it on the test rows, once. The result - score, configuration, when - is written
to ``RUN_DIR/test.json`` and into ``run.json``; a second call on the same run is refused,
because every extra look at the test score leaks it into the choices that follow.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import warnings
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .errors import SweepError
from .fidelity import Budget
from .store import RunStore
from .tasks import EstimatorTask, PreparedTask

TEST_FILE = "test.json"


class SealedTestError(SweepError):
    """The test set of a run was already evaluated, or the run has none."""


def rows_fingerprint(rows: np.ndarray) -> str:
    """A short hash of row indices (to detect a dataset that changed since the sweep)."""
    return hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()[:16]


def sealed_record(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The recorded test evaluation of a run, or None if its test set is still sealed."""
    loc = RunStore.open(run_dir).file(TEST_FILE)
    if not loc.exists():
        return None
    return json.loads(loc.read_text())


def evaluate_test(run_dir: str | os.PathLike, prepared: PreparedTask | None = None) -> dict[str, Any]:
    """Score the run's best configuration on its test rows, once; return the record.

    ``prepared`` may pass the task as the sweep prepared it (saves reloading the data);
    otherwise the dataset is read again and split with the run's seed, and the test rows
    are checked against those the sweep recorded.
    """
    from .result import TuneResult

    store = RunStore.open(run_dir)
    meta = store.metadata()
    done = sealed_record(store.run_dir)
    if done is not None:
        raise SealedTestError(
            f"the test set of {store.run_dir} was already evaluated at {done['evaluated_at']} "
            f"(score {done['score']:.6g}); a second look would leak the test score into your "
            "choices - start a new run for a new test evaluation"
        )
    spec = meta["config"]["objective"]
    if not isinstance(spec, dict):
        raise SealedTestError(f"{store.run_dir} tuned a function objective; it has no test split")
    task = EstimatorTask.parse(spec)
    if task.split.test == 0:
        raise SealedTestError(f"{store.run_dir} was run without a test split; nothing is sealed")
    prepared = prepared or task.prepare(int(meta["config"]["seed"]))
    test_rows = prepared.split.test_rows
    if meta.get("split", {}).get("test_fingerprint") not in (None, rows_fingerprint(test_rows)):
        raise SealedTestError(
            f"the test rows of {store.run_dir} no longer match the dataset (it changed since the "
            "sweep); the sealed evaluation cannot be reproduced"
        )
    best = TuneResult.load(store.run_dir)
    if best.best_config is None:
        raise SealedTestError(f"{store.run_dir} has no successful trial to evaluate")
    budget = Budget.parse(meta["config"].get("budget"))
    record = _fit_and_score_test(task, prepared, best.best_config, budget.max if budget else None)
    record.update(trial_id=best.best_trial_id, validation_score=best.best_score,
                  evaluated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    text = json.dumps(record, indent=2, sort_keys=True)
    store.file(TEST_FILE).write_atomic(lambda fh: fh.write(text), binary=False)
    store.update_metadata(test=record)
    return record


def _fit_and_score_test(
    task: EstimatorTask, prepared: PreparedTask, config: dict[str, Any], budget: float | None
) -> dict[str, Any]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import check_scoring

    objective = prepared.objective
    estimator = objective.make_estimator(config, budget)  # the full budget
    X, y, split = prepared.dataset.X, prepared.dataset.y, prepared.split
    t0 = time.perf_counter()
    with warnings.catch_warnings():  # the same fit the trials made, the same silence
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X[split.tune_rows], y[split.tune_rows])
    fit_s = time.perf_counter() - t0
    scorer = check_scoring(estimator, scoring=task.scoring)
    score = float(scorer(estimator, X[split.test_rows], y[split.test_rows]))
    return {
        "score": score,
        "scoring": task.scoring or "estimator.score",
        "config": config,
        "n_fit_rows": int(len(split.tune_rows)),
        "n_test_rows": int(len(split.test_rows)),
        "fit_s": round(fit_s, 4),
    }
