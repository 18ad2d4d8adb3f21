"""The coordinator: rounds of sample -> evaluate -> commit -> narrow, until a stop rule fires.

:func:`run_sweep` is the loop; it receives an executor (Ray workers, or the in-process one
for tests and debugging) and a store, and makes every decision through the pure modules
(sampling, narrowing, stopping, results). It starts by replaying what the store already
holds, so the same loop runs a new sweep and resumes a killed one: committed rounds are
replayed (not re-run) to rebuild the ranges exactly, and a round that was running is
continued from its partial commits. The public entry points are in :mod:`orchestrator.api`.
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

import pyarrow as pa

from orchestrator.checks import MAX_SAMPLES_PER_ROUND, whole_number
from orchestrator.data.ranges import initial_rows, ranges_rows
from orchestrator.data.run_store import STATE_FINISHED, WORK_KEY, RunStore, StoreWarning
from orchestrator.data.trials import build_round_table, concat_trials
from orchestrator.data.tune_result import TuneResult
from orchestrator.errors import ConfigError, StoreError, SweepInterrupted, SweepPaused
from orchestrator.loop.round_work import ReplayMismatch, RoundWork
from orchestrator.search.edits import apply_edit
from orchestrator.search.fidelity import Budget, at_budget, comparable
from orchestrator.search.narrowing import Decision, Held, NarrowingContext, NarrowingRule, Proposal
from orchestrator.search.samplers.base import Guide, Sampler, columns_to_rows
from orchestrator.search.samplers.registry import sample_round
from orchestrator.search.space import SearchSpace
from orchestrator.search.stages import Stages, apply_stages
from orchestrator.search.stopping import StopRule, stop_reason
from orchestrator.search.trials import best_trial, config_at, ok_scores, ranked


class Executor(Protocol):
    """What runs a round's work: a context manager (workers up on enter, released on exit)
    whose ``run_round`` returns every batch of the round. The Ray executors live in
    ``execution/``; this package only knows the protocol."""

    startup_s: float  # seconds the workers took to start (after Ray itself was up)

    @property
    def workers(self) -> int: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...

    def run_round(
        self,
        work: RoundWork,
        progress: Callable[[int, int], None] | None = None,
        on_batch: Callable[[pa.RecordBatch], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[pa.RecordBatch]: ...


#: A running round commits its finished evaluations this often (seconds); the environment
#: variable SWEEP_COMMIT_EVERY_S overrides it (the fault-injection tests commit often).
COMMIT_EVERY_S = 2.0


@dataclass(frozen=True)
class SweepPlan:
    """Everything that decides what a sweep samples and when it stops (validated)."""

    space: SearchSpace
    mode: str
    samples_per_round: int
    seed: int
    stop: StopRule
    sampler: Sampler
    rule: NarrowingRule
    budget: Budget | None = None
    stages: Stages = None
    edits: tuple[Any, ...] = ()  # extend.Edit: hand-made changes, each at its round
    initial_decisions: tuple[Decision, ...] = ()  # why round 0 has its ranges (warm start)

    def edit_at(self, round_index: int) -> Any:
        return next((e for e in self.edits if e.round == round_index), None)

    @property
    def min_comparable(self) -> int:
        """Ok trials a budget needs before narrowing ranks by it (see fidelity.comparable)."""
        eta = self.budget.eta if self.budget else 1
        return max(4, self.samples_per_round // eta)

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ConfigError(f"mode must be 'min' or 'max' (never guessed), got {self.mode!r}")
        whole_number(
            "samples_per_round",
            self.samples_per_round,
            minimum=1,
            maximum=MAX_SAMPLES_PER_ROUND,
            why=" (a round's most samples)",
        )
        whole_number("seed", self.seed, minimum=0)


@dataclass(frozen=True)
class RoundReport:
    """Progress of a sweep after each round (passed to ``on_round``)."""

    round_index: int
    rounds: int
    trials: int
    statuses: dict[str, int]  # rows per status, e.g. {"ok": 30, "failed": 2}
    best_score: float | None
    best_config: dict[str, Any] | None
    space: SearchSpace  # the ranges this round sampled in
    next_space: SearchSpace
    decisions: tuple[Decision, ...]
    elapsed_s: float
    stop_reason: str | None = None
    budgets: tuple[float, ...] = ()  # the budgets (rungs) this round ran at
    best_budget: float | None = None

    @property
    def not_ok(self) -> int:
        return self.trials - self.statuses.get("ok", 0)


@dataclass(frozen=True)
class _SweepState:
    """What the loop carries from round to round: one value per round, all of it derivable
    from the store (:func:`restore_state` rebuilds it on resume); each step returns a new one."""

    original: SearchSpace
    space: SearchSpace
    previous: SearchSpace | None = None
    history: pa.Table | None = None
    ranges: tuple[pa.Table, ...] = ()
    best_per_round: tuple[float | None, ...] = ()
    next_trial_id: int = 0
    round_index: int = 0
    reason: str | None = None  # why the sweep stopped (set when a replay finds it stopped)
    held: Held = field(default_factory=Held)  # parameters held fixed, and their ranges before


class _RoundCommitter:
    """Commits a running round's finished evaluations every ``every_s`` seconds."""

    def __init__(
        self,
        store: RunStore,
        round_index: int,
        work: str | None = None,
        every_s: float | None = None,
    ):
        if every_s is None:
            every_s = float(os.environ.get("SWEEP_COMMIT_EVERY_S", COMMIT_EVERY_S))
        self.store, self.round_index, self.every_s = store, round_index, every_s
        self.work = work
        self.seq = store.partial_count(round_index)
        self.buffer: list[pa.RecordBatch] = []
        self.last = time.monotonic()

    def add(self, batch: pa.RecordBatch) -> None:
        self.buffer.append(batch)
        if time.monotonic() - self.last >= self.every_s:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            tables = [pa.Table.from_batches([b]) for b in self.buffer]
            self.store.write_partial(self.round_index, self.seq, concat_trials(tables), self.work)
            self.seq += 1
            self.buffer = []
        self.last = time.monotonic()


