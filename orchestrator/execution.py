"""The execution layer: Ray connection, long-lived worker actors, shards pulled as they finish.

This is the only coordinator module that imports ``ray``. Ray's own errors are translated
into :class:`~orchestrator.errors.ExecutionError` here.
"""

from __future__ import annotations

import logging
import os
import re
import socket
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

from .errors import ExecutionError, first_line
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


def _check_reachable(address: str) -> None:
    """Fail fast when nothing listens at ``host:port`` (Ray would retry for minutes)."""
    match = re.fullmatch(r"(?:ray://)?\[?([^\]/]+?)\]?:(\d+)", address)
    if match is None:
        return
    host, port = match.group(1), int(match.group(2))
    try:
        socket.create_connection((host, port), timeout=5).close()
    except OSError as exc:
        raise ExecutionError(
            f"nothing answers at {address} ({exc.strerror or exc}); is the Ray head running "
            "there, and is this its address (ray start --head prints it)?"
        ) from None


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
            _check_reachable(address)
            ray.init(address=address, logging_level=logging.WARNING)
    except (ConnectionError, RayError, ValueError, RuntimeError) as exc:
        where = "a local Ray" if address is None else f"Ray at {address!r}"
        raise ExecutionError(f"could not start or connect to {where}: {first_line(exc)}") from None
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
        trial_timeout_s: float | None = None,
        max_worker_deaths: int = 2,
        worker_resources: dict[str, Any] | None = None,
    ) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
        self._objective = objective
        self._param_names = list(param_names)
        self._requested = workers
        self._address = address
        # With a time limit, configurations travel one at a time so each has a clock.
        self._inflight = 1 if trial_timeout_s else inflight
        self._data = data
        self.trial_timeout_s = trial_timeout_s
        self._resources = dict(worker_resources or {})
        self._count = 0
        self.max_worker_deaths = max_worker_deaths
        self._spawn_args: tuple[Any, ...] = ()
        self._actors: list[Any] = []
        self._names: list[str] = []
        self._started_ray = False
        self._shard_counter = 0
        self.startup_s = 0.0  # seconds from asking for the actors to all of them ready

    @property
    def workers(self) -> int:
        return len(self._actors)

    @property
    def running(self) -> bool:
        return bool(self._actors)

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
        options = self._actor_options(cpus)
        try:
            payload = ray.cloudpickle.dumps(self._objective)
        except Exception as exc:
            raise ExecutionError(
                f"the objective cannot be sent to the workers ({type(exc).__name__}: {exc}); "
                "define it at module level or make what it captures picklable"
            ) from None
        paths = objective_import_paths(self._objective)
        # Shared data goes into the object store once; each actor reads it from there.
        data_ref = None if self._data is None else ray.put(self._data)
        self._spawn_args = (ray.remote(SweepWorker), options, payload, paths, data_ref)
        count = self._count
        for i in range(count):
            self._actors.append(None)
            self._names.append(f"w{i}")
            self.replace_actor(i)
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
                f"{first_line(cause)}. Is its module importable from the folder you run sweep in?"
            ) from None

    def _actor_options(self, cpus: float) -> dict[str, Any]:
        """Ray options of each worker actor, and how many there are (``self._count``).

        ``worker_resources`` (num_cpus, num_gpus - fractions allowed -, memory, resources)
        come from the config; the default is one CPU each, one worker per CPU. More workers
        than CPUs share them rather than wait forever. On a cluster, workers spread over
        the nodes.
        """
        res = self._resources
        need = float(res.get("num_cpus", 1.0))
        gpus = float(ray.cluster_resources().get("GPU", 0.0))
        if self._requested:
            count = self._requested
        elif res.get("num_gpus"):
            count = max(1, int(gpus / float(res["num_gpus"])))
        else:
            count = max(1, int(cpus / need)) if need > 0 else max(1, int(cpus))
        self._count = count
        options: dict[str, Any] = {"num_cpus": min(need, cpus / count) if cpus > 0 else 0}
        if res.get("num_gpus"):
            options["num_gpus"] = float(res["num_gpus"])
        if res.get("memory"):
            options["memory"] = int(res["memory"])
        if res.get("resources"):
            options["resources"] = dict(res["resources"])
        if self._address is not None:
            options["scheduling_strategy"] = "SPREAD"
        return options

    def replace_actor(self, index: int, *, kill: bool = False) -> Any:
        """Start worker ``index`` (again): after it died, or to stop a trial past its limit.

        Returns a reference that resolves once the new worker is ready."""
        if kill and self._actors[index] is not None:
            try:
                ray.kill(self._actors[index], no_restart=True)
            except Exception:  # already gone
                pass
        remote_cls, options, payload, paths, data_ref = self._spawn_args
        self._actors[index] = remote_cls.options(**options).remote(
            payload, name=self._names[index], param_names=self._param_names,
            import_paths=paths, data=data_ref,
        )
        return self._actors[index].ready.remote()

    def submit(self, index: int, shard_id: int, items: list[Any]) -> Any:
        """Send a shard to worker ``index``; returns the reference to its result batch."""
        budgets = None if items[0].budget is None else [it.budget for it in items]
        return self._actors[index].run_shard.remote(
            shard_id, [it.key for it in items], [it.config for it in items], budgets
        )

    def next_shard_id(self) -> int:
        self._shard_counter += 1
        return self._shard_counter - 1

    @property
    def inflight(self) -> int:
        return self._inflight

    @property
    def names(self) -> list[str]:
        return list(self._names)

    def close(self) -> None:
        for actor in self._actors:
            try:
                if actor is not None:
                    ray.kill(actor)
            except Exception:  # already gone
                pass
        self._actors.clear()
        if self._started_ray and ray.is_initialized():
            ray.shutdown()
            self._started_ray = False

    def run_round(
        self,
        work: RoundWork,
        progress: ProgressFn | None = None,
        on_batch: Callable[[pa.RecordBatch], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> list[pa.RecordBatch]:
        """Evaluate everything ``work`` hands out; one result batch per shard.

        Workers pull shards as they finish; a worker that dies is replaced and its shard's
        configurations re-run; a trial past ``trial_timeout_s`` is stopped (see
        :mod:`orchestrator.round_runner`). ``on_batch`` sees each batch as it arrives (the
        coordinator commits them); ``should_stop`` is polled to stop early.
        """
        from .round_runner import RoundRunner

        return RoundRunner(self, work, progress, on_batch, should_stop).run()
