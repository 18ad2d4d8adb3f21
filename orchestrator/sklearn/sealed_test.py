"""The sealed test set: evaluated once, on the final configuration, and recorded.

Tuning never sees the test rows (the workers receive only tuning rows). Before round 0,
:func:`record_split` writes ``split.parquet`` (each row's role) with a hash of the dataset's
content; a resume or a later test evaluation re-reads the data and :func:`check_split`
refuses to go on if the data or the split differ, since re-split rows could carry test rows
into tuning. After the sweep, :func:`evaluate_test` refits the best configuration on all
tuning rows (train + validation) and scores it on the test rows, once, holding the run's
lock. The result - score, configuration, when - is written to ``RUN_DIR/test.json`` and
into ``run.json``; a second call on the same run is refused, because every extra look at
the test score leaks it into the choices that follow. Until then the run's state is
``tuned``, and ``sweep resume`` runs the evaluation (after a kill during the refit, say).
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
import pyarrow.compute as pc

from orchestrator.data.run_store import DONE_STATES, STATE_FINISHED, STATE_TUNED, RunStore
from orchestrator.errors import ConfigError, StoreError, SweepError
from orchestrator.faults import crash_point
from orchestrator.search.fidelity import Budget
from orchestrator.sklearn.datasets import Dataset
from orchestrator.sklearn.estimator_tasks import EstimatorTask, PreparedTask, split_table
from orchestrator.sklearn.splits import SplitSpec

TEST_FILE = "test.json"
SPLIT_FILE = "split.parquet"
DATASET_KEY = b"sweep.dataset"  # split.parquet's metadata: the hash of the dataset's content


class SealedTestError(SweepError):
    """The test set of a run was already evaluated, or the run has none."""


def rows_fingerprint(rows: np.ndarray) -> str:
    """A short hash of row indices (to detect a dataset that changed since the sweep)."""
    return hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest()[:16]


def dataset_fingerprint(dataset: Dataset) -> str:
    """A hash of a dataset's content: features, target, column names (not just its size)."""
    digest = hashlib.sha256()
    X = np.ascontiguousarray(dataset.X, dtype=np.float64)
    digest.update(repr((X.shape, list(dataset.feature_names), dataset.target)).encode())
    digest.update(X.tobytes())
    y = np.asarray(dataset.y)
    if y.dtype.kind in "biuf":
        digest.update(y.dtype.str.encode() + np.ascontiguousarray(y).tobytes())
    else:
        digest.update("\x1f".join(map(repr, y.tolist())).encode())
    return digest.hexdigest()


def record_split(run_dir: str | os.PathLike, prepared: PreparedTask) -> None:
    """Write ``split.parquet`` (each row's role) with the dataset's hash, before any trial."""
    import pyarrow.parquet as pq

    table = split_table(prepared.split)
    table = table.replace_schema_metadata(
        {DATASET_KEY: dataset_fingerprint(prepared.dataset).encode()}
    )
    RunStore(run_dir).file(SPLIT_FILE).write_atomic(lambda fh: pq.write_table(table, fh))


def check_split(run_dir: str | os.PathLike, prepared: PreparedTask) -> None:
    """Refuse (one line) when the data or the split differ from what the run recorded."""
    loc = RunStore(run_dir).file(SPLIT_FILE)
    try:
        recorded = loc.read_parquet()
    except (OSError, ValueError) as exc:
        raise StoreError(
            f"{run_dir}: cannot read {SPLIT_FILE} ({exc}), so it cannot be shown "
            "that the sealed test rows stay out of tuning; start a new run"
        ) from None
    dataset = prepared.dataset
    then = recorded.num_rows
    fingerprint = (recorded.schema.metadata or {}).get(DATASET_KEY)
    now = split_table(prepared.split)
    if fingerprint is not None and fingerprint.decode() != dataset_fingerprint(dataset):
        what = (
            f"{dataset.n_rows} rows now, {then} then"
            if dataset.n_rows != then
            else "same number of rows, other content"
        )
    elif not now.equals(recorded.select(now.column_names).replace_schema_metadata(None)):
        what = "its rows are split differently now"
    else:
        return
    raise ConfigError(
        f"{run_dir}: the dataset {dataset.name!r} changed since the run started ({what}); "
        "re-splitting it could put sealed test rows into tuning - restore the data, or start "
        "a new run"
    )


def test_pending(meta: dict[str, Any], store: RunStore) -> bool:
    """Whether a run that finished tuning still has a sealed test set to evaluate."""
    spec = (meta.get("config") or {}).get("objective")
    if not isinstance(spec, dict) or SplitSpec.parse(spec.get("split")).test == 0:
        return False
    return meta.get("state") in DONE_STATES and not store.file(TEST_FILE).exists()


def sealed_record(run_dir: str | os.PathLike) -> dict[str, Any] | None:
    """The recorded test evaluation of a run, or None if its test set is still sealed."""
    return _record_of(RunStore.open(run_dir))


def _record_of(store: RunStore) -> dict[str, Any] | None:
    loc = store.file(TEST_FILE)
    return json.loads(loc.read_text()) if loc.exists() else None


