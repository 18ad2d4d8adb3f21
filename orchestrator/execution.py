"""The execution layer: Ray connection, long-lived worker actors, shards pulled as they finish.

This is the only coordinator module that imports ``ray``. Ray's own errors are translated
into :class:`~orchestrator.errors.ExecutionError` here.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError, RayTaskError

from workers.actor import SweepWorker

from .errors import ExecutionError
from .round_work import RoundWork
from .sharding import ShardSizer

ProgressFn = Callable[[int, int], None]  # (trials done, trials not ok)

_READY_TIMEOUT_S = 300


def objective_import_paths(objective: Any) -> list[str]:
    """Folders a worker needs on ``sys.path`` to import the objective's module."""
    paths = [os.getcwd()]
    module_name = getattr(objective, "__module__", None) or ""
    module = sys.modules.get(module_name)
    file = getattr(module, "__file__", None)
    if file and module_name != "__main__":
        root = Path(file).resolve().parent
        depth = module_name.count(".") + (Path(file).name == "__init__.py")
        for _ in range(depth):
            root = root.parent
        paths.append(str(root))
    return list(dict.fromkeys(paths))


def connect(address: str | None) -> bool:
    """Make sure this process is connected to Ray; True if this call connected it.

    Without an address a fresh single-node Ray starts in-process (``address="local"``, so a
    stale record of an earlier ``ray start`` is never joined by accident).
    """
    if ray.is_initialized():
        return False
    try:
        if address is None:
            ray.init(
                address="local",
                include_dashboard=False,
                logging_level=logging.WARNING,
                configure_logging=True,
            )
        else:
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RayError, ValueError, RuntimeError) as exc:
        where = "a local Ray" if address is None else f"Ray at {address!r}"
        raise ExecutionError(f"could not start or connect to {where}: {exc}") from None
    return True


class RayExecutor:
    """W long-lived :class:`~workers.actor.SweepWorker` actors fed with shards.

    Use as a context manager: actors start on entry and are killed on exit; Ray itself is
    shut down on exit only if this executor started it.
    """

    def __init__(
        self,
        objective: Callable[..., Any],
        *,
        param_names: Sequence[str],
        workers: int | None = None,
        address: str | None = None,
        inflight: int = 2,
        data: Any = None,
    ) -> None:
        if workers is not None and (isinstance(workers, bool) or workers < 1):
            raise ValueError(f"workers must be >= 1, got {workers!r}")
        self._objective = objective
        self._param_names = list(param_names)
        self._requested = workers
        self._address = address
        self._inflight = inflight
        self._data = data
        self._actors: list[Any] = []
        self._names: list[str] = []
        self._started_ray = False
        self._shard_counter = 0
        self.startup_s = 0.0  # seconds from asking for the actors to all of them ready

    @property
    def workers(self) -> int:
        return len(self._actors)

    def __enter__(self) -> "RayExecutor":
        self._started_ray = connect(self._address)
        started = time.perf_counter()
        try:
            self._start_actors()
            self.startup_s = time.perf_counter() - started
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def _start_actors(self) -> None:
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        count = self._requested or max(1, int(cpus))
        # More workers than CPUs share the CPUs rather than wait forever for one.
        per_actor = min(1.0, cpus / count) if cpus > 0 else 0
        try:
            payload = ray.cloudpickle.dumps(self._objective)
        except Exception as exc:
            raise ExecutionError(
                f"the objective cannot be sent to the workers ({type(exc).__name__}: {exc}); "
                "define it at module level or make what it captures picklable"
            ) from None
        remote_cls = ray.remote(SweepWorker)
        paths = objective_import_paths(self._objective)
        # Shared data goes into the object store once; each actor reads it from there.
        data_ref = None if self._data is None else ray.put(self._data)
        for i in range(count):
            name = f"w{i}"
            actor = remote_cls.options(num_cpus=per_actor).remote(
                payload, name=name, param_names=self._param_names, import_paths=paths,
                data=data_ref,
            )
            self._actors.append(actor)
            self._names.append(name)
        try:
            ray.get([a.ready.remote() for a in self._actors], timeout=_READY_TIMEOUT_S)
        except GetTimeoutError:
            raise ExecutionError(
                f"{count} workers did not start within {_READY_TIMEOUT_S} s; "
                "the cluster may lack free CPUs (try --workers with a smaller number)"
            ) from None
        except (RayActorError, RayTaskError) as exc:
            cause = getattr(exc, "cause", None) or exc
            raise ExecutionError(
                f"the objective could not be loaded on a worker: {type(cause).__name__}: "
                f"{cause}. Is its module importable from the folder you run sweep in?"
            ) from None

    def close(self) -> None:
        for actor in self._actors:
            try:
                ray.kill(actor)
            except Exception:  # already gone
                pass
        self._actors.clear()
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
            self._started_ray = False

    def run_round(
        self, work: RoundWork, progress: ProgressFn | None = None
    ) -> list[pa.RecordBatch]:
        """Evaluate everything ``work`` hands out; one result batch per shard.

        Each worker holds at most ``inflight`` shards; whenever a shard comes back its
        results go to ``work`` (which may add promotions) and every worker with room gets
        the next shard, so no worker idles while work is ready.
        """
        sizer = ShardSizer(len(self._actors), inflight=self._inflight)
        pending: dict[Any, tuple[int, int, int]] = {}  # ref -> (actor, first key, last key)
        load = [0] * len(self._actors)
        done = not_ok = 0
        batches: list[pa.RecordBatch] = []

        def fill(actor_index: int) -> None:
            while load[actor_index] < self._inflight and work.ready_count():
                items = work.take(sizer.next_size(work.ready_count()))
                shard_id = self._shard_counter
                self._shard_counter += 1
                budgets = None if items[0].budget is None else [it.budget for it in items]
                ref = self._actors[actor_index].run_shard.remote(
                    shard_id, [it.key for it in items], [it.config for it in items], budgets
                )
                pending[ref] = (actor_index, items[0].key, items[-1].key)
                load[actor_index] += 1

        for i in range(len(self._actors)):
            fill(i)
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            actor_index, first, last = pending.pop(ready[0])
            load[actor_index] -= 1
            batch = self._collect(ready[0], actor_index, first, last)
            work.record(batch)
            batches.append(batch)
            sizer.observe(batch.num_rows, pc.sum(batch.column("duration_s")).as_py() or 0.0)
            done += batch.num_rows
            not_ok += batch.num_rows - pc.sum(pc.equal(batch.column("status"), "ok")).as_py()
            if progress is not None:
                progress(done, not_ok)
            for i in sorted(range(len(self._actors)), key=lambda a: load[a]):
                fill(i)
        if not work.finished():
            raise RuntimeError("the round has evaluations that were never handed out")
        return batches

    def _collect(self, ref: Any, actor_index: int, first: int, last: int) -> pa.RecordBatch:
        try:
            return ray.get(ref)
        except RayActorError as exc:
            raise ExecutionError(
                f"worker {self._names[actor_index]} died while running trials {first}..{last}: "
                f"{exc}"
            ) from None
        except RayTaskError as exc:
            raise ExecutionError(
                f"worker {self._names[actor_index]} failed outside the objective on trials "
                f"{first}..{last}: {exc}"
            ) from None
