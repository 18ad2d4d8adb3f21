"""The public entry point: :func:`tune` runs (or resumes) a sweep.

It validates the arguments into a :class:`~orchestrator.loop.coordinator.SweepPlan`, creates (or
opens and locks) the run folder, starts the workers and hands over to the round loop.
"""

from __future__ import annotations

import os
import platform
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchestrator.checks import MAX_WORKERS, overlap_setting, whole_number
from orchestrator.data.filesystem import Location
from orchestrator.data.run_store import DONE_STATES, STATE_FINISHED, RunStore, reaching
from orchestrator.data.tune_result import TuneResult
from orchestrator.errors import ConfigError, SweepInterrupted
from orchestrator.loop.coordinator import (
    Executor,
    RoundReport,
    SweepPlan,
    resolve_overlap,
    run_sweep,
    utc_now,
)
from orchestrator.redact import redact_record, redact_uri
from orchestrator.search.edits import Edit
from orchestrator.search.fidelity import Budget
from orchestrator.search.narrowing import NarrowingRule, make_rule
from orchestrator.search.pareto import check_weights, resolve
from orchestrator.search.samplers.base import Sampler
from orchestrator.search.samplers.registry import DEFAULT_SAMPLER, make_sampler, resolve_sampler
from orchestrator.search.space import Dimension, SearchSpace, as_space
from orchestrator.search.specs import narrowing_to_dict, space_to_dict
from orchestrator.search.stages import Stages, parse_stages, stages_to_dict
from orchestrator.search.stopping import StopRule
from workers.evaluate import Objective
from workers.multi_objective import MultiObjective
from workers.state import takes_state

if TYPE_CHECKING:
    from orchestrator.execution.ray_executor import WorkerPool

#: Settings a resumed sweep must share with the run it continues (else configurations differ).
RESUME_KEYS = (
    "mode",
    "space",
    "rounds",
    "samples_per_round",
    "seed",
    "sampler",
    "narrowing",
    "budget",
    "tolerance",
    "patience",
    "stages",
    "edits",
    "overlap",
    "objectives",
    "pick",
)


