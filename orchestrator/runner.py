"""Run a whole config: the sweep, and for estimator tasks the split and the sealed test.

This is what ``sweep run`` does; Python users can call :func:`run_config` with a
:class:`~orchestrator.config.SweepConfig` (from :func:`~orchestrator.config.load_config`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import SweepConfig
from .api import new_run_dir, tune
from .coordinator import RoundReport
from .result import TuneResult
from .sealed import evaluate_test, rows_fingerprint, sealed_record
from .storage import Location
from .store import RunStore
from .tasks import EstimatorTask, split_table
from .warm import warm_decisions

SPLIT_FILE = "split.parquet"


@dataclass(frozen=True)
class RunOutcome:
    """The sweep's result, and the sealed test evaluation when the run has a test split."""

    result: TuneResult
    test: dict[str, Any] | None
    sealed: bool  # whether the run had a test split at all


def run_config(
    config: SweepConfig,
    *,
    address: str | None = None,
    run_dir: str | os.PathLike | None = None,
    on_round: Callable[[RoundReport], None] | None = None,
    on_progress: Callable[[int, int, int, int], None] | None = None,
    evaluate_test_set: bool = True,
    resume: bool = False,
    should_stop: Callable[[], bool] | None = None,
    review: Callable[..., Any] | None = None,
    stop_after_round: int | None = None,
) -> RunOutcome:
    """Run ``config`` end to end (or resume it in ``run_dir``) and return the outcome."""
    run_dir = run_dir if run_dir is not None else new_run_dir(config.storage, config.name)
    common = dict(
        mode=config.mode, rounds=config.rounds, samples_per_round=config.samples_per_round,
        seed=config.seed, workers=config.workers, address=address, run_dir=run_dir,
        sampler=config.sampler, narrowing=config.narrowing, tolerance=config.tolerance,
        patience=config.patience, name=config.name, on_round=on_round, on_progress=on_progress,
        config_record=config.to_dict(), budget=config.budget,
        trial_timeout_s=config.trial_timeout_s, resume=resume, should_stop=should_stop,
        worker_resources=config.worker_resources, stages=config.stages, edits=config.edits,
        initial_decisions=warm_decisions(config.warm_start, config.space), review=review,
        stop_after_round=stop_after_round,
    )
    task = config.objective
    if not isinstance(task, EstimatorTask):
        return RunOutcome(tune(config.load_objective(), config.space, **common), None, False)
    prepared = task.prepare(config.seed, config.budget.param if config.budget else None)
    if not resume and RunStore.holds_run(run_dir):  # tune refuses it, writing nothing
        return RunOutcome(tune(prepared.objective, config.space, **common), None, False)
    if not resume:  # which rows are test, validation or train, recorded before any trial
        table = split_table(prepared.split)
        Location.of(run_dir).child(SPLIT_FILE).write_atomic(lambda fh: _write_parquet(table, fh))
    result = tune(prepared.objective, config.space, data=prepared.data, **common)
    store = RunStore.open(run_dir)
    store.update_metadata(split={
        "dataset": prepared.dataset.name, "rows": prepared.dataset.n_rows,
        "tune_rows": int(len(prepared.split.tune_rows)),
        "test_rows": int(len(prepared.split.test_rows)),
        "folds": len(prepared.split.folds),
        "test_fingerprint": rows_fingerprint(prepared.split.test_rows),
    })
    sealed = task.split.test > 0
    test = sealed_record(run_dir)
    if test is None and sealed and evaluate_test_set:
        test = evaluate_test(run_dir, prepared)
    return RunOutcome(result, test, sealed)


def _write_parquet(table: Any, fh: Any) -> None:
    import pyarrow.parquet as pq

    pq.write_table(table, fh)
