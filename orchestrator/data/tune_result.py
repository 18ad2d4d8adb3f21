"""What a sweep returns: the best configuration and every trial, loadable again from disk."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from orchestrator.data.ranges import initial_rows, space_at
from orchestrator.data.run_store import RunStore
from orchestrator.errors import StoreError
from orchestrator.search.fidelity import Budget, at_budget
from orchestrator.search.pareto import Objectives, front_rows, resolve
from orchestrator.search.space import SearchSpace
from orchestrator.search.specs import parse_space
from orchestrator.search.trials import best_trial, ranked_by


@dataclass(frozen=True)
class TuneResult:
    """The outcome of a sweep.

    ``table`` holds every trial row (the schema of :mod:`orchestrator.data.trials`), ``ranges``
    the ranges of every round with their decisions (:mod:`orchestrator.data.ranges`), and
    ``final_space`` the ranges the sweep ended with.
    """

    best_config: dict[str, Any] | None
    best_score: float | None
    best_trial_id: int | None
    mode: str
    table: pa.Table
    ranges: pa.Table
    final_space: SearchSpace
    run_dir: Path | str  # a local folder, or the URI of one (s3://...)
    rounds_run: int
    stop_reason: str
    space: SearchSpace | None = None  # the configured (first) ranges
    objectives: Objectives | None = None  # a multi-objective sweep's objectives
    weights: dict[str, float] | None = None  # how best_config was picked from the front

    def importance(self, *, seed: int = 0) -> dict[str, float] | None:
        """Each hyperparameter's share of the score's variation (see
        :mod:`orchestrator.search.importance`).

        With budgets, only trials of one budget (the highest with enough of them) are used.
        """
        from orchestrator.search.fidelity import comparable
        from orchestrator.search.importance import MIN_TRIALS, importance

        space = self.space or self.final_space
        return importance(comparable(self.table, 2 * MIN_TRIALS), space, seed=seed)

    def top(self, k: int = 5) -> pa.Table:
        """The ``k`` best ok trials, best first (with several objectives, in Pareto order)."""
        return self.table.take(ranked_by(self.table, self.mode, self.objectives)[:k])

    def pareto_front(self) -> pa.Table:
        """The non-dominated trials of a multi-objective sweep, ordered by the first objective
        (every column of the trial table; each objective is a column of its own)."""
        if self.objectives is None:
            raise ValueError(
                "pareto_front() is for sweeps with several objectives; this one has one score "
                "(see top())"
            )
        return self.table.take(front_rows(self.table, self.objectives))

    @classmethod
    def load(cls, run_dir: str | os.PathLike) -> TuneResult:
        """Rebuild the result of a run from its folder."""
        store = RunStore.open(run_dir)
        meta = store.metadata()
        try:
            space = parse_space(meta["config"]["space"], check_values=False)
            mode, objectives = resolve(meta["config"]["mode"], meta["config"].get("objectives"))
            weights = (meta["config"].get("pick") or {}).get("weights")
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{store.run_dir}: run.json lacks the run's config ({exc})") from None
        table = store.load_trials()
        if table is None:
            raise StoreError(
                f"{store.run_dir}: no round has been committed yet "
                f"(state: {meta.get('state', 'unknown')})"
            )
        ranges = store.load_ranges()
        if ranges is None:  # stopped between the round's file and the ranges file
            ranges = initial_rows(space)
        last = max(ranges.column("round").to_pylist())
        budget = Budget.parse(meta["config"].get("budget"))
        best = best_trial(
            at_budget(table, budget.max) if budget else table, space, mode, objectives, weights
        )
        return cls(
            best_config=best["config"] if best else None,
            best_score=best["score"] if best else None,
            best_trial_id=best["trial_id"] if best else None,
            mode=mode,
            table=table,
            ranges=ranges,
            final_space=space_at(space, ranges, last),
            run_dir=store.run_dir,
            rounds_run=int(meta.get("rounds_run", len(set(table.column("round").to_pylist())))),
            stop_reason=str(meta.get("stop_reason") or meta.get("state", "")),
            space=space,
            objectives=objectives,
            weights=weights,
        )