def _versions() -> dict[str, str]:
    from importlib import metadata

    out = {"python": platform.python_version()}
    for dist in ("sweep-orchestrator", "ray", "numpy", "pyarrow", "scikit-learn", "scipy"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            pass
    return out


def new_run_dir(storage: str | os.PathLike, name: str) -> Path | str:
    """``storage/<name>-<UTC timestamp>``, with a suffix if that folder exists.

    ``storage`` may be a local folder or a URI (``s3://bucket/runs``); so is the result.
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    with reaching(storage):  # a StoreError naming the storage if it cannot be reached
        parent = Location.of(storage)
        base = parent.child(f"{name}-{stamp}")
        loc, i = base, 2
        while loc.exists() or RunStore.holds_run(loc):
            loc, i = parent.child(f"{name}-{stamp}-{i}"), i + 1
    return loc.as_path()


def _objective_label(objective: Any) -> str:
    if isinstance(objective, str):
        return objective
    module = getattr(objective, "__module__", "?")
    return f"{module}:{getattr(objective, '__qualname__', repr(objective))}"


def tune(
    objective: Objective,
    space: SearchSpace | Mapping[str, Dimension],
    *,
    mode: str | Sequence[str],
    rounds: int = 8,
    samples_per_round: int = 32,
    seed: int = 0,
    workers: int | None = None,
    address: str | None = None,
    run_dir: str | os.PathLike | None = None,
    sampler: str | Sampler = DEFAULT_SAMPLER,
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
    trial_timeout_s: float | None = None,
    resume: bool = False,
    should_stop: Callable[[], bool] | None = None,
    worker_resources: dict[str, Any] | None = None,
    stages: Stages = None,
    edits: Any = (),
    initial_decisions: Any = (),
    review: Callable[..., Any] | None = None,
    pool: WorkerPool | None = None,
    stop_after_round: int | None = None,
    finished_state: str = STATE_FINISHED,
    overlap: int | str = "auto",
    objectives: Sequence[str] | None = None,
    pick: Mapping[str, Any] | None = None,
) -> TuneResult:
    """Run a coarse-to-fine sweep and return its :class:`TuneResult`.

    ``objective(config) -> float | dict`` scores one configuration on validation data (a
    dict carries ``score`` plus extra metrics). ``mode`` ("min" or "max") is required.
    Without ``address`` (and without an existing ``ray.init``), a local Ray starts for the
    sweep and stops after it; ``workers`` defaults to every CPU Ray reports. Results go to
    ``run_dir`` (default: ``storage/<name>-<timestamp>``).

    ``data`` (optional) is put into the Ray object store once and handed to every worker,
    which runs ``objective.bind(data)``; estimator tasks use it for their tuning rows.

    ``budget=(min, max)`` (or a :class:`~orchestrator.search.fidelity.Budget`) makes the sweep
    multi-fidelity: the objective is called as ``objective(config, budget)``, each round runs
    successive halving from a base budget that rises with the rounds, narrowing ranks only
    trials of equal budget, and the best is always a full-budget score.

    ``trial_timeout_s`` stops an objective that runs longer (its row is ``timeout``).
    ``resume=True`` continues the run in ``run_dir`` (same settings): committed rounds are
    not re-run and the configurations are those an uninterrupted run would have sampled; a
    finished run is returned unchanged. ``should_stop`` is polled; when it returns True the
    sweep stops after committing what finished (raising ``SweepInterrupted``).

    ``overlap``: how many rounds may run beside the oldest unfinished one, so workers never
    wait at a round's end. Round k samples in ranges proposed from rounds before
    k - overlap, so the configurations depend on the seed, the settings and ``overlap`` -
    never on the number of workers or the order results arrive in. ``"auto"`` chooses it
    from the number of workers (0 with one worker; enough rounds in flight to hold about
    twice as many configurations as workers, at least 1); the choice is recorded in the
    run (``overlap`` in ``run.json``) and a resume keeps it. 0: every round waits for the
    one before it (synchronous rounds).

    ``objectives=["val_loss", "latency_ms"]`` with ``mode=["min", "min"]`` makes the sweep
    multi-objective: the objective returns a dict holding each objective; narrowing keeps the
    best trials in Pareto order (non-dominated first, crowding breaking ties);
    ``result.pareto_front()`` gives the front. ``best_config`` is the front's member best on
    the first objective, or, with ``pick={"weights": {"val_loss": 1, "latency_ms": 0.01}}``,
    the one with the least weighted sum (a ``max`` objective counts negated). The ``score``
    column is the objective's own ``score`` if it returns one, else the first objective.

    ``pool`` (a running :class:`~orchestrator.execution.ray_executor.WorkerPool`) runs the
    sweep on the pool's workers instead of starting new ones, which saves Ray's actor start
    (0.3-0.9 s) on every sweep after the pool's first; ``workers`` may then ask for fewer
    than the pool has.

    >>> f = lambda c: (c["x"] - 0.3) ** 2
    >>> result = tune(f, {"x": Float(0, 1)}, mode="min")  # doctest: +SKIP
    >>> result.best_config  # doctest: +SKIP
    {'x': 0.3001...}
    """
    if not (
        callable(objective) or (data is not None and callable(getattr(objective, "bind", None)))
    ):
        raise ConfigError(f"objective must be callable, got {objective!r}")
    try:
        parsed_budget = Budget.parse(budget)
        score_mode, parsed_objectives = resolve(mode, objectives)
        weights = None
        if pick is not None:
            if parsed_objectives is None:
                raise ValueError("pick: chooses among a front; it needs several objectives")
            if not isinstance(pick, Mapping) or set(pick) != {"weights"}:
                raise ValueError(f"pick: expected {{weights: {{name: weight}}}}, got {pick!r}")
            weights = check_weights(dict(pick["weights"] or {}), parsed_objectives)
        if parsed_objectives is not None:
            clash = set(parsed_objectives.names) & set(as_space(space).names)
            if clash:
                raise ValueError(
                    f"objectives: {sorted(clash)[0]!r} is also a parameter; an objective needs "
                    "a name of its own"
                )
        plan = SweepPlan(
            space=as_space(space),
            mode=score_mode,
            objectives=parsed_objectives,
            weights=weights,
            samples_per_round=samples_per_round,
            seed=seed,
            stop=StopRule(rounds=rounds, tolerance=tolerance, patience=patience),
            sampler=make_sampler(resolve_sampler(sampler, parsed_budget)),
            rule=make_rule(narrowing),
            budget=parsed_budget,
            stages=stages
            if not isinstance(stages, (str, list, dict))
            else parse_stages(stages, as_space(space)),
            edits=tuple(e if isinstance(e, Edit) else Edit.from_dict(e) for e in edits or ()),
            initial_decisions=tuple(initial_decisions),
        )
    except ConfigError:
        raise
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if trial_timeout_s is not None and not trial_timeout_s > 0:
        raise ConfigError(f"trial_timeout_s must be > 0 seconds, got {trial_timeout_s!r}")
    whole_number("workers", workers, minimum=1, maximum=MAX_WORKERS, allow_none=True)
    overlap = overlap_setting(overlap)
    record = config_record or {
        "name": name,
        "objective": _objective_label(objective),
        "mode": list(mode) if isinstance(mode, (list, tuple)) else mode,
        "space": space_to_dict(plan.space),
        "rounds": rounds,
        "samples_per_round": samples_per_round,
        "seed": seed,
        "workers": workers,
        "sampler": plan.sampler.name if hasattr(plan.sampler, "name") else repr(sampler),
        "narrowing": narrowing_to_dict(plan.rule),
        "tolerance": tolerance,
        "patience": patience,
        "budget": plan.budget.to_dict() if plan.budget else None,
        "trial_timeout_s": trial_timeout_s,
        "stages": stages_to_dict(plan.stages),
        "edits": [e.to_dict() for e in plan.edits],
        "overlap": overlap,
    }
    if parsed_objectives is not None and config_record is None:
        record["objectives"] = list(parsed_objectives.names)
        record["pick"] = {"weights": weights} if weights else None
    if parsed_objectives is not None and not isinstance(objective, MultiObjective):
        objective = MultiObjective(objective, parsed_objectives.names)
    if executor is None:
        from orchestrator.execution.ray_executor import RayExecutor

        executor = RayExecutor(
            objective,
            param_names=plan.space.names,
            workers=workers,
            address=address,
            data=data,
            trial_timeout_s=trial_timeout_s,
            worker_resources=worker_resources,
            pool=pool,
        )
    hooks = (on_round, on_progress, should_stop, review, stop_after_round, finished_state, overlap)
    if resume:
        if run_dir is None:
            raise ConfigError("resume=True needs the run_dir of the sweep to continue")
        store = _reopen(run_dir, record)
        if store.metadata().get("state") in DONE_STATES:
            return TuneResult.load(store.run_dir)
        with store.locked():
            return _run_locked(plan, executor, store, *hooks)
    run_dir = run_dir if run_dir is not None else new_run_dir(storage, name)
    if RunStore.holds_run(run_dir):
        RunStore.create(run_dir, {})  # raises: that folder holds a run already
    with executor as running:  # workers up (or a clear error) before anything is written
        store = RunStore.create(
            run_dir,
            {
                "format": 1,
                "sweep_id": f"{name}-{secrets.token_hex(4)}",
                "name": name,
                "state": "running",
                "created_at": utc_now(),
                "config": redact_record(record),
                "versions": _versions(),
                "address": redact_uri(address),
                "host": platform.node(),
                "continues": _continues(objective, plan.budget),
            },
        )
        with store.locked():
            return _run_locked(plan, running, store, *hooks)


def _continues(objective: Any, budget: Any) -> str | None:
    """How a promoted configuration goes on (recorded in run.json; None without a budget)."""
    if budget is None:
        return None
    continuation = getattr(objective, "continuation", None)
    if callable(continuation):  # an estimator task
        mode = continuation()
        if mode is None:
            return "restarts: this estimator and budget parameter cannot warm-start"
        return f"continues: warm_start, the budget parameter counting the {mode}"
    if takes_state(objective):
        return "continues: from the state the rung below returned"
    if callable(getattr(objective, "bind", None)):  # what it binds to data decides
        return "continues if the objective bound to the data takes a state"
    return "restarts: the objective takes no state"


def _reopen(run_dir: str | os.PathLike, record: dict[str, Any]) -> RunStore:
    """Open a run to resume; its settings must match (else it would sample other configs)."""
    store = RunStore.open(run_dir)
    stored = store.metadata().get("config", {})
    for key in RESUME_KEYS:
        if key in stored and _normal(stored.get(key)) != _normal(record.get(key)):
            raise ConfigError(
                f"cannot resume {run_dir}: it was started with {key}={stored.get(key)!r}, "
                f"not {record.get(key)!r}; resume with the run's own settings "
                f"(sweep resume {run_dir})"
            )
    return store


def _normal(value: Any) -> Any:
    """A comparable form of a config value (JSON round-trip: tuples become lists; the order
    of keys is kept, as the order of parameters decides what is sampled)."""
    import json

    normal = json.loads(json.dumps(value, default=str))
    return list(normal.items()) if isinstance(normal, dict) else normal


def _run_locked(
    plan: SweepPlan,
    executor: Executor,
    store: RunStore,
    on_round: Callable[[RoundReport], None] | None,
    on_progress: Callable[[int, int, int, int], None] | None,
    should_stop: Callable[[], bool] | None,
    review: Callable[..., Any] | None = None,
    stop_after_round: int | None = None,
    finished_state: str = STATE_FINISHED,
    overlap: int | str = "auto",
    objectives: Sequence[str] | None = None,
    pick: Mapping[str, Any] | None = None,
) -> TuneResult:
    meta = store.update_metadata(
        state="running", pid=os.getpid(), host=platform.node(), updated_at=utc_now()
    )
    try:
        with _started(executor) as running:
            if review is not None and overlap == "auto":
                overlap = 0  # each round is reviewed before the next one starts
            plan = replace(plan, overlap=_run_overlap(store, meta, overlap, running.workers, plan))
            store.update_metadata(
                workers=running.workers,
                workers_start_s=round(running.startup_s, 4),
                overlap=plan.overlap,
            )
            return run_sweep(
                plan,
                running,
                store,
                sweep_id=meta["sweep_id"],
                on_round=on_round,
                on_progress=on_progress,
                should_stop=should_stop,
                review=review,
                stop_after_round=stop_after_round,
                finished_state=finished_state,
            )
    except (KeyboardInterrupt, SweepInterrupted):
        store.update_metadata(state="interrupted", updated_at=utc_now())
        raise
    except BaseException as exc:
        store.update_metadata(
            state="failed", error=redact_uri(f"{type(exc).__name__}: {exc}"), updated_at=utc_now()
        )
        raise


def _run_overlap(
    store: RunStore, meta: dict[str, Any], setting: int | str, workers: int, plan: SweepPlan
) -> int:
    """The run's overlap: the one it recorded (a resume on another number of workers
    samples what the first start would have), else the setting resolved now. A run from
    before rounds overlapped ran them one after the other."""
    recorded = meta.get("overlap")
    if recorded is not None:
        return int(recorded)
    if store.has_rounds() or store.has_partials(0):
        return 0
    return resolve_overlap(setting, workers, plan.samples_per_round)


@contextmanager
def _started(executor: Executor) -> Iterator[Executor]:
    """Enter the executor unless it is running already (a new run starts it earlier)."""
    if getattr(executor, "running", False):
        yield executor
        return
    with executor as running:
        yield running


__all__ = ["new_run_dir", "tune"]
