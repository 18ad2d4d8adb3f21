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
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.checks import MAX_OVERLAP, MAX_SAMPLES_PER_ROUND, whole_number
from orchestrator.data.ranges import initial_rows, ranges_rows
from orchestrator.data.run_store import STATE_FINISHED, WORK_KEY, RunStore, StoreWarning
from orchestrator.data.trials import build_round_table, concat_trials
from orchestrator.data.tune_result import TuneResult
from orchestrator.errors import ConfigError, StoreError, SweepInterrupted, SweepPaused
from orchestrator.loop.round_work import ReplayMismatch, RoundWork
from orchestrator.search.edits import apply_edit
from orchestrator.search.fidelity import Budget, at_budget, comparable
from orchestrator.search.narrowing import Decision, Held, NarrowingContext, NarrowingRule, Proposal
from orchestrator.search.pareto import Objectives, front_rows
from orchestrator.search.samplers.base import Guide, Sampler, columns_to_rows
from orchestrator.search.samplers.registry import sample_round
from orchestrator.search.space import SearchSpace
from orchestrator.search.stages import Stages, apply_stages
from orchestrator.search.stopping import StopRule, stop_reason
from orchestrator.search.trials import best_trial, config_at, ok_scores, ranked
from workers.evaluate import STATE_COLUMN, persistable


class Dispatch(Protocol):
    """Runs the work of several rounds at once on an executor's workers.

    ``add`` hands over a round's work (``tag`` is its round index; older rounds' work goes
    out first); ``wait`` blocks until at least one added round has every result, and returns
    the tags of those rounds (each once) - or, given ``until``, returns (maybe nothing) as
    soon as ``until()`` is true while work is still out. Results reach ``on_batch`` as they
    arrive, in any order: what the coordinator decides never depends on that order.
    """

    def add(
        self, tag: int, work: RoundWork, on_batch: Callable[[pa.RecordBatch], None]
    ) -> None: ...

    def wait(self, until: Callable[[], bool] | None = None) -> list[int]: ...


class Executor(Protocol):
    """What runs the rounds' work: a context manager (workers up on enter, released on exit)
    whose ``dispatch`` runs several rounds' work at once. The Ray executors live in
    ``execution/``; this package only knows the protocol."""

    startup_s: float  # seconds until the first worker could take work (after Ray was up)

    @property
    def workers(self) -> int: ...

    def __enter__(self) -> Executor: ...

    def __exit__(self, *exc: object) -> None: ...

    def dispatch(self, should_stop: Callable[[], bool] | None = None) -> Dispatch: ...


