"""An in-process executor: the same evaluation code as the Ray workers, without Ray.

For debugging an objective with a plain Python traceback and for the unit tests of the
coordinator loop. It has the executor interface of
:class:`~orchestrator.execution.ray_executor.RayExecutor`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pyarrow as pa

from orchestrator.errors import SweepInterrupted
from orchestrator.loop.round_work import RoundWork, WorkItem
from workers.evaluate import RESERVED_COLUMNS, Objective, bind_data, evaluate_shard
from workers.state import takes_state


class SerialExecutor:
    """Evaluates every configuration in this process, in shards of ``shard_size``."""

    workers = 1
    startup_s = 0.0

    def __init__(
        self,
        objective: Objective,
        *,
        param_names: Sequence[str],
        shard_size: int = 64,
        data: Any = None,
    ) -> None:
        self._objective = bind_data(objective, data)
        self._continues = takes_state(self._objective)
        self._taken = frozenset(RESERVED_COLUMNS | set(param_names))
        self.shard_size = shard_size
        self._shards = 0

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None

    def dispatch(self, should_stop: Callable[[], bool] | None = None) -> SerialDispatch:
        return SerialDispatch(self, should_stop)

    def evaluate(self, items: Sequence[WorkItem]) -> pa.RecordBatch:
        """One shard, evaluated here and now."""
        batch = evaluate_shard(
            self._objective,
            shard_id=self._shards,
            trial_ids=[item.key for item in items],
            configs=[item.config for item in items],
            worker="local",
            taken_names=self._taken,
            budgets=None if items[0].budget is None else [item.budget for item in items],
            states=[item.state for item in items] if self._continues else None,
        )
        self._shards += 1
        return batch


class SerialDispatch:
    """Rounds evaluated one shard at a time, the oldest round's work first."""

    def __init__(self, executor: SerialExecutor, should_stop: Callable[[], bool] | None) -> None:
        self.executor = executor
        self.should_stop = should_stop
        self.rounds: dict[int, tuple[RoundWork, Callable[[pa.RecordBatch], None]]] = {}

    def add(self, tag: int, work: RoundWork, on_batch: Callable[[pa.RecordBatch], None]) -> None:
        self.rounds[tag] = (work, on_batch)

    def wait(self, until: Callable[[], bool] | None = None) -> list[int]:
        """Evaluate shards until a round is finished (in process: ``until`` can only be
        looked at between shards)."""
        while self.rounds:
            ready = [t for t, (work, _) in self.rounds.items() if work.ready_count()]
            if not ready:
                raise RuntimeError("the rounds have evaluations that were never handed out")
            tag = min(ready)
            work, on_batch = self.rounds[tag]
            batch = self.executor.evaluate(work.take(self.executor.shard_size))
            work.record(batch)
            on_batch(batch)
            if work.finished():
                del self.rounds[tag]
                return [tag]
            if self.should_stop is not None and self.should_stop():
                raise SweepInterrupted("stopped on request; finished trials are committed")
            if until is not None and until():
                return []
        raise RuntimeError("wait() with no round to run")
