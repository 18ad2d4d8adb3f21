"""Sweep configs: YAML (read with a safe loader) or a mapping, validated into a frozen plan.

Shape (defaults for everything but ``objective``, ``mode`` and ``space``)::

    name: quadratic
    objective: "mypackage.objectives:train_and_score"
    mode: min
    space:
      lr:     {type: float, low: 1e-5, high: 1e-1, log: true}
      layers: {type: int, low: 1, high: 4, hard_low: 1}
      act:    {type: choice, values: [relu, tanh]}
    rounds: 8
    samples_per_round: 32
    seed: 0
    workers: 2            # default: every CPU Ray reports
    sampler: auto         # guided (auto without a budget), random (auto with one), sobol, grid
    storage: runs         # each run writes runs/<name>-<timestamp>/
    narrowing: elite_box  # or none, or {rule: elite_box, elite_fraction: 0.2, ...}
    tolerance: 0.02       # converged when every numeric range is this narrow
    patience: null        # stop after this many rounds without improvement
    trial_timeout_s: null # stop an objective that runs longer (its row: timeout)
    overlap: auto         # rounds running beside the oldest unfinished one (0: one at a time)

Several objectives: ``objectives: [val_loss, latency_ms]`` (keys of the dict the objective
returns) with ``mode: [min, min]`` (one direction each), and optionally ``pick: {weights:
{val_loss: 1, latency_ms: 0.01}}`` (which member of the Pareto front is the result; default:
the best on the first objective). See :mod:`orchestrator.search.pareto`.

``objective`` may instead be an estimator task (a mapping; see
:mod:`orchestrator.sklearn.estimator_tasks`): a scikit-learn estimator, a dataset, a split
with a sealed test set. ``mode`` then defaults to ``max``.

Every error is a :class:`~orchestrator.errors.ConfigError` naming the key, the value and
the fix; unknown keys get a did-you-mean suggestion.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orchestrator.checks import (
    MAX_ROUNDS,
    MAX_SAMPLES_PER_ROUND,
    MAX_WORKERS,
    check_keys,
    number,
    overlap_setting,
    suggest,
    whole_number,
)
from orchestrator.config.objectives import resolve_objective
from orchestrator.config.safe_yaml import read_yaml_file
from orchestrator.config.sections import (
    check_storage_scheme,
    parse_edits,
    parse_warm_start,
    parse_worker_resources,
)
from orchestrator.errors import ConfigError
from orchestrator.search.fidelity import Budget
from orchestrator.search.narrowing import EliteBox, NarrowingRule
from orchestrator.search.pareto import Objectives, check_weights, resolve
from orchestrator.search.samplers.base import Sampler
from orchestrator.search.samplers.grid import GridSampler
from orchestrator.search.samplers.registry import DEFAULT_SAMPLER, SAMPLERS
from orchestrator.search.space import SearchSpace
from orchestrator.search.specs import (
    narrowing_to_dict,
    parse_narrowing,
    parse_space,
    space_to_dict,
)
from orchestrator.search.stages import Stages, parse_stages, stages_to_dict

MODES = ("min", "max")


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    seconds = number("trial_timeout_s", value)
    if not math.isfinite(seconds):
        raise ConfigError(
            f"trial_timeout_s: must be a finite number of seconds, got {value!r}; "
            "leave it out for no limit"
        )
    if seconds <= 0:
        raise ConfigError(f"trial_timeout_s: must be > 0 seconds, got {value!r}")
    return seconds


def _grid(sampler: str, points: int, space: SearchSpace, n: Any) -> Any:
    """``sampler: grid`` checked up front: the first round's grid must fit in a round."""
    if sampler != "grid":
        return sampler
    from orchestrator.search.samplers.grid import grid_size

    size = grid_size(space, points)
    if size > n:
        raise ConfigError(
            f"sampler: the grid has {size} configurations with grid_points={points}, more than "
            f"samples_per_round={n}; lower grid_points or raise samples_per_round"
        )
    return GridSampler(points)


def _stages(spec: Any, space: SearchSpace) -> Any:
    return parse_stages(spec, space)


