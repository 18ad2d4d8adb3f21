"""Runs from a config: a whole run, and more rounds of an existing one.

:func:`run_config` is what ``sweep run`` does: the sweep, and for estimator tasks the split
and the sealed test. Python users call it with a
:class:`~orchestrator.config.loader.SweepConfig` (from
:func:`~orchestrator.config.loader.load_config`).

:func:`extend` is what ``sweep continue`` does: more rounds of a finished (or stopped) sweep,
with hand-made range edits.

``extend(run_dir, rounds=N, ranges={...}, freeze={...}, release=[...])`` and
``sweep continue RUN_DIR --rounds N --set P.low=V --set P.high=V --set P=V --release P``:

- the new rounds continue the run's numbering and seeding (round r samples from
  ``SeedSequence(seed, r)`` as it always would);
- the edits apply to the ranges the run ended with (its final proposal) and are recorded in
  the ranges table as decisions with action ``manual``;
- earlier rows are never touched; the edits are kept in the run's config (``edits``), so a
  later ``sweep resume`` replays them exactly;
- a round the run stopped in the middle of (Ctrl+C, a kill) is first finished as it was
  planned - its committed evaluations belong to its planned configurations and budgets - and
  the edits start with the round after it; ``discard_partial=True`` (``--discard-partial``)
  drops that round's committed evaluations instead, with a warning saying how many, and the
  round is sampled anew with the edits.

Every edit is checked first, like a config; an invalid one changes nothing.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from orchestrator.api import new_run_dir, tune
from orchestrator.checks import whole_number
from orchestrator.config.loader import SweepConfig, parse_config
from orchestrator.config.warm_start import warm_decisions
from orchestrator.data.run_store import STATE_FINISHED, STATE_TUNED, RunStore
from orchestrator.data.tune_result import TuneResult
from orchestrator.errors import ConfigError, StoreError, SweepPaused
from orchestrator.loop.coordinator import RoundReport
from orchestrator.search.edits import Edit, check_edit
from orchestrator.sklearn.estimator_tasks import EstimatorTask
from orchestrator.sklearn.sealed_test import (
    SPLIT_FILE,
    check_split,
    ensure_test_evaluated,
    record_split,
    rows_fingerprint,
    sealed_record,
)

__all__ = ["SPLIT_FILE", "ContinueWarning", "RunOutcome", "extend", "run_config"]


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
    common: dict[str, Any] = dict(
        mode=config.mode,
        rounds=config.rounds,
        samples_per_round=config.samples_per_round,
        seed=config.seed,
        workers=config.workers,
        address=address,
        run_dir=run_dir,
        sampler=config.sampler,
        narrowing=config.narrowing,
        tolerance=config.tolerance,
        patience=config.patience,
        name=config.name,
        on_round=on_round,
        on_progress=on_progress,
        config_record=config.to_dict(),
        budget=config.budget,
        trial_timeout_s=config.trial_timeout_s,
        resume=resume,
        should_stop=should_stop,
        worker_resources=config.worker_resources,
        stages=config.stages,
        edits=config.edits,
        initial_decisions=warm_decisions(config.warm_start, config.space),
        review=review,
        stop_after_round=stop_after_round,
        overlap=config.overlap,
        objectives=config.objectives,
        pick=config.pick,
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
    result = tune(
        prepared.objective,
        config.space,
        data=prepared.data,
        finished_state=STATE_TUNED if sealed else STATE_FINISHED,
        **common,
    )
    store = RunStore.open(run_dir)
    store.update_metadata(
        split={
            "dataset": prepared.dataset.name,
            "rows": prepared.dataset.n_rows,
            "tune_rows": int(len(prepared.split.tune_rows)),
            "test_rows": int(len(prepared.split.test_rows)),
            "folds": len(prepared.split.folds),
            "test_fingerprint": rows_fingerprint(prepared.split.test_rows),
        }
    )
    test: dict[str, Any] | None
    # several objectives and no stated pick: the user chooses from the front (sweep test)
    chooses = config.objectives is not None and config.pick is None
    if sealed and evaluate_test_set and not chooses:
        test = ensure_test_evaluated(run_dir, prepared)  # the one recorded, or made now
    else:
        test = sealed_record(run_dir)
    return RunOutcome(result, test, sealed)


def extend(
    run_dir: str | os.PathLike,
    *,
    rounds: int,
    ranges: Mapping[str, tuple[Any, Any]] | None = None,
    freeze: Mapping[str, Any] | None = None,
    release: Iterable[str] = (),
    address: str | None = None,
    discard_partial: bool = False,
    **run_kwargs: Any,
) -> Any:
    """Run ``rounds`` more rounds of the run in ``run_dir``, after the given edits.

    A round left half-done is finished as planned first (or, with ``discard_partial``, its
    committed evaluations are dropped and it is sampled anew); see the module docstring.
    """
    whole_number("--rounds", rounds, minimum=1)
    store = RunStore.open(run_dir)
    meta = store.metadata()
    if meta.get("state") == "running":
        raise StoreError(
            f"{store.run_dir} is still running (or was killed): resume it first "
            f"with sweep resume {store.run_dir}"
        )
    if meta.get("selection_round") is not None:
        raise ConfigError(
            f"{store.run_dir} ended with a full-budget selection round; it cannot be continued"
        )
    done = TuneResult.load(store.run_dir)
    edit = Edit(done.rounds_run, dict(ranges or {}), dict(freeze or {}), tuple(release))
    check_edit(edit, done.final_space, done.space or done.final_space)
    half_done = store.first_missing_round()
    if store.has_partials(half_done):
        if discard_partial:
            dropped = store.partial_rows(half_done)
            store.clear_partials(half_done)
            warnings.warn(
                f"round {half_done} was not finished: discarded {dropped} committed "
                "evaluation(s) of it; the round is sampled anew with the edits",
                ContinueWarning,
                stacklevel=2,
            )
        else:
            warnings.warn(
                f"round {half_done} was not finished: finishing it as planned before "
                "the edits, which start with the round after it (discard_partial / "
                "--discard-partial drops its committed evaluations instead)",
                ContinueWarning,
                stacklevel=2,
            )
            planned = parse_config(meta["config"], default_name=str(meta.get("name") or "sweep"))
            try:
                run_config(
                    planned,
                    address=address,
                    run_dir=store.run_dir,
                    resume=True,
                    stop_after_round=half_done,
                    evaluate_test_set=False,
                    **run_kwargs,
                )
            except SweepPaused:
                pass
            meta = store.metadata()
            if meta.get("selection_round") is not None:
                raise ConfigError(
                    f"{store.run_dir} finished with a full-budget selection "
                    "round; it cannot be continued"
                )
            done = TuneResult.load(store.run_dir)
            edit = dataclasses.replace(edit, round=done.rounds_run)
            check_edit(edit, done.final_space, done.space or done.final_space)
    record = dict(meta["config"])
    record["rounds"] = done.rounds_run + rounds
    record["edits"] = [*record.get("edits", []), edit.to_dict()]
    config = parse_config(record, default_name=str(meta.get("name") or "sweep"))
    store.update_metadata(config=record, state="continuing")
    return run_config(config, address=address, run_dir=store.run_dir, resume=True, **run_kwargs)


class ContinueWarning(UserWarning):
    """What ``sweep continue`` did with a round the run had left half-done."""
