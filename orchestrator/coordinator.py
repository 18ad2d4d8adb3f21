"""The coordinator: rounds of sample -> evaluate -> commit -> narrow, until a stop rule fires.

:func:`tune` is the public entry point. :func:`run_sweep` is the loop itself; it receives an
executor (Ray workers, or the in-process one for tests and debugging) and a store, and makes
every decision through the pure modules (sampling, narrowing, stopping, results).
"""

from __future__ import annotations

import os
import platform
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa

from .config import narrowing_to_dict, space_to_dict
from .errors import ConfigError
from .narrowing import Decision, NarrowingContext, NarrowingRule, Proposal, make_rule
from .ranges import initial_rows, ranges_rows
from .result import TuneResult
from .fidelity import Budget, at_budget, comparable
from .results import best_trial, build_round_table, concat_trials, config_at, ok_scores, ranked
from .round_work import RoundWork
from .sampling import Sampler, columns_to_rows, make_sampler, sample_round
from .space import Dimension, SearchSpace, as_space
from .stopping import StopRule, stop_reason
from .store import RunStore


class Executor(Protocol):
    workers: int
    startup_s: float  # seconds the workers took to start (after Ray itself was up)

    def run_round(self, trial_ids, configs, progress=None) -> list[pa.RecordBatch]: ...


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

    @property
    def min_comparable(self) -> int:
        """Ok trials a budget needs before narrowing ranks by it (see fidelity.comparable)."""
        eta = self.budget.eta if self.budget else 1
        return max(4, self.samples_per_round // eta)

    def __post_init__(self) -> None:
        if self.mode not in ("min", "max"):
            raise ConfigError(f"mode must be 'min' or 'max' (never guessed), got {self.mode!r}")
        n = self.samples_per_round
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"samples_per_round must be a whole number >= 1, got {n!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ConfigError(f"seed must be a whole number >= 0, got {self.seed!r}")


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


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("sweep-orchestrator", "ray", "numpy", "pyarrow", "scikit-learn", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def new_run_dir(storage: str | os.PathLike, name: str) -> Path:
    """``storage/<name>-<UTC timestamp>``, with a suffix if that folder exists."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path(storage) / f"{name}-{stamp}"
    path, i = base, 2
    while path.exists():
        path, i = Path(f"{base}-{i}"), i + 1
    return path


@dataclass
class _SweepState:
    """What the loop carries from round to round (all of it derivable from the store)."""

    original: SearchSpace
    space: SearchSpace
    previous: SearchSpace | None = None
    history: pa.Table | None = None
    ranges: list[pa.Table] = field(default_factory=list)
    best_per_round: list[float | None] = field(default_factory=list)
    next_trial_id: int = 0
    round_index: int = 0


def _evaluate_round(
    plan: SweepPlan,
    executor: Executor,
    state: _SweepState,
    sweep_id: str,
    on_progress: Callable[[int, int, int, int], None] | None,
    configs: list[dict[str, Any]] | None = None,
) -> pa.Table:
    """Evaluate a round - sampled configurations, or the given ones - and return its table.

    With a budget the round runs successive halving from the schedule's base budget; given
    ``configs`` (the final selection) run at the full budget only.
    """
    r = state.round_index
    if configs is None:
        columns = sample_round(state.space, plan.samples_per_round, seed=plan.seed,
                               round_index=r, sampler=plan.sampler)
        configs = columns_to_rows(columns)
        base = plan.budget.base(r, plan.stop.rounds) if plan.budget else None
    else:
        base = plan.budget.max if plan.budget else None
    work = RoundWork(configs, mode=plan.mode, budget=plan.budget, base=base)
    progress = None
    if on_progress is not None:
        progress = lambda done, not_ok: on_progress(r, done, work.known, not_ok)  # noqa: E731
    batches = executor.run_round(work, progress)
    return build_round_table(
        sweep_id=sweep_id, round_index=r, first_trial_id=state.next_trial_id,
        space=state.space, items=work.items, batches=batches,
    )


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


def _advance(plan: SweepPlan, state: _SweepState, table: pa.Table) -> tuple[Proposal, str | None]:
    """Fold a committed round into the state; propose the next ranges; decide to stop."""
    state.history = table if state.history is None else concat_trials([state.history, table])
    state.best_per_round.append(_round_best(plan, table))
    state.next_trial_id += table.num_rows
    context = NarrowingContext(
        original=state.original, mode=plan.mode, round_index=state.round_index,
        samples_per_round=plan.samples_per_round, previous=state.previous,
    )
    ranked_trials = comparable(state.history, plan.min_comparable)
    proposal = plan.rule.propose(state.space, ranked_trials, context)
    reason = stop_reason(
        plan.stop, rounds_done=state.round_index + 1, next_space=proposal.space,
        original=state.original, best_per_round=state.best_per_round, mode=plan.mode,
    )
    state.ranges.append(
        ranges_rows(state.round_index + 1, proposal.space, state.original, proposal.decisions,
                    sampled=reason is None)
    )
    return proposal, reason


def run_sweep(
    plan: SweepPlan,
    executor: Executor,
    store: RunStore,
    *,
    sweep_id: str,
    on_round: Callable[[RoundReport], None] | None = None,
    on_progress: Callable[[int, int, int, int], None] | None = None,
) -> TuneResult:
    """Run the rounds of ``plan`` on ``executor``, committing each round to ``store``."""
    state = _SweepState(original=plan.space, space=plan.space, ranges=[initial_rows(plan.space)])
    started = time.monotonic()
    reason: str | None = None
    while reason is None:
        table = _evaluate_round(plan, executor, state, sweep_id, on_progress)
        store.write_round(state.round_index, table)
        proposal, reason = _advance(plan, state, table)
        store.write_ranges(pa.concat_tables(state.ranges))
        best = _best(plan, state.history, state.original)
        store.update_metadata(rounds_run=state.round_index + 1, best=best, updated_at=_now())
        if on_round is not None:
            on_round(RoundReport(
                round_index=state.round_index, rounds=plan.stop.rounds, trials=table.num_rows,
                statuses=_status_counts(table), best_score=best["score"] if best else None,
                best_config=best["config"] if best else None, space=state.space,
                next_space=proposal.space, decisions=proposal.decisions,
                elapsed_s=time.monotonic() - started, stop_reason=reason,
                budgets=_round_budgets(table), best_budget=best.get("budget") if best else None,
            ))
        state.previous, state.space = state.space, proposal.space
        state.round_index += 1
    if plan.budget and best_trial(_final_trials(plan, state.history), state.original, plan.mode) is None:
        _selection_round(plan, executor, store, state, sweep_id, on_progress)
    return _finish(plan, store, state, reason, time.monotonic() - started)


def _selection_round(
    plan: SweepPlan,
    executor: Executor,
    store: RunStore,
    state: _SweepState,
    sweep_id: str,
    on_progress: Callable[[int, int, int, int], None] | None,
) -> None:
    """No full-budget score yet: evaluate the best comparable configurations at full budget."""
    pool = comparable(state.history, plan.min_comparable)
    order = ranked(pool, plan.mode)[: max(1, plan.samples_per_round // plan.budget.eta)]
    if order.size == 0:
        return
    configs = [config_at(pool, state.original, int(row)) for row in order]
    table = _evaluate_round(plan, executor, state, sweep_id, on_progress, configs=configs)
    store.write_round(state.round_index, table)
    state.history = concat_trials([state.history, table])
    state.next_trial_id += table.num_rows
    store.update_metadata(selection_round=state.round_index, rounds_run=state.round_index + 1)
    state.round_index += 1


def _finish(
    plan: SweepPlan, store: RunStore, state: _SweepState, reason: str, duration_s: float
) -> TuneResult:
    best = best_trial(_final_trials(plan, state.history), state.original, plan.mode)
    store.update_metadata(state="finished", stop_reason=reason, finished_at=_now(), best=best,
                          duration_s=round(duration_s, 3))
    return TuneResult(
        best_config=best["config"] if best else None,
        best_score=best["score"] if best else None,
        best_trial_id=best["trial_id"] if best else None,
        mode=plan.mode,
        table=state.history,
        ranges=pa.concat_tables(state.ranges),
        final_space=state.space,
        run_dir=store.run_dir,
        rounds_run=state.round_index,
        stop_reason=reason,
    )


def _objective_label(objective: Any) -> str:
    if isinstance(objective, str):
        return objective
    module = getattr(objective, "__module__", "?")
    return f"{module}:{getattr(objective, '__qualname__', repr(objective))}"


def tune(
    objective: Callable[..., Any],
    space: SearchSpace | Mapping[str, Dimension],
    *,
    mode: str,
    rounds: int = 8,
    samples_per_round: int = 32,
    seed: int = 0,
    workers: int | None = None,
    address: str | None = None,
    run_dir: str | os.PathLike | None = None,
    sampler: str | Sampler = "random",
    narrowing: NarrowingRule | str | None = None,
    tolerance: float = 0.02,
    patience: int | None = None,
    name: str = "sweep",
    storage: str | os.PathLike = "runs",
    on_round: Callable[[RoundReport], None] | None = None,
    on_progress: Callable[[int, int, int, int], None] | None = None,
    executor: Executor | None = None,
    config_record: dict[str, Any] | None = None,
    data: Any = None,
    budget: Budget | tuple[float, float] | Mapping[str, Any] | None = None,
) -> TuneResult:
    """Run a coarse-to-fine sweep and return its :class:`TuneResult`.

    ``objective(config) -> float | dict`` scores one configuration on validation data (a
    dict carries ``score`` plus extra metrics). ``mode`` ("min" or "max") is required.
    Without ``address`` (and without an existing ``ray.init``), a local Ray starts for the
    sweep and stops after it; ``workers`` defaults to every CPU Ray reports. Results go to
    ``run_dir`` (default: ``storage/<name>-<timestamp>``).

    ``data`` (optional) is put into the Ray object store once and handed to every worker,
    which runs ``objective.bind(data)``; estimator tasks use it for their tuning rows.

    ``budget=(min, max)`` (or a :class:`~orchestrator.fidelity.Budget`) makes the sweep
    multi-fidelity: the objective is called as ``objective(config, budget)``, each round runs
    successive halving from a base budget that rises with the rounds, narrowing ranks only
    trials of equal budget, and the best is always a full-budget score.

    >>> result = tune(lambda c: (c["x"] - 0.3) ** 2, {"x": Float(0, 1)}, mode="min")  # doctest: +SKIP
    >>> result.best_config  # doctest: +SKIP
    {'x': 0.3001...}
    """
    if not (callable(objective) or (data is not None and callable(getattr(objective, "bind", None)))):
        raise ConfigError(f"objective must be callable, got {objective!r}")
    try:
        plan = SweepPlan(
            space=as_space(space), mode=mode, samples_per_round=samples_per_round, seed=seed,
            stop=StopRule(rounds=rounds, tolerance=tolerance, patience=patience),
            sampler=make_sampler(sampler), rule=make_rule(narrowing),
            budget=Budget.parse(budget),
        )
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    run_dir = Path(run_dir) if run_dir is not None else new_run_dir(storage, name)
    sweep_id = f"{name}-{secrets.token_hex(4)}"
    record = config_record or {
        "name": name, "objective": _objective_label(objective), "mode": mode,
        "space": space_to_dict(plan.space), "rounds": rounds,
        "samples_per_round": samples_per_round, "seed": seed, "workers": workers,
        "sampler": plan.sampler.name if hasattr(plan.sampler, "name") else repr(sampler),
        "narrowing": narrowing_to_dict(plan.rule), "tolerance": tolerance, "patience": patience,
        "budget": plan.budget.to_dict() if plan.budget else None,
    }
    store = RunStore.create(
        run_dir,
        {
            "format": 1, "sweep_id": sweep_id, "name": name, "state": "running",
            "created_at": _now(), "config": record, "versions": _versions(),
            "address": address, "host": platform.node(), "pid": os.getpid(),
        },
    )
    if executor is None:
        from .execution import RayExecutor

        executor = RayExecutor(objective, param_names=plan.space.names, workers=workers,
                               address=address, data=data)
    try:
        with executor as running:
            store.update_metadata(workers=running.workers,
                                  workers_start_s=round(running.startup_s, 4))
            return run_sweep(plan, running, store, sweep_id=sweep_id, on_round=on_round,
                             on_progress=on_progress)
    except BaseException as exc:
        store.update_metadata(state="failed", error=f"{type(exc).__name__}: {exc}",
                              updated_at=_now())
        raise


__all__ = ["RoundReport", "SweepPlan", "new_run_dir", "run_sweep", "tune"]