def _evaluate_round(
    plan: SweepPlan,
    executor: Executor,
    state: _SweepState,
    ctx: _RunContext,
    configs: list[dict[str, Any]] | None = None,
) -> pa.Table:
    """Evaluate a round - sampled configurations, or the given ones - and return its table.

    With a budget the round runs successive halving from the schedule's base budget; given
    ``configs`` (the final selection) run at the full budget only. Evaluations committed
    before a restart are replayed, not re-run.
    """
    r = state.round_index
    if configs is None:
        guide = None
        if state.history is not None:
            budgets = (plan.budget.min, plan.budget.max) if plan.budget else None
            guide = Guide(state.history, state.original, plan.mode, budgets)
        columns = sample_round(
            state.space,
            plan.samples_per_round,
            seed=plan.seed,
            round_index=r,
            sampler=plan.sampler,
            guide=guide,
        )
        configs = columns_to_rows(columns)
        base = plan.budget.base(r, plan.stop.rounds) if plan.budget else None
    else:
        base = plan.budget.max if plan.budget else None
    work = RoundWork(configs, mode=plan.mode, budget=plan.budget, base=base)
    batches = _replay_partials(ctx.store, r, work)
    progress = None
    if ctx.on_progress is not None:
        on_progress = ctx.on_progress

        def progress(done: int, not_ok: int) -> None:
            on_progress(r, done, work.known, not_ok)

    committer = _RoundCommitter(ctx.store, r, work.fingerprint())
    try:
        if not work.finished():
            batches += executor.run_round(work, progress, committer.add, ctx.should_stop)
    finally:
        committer.flush()
    return build_round_table(
        sweep_id=ctx.sweep_id,
        round_index=r,
        first_trial_id=state.next_trial_id,
        space=state.space,
        items=work.items,
        batches=batches,
    )


