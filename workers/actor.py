"""The long-lived Ray worker actor.

One actor per worker slot, created once per sweep (or once per worker pool, then handed
each sweep's objective): it unpickles the objective once, then evaluates shard after shard
(:func:`workers.evaluate.evaluate_shard`) and returns each result batch as Arrow IPC bytes.
The coordinator keeps each actor's queue short, so workers pull work as they finish it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

from .evaluate import RESERVED_COLUMNS, batch_to_bytes, bind_data, evaluate_shard
from .state import takes_state


class SweepWorker:
    """Evaluates shards of configurations with one objective (wrapped by ``ray.remote``).

    ``objective_payload`` is the objective serialised with cloudpickle by the coordinator;
    it is loaded here, after ``import_paths`` are put on ``sys.path``, so an objective from
    the user's own module imports the same way it did on the driver. ``data`` arrives from
    the Ray object store (read once per worker) and is bound to the objective.

    A worker of a :class:`~orchestrator.execution.ray_executor.WorkerPool` starts with no
    objective and is handed one per sweep by :meth:`load`.
    """

    def __init__(
        self,
        objective_payload: bytes | None = None,
        *,
        name: str = "",
        param_names: Sequence[str] = (),
        import_paths: Sequence[str] = (),
        data: Any = None,
    ) -> None:
        self._objective: Any = None
        self._continues = False  # the objective takes a state (continues promoted trials)
        self._name = name
        self._taken: frozenset[str] = frozenset(RESERVED_COLUMNS)
        if objective_payload is not None:
            self.load(
                objective_payload,
                name=name,
                param_names=param_names,
                import_paths=import_paths,
                data=data,
            )

    def load(
        self,
        objective_payload: bytes,
        *,
        name: str,
        param_names: Sequence[str],
        import_paths: Sequence[str] = (),
        data: Any = None,
    ) -> str:
        """Takes the objective of a (new) sweep; returns the worker's name once loaded."""
        for path in reversed(list(import_paths)):
            if path not in sys.path and os.path.isdir(path):
                sys.path.insert(0, path)
        from ray import cloudpickle

        self._objective = None  # a failed load leaves no objective of an earlier sweep
        self._objective = bind_data(cloudpickle.loads(objective_payload), data)
        self._continues = takes_state(self._objective)
        self._name = name
        self._taken = frozenset(RESERVED_COLUMNS | set(param_names))
        return name

    def ready(self) -> str:
        """Returns the worker's name once the objective has loaded."""
        return self._name

    def node(self) -> str:
        """The id of the Ray node this worker runs on (a lost node takes its workers)."""
        import ray

        return ray.get_runtime_context().get_node_id()

    def run_shard(
        self,
        shard_id: int,
        trial_ids: Sequence[int],
        configs: Sequence[dict[str, Any]],
        budgets: Sequence[float | None] | None = None,
        states: Sequence[bytes | None] | None = None,
    ) -> bytes:
        """Evaluates one shard; its result batch comes back as Arrow IPC bytes. ``states``:
        what each configuration's rung below returned, for an objective that continues."""
        return batch_to_bytes(
            evaluate_shard(
                self._objective,
                shard_id=shard_id,
                trial_ids=trial_ids,
                configs=configs,
                worker=self._name,
                taken_names=self._taken,
                budgets=budgets,
                states=states if self._continues else None,
            )
        )
