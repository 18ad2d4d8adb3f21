"""The execution layer: Ray connection, long-lived worker actors, shards pulled as they finish.

With the round runner and the Jobs client, the only code that imports ``ray``. Ray's own
errors are translated into :class:`~orchestrator.errors.ExecutionError` here.
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

import ray
from ray.exceptions import (
    GetTimeoutError,
    RayActorError,
    RayError,
    RayTaskError,
    WorkerCrashedError,
)

from orchestrator.checks import MAX_WORKERS, whole_number
from orchestrator.errors import ConfigError, ExecutionError, first_line
from workers.actor import SweepWorker
from workers.evaluate import Objective

_READY_TIMEOUT_S = 300
#: How often a sweep whose worker count follows the cluster looks for room for more workers.
GROW_EVERY_S = 5.0


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


def ray_log_level() -> int:
    """How much of Ray's own logging reaches the terminal: errors only, unless asked for
    (``sweep ... --verbose``, or ``SWEEP_VERBOSE=1``), then Ray's INFO lines too."""
    return logging.INFO if os.environ.get("SWEEP_VERBOSE") else logging.ERROR


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
                logging_level=ray_log_level(),
                configure_logging=True,
            )
        else:
            _check_reachable(address)
            ray.init(address=address, logging_level=ray_log_level())
    except (ConnectionError, RayError, ValueError, RuntimeError) as exc:
        where = "a local Ray" if address is None else f"Ray at {address!r}"
        raise ExecutionError(f"could not start or connect to {where}: {first_line(exc)}") from None
    return True


def actor_options(
    resources: dict[str, Any], requested: int | None, address: str | None
) -> tuple[dict[str, Any], int]:
    """Ray options of each worker actor, and how many workers there are.

    ``resources`` (num_cpus, num_gpus - fractions allowed -, memory, resources) come from
    the config; the default is one CPU each, one worker per CPU. More workers than CPUs
    share them rather than wait forever. On a cluster, workers spread over the nodes.
    """
    cluster = ray.cluster_resources()
    cpus = float(cluster.get("CPU", 1.0))
    need = float(resources.get("num_cpus", 1.0))
    if requested:
        count = requested
    elif resources.get("num_gpus"):
        count = max(1, int(float(cluster.get("GPU", 0.0)) / float(resources["num_gpus"])))
    else:
        count = max(1, int(cpus / need)) if need > 0 else max(1, int(cpus))
    options: dict[str, Any] = {"num_cpus": min(need, cpus / count) if cpus > 0 else 0}
    if resources.get("num_gpus"):
        options["num_gpus"] = float(resources["num_gpus"])
    if resources.get("memory"):
        options["memory"] = int(resources["memory"])
    if resources.get("resources"):
        options["resources"] = dict(resources["resources"])
    if address is not None:
        options["scheduling_strategy"] = "SPREAD"
    return options, count


def _died(ref: Any) -> bool:
    """Whether a finished call's worker died (not: the call raised inside a live worker)."""
    try:
        ray.get(ref, timeout=0)
    except (RayActorError, WorkerCrashedError):
        return True
    except Exception:  # an error of the call itself, or not finished: the worker lives
        return False
    return False


def _wait_ready(refs: list[Any], count: int, *, first: bool = False) -> None:
    """Wait for ``count`` workers to be ready (``first``: for one of them, the rest start
    while it works); Ray's errors become clear ones."""
    try:
        if first:
            done, _ = ray.wait(refs, num_returns=1, timeout=_READY_TIMEOUT_S)
            if not done:
                raise GetTimeoutError
            ray.get(done[0])  # an objective that cannot load fails here, on the first
        else:
            ray.get(refs, timeout=_READY_TIMEOUT_S)
    except GetTimeoutError:
        raise ExecutionError(
            f"{'no worker' if first else f'{count} workers'} started within "
            f"{_READY_TIMEOUT_S} s; the cluster may lack free CPUs (try --workers with a "
            "smaller number)"
        ) from None
    except (RayActorError, RayTaskError) as exc:
        cause = getattr(exc, "cause", None) or exc
        raise ExecutionError(
            f"the objective could not be loaded on a worker: {type(cause).__name__}: "
            f"{first_line(cause)}. Is its module importable from the folder you run sweep in?"
        ) from None