def _replay_partials(store: RunStore, round_index: int, work: RoundWork) -> list[Any]:
    """Take a round's partial commits into ``work``; return their batches.

    A commit made for other work (its fingerprint differs: the round's configurations or
    budgets changed since) is never attached to this work's configurations: it is left out
    with a warning and its evaluations run again. Commits from before fingerprints were
    recorded are checked by their keys only.
    """
    batches: list[Any] = []
    expected = work.fingerprint().encode()
    for table in store.load_partials(round_index):
        recorded = (table.schema.metadata or {}).get(WORK_KEY)
        if recorded is not None and recorded != expected:
            warnings.warn(
                f"round {round_index}: {table.num_rows} committed evaluation(s) belong to other "
                "configurations than this round now has (its settings changed since); they are "
                "left out and evaluated again",
                StoreWarning,
                stacklevel=2,
            )
            continue
        try:
            work.replay(table)
        except ReplayMismatch as exc:
            raise StoreError(
                f"{store.run_dir}: the committed evaluations of round {round_index} "
                f"do not fit the round ({exc}); was the run's config edited by "
                "hand?"
            ) from None
        batches.extend(table.combine_chunks().to_batches())
    return batches


def _final_trials(plan: SweepPlan, table: pa.Table) -> pa.Table:
    """The trials a final choice may come from: all, or those at the full budget."""
    return at_budget(table, plan.budget.max) if plan.budget else table


def _round_best(plan: SweepPlan, table: pa.Table) -> float | None:
    idx, scores = ok_scores(_final_trials(plan, table))
    if idx.size == 0:
        return None
    return float(scores.max() if plan.mode == "max" else scores.min())


def _best(plan: SweepPlan, history: pa.Table, space: SearchSpace) -> dict[str, Any] | None:
    """The best trial so far: at the full budget if any; else among comparable trials."""
    best = best_trial(_final_trials(plan, history), space, plan.mode)
    if best is None and plan.budget:
        best = best_trial(comparable(history, plan.min_comparable), space, plan.mode)
    return best


def _round_budgets(table: pa.Table) -> tuple[float, ...]:
    return tuple(sorted({b for b in table.column("budget").to_pylist() if b is not None}))


def _status_counts(table: pa.Table) -> dict[str, int]:
    statuses = table.column("status").to_pylist()
    return {s: statuses.count(s) for s in sorted(set(statuses))}


def _advance(plan: SweepPlan, state: _SweepState, table: pa.Table) -> tuple[_SweepState, Proposal]:
    """Fold a committed round into the state; propose the next ranges; decide to stop.

    The state returned is still the round's (its ``space`` and ``round_index``), with the
    round's trials, the proposal's ranges row, what is held and why the sweep stops (if it
    does); :func:`_next_round` moves it on to the proposal.
    """
    history = table if state.history is None else concat_trials([state.history, table])
    best_per_round = (*state.best_per_round, _round_best(plan, table))
    context = NarrowingContext(
        original=state.original,
        mode=plan.mode,
        round_index=state.round_index,
        samples_per_round=plan.samples_per_round,
        previous=state.previous,
    )
    ranked_trials = comparable(history, plan.min_comparable)
    proposal = plan.rule.propose(state.space, ranked_trials, context)
    proposal, held = apply_stages(
        plan.stages,
        round_index=state.round_index + 1,
        proposal=proposal,
        history=ranked_trials,
        original=state.original,
        mode=plan.mode,
        held=state.held,
    )
    edit = plan.edit_at(state.round_index + 1)
    proposal, held = apply_edit(edit, proposal, held)
    reason = stop_reason(
        plan.stop,
        rounds_done=state.round_index + 1,
        next_space=proposal.space,
        original=state.original,
        best_per_round=list(best_per_round),
        mode=plan.mode,
    )
    if edit is not None and reason is not None and state.round_index + 1 < plan.stop.rounds:
        reason = None  # the sweep was continued past where it stopped
    row = ranges_rows(
        state.round_index + 1,
        proposal.space,
        state.original,
        proposal.decisions,
        sampled=reason is None,
    )
    return replace(
        state,
        history=history,
        best_per_round=best_per_round,
        held=held,
        next_trial_id=state.next_trial_id + table.num_rows,
        ranges=(*state.ranges, row),
        reason=reason,
    ), proposal


