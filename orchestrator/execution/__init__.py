"""Execution: running a round's work, on Ray or in this process.

Owns everything that talks to Ray - connecting (local or a cluster address), the worker
pool and the Ray executor (``ray_executor``), the round runner that ships shards, gathers
batches and re-runs the work of a dead worker (``round_runner``), and the Jobs API client
(``jobs``) - plus the in-process executor (``serial``), which needs no cluster.

May import: ``loop/`` (round work and sharding), ``data/``, ``workers``, ray,
:mod:`orchestrator.errors`, :mod:`orchestrator.checks`, :mod:`orchestrator.redact`. This and
``workers.actor`` are the only code that imports Ray.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    # The Ray executors, loaded when asked for: importing this package does not import Ray.
    if name in ("RayExecutor", "WorkerPool"):
        from orchestrator.execution import ray_executor

        return getattr(ray_executor, name)
    raise AttributeError(f"module 'orchestrator.execution' has no attribute {name!r}")
