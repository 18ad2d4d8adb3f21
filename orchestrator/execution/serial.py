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
from orchestrator.loop.round_work import RoundWork
from workers.evaluate import RESERVED_COLUMNS, Objective, bind_data, evaluate_shard


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
        self._taken = frozenset(RESERVED_COLUMNS | set(param_names))
        self._shard_size = shard_size
        self._shards = 0

    def __enter__(self) -> SerialExecutor:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        return None

    def run_round(
        self,
        work: RoundWork,
        progress: Callable[[int, int], None] | None = None,
        on_batch: Callable[[pa.RecordBatch], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[pa.RecordBatch]:
        batches = []
        done = not_ok = 0
        while work.ready_count():
            items = work.take(self._shard_size)
            batch = evaluate_shard(
                self._objective,
                shard_id=self._shards,
                trial_ids=[item.key for item in items],
                configs=[item.config for item in items],
                worker="local",
                taken_names=self._taken,
                budgets=None if items[0].budget is None else [item.budget for item in items],
            )
            self._shards += 1
            work.record(batch)
            batches.append(batch)
            if on_batch is not None:
                on_batch(batch)
            done += batch.num_rows
            not_ok += sum(s != "ok" for s in batch.column("status").to_pylist())
            if progress is not None:
                progress(done, not_ok)
            if should_stop is not None and should_stop() and work.ready_count():
                raise SweepInterrupted("stopped on request; finished trials are committed")
        if not work.finished():
            raise RuntimeError("the round has evaluations that were never handed out")
        return batches