def _next_round(state: _SweepState, proposal: Proposal) -> _SweepState:
    """The state of the round after ``state``'s: it samples in the proposal's ranges."""
    return replace(
        state, previous=state.space, space=proposal.space, round_index=state.round_index + 1
    )


@dataclass(frozen=True)
class _RunContext:
    store: RunStore
    sweep_id: str
    on_round: Callable[[RoundReport], None] | None = None
    on_progress: Callable[[int, int, int, int], None] | None = None
    should_stop: Callable[[], bool] | None = None
    review: Callable[[SearchSpace, Proposal, int], Any] | None = None


def _reviewed(
    ctx: _RunContext, state: _SweepState, proposal: Proposal
) -> tuple[_SweepState, Proposal]:
    """Let ``ctx.review`` accept the proposed ranges, edit them, or stop the sweep.

    An edit is applied like ``sweep continue``'s (manual decisions) and written into the run's
    config, so a resume replays it.
    """
    assert ctx.review is not None
    edit = ctx.review(state.space, proposal, state.round_index + 1)
    if edit is None:
        return state, proposal
    if edit == "quit":
        raise SweepInterrupted("stopped at the review; the next round's ranges are committed")
    proposal, held = apply_edit(edit, proposal, state.held)
    meta = ctx.store.metadata()
    config = dict(meta["config"])
    config["edits"] = [*config.get("edits", []), edit.to_dict()]
    ctx.store.update_metadata(config=config)
    row = ranges_rows(state.round_index + 1, proposal.space, state.original, proposal.decisions)
    return replace(state, held=held, ranges=(*state.ranges[:-1], row)), proposal


def restore_state(plan: SweepPlan, store: RunStore) -> _SweepState:
    """Replay the committed rounds: the state an uninterrupted run had after them.

    Narrowing is deterministic, so replaying the rounds rebuilds the same ranges; the first
    missing (or unreadable) round is where the sweep continues.
    """
    first, held = apply_stages(
        plan.stages,
        round_index=0,
        proposal=Proposal(plan.space, ()),
        history=None,
        original=plan.space,
        mode=plan.mode,
        held=Held(),
    )
    decisions = {d.parameter: d for d in (*plan.initial_decisions, *first.decisions)}
    ranges = (
        initial_rows(plan.space)
        if not decisions
        else ranges_rows(0, first.space, plan.space, list(decisions.values())),
    )
    state = _SweepState(original=plan.space, space=first.space, ranges=ranges, held=held)
    rounds = store.load_rounds()
    while state.round_index in rounds and state.reason is None:
        state, proposal = _advance(plan, state, rounds[state.round_index])
        state = _next_round(state, proposal)
    if state.reason is not None and state.round_index in rounds:  # the selection round
        state = _with_selection(state, rounds[state.round_index])
    return state


def _with_selection(state: _SweepState, table: pa.Table) -> _SweepState:
    """The state after the full-budget selection round (no new ranges: the sweep is over)."""
    return replace(
        state,
        history=concat_trials([state.history, table]),
        next_trial_id=state.next_trial_id + table.num_rows,
        round_index=state.round_index + 1,
    )