class _ActorOwner:
    """What a pool and an executor share: a list of worker actors, and maybe Ray itself."""

    _actors: list[Any]
    _started_ray: bool

    @property
    def workers(self) -> int:
        return len(self._actors)

    @property
    def running(self) -> bool:
        return bool(self._actors)

    def _end_actors(self) -> None:
        """Kill every actor, then stop Ray if this object started it."""
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


class WorkerPool(_ActorOwner):
    """Worker actors kept between sweeps, so Ray starts them once rather than per sweep.

    Starting W actors costs Ray 0.3-0.9 s (new worker processes, imports); a notebook or
    a script that runs many sweeps pays it once with a pool::

        with WorkerPool(workers=2) as pool:
            for seed in range(5):
                tune(objective, space, mode="min", seed=seed, pool=pool)

    Each sweep hands its own objective (and data) to the pool's workers; a worker that dies
    or is stopped for a time limit is replaced inside the pool. One sweep at a time uses a
    pool, and the pool holds its workers' CPUs while it runs (a sweep started without it
    waits for free ones). Leaving the ``with`` block ends the workers, and Ray too if the
    pool started it. The worker processes live on between sweeps, so a module a worker
    imported once stays imported: after editing the objective's module, start a new pool.
    """

    def __init__(
        self,
        workers: int | None = None,
        *,
        address: str | None = None,
        worker_resources: dict[str, Any] | None = None,
    ) -> None:
        whole_number("workers", workers, minimum=1, allow_none=True)
        self._requested = workers
        self._address = address
        self._resources = dict(worker_resources or {})
        self._options: dict[str, Any] = {}
        self._actors: list[Any] = []
        self._started_ray = False
        self._busy = False
        self.startup_s = 0.0

    def __enter__(self) -> WorkerPool:
        self.start()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    def start(self) -> WorkerPool:
        """Start the workers (and a local Ray if none is up); a no-op when running."""
        if self._actors:
            return self
        self._started_ray = connect(self._address)
        started = time.perf_counter()
        try:
            self._options, count = actor_options(self._resources, self._requested, self._address)
            self._actors = [self._new_actor() for _ in range(count)]
            _wait_ready([a.ready.remote() for a in self._actors], count)
        except BaseException:
            self.close()
            raise
        self.startup_s = time.perf_counter() - started
        return self

    def _new_actor(self) -> Any:
        return ray.remote(SweepWorker).options(**self._options).remote()

    def close(self) -> None:
        """End the workers, and Ray if this pool started it."""
        self._busy = False
        self._end_actors()

    # -- used by RayExecutor -------------------------------------------------------------
    def acquire(self, workers: int | None) -> tuple[list[Any], dict[str, Any]]:
        """The actors (the first ``workers`` of them) and their options, for one sweep."""
        if not self._actors:
            raise ExecutionError(
                "the worker pool is not running; use it inside `with "
                "WorkerPool(...) as pool:` or call pool.start()"
            )
        if self._busy:
            raise ExecutionError(
                "the worker pool is running another sweep; one sweep at a time uses a pool"
            )
        if workers is not None and workers > len(self._actors):
            raise ExecutionError(
                f"workers={workers} but the pool has {len(self._actors)} "
                "workers; start the pool with more"
            )
        self._busy = True
        return list(self._actors[: workers or len(self._actors)]), dict(self._options)

    def release(self, actors: Sequence[Any], busy: Sequence[bool]) -> None:
        """Take the sweep's actors back; one still running something is replaced."""
        try:
            if not self._actors:  # the pool was closed meanwhile: nothing to return them to
                self._actors = list(actors)
                self._end_actors()
                return
            for i, actor in enumerate(actors):
                if busy[i] or actor is None:
                    try:
                        if actor is not None:
                            ray.kill(actor, no_restart=True)
                    except Exception:  # already gone
                        pass
                    actor = self._new_actor()
                if i < len(self._actors):
                    self._actors[i] = actor
        finally:
            self._busy = False