# -- the whole config --------------------------------------------------------------------
_TOP_KEYS = (
    "name",
    "objective",
    "mode",
    "space",
    "rounds",
    "samples_per_round",
    "seed",
    "workers",
    "sampler",
    "storage",
    "narrowing",
    "tolerance",
    "patience",
    "budget",
    "trial_timeout_s",
    "worker_resources",
    "stages",
    "grid_points",
    "edits",
    "warm_start",
    "overlap",
    "objectives",
    "pick",
)


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep config. ``objective`` stays an import path until ``load_objective``."""

    name: str
    objective: Any  # "module:function", or an EstimatorTask
    mode: str | list[str]  # a list: one direction per objective
    space: SearchSpace
    rounds: int = 8
    samples_per_round: int = 32
    seed: int = 0
    workers: int | None = None
    sampler: str | Sampler = DEFAULT_SAMPLER  # a name in SAMPLERS (grid: a GridSampler)
    storage: str = "runs"
    narrowing: NarrowingRule = dataclasses.field(default_factory=EliteBox)
    tolerance: float = 0.02
    patience: int | None = None
    budget: Budget | None = None
    trial_timeout_s: float | None = None
    worker_resources: dict[str, Any] | None = None
    stages: Stages = None
    edits: tuple[Any, ...] = ()  # written by `sweep continue` (extend.Edit)
    warm_start: dict[str, Any] | None = None  # {run, parameters}: where the ranges came from
    overlap: int | str = "auto"  # rounds beside the oldest unfinished one ("auto": by workers)
    objectives: list[str] | None = None  # several objectives: the names the result holds
    pick: dict[str, Any] | None = None  # {weights: {name: w}}: how the front's result is picked

    def load_objective(self) -> Callable[..., Any]:
        """The objective function (function objectives; estimator tasks use ``prepare``)."""
        if not isinstance(self.objective, str):
            raise ConfigError("objective: an estimator task has no function to import")
        return resolve_objective(self.objective)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config, defaults filled in, as plain data."""
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        if not isinstance(self.objective, str):
            out["objective"] = self.objective.to_dict()
        out["space"] = space_to_dict(self.space)
        out["narrowing"] = narrowing_to_dict(self.narrowing)
        if not isinstance(self.sampler, str):
            out["sampler"] = self.sampler.name
            if isinstance(self.sampler, GridSampler):
                out["grid_points"] = self.sampler.points
        out["budget"] = self.budget.to_dict() if self.budget is not None else None
        out["stages"] = stages_to_dict(self.stages)
        out["edits"] = [e.to_dict() for e in self.edits]
        return out


