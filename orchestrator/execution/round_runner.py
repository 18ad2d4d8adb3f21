"""Rounds on Ray workers: shards out, batches back, faults handled (execution layer).

- Several rounds' work can be out at once (the coordinator overlaps rounds); a shard holds
  evaluations of one round, and the oldest round's work goes out first.
- Workers pull: each holds at most ``inflight`` shards; when one comes back, every worker
  with room gets the next shard.
- A worker that dies (killed, ``os._exit``, out of memory) is replaced. The shard it was
  running goes back to the queue, its configurations now one per shard, so the one that
  kills its worker is isolated; a configuration that kills its worker ``max_worker_deaths``
  times on its own gets a ``failed`` row ("worker died") instead of another try. Shards
  that were only queued on the dead worker go back without counting against anyone.
- With ``trial_timeout_s``, a configuration still running past the limit is stopped by
  killing its worker (which is replaced) and gets a ``timeout`` row.
- A worker whose node is lost (a spot instance taken back) is not to blame: the shards it
  held go back to the queue as they were and count against no configuration. Work goes
  only to workers that are up; a replacement gets work once it has started (never, if the
  cluster has no room left for it: the remaining workers finish the round).
- ``should_stop`` is polled; when it says so the rounds end early with
  :class:`~orchestrator.errors.SweepInterrupted` - everything finished was already handed
  to ``on_batch`` (and so committed).

Every evaluation ends with exactly one result row: ``RoundWork`` refuses a second one.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import ray
from ray.exceptions import OutOfMemoryError, RayActorError, RayTaskError, WorkerCrashedError

from orchestrator.errors import ExecutionError, SweepInterrupted, first_line
from orchestrator.loop.round_work import RoundWork, WorkItem
from orchestrator.loop.sharding import ShardSizer
from workers.evaluate import STATUS_FAILED, STATUS_TIMEOUT, batch_from_bytes, error_batch

_POLL_S = 0.2
_UNTIL_POLL_S = 0.01  # while the coordinator samples the next round
#: How long a round waits with every worker down (restarting, no room) before it gives up.
NO_WORKER_TIMEOUT_S = 300.0
_DIED = (RayActorError, WorkerCrashedError, OutOfMemoryError)


@dataclass
class _Round:
    work: RoundWork
    on_batch: Callable[[pa.RecordBatch], None]


@dataclass
class _Shard:
    shard_id: int
    worker: int
    tag: int  # the round its items belong to
    items: list[WorkItem]
    sent_at: float
    ref: Any = None
    alone: bool = False  # a retry: the only shard its worker holds, so a death is its own


class RoundRunner:
    """Runs rounds' work on the workers of a
    :class:`~orchestrator.execution.ray_executor.RayExecutor` (the coordinator's
    :class:`~orchestrator.loop.coordinator.Dispatch`)."""

    def __init__(self, executor: Any, should_stop: Callable[[], bool] | None) -> None:
        self.ex = executor
        self.should_stop = should_stop
        self.rounds: dict[int, _Round] = {}
        self.finished: list[int] = []
        self.sizer = ShardSizer(executor.workers, inflight=executor.inflight)
        self.queues: list[deque[_Shard]] = [deque() for _ in range(executor.workers)]
        self.pending: dict[Any, _Shard] = {}
        # (round, item) to send again: after a worker's own death one at a time (retry);
        # lost with a node, as they were (requeue)
        self.retry: deque[tuple[int, WorkItem]] = deque()
        self.requeue: deque[tuple[int, WorkItem]] = deque()
        self.deaths: dict[tuple[int, int], int] = {}
        self.waiting_since: float | None = None  # when the last worker went down

    def add(self, tag: int, work: RoundWork, on_batch: Callable[[pa.RecordBatch], None]) -> None:
        self.rounds[tag] = _Round(work, on_batch)

    # -- sending -------------------------------------------------------------------------
    def _ready_count(self) -> int:
        return sum(r.work.ready_count() for r in self.rounds.values())

    def _next_items(self) -> tuple[int, list[WorkItem]]:
        one = bool(self.ex.trial_timeout_s)  # with a time limit, each has its own clock
        if self.requeue:
            tag = self.requeue[0][0]
            size = 1 if one else self.sizer.next_size(len(self.requeue))
            items: list[WorkItem] = []
            while self.requeue and self.requeue[0][0] == tag and len(items) < size:
                items.append(self.requeue.popleft()[1])
            return tag, items
        for tag in sorted(self.rounds):
            work = self.rounds[tag].work
            if work.ready_count():
                return tag, work.take(1 if one else self.sizer.next_size(self._ready_count()))
        return -1, []

    def _has_work(self) -> bool:
        return bool(self.retry or self.requeue or self._ready_count())

    def fill(self) -> None:
        """Give every worker with room its next shard (least loaded first).

        Retries after a worker death go one configuration at a time to an idle worker, and
        nothing is queued behind them, so a second death is known to be theirs.
        """
        up = [w for w in range(len(self.queues)) if w not in self.ex.starting]
        for worker in sorted(up, key=lambda w: len(self.queues[w])):
            queue = self.queues[worker]
            if self.retry:
                if not queue:
                    tag, item = self.retry.popleft()
                    self._send(worker, tag, [item], alone=True)
                continue
            while len(queue) < self.ex.inflight and not (queue and queue[-1].alone):
                tag, items = self._next_items()
                if not items:
                    return
                self._send(worker, tag, items)

    def _grown(self) -> None:
        """Workers the executor added (a node joined) get queues of their own."""
        while len(self.queues) < self.ex.workers:
            self.queues.append(deque())

    def _send(self, worker: int, tag: int, items: list[WorkItem], alone: bool = False) -> None:
        shard = _Shard(self.ex.next_shard_id(), worker, tag, items, time.monotonic(), alone=alone)
        shard.ref = self.ex.submit(worker, shard.shard_id, items)
        self.queues[worker].append(shard)
        self.pending[shard.ref] = shard

    # -- receiving -----------------------------------------------------------------------
    def accept(self, tag: int, batch: pa.RecordBatch) -> None:
        round_ = self.rounds[tag]
        round_.work.record(batch)
        round_.on_batch(batch)
        if round_.work.finished():
            del self.rounds[tag]
            self.finished.append(tag)

    def _finished_shard(self, shard: _Shard) -> None:
        try:
            batch = batch_from_bytes(ray.get(shard.ref))
        except _DIED:
            self._collect_finished(shard.worker)  # results that made it out before the death
            node_lost = self.ex.node_lost(shard.worker)
            lost = [shard, *self._worker_lost(shard.worker, kill=False)]
            items = [(s.tag, i) for s in sorted(lost, key=lambda s: s.sent_at) for i in s.items]
            if node_lost:  # nobody's fault: the same work again, on the workers that are up
                self.requeue.extend(items)
            elif len(lost) == 1 and shard.alone:
                self._count_death(shard)  # it ran alone: the death is its own
            else:  # which configuration killed it is unknown: retry each on its own
                self.retry.extend(items)
            return
        except RayTaskError as exc:
            raise ExecutionError(
                f"worker {self.ex.names[shard.worker]} failed outside the objective on trials "
                f"{shard.items[0].key}..{shard.items[-1].key}: {first_line(exc)}"
            ) from None
        self.queues[shard.worker].remove(shard)
        self.sizer.observe(batch.num_rows, pc.sum(batch.column("duration_s")).as_py() or 0.0)
        self.accept(shard.tag, batch)

    def _collect_finished(self, worker: int) -> None:
        """Accept the worker's shards whose results are already in (not lost with it)."""
        held = [s for s in self.pending.values() if s.worker == worker]
        if not held:
            return
        ready, _ = ray.wait([s.ref for s in held], num_returns=len(held), timeout=0)
        for shard in held:
            if shard.ref not in ready:
                continue
            try:
                batch = batch_from_bytes(ray.get(shard.ref))
            except (*_DIED, RayTaskError):
                continue
            self.pending.pop(shard.ref, None)
            self.queues[worker].remove(shard)
            self.accept(shard.tag, batch)

    def _worker_lost(self, worker: int, *, kill: bool) -> list[_Shard]:
        """Replace a worker; return the shards it still held (oldest first)."""
        lost = sorted(
            (s for s in self.pending.values() if s.worker == worker), key=lambda s: s.sent_at
        )
        for shard in lost:
            self.pending.pop(shard.ref, None)
        self.queues[worker].clear()
        self.ex.replace_actor(worker, kill=kill)
        return lost

    def _count_death(self, shard: _Shard) -> None:
        gave_up = []
        for item in shard.items:
            key = (shard.tag, item.key)
            self.deaths[key] = self.deaths.get(key, 0) + 1
            if self.deaths[key] >= self.ex.max_worker_deaths:
                gave_up.append(item)
            else:
                self.retry.append((shard.tag, item))
        if gave_up:
            error = (
                f"worker died while running this configuration "
                f"({self.ex.max_worker_deaths} times); not retried again"
            )
            self.accept(
                shard.tag,
                error_batch(
                    [i.key for i in gave_up],
                    STATUS_FAILED,
                    error,
                    shard_id=shard.shard_id,
                    worker=self.ex.names[shard.worker],
                ),
            )

    def _started_workers(self) -> None:
        """Replacements that came up join in (work goes only to workers that are up, so a
        trial's clock never counts its worker's start); a node that joined gets workers."""
        self.ex.grow()
        self._grown()
        self.ex.poll_started()
        if len(self.ex.starting) < len(self.queues):
            self.waiting_since = None
        elif self.waiting_since is None:
            self.waiting_since = time.monotonic()
        elif time.monotonic() - self.waiting_since > NO_WORKER_TIMEOUT_S:
            raise ExecutionError(
                f"no worker has been up for {NO_WORKER_TIMEOUT_S:.0f} s: the cluster has no "
                "room left for them (nodes lost?); what finished is committed - resume the "
                "sweep once the cluster has room (sweep resume RUN_DIR)"
            )

    def _timeouts(self) -> None:
        limit = self.ex.trial_timeout_s
        now = time.monotonic()
        for worker, queue in enumerate(self.queues):
            if not queue or now - queue[0].sent_at <= limit:
                continue
            running, *queued = self._worker_lost(worker, kill=True)
            for other in queued:
                self.retry.extend((other.tag, item) for item in other.items)
            error = f"stopped after trial_timeout_s={limit:g} s"
            self.accept(
                running.tag,
                error_batch(
                    [i.key for i in running.items],
                    STATUS_TIMEOUT,
                    error,
                    shard_id=running.shard_id,
                    worker=self.ex.names[worker],
                ),
            )

    # -- the loop ------------------------------------------------------------------------
    def wait(self, until: Callable[[], bool] | None = None) -> list[int]:
        """Run until at least one round has all its results (the tags of those that do), or
        until ``until()`` is true (looked at every few milliseconds)."""
        self._started_workers()
        self.fill()
        polling = bool(self.ex.trial_timeout_s or self.should_stop or self.ex.elastic)
        while not self.finished and not (until is not None and until()):
            if not (self.pending or (self.ex.starting and self._has_work())):
                if until is not None:  # the next round is being sampled
                    time.sleep(_UNTIL_POLL_S)
                    continue
                raise RuntimeError("the rounds have evaluations that were never handed out")
            refs = list(self.pending) or list(self.ex.starting.values())
            timeout = _POLL_S if polling or self.ex.starting else None
            if until is not None:
                timeout = _UNTIL_POLL_S
            ready, _ = ray.wait(refs, num_returns=1, timeout=timeout)
            for ref in ready:
                shard = self.pending.pop(ref, None)
                if shard is not None:
                    self._finished_shard(shard)
            self._started_workers()
            if self.ex.trial_timeout_s:
                self._timeouts()
            if self.should_stop is not None and self.should_stop():
                raise SweepInterrupted("stopped on request; finished trials are committed")
            self.fill()
        done, self.finished = self.finished, []
        return done