class RayExecutor(_ActorOwner):
    """W long-lived :class:`~workers.actor.SweepWorker` actors fed with shards.

    Use as a context manager: actors start on entry and are killed on exit; Ray itself is
    shut down on exit only if this executor started it.
    """

    def __init__(
        self,
        objective: Objective,
        *,
        param_names: Sequence[str],
        workers: int | None = None,
        address: str | None = None,
        inflight: int = 2,
        data: Any = None,
        trial_timeout_s: float | None = None,
        max_worker_deaths: int = 2,
        worker_resources: dict[str, Any] | None = None,
        pool: WorkerPool | None = None,
    ) -> None:
        whole_number("workers", workers, minimum=1, allow_none=True)
        if pool is not None and (address is not None or worker_resources):
            raise ConfigError(
                "with pool=..., set address and worker_resources on the "
                "WorkerPool, not on the sweep"
            )
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
        self._pool = pool
        self._last: dict[int, Any] = {}  # worker index -> its latest shard's reference
        self.starting: dict[int, Any] = {}  # worker index -> ready ref of a replacement
        self._nodes: dict[int, Any] = {}  # worker index -> ref of the node it runs on
        self._grow_checked = 0.0
        self.startup_s = 0.0  # seconds from asking for the actors to the first one ready

    def __enter__(self) -> RayExecutor:
        if self._pool is None:
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
        try:
            payload = ray.cloudpickle.dumps(self._objective)
        except Exception as exc:
            raise ExecutionError(
                f"the objective cannot be sent to the workers ({type(exc).__name__}: {exc}); "
                "define it at module level or make what it captures picklable"
            ) from None
        if self._pool is not None:  # from here on, close() hands the actors back
            self._actors, options = self._pool.acquire(self._requested)
            self._count = len(self._actors)
        else:
            options, self._count = actor_options(self._resources, self._requested, self._address)
        self._names = [f"w{i}" for i in range(self._count)]
        paths = objective_import_paths(self._objective)
        # Shared data goes into the object store once; each actor reads it from there.
        data_ref = None if self._data is None else ray.put(self._data)
        self._spawn_args = (ray.remote(SweepWorker), options, payload, paths, data_ref)
        if self._pool is not None:  # the pool's workers take this sweep's objective
            loads = [
                a.load.remote(
                    payload,
                    name=self._names[i],
                    param_names=self._param_names,
                    import_paths=paths,
                    data=data_ref,
                )
                for i, a in enumerate(self._actors)
            ]
            self._last = dict(enumerate(loads))  # a load still running at close: replaced
            done, _ = ray.wait(loads, num_returns=len(loads), timeout=_READY_TIMEOUT_S)
            finished = set(done)
            # A pool worker that died since the last sweep is started afresh, not blamed
            # on the objective.
            ready = [
                self.replace_actor(i) if ref in finished and _died(ref) else ref
                for i, ref in enumerate(loads)
            ]
            _wait_ready(ready, self._count)
            self._nodes = {i: actor.node.remote() for i, actor in enumerate(self._actors)}
            self.starting.clear()  # every worker is up
            return
        self._actors = [None] * self._count
        ready = [self.replace_actor(i) for i in range(self._count)]
        # Work starts once one worker is up; the others join as they come up.
        _wait_ready(ready, self._count, first=True)
        self._grow_checked = time.monotonic()
        self.poll_started()

    def replace_actor(self, index: int, *, kill: bool = False) -> Any:
        """Start worker ``index`` (again): after it died, or to stop a trial past its limit.

        Returns a reference that resolves once the new worker is ready."""
        self._last.pop(index, None)  # the old worker's shard says nothing about the new one
        if kill and self._actors[index] is not None:
            try:
                ray.kill(self._actors[index], no_restart=True)
            except Exception:  # already gone
                pass
        remote_cls, options, payload, paths, data_ref = self._spawn_args
        self._actors[index] = remote_cls.options(**options).remote(
            payload,
            name=self._names[index],
            param_names=self._param_names,
            import_paths=paths,
            data=data_ref,
        )
        ready = self._actors[index].ready.remote()
        self._nodes[index] = self._actors[index].node.remote()
        self.starting[index] = ready
        return ready

    def poll_started(self) -> None:
        """Take the workers whose (re)start has finished off ``starting``. One whose start
        failed is taken off too: the work sent to it fails like any dead worker's, and is
        accounted for as such (no endless restarts of a worker that cannot load)."""
        if not self.starting:
            return
        refs = list(self.starting.values())
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=0)
        finished = set(done)
        for index in [i for i, ref in self.starting.items() if ref in finished]:
            del self.starting[index]

    @property
    def elastic(self) -> bool:
        """Whether the worker count follows the cluster (none asked for, no pool): a node
        that joins mid-sweep gets workers."""
        return self._requested is None and self._pool is None and bool(self._spawn_args)

    def grow(self) -> None:
        """Start more workers when the cluster has room for them (a node joined); checked
        every :data:`GROW_EVERY_S` seconds. Workers are never removed: one lost with its
        node is replaced, and waits for room."""
        if not self.elastic or time.monotonic() - self._grow_checked < GROW_EVERY_S:
            return
        self._grow_checked = time.monotonic()
        _, count = actor_options(self._resources, None, self._address)
        while len(self._actors) < min(count, MAX_WORKERS):
            self._names.append(f"w{len(self._actors)}")
            self._actors.append(None)
            self.replace_actor(len(self._actors) - 1)

    def node_lost(self, index: int) -> bool:
        """Whether worker ``index`` died with its node (not by its own doing)."""
        ref = self._nodes.get(index)
        if ref is None:
            return False
        try:
            node = ray.get(ref, timeout=0)
        except Exception:  # never answered: where it ran is unknown
            return False
        return any(n["NodeID"] == node and not n["Alive"] for n in ray.nodes())

    def submit(self, index: int, shard_id: int, items: list[Any]) -> Any:
        """Send a shard to worker ``index``; returns the reference to its result batch."""
        budgets = None if items[0].budget is None else [it.budget for it in items]
        states = None if budgets is None else [it.state for it in items]
        ref = self._actors[index].run_shard.remote(
            shard_id, [it.key for it in items], [it.config for it in items], budgets, states
        )
        self._last[index] = ref
        return ref

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
        if self._pool is not None:  # the workers go back to the pool, idle or replaced
            actors, self._actors = self._actors, []
            if actors:
                self._pool.release(actors, self._still_running(actors))
            return
        self._end_actors()

    def _still_running(self, actors: Sequence[Any]) -> list[bool]:
        """Per worker: must the pool replace it? Its latest call (a shard, or loading the
        objective) is unfinished - a sweep stopped early, an error - or its worker died."""
        busy = [False] * len(actors)
        refs = {i: ref for i, ref in self._last.items() if i < len(busy)}
        if refs:
            done, _ = ray.wait(list(refs.values()), num_returns=len(refs), timeout=0)
            finished = set(done)
            for i, ref in refs.items():
                busy[i] = ref not in finished or _died(ref)
        return busy

    def dispatch(self, should_stop: Callable[[], bool] | None = None) -> Any:
        """Run rounds' work on the workers (see :mod:`orchestrator.execution.round_runner`):
        workers pull shards as they finish; a worker that dies is replaced and its shard's
        configurations re-run; a trial past ``trial_timeout_s`` is stopped."""
        from orchestrator.execution.round_runner import RoundRunner

        return RoundRunner(self, should_stop)
