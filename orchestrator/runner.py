"""Run a whole config: the sweep, and for estimator tasks the split and the sealed test.

This is what ``sweep run`` does; Python users can call :func:`run_config` with a
:class:`~orchestrator.config.SweepConfig` (from :func:`~orchestrator.config.load_config`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .config import SweepConfig
from .api import new_run_dir, tune
from .coordinator import RoundReport
from .result import TuneResult
from .sealed import (
    SPLIT_FILE, check_split, ensure_test_evaluated, record_split, rows_fingerprint, sealed_record,
)
from .store import STATE_FINISHED, STATE_TUNED, RunStore
from .tasks import EstimatorTask
from .warm import warm_decisions

__all__ = ["SPLIT_FILE", "RunOutcome", "run_config"]


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
    if resume:  # the data must be what the run split at its start, or test rows could leak
        check_split(run_dir, prepared)
    else:  # which rows are test, validation or train, recorded before any trial
        record_split(run_dir, prepared)
    sealed = task.split.test > 0
    result = tune(prepared.objective, config.space, data=prepared.data,
                  finished_state=STATE_TUNED if sealed else STATE_FINISHED, **common)
    store = RunStore.open(run_dir)
    store.update_metadata(split={
        "dataset": prepared.dataset.name, "rows": prepared.dataset.n_rows,
        "tune_rows": int(len(prepared.split.tune_rows)),
        "test_rows": int(len(prepared.split.test_rows)),
        "folds": len(prepared.split.folds),
        "test_fingerprint": rows_fingerprint(prepared.split.test_rows),
    })
    if sealed and evaluate_test_set:
        test = ensure_test_evaluated(run_dir, prepared)  # the one recorded, or made now
    else:
        test = sealed_record(run_dir)
    return RunOutcome(result, test, sealed)