def resolve_overlap(setting: int | str, workers: int, samples_per_round: int) -> int:
    """The rounds that run beside the oldest unfinished one: ``setting`` if it is a number.

    ``"auto"``: 0 while a round holds at least 8 configurations per worker (a round's end
    then idles workers little, and overlap costs search quality: each round's ranges are
    decided on older data); else enough rounds in flight to hold about twice as many
    configurations as there are workers (at least 1).
    """
    if setting != "auto":
        return int(setting)
    if samples_per_round >= 8 * workers:
        return 0
    return max(1, min(MAX_OVERLAP, -(-2 * workers // samples_per_round) - 1))


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
    overlap: int = 0  # rounds that run beside the oldest unfinished one (see resolve_overlap)
    objectives: Objectives | None = None  # several objectives (mode is the score column's)
    weights: dict[str, float] | None = None  # how the reported result is picked from the front

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
        whole_number("overlap", self.overlap, minimum=0, maximum=MAX_OVERLAP)
        if self.objectives is not None:
            for what, given in (("budget", self.budget), ("stages", self.stages)):
                if given:
                    raise ConfigError(
                        f"{what} is not supported with several objectives yet; drop one of them"
                    )
            if self.stop.patience is not None:
                raise ConfigError(
                    "patience is not supported with several objectives (no single score "
                    "improves); stop by rounds or tolerance"
                )


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
    next_round: int | None = None  # the round ``next_space`` is for (None: no new ranges)
    overlap: int = 0  # rounds running beside the oldest unfinished one
    front: int | None = None  # several objectives: trials on the Pareto front so far
    best_objectives: dict[str, float] | None = None  # the picked trial's objectives

    @property
    def not_ok(self) -> int:
        return self.trials - self.statuses.get("ok", 0)


@dataclass(frozen=True)
class _SweepState:
    """What the loop carries from round to round, all of it derivable from the store
    (:func:`restore_state` rebuilds it on resume); each step returns a new one.

    ``spaces[k]`` are the ranges round k samples in, for every round planned so far: with
    ``overlap`` L, round k's ranges are proposed once round k-1-L is committed, so up to L+1
    rounds run at a time. ``committed`` rounds are folded into ``history``; ``proposal`` is
    the latest proposed ranges (the last of ``spaces``, or once the sweep stopped, the ranges
    it ended with, never sampled).
    """

    original: SearchSpace
    spaces: tuple[SearchSpace, ...]
    proposal: SearchSpace
    history: pa.Table | None = None
    ranges: tuple[pa.Table, ...] = ()
    best_per_round: tuple[float | None, ...] = ()
    next_trial_id: int = 0
    committed: int = 0
    reason: str | None = None  # why the sweep stops: no round after ``spaces`` is planned
    held: Held = field(default_factory=Held)  # parameters held fixed, and their ranges before

    @property
    def planned(self) -> int:
        return len(self.spaces)


class _RoundCommitter:
    """Commits a running round's finished evaluations every ``every_s`` seconds, with the
    training states ``held()`` still holds (written once, before the rows, so a committed
    row's state is there on resume), and removes the states ``released()`` says no
    evaluation needs any more."""

    def __init__(
        self,
        store: RunStore,
        round_index: int,
        work: str,
        every_s: float | None = None,
        released: Callable[[], list[int]] | None = None,
        held: Callable[[], dict[int, bytes]] | None = None,
    ):
        if every_s is None:
            every_s = float(os.environ.get("SWEEP_COMMIT_EVERY_S", COMMIT_EVERY_S))
        self.store, self.round_index, self.every_s = store, round_index, every_s
        self.work = work
        self.released, self.held = released, held
        # what is held when the round opens came from the store (a resumed round)
        self.written: set[int] = set(held()) if held is not None else set()
        self.seq = store.partial_count(round_index)
        self.buffer: list[pa.RecordBatch] = []
        self.last = time.monotonic()

    def add(self, batch: pa.RecordBatch) -> None:
        self.buffer.append(batch)
        if time.monotonic() - self.last >= self.every_s:
            self.flush()

    def flush(self) -> None:
        for key, data in (self.held() if self.held is not None else {}).items():
            if key not in self.written and persistable(data):
                self.store.write_state(self.round_index, self.work, key, data)
                self.written.add(key)
        if self.buffer:
            tables = [pa.Table.from_batches([b]) for b in self.buffer]
            self.store.write_partial(self.round_index, self.seq, concat_trials(tables), self.work)
            self.seq += 1
            self.buffer = []
        if self.released is not None:
            released = self.released()
            self.store.remove_states(self.round_index, self.work, released)
            self.written.difference_update(released)
        self.last = time.monotonic()


def plan_round(plan: SweepPlan, state: _SweepState, round_index: int) -> RoundWork:
    """The work of a planned round: its configurations, sampled from the seed, its ranges and
    the rounds committed when its ranges were proposed (rounds < round_index - overlap), so
    the same whatever else has finished since; with a budget, its rungs."""
    r = round_index
    guide = None
    seen = r - plan.overlap  # rounds before this one were committed when r was planned
    if state.history is not None and seen > 0:
        history = state.history
        if state.committed > seen:
            history = history.filter(pc.less(history.column("round"), seen))
        budgets = (plan.budget.min, plan.budget.max) if plan.budget else None
        guide = Guide(history, state.original, plan.mode, budgets, plan.objectives)
    columns = sample_round(
        state.spaces[r],
        plan.samples_per_round,
        seed=plan.seed,
        round_index=r,
        sampler=plan.sampler,
        guide=guide,
    )
    base = plan.budget.base(r, plan.stop.rounds) if plan.budget else None
    return RoundWork(columns_to_rows(columns), mode=plan.mode, budget=plan.budget, base=base)


def _selection_work(plan: SweepPlan, configs: list[dict[str, Any]]) -> RoundWork:
    base = plan.budget.max if plan.budget else None
    return RoundWork(configs, mode=plan.mode, budget=plan.budget, base=base)


def _replay_partials(store: RunStore, round_index: int, work: RoundWork) -> list[Any]:
    """Take a round's partial commits into ``work``; return their batches.

    A commit made for other work (its fingerprint differs: the round's configurations or
    budgets changed since) is never attached to this work's configurations: it is left out
    with a warning and its evaluations run again. Commits from before fingerprints were
    recorded are checked by their keys only.
    """
    batches: list[Any] = []
    expected = work.fingerprint().encode()
    states = store.load_states(round_index, work.fingerprint()) if work.continues else {}
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
            work.replay(table, states)
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
    best = best_trial(_final_trials(plan, history), space, plan.mode, plan.objectives, plan.weights)
    if best is None and plan.budget:
        best = best_trial(comparable(history, plan.min_comparable), space, plan.mode)
    return best


def _front_size(plan: SweepPlan, history: pa.Table | None) -> int | None:
    if plan.objectives is None or history is None:
        return None
    return int(front_rows(history, plan.objectives).size)


def _round_budgets(table: pa.Table) -> tuple[float, ...]:
    return tuple(sorted({b for b in table.column("budget").to_pylist() if b is not None}))


def _status_counts(table: pa.Table) -> dict[str, int]:
    statuses = table.column("status").to_pylist()
    return {s: statuses.count(s) for s in sorted(set(statuses))}


def _advance(
    plan: SweepPlan, state: _SweepState, table: pa.Table
) -> tuple[_SweepState, Proposal | None]:
    """Fold the next committed round into the state and propose the ranges of the next round
    to plan (or decide to stop). Once the sweep has stopped, the rounds still running are
    folded in without a proposal (None)."""
    history = table if state.history is None else concat_trials([state.history, table])
    state = replace(
        state,
        history=history,
        best_per_round=(*state.best_per_round, _round_best(plan, table)),
        next_trial_id=state.next_trial_id + table.num_rows,
        committed=state.committed + 1,
    )
    if state.reason is not None:
        return state, None
    return _propose(plan, state, comparable(history, plan.min_comparable))


def _propose(
    plan: SweepPlan, state: _SweepState, ranked_trials: pa.Table | None
) -> tuple[_SweepState, Proposal]:
    """Propose the ranges of round ``state.planned`` from what is committed; plan that round
    unless the sweep stops. Without trials (a round planned before any is committed) the
    rule is not asked: the ranges stay."""
    target = state.planned
    current = state.spaces[-1]
    if ranked_trials is None:
        why = f"round {target} starts before any round is committed (overlap {plan.overlap})"
        proposal = Proposal(current, tuple(Decision(n, "hold", why) for n in current))
    else:
        context = NarrowingContext(
            original=state.original,
            mode=plan.mode,
            round_index=target - 1,
            samples_per_round=plan.samples_per_round,
            previous=state.spaces[-2] if len(state.spaces) > 1 else None,
            objectives=plan.objectives,
        )
        proposal = plan.rule.propose(current, ranked_trials, context)
    proposal, held = apply_stages(
        plan.stages,
        round_index=target,
        proposal=proposal,
        history=ranked_trials,
        original=state.original,
        mode=plan.mode,
        held=state.held,
    )
    edit = plan.edit_at(target)
    proposal, held = apply_edit(edit, proposal, held)
    reason = stop_reason(
        plan.stop,
        rounds_done=target,
        next_space=proposal.space,
        original=state.original,
        best_per_round=list(state.best_per_round),
        mode=plan.mode,
    )
    if edit is not None and reason is not None and target < plan.stop.rounds:
        reason = None  # the sweep was continued past where it stopped
    row = ranges_rows(
        target, proposal.space, state.original, proposal.decisions, sampled=reason is None
    )
    state = replace(state, held=held, ranges=(*state.ranges, row), reason=reason)
    return _with_proposal(state, proposal), proposal


def _with_proposal(state: _SweepState, proposal: Proposal) -> _SweepState:
    """The proposal becomes the latest ranges; planned as the next round unless stopped."""
    spaces = state.spaces if state.reason is not None else (*state.spaces, proposal.space)
    return replace(state, spaces=spaces, proposal=proposal.space)


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
    target = state.planned - 1  # the round the proposal was planned as
    edit = ctx.review(state.spaces[-2], proposal, target)
    if edit is None:
        return state, proposal
    if edit == "quit":
        raise SweepInterrupted("stopped at the review; the next round's ranges are committed")
    proposal, held = apply_edit(edit, proposal, state.held)
    meta = ctx.store.metadata()
    config = dict(meta["config"])
    config["edits"] = [*config.get("edits", []), edit.to_dict()]
    ctx.store.update_metadata(config=config)
    row = ranges_rows(target, proposal.space, state.original, proposal.decisions)
    state = replace(state, held=held, ranges=(*state.ranges[:-1], row), spaces=state.spaces[:-1])
    return _with_proposal(state, proposal), proposal


def restore_state(plan: SweepPlan, store: RunStore) -> _SweepState:
    """Replay the committed rounds: the state an uninterrupted run had after them.

    Narrowing is deterministic, so replaying the rounds rebuilds the same ranges; the first
    missing (or unreadable) round is where the sweep continues. The rounds planned before
    any round is committed (round 0, and ``overlap`` more) sample in the first ranges.
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
    state = _SweepState(
        original=plan.space, spaces=(first.space,), proposal=first.space, ranges=ranges, held=held
    )
    while state.planned <= plan.overlap and state.reason is None:
        state, _ = _propose(plan, state, None)
    rounds = store.load_rounds()
    while state.committed in rounds and state.committed < state.planned:
        state, _ = _advance(plan, state, rounds[state.committed])
    if state.reason is not None and state.committed in rounds:  # the selection round
        state = _with_selection(state, rounds[state.committed])
    return state


def _with_selection(state: _SweepState, table: pa.Table) -> _SweepState:
    """The state after the full-budget selection round (no new ranges: the sweep is over)."""
    return replace(
        state,
        history=concat_trials([state.history, table]),
        next_trial_id=state.next_trial_id + table.num_rows,
        committed=state.committed + 1,
    )


class _OpenRound:
    """A round whose work is out: its committer, its batches, its progress."""

    def __init__(self, ctx: _RunContext, round_index: int, work: RoundWork, batches: list[Any]):
        self.round_index, self.work, self.batches = round_index, work, batches
        self.ctx = ctx
        self.committer = _RoundCommitter(
            ctx.store,
            round_index,
            work.fingerprint(),
            released=work.take_released,
            held=work.held_states,
        )
        self.done = self.not_ok = 0
        self.reporting = False  # progress is shown for the oldest open round only
        for batch in batches:  # committed before a restart
            self._count(batch)

    def _count(self, batch: pa.RecordBatch | pa.Table) -> None:
        self.done += batch.num_rows
        ok = pc.sum(pc.equal(batch.column("status"), "ok")).as_py() or 0
        self.not_ok += batch.num_rows - ok

    def on_batch(self, batch: pa.RecordBatch) -> None:
        if STATE_COLUMN in batch.schema.names:  # the round's work took the states: not stored
            # The rows are slices of the message that brought the states: copy them out, or
            # the whole message (every state in it) would live as long as the round.
            batch = batch.drop_columns([STATE_COLUMN]).take(pa.array(range(batch.num_rows)))
        self.batches.append(batch)
        self.committer.add(batch)
        self._count(batch)
        if self.reporting:
            self.report()

    def start_reporting(self) -> None:
        """From now on each batch is reported (what arrived before it, at once)."""
        self.reporting = True
        if self.done:
            self.report()

    def report(self) -> None:
        if self.ctx.on_progress is not None:
            self.ctx.on_progress(self.round_index, self.done, self.work.known, self.not_ok)


class _LazyDispatch:
    """The executor's dispatch, asked for when a round first has work left (a resumed run
    whose rounds are all committed never needs the workers)."""

    def __init__(self, executor: Executor, should_stop: Callable[[], bool] | None) -> None:
        self.executor, self.should_stop = executor, should_stop
        self._dispatch: Dispatch | None = None

    def get(self) -> Dispatch:
        if self._dispatch is None:
            self._dispatch = self.executor.dispatch(self.should_stop)
        return self._dispatch


def _open_round(
    ctx: _RunContext, round_index: int, work: RoundWork, dispatch: _LazyDispatch
) -> _OpenRound:
    """Take the round's partial commits in, and hand what is left to ``dispatch``."""
    opened = _OpenRound(ctx, round_index, work, _replay_partials(ctx.store, round_index, work))
    if not work.finished():
        dispatch.get().add(round_index, work, opened.on_batch)
    return opened


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

    Up to ``plan.overlap`` + 1 rounds run at once: round k is planned (sampled) as soon as
    round k-1-overlap is committed, so workers never wait at a round's end; rounds are still
    committed, narrowed on and reported in order. ``stop_after_round``: pause
    (:class:`~orchestrator.errors.SweepPaused`) once that round is committed (no later round
    is started), unless the sweep ends there anyway; ``sweep continue`` uses it to finish a
    half-done round as it was planned before applying its edits. ``finished_state``: the
    run's state when its rounds are done ("tuned" while a sealed test is still to evaluate).
    """
    ctx = _RunContext(store, sweep_id, on_round, on_progress, should_stop, review)
    state = restore_state(plan, store)
    started = time.monotonic()
    opened: dict[int, _OpenRound] = {}
    dispatch = _LazyDispatch(executor, should_stop)
    # Rounds are sampled on a thread of their own (a guided round fits a model), while the
    # workers go on with the rounds already out; one at a time, so in round order.
    planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sweep-plan")
    planning: dict[int, Future[RoundWork]] = {}
    warm_up = getattr(plan.sampler, "warm_up", None)  # e.g. load a model's code early
    try:
        while state.committed < state.planned:
            last = state.planned if stop_after_round is None else stop_after_round + 1
            for k in range(state.committed + len(opened) + len(planning), min(state.planned, last)):
                planning[k] = planner.submit(plan_round, plan, state, k)
            if warm_up is not None:  # behind the first rounds' sampling, before the model's
                planner.submit(warm_up)
                warm_up = None
            for k in sorted(planning):
                if not planning[k].done():
                    break
                opened[k] = _open_round(ctx, k, planning.pop(k).result(), dispatch)
            if state.committed not in opened:  # nothing out yet: wait for its sampling
                planning[state.committed].exception()
                continue
            oldest = opened[state.committed]
            if not oldest.reporting:
                oldest.start_reporting()
            if not oldest.work.finished():
                if should_stop is not None and should_stop():
                    raise SweepInterrupted("stopped on request; finished rounds are committed")
                sampled = (lambda: any(f.done() for f in planning.values())) if planning else None
                dispatch.get().wait(until=sampled)
                continue
            opened.pop(state.committed)
            oldest.committer.flush()
            state = _commit(plan, ctx, state, oldest, started)
            if stop_after_round is not None and stop_after_round < state.committed < state.planned:
                raise SweepPaused(f"paused after round {stop_after_round}")
    finally:
        try:  # what finished is written first: a second Ctrl+C may cut the wait below short
            for round_ in opened.values():
                round_.committer.flush()
        finally:
            # Waited for: a planning call left running would go on after the sweep returned
            # or raised (importing modules, calling a user's sampler beside a resume), and
            # the interpreter waits for it at exit anyway. Calls not started are dropped.
            planner.shutdown(wait=True, cancel_futures=True)
    store.write_ranges(pa.concat_tables(list(state.ranges)))
    final = _final_trials(plan, state.history)
    if plan.budget and best_trial(final, state.original, plan.mode) is None:
        state = _selection_round(plan, executor, state, ctx)
    return _finish(plan, store, state, time.monotonic() - started, finished_state)


def _commit(
    plan: SweepPlan, ctx: _RunContext, state: _SweepState, done: _OpenRound, started: float
) -> _SweepState:
    """Commit the oldest open round, fold it in, report it; the state after it."""
    r = done.round_index
    table = build_round_table(
        sweep_id=ctx.sweep_id,
        round_index=r,
        first_trial_id=state.next_trial_id,
        space=state.spaces[r],
        items=done.work.items,
        batches=done.batches,
    )
    ctx.store.write_round(r, table)
    state, proposal = _advance(plan, state, table)
    ctx.store.write_ranges(pa.concat_tables(list(state.ranges)))
    best = _best(plan, state.history, state.original)
    ctx.store.update_metadata(rounds_run=state.committed, best=best, updated_at=utc_now())
    if done.work.peak_state_bytes:
        peak = max(done.work.peak_state_bytes, ctx.store.metadata().get("state_peak_bytes", 0))
        ctx.store.update_metadata(state_peak_bytes=peak)
    if ctx.on_round is not None:
        ctx.on_round(
            RoundReport(
                round_index=r,
                rounds=plan.stop.rounds,
                trials=table.num_rows,
                statuses=_status_counts(table),
                best_score=best["score"] if best else None,
                best_config=best["config"] if best else None,
                space=state.spaces[r],
                next_space=state.proposal,
                decisions=proposal.decisions if proposal is not None else (),
                elapsed_s=time.monotonic() - started,
                stop_reason=state.reason if state.committed == state.planned else None,
                budgets=_round_budgets(table),
                best_budget=best.get("budget") if best else None,
                next_round=state.planned - 1 if proposal and state.reason is None else None,
                overlap=plan.overlap,
                front=_front_size(plan, state.history),
                best_objectives=best.get("objectives") if best else None,
            )
        )
    if ctx.review is not None and proposal is not None and state.reason is None:
        state, proposal = _reviewed(ctx, state, proposal)
        ctx.store.write_ranges(pa.concat_tables(list(state.ranges)))
    return state


def _selection_round(
    plan: SweepPlan, executor: Executor, state: _SweepState, ctx: _RunContext
) -> _SweepState:
    """No full-budget score yet: evaluate the best comparable configurations at full budget."""
    assert plan.budget is not None, "only a multi-fidelity sweep has a selection round"
    pool = comparable(state.history, plan.min_comparable)
    order = ranked(pool, plan.mode)[: max(1, plan.samples_per_round // plan.budget.eta)]
    if order.size == 0:
        return state
    r = state.committed
    configs = [config_at(pool, state.original, int(row)) for row in order]
    work = _selection_work(plan, configs)
    dispatch = _LazyDispatch(executor, ctx.should_stop)
    opened = _open_round(ctx, r, work, dispatch)
    opened.start_reporting()
    try:
        while not work.finished():
            dispatch.get().wait()
    finally:
        opened.committer.flush()
    table = build_round_table(
        sweep_id=ctx.sweep_id,
        round_index=r,
        first_trial_id=state.next_trial_id,
        space=state.proposal,
        items=work.items,
        batches=opened.batches,
    )
    ctx.store.write_round(r, table)
    ctx.store.update_metadata(selection_round=r, rounds_run=r + 1)
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
    best = best_trial(
        _final_trials(plan, state.history),
        state.original,
        plan.mode,
        plan.objectives,
        plan.weights,
    )
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
        final_space=state.proposal,
        run_dir=store.run_dir,
        rounds_run=state.committed,
        stop_reason=state.reason,
        space=state.original,
        objectives=plan.objectives,
        weights=plan.weights,
    )


__all__ = [
    "Dispatch",
    "RoundReport",
    "SweepPlan",
    "resolve_overlap",
    "restore_state",
    "run_sweep",
]