def parse_config(data: Any, *, default_name: str = "sweep") -> SweepConfig:
    """Validate a config mapping (as read from YAML) into a :class:`SweepConfig`."""
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"a config must be a mapping of keys to values, got {type(data).__name__}"
        )
    check_keys("config", data, _TOP_KEYS)
    objective = data.get("objective")
    estimator_task = isinstance(objective, Mapping)
    for key in ("objective", "space") if estimator_task else ("objective", "mode", "space"):
        if key not in data:
            hint = {
                "objective": "an import path like 'mypackage.objectives:train'",
                "mode": "'min' or 'max' (never guessed)",
                "space": "a mapping of parameter names to ranges",
            }[key]
            raise ConfigError(f"config: missing required key {key!r}: {hint}")
    objectives = data.get("objectives")
    mode = data.get("mode", "max" if objectives is None else None)
    try:
        score_mode, parsed_objectives = resolve(mode, objectives)
        weights = _pick(data.get("pick"), parsed_objectives)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if parsed_objectives is None and mode not in MODES:
        raise ConfigError(f"mode: expected 'min' or 'max', got {mode!r}")
    if estimator_task:  # a list of subspaces too, which the task keeps (task_space)
        from orchestrator.sklearn.estimator_tasks import task_space

        objective, space = task_space(objective, data["space"])
    elif isinstance(data["space"], list):
        raise ConfigError(
            "space: a list of subspaces is for estimator tasks (one per estimator class); a "
            "function objective takes one mapping - give a parameter `when` to make it "
            "conditional"
        )
    else:
        space = parse_space(data["space"])
    budget = Budget.parse(data.get("budget"))
    if budget is not None and budget.param is not None and not estimator_task:
        raise ConfigError(
            "budget.param: only estimator tasks name a budget parameter; a function objective "
            "receives the budget as its second argument"
        )
    if isinstance(objective, Mapping):  # an estimator task
        from orchestrator.sklearn.estimator_tasks import EstimatorTask

        objective = EstimatorTask.parse(objective)
        objective.check_space(space.names)
        objective.check_budget(budget, space.names)
        if parsed_objectives is not None and "score" not in parsed_objectives.names:
            raise ConfigError(
                "objectives: an estimator task's objectives are columns of its rows: include "
                "'score' (its scoring) and add others such as fit_time or score_std"
            )
        if score_mode != "max":
            raise ConfigError(
                "mode: estimator tasks maximise their scoring (scikit-learn scores are "
                "greater-is-better; losses come negated, e.g. neg_log_loss): use mode: max"
            )
    elif not isinstance(objective, str) or objective.count(":") != 1:
        raise ConfigError(
            "objective: expected an import path 'module:function' or an estimator task "
            f"mapping (estimator, dataset, ...), got {objective!r}"
        )
    name = data.get("name", default_name)
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
        raise ConfigError(f"name: expected letters, digits, '-', '_' or '.', got {name!r}")
    sampler = data.get("sampler", DEFAULT_SAMPLER)
    if not isinstance(sampler, str) or sampler not in SAMPLERS:
        raise ConfigError(
            f"sampler: unknown sampler {sampler!r}{suggest(sampler, tuple(SAMPLERS))}"
        )
    rounds = whole_number("rounds", data.get("rounds", 8), minimum=1, maximum=MAX_ROUNDS)
    samples = whole_number(
        "samples_per_round",
        data.get("samples_per_round", 32),
        minimum=1,
        maximum=MAX_SAMPLES_PER_ROUND,
        why=" (a round's most samples)",
    )
    points = whole_number(
        "grid_points",
        data.get("grid_points", 5),
        minimum=1,
        maximum=MAX_SAMPLES_PER_ROUND,
        why=" (a round's most samples)",
    )
    if "grid_points" in data and sampler != "grid":
        raise ConfigError("grid_points: only used with sampler: grid")
    storage = data.get("storage", "runs")
    if not isinstance(storage, str) or not storage:
        raise ConfigError(f"storage: expected a folder path, got {storage!r}")
    check_storage_scheme(storage)
    tolerance = number("tolerance", data.get("tolerance", 0.02))
    if not 0 <= tolerance < 1:
        raise ConfigError(f"tolerance: must be in [0, 1), got {tolerance}")
    return SweepConfig(
        name=name,
        objective=objective,
        mode=mode,
        space=space,
        rounds=rounds,
        samples_per_round=samples,
        seed=whole_number("seed", data.get("seed", 0), minimum=0),
        workers=whole_number(
            "workers",
            data.get("workers"),
            minimum=1,
            maximum=MAX_WORKERS,
            allow_none=True,
            why=" (more than a Ray cluster runs)",
        ),
        sampler=_grid(sampler, points, space, samples),
        storage=storage,
        narrowing=parse_narrowing(data.get("narrowing")),
        tolerance=tolerance,
        patience=whole_number("patience", data.get("patience"), minimum=1, allow_none=True),
        budget=budget,
        trial_timeout_s=_timeout(data.get("trial_timeout_s")),
        worker_resources=parse_worker_resources(data.get("worker_resources")),
        stages=_stages(data.get("stages"), space),
        edits=parse_edits(data.get("edits"), space),
        warm_start=parse_warm_start(data.get("warm_start"), space),
        overlap=overlap_setting(data.get("overlap")),
        objectives=list(parsed_objectives.names) if parsed_objectives else None,
        pick={"weights": weights} if weights else None,
    )


def _pick(spec: Any, objectives: Objectives | None) -> dict[str, float] | None:
    if spec is None:
        return None
    if objectives is None:
        raise ValueError("pick: chooses a result from a Pareto front; it needs `objectives`")
    if not isinstance(spec, Mapping) or set(spec) != {"weights"}:
        raise ValueError(f"pick: expected {{weights: {{objective: weight}}}}, got {spec!r}")
    return check_weights(spec["weights"], objectives)


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a YAML config file; every problem is a one-line ConfigError."""
    path = Path(path)
    data = read_yaml_file(path)
    try:
        return parse_config(
            data, default_name=re.sub(r"[^A-Za-z0-9_.-]", "-", path.stem) or "sweep"
        )
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