def evaluate_test(
    run_dir: str | os.PathLike, prepared: PreparedTask | None = None, *, trial: int | None = None
) -> dict[str, Any]:
    """Score the run's best configuration on its test rows, once; return the record.

    ``trial``: score that trial's configuration instead (a multi-objective run's choice from
    its Pareto front; in such a run it must be on the front). Either way it is the one test
    evaluation the run gets.

    ``prepared`` may pass the task as the sweep prepared it (saves reloading the data);
    otherwise the dataset is read again and split with the run's seed, and checked against
    the run's ``split.parquet``. Holds the run's lock: of two calls at once, one evaluates
    and the other is refused.
    """
    store = RunStore.open(run_dir)
    with store.locked():
        done = _record_of(store)
        if done is not None:
            raise SealedTestError(
                f"the test set of {store.run_dir} was already evaluated at {done['evaluated_at']} "
                f"(score {done['score']:.6g}); a second look would leak the test score into your "
                "choices - start a new run for a new test evaluation"
            )
        return _evaluate_locked(store, prepared, trial)


def ensure_test_evaluated(run_dir: str | os.PathLike, prepared: PreparedTask) -> dict[str, Any]:
    """The run's test record: the one already made, or a new one (under the lock)."""
    store = RunStore.open(run_dir)
    with store.locked():
        return _record_of(store) or _evaluate_locked(store, prepared)


def _evaluate_locked(
    store: RunStore, prepared: PreparedTask | None, trial: int | None = None
) -> dict[str, Any]:
    from orchestrator.data.tune_result import TuneResult

    meta = store.metadata()
    spec = meta["config"]["objective"]
    if not isinstance(spec, dict):
        raise SealedTestError(f"{store.run_dir} tuned a function objective; it has no test split")
    task = EstimatorTask.parse(spec)
    if task.split.test == 0:
        raise SealedTestError(f"{store.run_dir} was run without a test split; nothing is sealed")
    prepared = prepared or task.prepare(int(meta["config"]["seed"]))
    if store.file(SPLIT_FILE).exists():
        try:
            check_split(store.run_dir, prepared)
        except ConfigError as exc:
            raise SealedTestError(f"{exc}; the sealed evaluation cannot be reproduced") from None
    elif meta.get("split", {}).get("test_fingerprint") not in (
        None,
        rows_fingerprint(prepared.split.test_rows),
    ):  # a run without split.parquet
        raise SealedTestError(
            f"the test rows of {store.run_dir} no longer match the dataset (it changed since the "
            "sweep); the sealed evaluation cannot be reproduced"
        )
    best = TuneResult.load(store.run_dir)
    if best.best_config is None:
        raise SealedTestError(f"{store.run_dir} has no successful trial to evaluate")
    config, trial_id, validation = best.best_config, best.best_trial_id, best.best_score
    if trial is not None:
        config, validation = _chosen(best, trial)
        trial_id = trial
    budget = Budget.parse(meta["config"].get("budget"))
    record = _fit_and_score_test(task, prepared, config, budget.max if budget else None)
    if best.objectives is not None:
        row = best.table.filter(pc.equal(best.table.column("trial_id"), trial_id))
        record["objectives"] = {n: row.column(n)[0].as_py() for n in best.objectives.names}
    record.update(
        trial_id=trial_id,
        validation_score=validation,
        evaluated_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
    )
    text = json.dumps(record, indent=2, sort_keys=True)
    store.file(TEST_FILE).write_atomic(lambda fh: fh.write(text), binary=False)
    changes: dict[str, Any] = {"test": record}
    if meta.get("state") == STATE_TUNED:
        changes["state"] = STATE_FINISHED
    store.update_metadata(**changes)
    return record


def _chosen(result: Any, trial: int) -> tuple[dict[str, Any], float]:
    """The configuration and validation score of ``trial``, which must count (and, with
    several objectives, be on the front)."""
    from orchestrator.search.pareto import front_rows
    from orchestrator.search.trials import config_at, ranked_by

    table = result.table
    ids = table.column("trial_id").to_numpy()
    allowed = (
        front_rows(table, result.objectives)
        if result.objectives is not None
        else ranked_by(table, result.mode)
    )
    rows = [int(r) for r in allowed if ids[r] == trial]
    if not rows:
        listed = ", ".join(str(ids[r]) for r in allowed[:20])
        what = "on the Pareto front" if result.objectives is not None else "an ok trial"
        raise SealedTestError(
            f"trial {trial} of {result.run_dir} is not {what}; choose one of: {listed}"
        )
    row = rows[0]
    return config_at(table, result.space or result.final_space, row), float(
        table.column("score")[row].as_py()
    )


def _fit_and_score_test(
    task: EstimatorTask, prepared: PreparedTask, config: dict[str, Any], budget: float | None
) -> dict[str, Any]:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import check_scoring

    objective = prepared.objective
    estimator = objective.make_estimator(config, budget)  # the full budget
    X, y, split = prepared.dataset.X, prepared.dataset.y, prepared.split
    crash_point("refit")
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