def run_sweep(
    plan: SweepPlan,
    executor: Executor,
    store: RunStore,
    *,
    sweep_id: str,
    on_round: Callable[[RoundReport], None] | None = None,
    on_progress: Callable[[int, int, int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    review: Callable[[SearchSpace, Proposal, int], Any] | None = None,
    stop_after_round: int | None = None,
    finished_state: str = STATE_FINISHED,
) -> TuneResult:
    """Run (or continue) the rounds of ``plan`` on ``executor``, committing to ``store``.

    ``stop_after_round``: pause (:class:`~orchestrator.errors.SweepPaused`) once that round
    is committed, unless the sweep ends there anyway; ``sweep continue`` uses it to finish
    a half-done round as it was planned before applying its edits. ``finished_state``: the
    run's state when its rounds are done ("tuned" while a sealed test is still to evaluate).
    """
    ctx = _RunContext(store, sweep_id, on_round, on_progress, should_stop, review)
    state = restore_state(plan, store)
    started = time.monotonic()
    while state.reason is None:
        if should_stop is not None and should_stop():
            raise SweepInterrupted("stopped on request; finished rounds are committed")
        table = _evaluate_round(plan, executor, state, ctx)
        store.write_round(state.round_index, table)
        state, proposal = _advance(plan, state, table)
        store.write_ranges(pa.concat_tables(list(state.ranges)))
        best = _best(plan, state.history, state.original)
        store.update_metadata(rounds_run=state.round_index + 1, best=best, updated_at=utc_now())
        if on_round is not None:
            on_round(
                RoundReport(
                    round_index=state.round_index,
                    rounds=plan.stop.rounds,
                    trials=table.num_rows,
                    statuses=_status_counts(table),
                    best_score=best["score"] if best else None,
                    best_config=best["config"] if best else None,
                    space=state.space,
                    next_space=proposal.space,
                    decisions=proposal.decisions,
                    elapsed_s=time.monotonic() - started,
                    stop_reason=state.reason,
                    budgets=_round_budgets(table),
                    best_budget=best.get("budget") if best else None,
                )
            )
        if review is not None and state.reason is None:
            state, proposal = _reviewed(ctx, state, proposal)
            store.write_ranges(pa.concat_tables(list(state.ranges)))
        state = _next_round(state, proposal)
        if (
            stop_after_round is not None
            and state.round_index > stop_after_round
            and state.reason is None
        ):
            raise SweepPaused(f"paused after round {stop_after_round}")
    store.write_ranges(pa.concat_tables(list(state.ranges)))
    final = _final_trials(plan, state.history)
    if plan.budget and best_trial(final, state.original, plan.mode) is None:
        state = _selection_round(plan, executor, state, ctx)
    return _finish(plan, store, state, time.monotonic() - started, finished_state)


def _selection_round(
    plan: SweepPlan, executor: Executor, state: _SweepState, ctx: _RunContext
) -> _SweepState:
    """No full-budget score yet: evaluate the best comparable configurations at full budget."""
    assert plan.budget is not None, "only a multi-fidelity sweep has a selection round"
    pool = comparable(state.history, plan.min_comparable)
    order = ranked(pool, plan.mode)[: max(1, plan.samples_per_round // plan.budget.eta)]
    if order.size == 0:
        return state
    configs = [config_at(pool, state.original, int(row)) for row in order]
    table = _evaluate_round(plan, executor, state, ctx, configs=configs)
    ctx.store.write_round(state.round_index, table)
    ctx.store.update_metadata(selection_round=state.round_index, rounds_run=state.round_index + 1)
    return _with_selection(state, table)


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _finish(
    plan: SweepPlan,
    store: RunStore,
    state: _SweepState,
    duration_s: float,
    finished_state: str = STATE_FINISHED,
) -> TuneResult:
    assert state.reason is not None, "a finished sweep has a stop reason"
    best = best_trial(_final_trials(plan, state.history), state.original, plan.mode)
    store.update_metadata(
        state=finished_state,
        stop_reason=state.reason,
        finished_at=utc_now(),
        best=best,
        duration_s=round(duration_s, 3),
    )
    return TuneResult(
        best_config=best["config"] if best else None,
        best_score=best["score"] if best else None,
        best_trial_id=best["trial_id"] if best else None,
        mode=plan.mode,
        table=state.history,
        ranges=pa.concat_tables(list(state.ranges)),
        final_space=state.space,
        run_dir=store.run_dir,
        rounds_run=state.round_index,
        stop_reason=state.reason,
        space=state.original,
    )


__all__ = ["RoundReport", "SweepPlan", "restore_state", "run_sweep"]
