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

``objective`` may instead be an estimator task (a mapping; see :mod:`orchestrator.tasks`):
a scikit-learn estimator, a dataset, a split with a sealed test set. ``mode`` then defaults
to ``max``.

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

import yaml

from .errors import ConfigError, did_you_mean, first_line
from .objectives import resolve_objective
from .narrowing import EliteBox, NarrowingRule, NoNarrowing
from .sampling import DEFAULT_SAMPLER, SAMPLERS
from .space import Choice, Dimension, Float, Int, SearchSpace

MODES = ("min", "max")


#: Upper limits of the counts a config sets (a value past them is a typo, not a plan).
MAX_SAMPLES_PER_ROUND = 10**7
MAX_ROUNDS = 10**7
MAX_WORKERS = 10**5

_MERGE_TAG = "tag:yaml.org,2002:merge"


class _Loader(yaml.SafeLoader):
    """Safe YAML loader that also reads ``1e-5`` (no dot) as a number, as YAML 1.2 does.

    It refuses what a config never needs and what hides mistakes: a key given twice in one
    mapping (YAML would silently keep the last) and aliases (``*name``; a few hundred bytes
    of nested aliases expand to billions of values).
    """

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not accepted in a sweep config; write the "
                "value out in full", self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE_TAG:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    seen = key in first
                except TypeError:  # an unhashable key: the base class says so
                    continue
                if seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r} (first at line {first[key] + 1}); "
                        "keep one", key_node.start_mark)
                first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _suggest(key: str, allowed: Any) -> str:
    return did_you_mean(key, allowed, f"; expected one of: {', '.join(allowed)}")


def _check_keys(where: str, mapping: Mapping, allowed: tuple[str, ...]) -> None:
    for key in mapping:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r}{_suggest(key, allowed)}")


def _where(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def _shown(value: Any) -> str:
    """A value for a message: short (a pasted 10**23 is not printed in full)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(where: str, value: Any, *, minimum: int | None = None, maximum: int | None = None,
         allow_none: bool = False, why: str = "") -> Any:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected a whole number, got {_shown(value)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}: must be >= {minimum}, got {_shown(value)}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{where}: must be <= {maximum}{why}, got {_shown(value)}")
    return value


def _number(where: str, value: Any, *, finite: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if finite and not math.isfinite(number):
        raise ConfigError(f"{where}: must be a finite number, got {_shown(value)}")
    return number


def _timeout(value: Any) -> float | None:
    if value is None:
        return None
    seconds = _number("trial_timeout_s", value)
    if not math.isfinite(seconds):
        raise ConfigError(f"trial_timeout_s: must be a finite number of seconds, got {value!r}; "
                          "leave it out for no limit")
    if seconds <= 0:
        raise ConfigError(f"trial_timeout_s: must be > 0 seconds, got {value!r}")
    return seconds


def _grid(sampler: str, points: int, space: SearchSpace, n: Any) -> Any:
    """``sampler: grid`` checked up front: the first round's grid must fit in a round."""
    if sampler != "grid":
        return sampler
    from .sampling import GridSampler, grid_size

    size = grid_size(space, points)
    if size > n:
        raise ConfigError(
            f"sampler: the grid has {size} configurations with grid_points={points}, more than "
            f"samples_per_round={n}; lower grid_points or raise samples_per_round"
        )
    return GridSampler(points)


_EDIT_KEYS = ("round", "bounds", "freeze", "release")


def _edit(where: str, spec: Any, space: SearchSpace) -> Any:
    from .extend import Edit, check_edit_values

    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected a mapping {{round, bounds, freeze, release}}, "
                          f"got {_shown(spec)}")
    _check_keys(where, spec, _EDIT_KEYS)
    if "round" not in spec:
        raise ConfigError(f"{where}: missing key 'round' (the round the edit applies to)")
    round_index = _int(f"{where}.round", spec["round"], minimum=1)
    bounds, freeze, release = spec.get("bounds") or {}, spec.get("freeze") or {}, \
        spec.get("release") or []
    for key, value in (("bounds", bounds), ("freeze", freeze)):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{where}.{key}: expected a mapping of parameter names, "
                              f"got {_shown(value)}")
    for name, pair in bounds.items():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ConfigError(f"{where}.bounds.{name}: expected a pair [low, high] (null keeps "
                              f"a side), got {_shown(pair)}")
    if isinstance(release, (str, bytes)) or not isinstance(release, (list, tuple)):
        raise ConfigError(f"{where}.release: expected a list of parameter names, "
                          f"got {_shown(release)}")
    edit = Edit(round_index, {str(k): tuple(v) for k, v in bounds.items()},
                {str(k): v for k, v in freeze.items()}, tuple(str(n) for n in release))
    try:
        check_edit_values(edit, space)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return edit


def _edits(spec: Any, space: SearchSpace) -> tuple[Any, ...]:
    """Edits written by ``sweep continue`` / ``--review``: checked against the space now, so a
    bad one is refused here rather than failing the sweep after its first round."""
    if spec is None:
        return ()
    if not isinstance(spec, (list, tuple)):
        raise ConfigError(f"edits: expected a list of edits (as `sweep continue` writes them), "
                          f"got {_shown(spec)}")
    return tuple(_edit(f"edits[{i}]", e, space) for i, e in enumerate(spec))


_WARM_KEYS = ("run", "parameters")


def _warm_start(spec: Any, space: SearchSpace) -> dict[str, Any] | None:
    """The record ``--warm-start`` writes: ``{run: RUN_DIR, parameters: [names]}``."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError("warm_start: expected a mapping {run: RUN_DIR, parameters: [names]} "
                          f"(written by sweep run --warm-start), got {_shown(spec)}")
    _check_keys("warm_start", spec, _WARM_KEYS)
    for key in _WARM_KEYS:
        if key not in spec:
            raise ConfigError(f"warm_start: missing key {key!r}")
    if not isinstance(spec["run"], str) or not spec["run"]:
        raise ConfigError(f"warm_start.run: expected a run folder, got {_shown(spec['run'])}")
    names = spec["parameters"]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"warm_start.parameters: expected a list of parameter names, "
                          f"got {_shown(names)}")
    for name in names:
        if name not in space:
            raise ConfigError(f"warm_start.parameters: unknown parameter {name!r}; the space has "
                              f"{', '.join(space)}")
    return {"run": spec["run"], "parameters": list(names)}


def _stages(spec: Any, space: SearchSpace) -> Any:
    from .stages import parse_stages

    return parse_stages(spec, space)


_RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources")
#: Names Ray keeps for itself inside ``resources`` (each has its own setting).
_RAY_OWN_RESOURCES = {"CPU": "num_cpus", "GPU": "num_gpus", "memory": "memory",
                      "object_store_memory": "nothing (the object store is shared)"}
_FINEST_FRACTION = 0.0001  # Ray counts resources in units of 1/10000


def _amount(where: str, value: Any) -> float:
    amount = _number(where, value, finite=True)
    if amount < 0:
        raise ConfigError(f"{where}: must be >= 0, got {_shown(value)}")
    if 0 < amount < _FINEST_FRACTION:
        raise ConfigError(f"{where}: Ray counts resources in steps of {_FINEST_FRACTION}, "
                          f"got {value!r}")
    return amount


def _worker_resources(spec: Any) -> dict[str, Any] | None:
    """``{num_cpus: 1, num_gpus: 0.25, memory: bytes, resources: {name: amount}}``: checked here
    the way Ray would check them when the first worker starts."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError(f"worker_resources: expected a mapping like {{num_cpus: 1, num_gpus: 0}}, "
                          f"got {_shown(spec)}")
    _check_keys("worker_resources", spec, _RESOURCE_KEYS)
    for key in ("num_cpus", "num_gpus", "memory"):
        if key in spec:
            _amount(f"worker_resources.{key}", spec[key])
    gpus = spec.get("num_gpus")
    if gpus is not None and gpus > 1 and float(gpus) != int(gpus):
        raise ConfigError(f"worker_resources.num_gpus: more than 1 GPU must be a whole number, "
                          f"got {gpus!r}")
    if "resources" in spec:
        custom = spec["resources"]
        if not isinstance(custom, Mapping):
            raise ConfigError("worker_resources.resources: expected a mapping of names to amounts, "
                              f"got {_shown(custom)}")
        for name, amount in custom.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(f"worker_resources.resources: resource names are text, "
                                  f"got {_shown(name)}")
            if name in _RAY_OWN_RESOURCES:
                raise ConfigError(f"worker_resources.resources: {name!r} is set with "
                                  f"{_RAY_OWN_RESOURCES[name]}, not inside resources")
            _amount(f"worker_resources.resources.{name}", amount)
        return {**spec, "resources": dict(custom)}
    return dict(spec)


# -- search space ------------------------------------------------------------------------
_NUMERIC_KEYS = ("type", "low", "high", "log", "hard_low", "hard_high")
_CHOICE_KEYS = ("type", "values")
_TYPES = ("float", "int", "choice")


def parse_dimension(name: str, spec: Any, where: str = "space") -> Dimension:
    """One parameter's spec (``{type: float, low: .., high: ..}``) -> a dimension."""
    here = _where(where, name)
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{here}: expected a mapping like {{type: float, low: 0.1, high: 1}}, got {spec!r}"
        )
    if "type" not in spec:
        raise ConfigError(f"{here}: missing key 'type' (one of: {', '.join(_TYPES)})")
    kind = spec["type"]
    if kind not in _TYPES:
        raise ConfigError(f"{here}.type: unknown parameter type {kind!r}{_suggest(kind, _TYPES)}")
    try:
        if kind == "choice":
            _check_keys(here, spec, _CHOICE_KEYS)
            if "values" not in spec:
                raise ConfigError(f"{here}: missing key 'values' (the list of choices)")
            return Choice(spec["values"], name=name)
        _check_keys(here, spec, _NUMERIC_KEYS)
        for key in ("low", "high"):
            if key not in spec:
                raise ConfigError(f"{here}: missing key {key!r}")
        cls = Float if kind == "float" else Int
        return cls(
            spec["low"],
            spec["high"],
            log=spec.get("log", False),
            hard_low=spec.get("hard_low"),
            hard_high=spec.get("hard_high"),
            name=name,
        )
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{here}: {exc}") from None


def parse_space(spec: Any, where: str = "space") -> SearchSpace:
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(f"{where}: expected a mapping of parameter names to specs, got {spec!r}")
    dims = {str(name): parse_dimension(str(name), s, where) for name, s in spec.items()}
    try:
        return SearchSpace(dims)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def dimension_to_dict(dim: Dimension) -> dict[str, Any]:
    if isinstance(dim, Choice):
        return {"type": "choice", "values": list(dim.values)}
    out: dict[str, Any] = {"type": dim.kind, "low": dim.low, "high": dim.high, "log": dim.log}
    for key in ("hard_low", "hard_high"):
        if getattr(dim, key) is not None:
            out[key] = getattr(dim, key)
    return out


def space_to_dict(space: SearchSpace) -> dict[str, dict[str, Any]]:
    """The inverse of :func:`parse_space` (used for run metadata)."""
    return {name: dimension_to_dict(dim) for name, dim in space.items()}


# -- narrowing ---------------------------------------------------------------------------
_RULE_FIELDS = tuple(f.name for f in dataclasses.fields(EliteBox))


def parse_narrowing(spec: Any, where: str = "narrowing") -> NarrowingRule:
    if spec is None or spec == "elite_box":
        return EliteBox()
    if spec == "none":
        return NoNarrowing()
    if isinstance(spec, str):
        raise ConfigError(
            f"{where}: unknown rule {spec!r}{_suggest(spec, ('elite_box', 'none'))}"
        )
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected 'elite_box', 'none' or a mapping, got {spec!r}")
    _check_keys(where, spec, ("rule", *_RULE_FIELDS))
    rule = spec.get("rule", "elite_box")
    if rule == "none":
        if len(spec) > 1:
            raise ConfigError(f"{where}: rule 'none' takes no settings")
        return NoNarrowing()
    if rule != "elite_box":
        raise ConfigError(f"{where}.rule: unknown rule {rule!r}; expected 'elite_box' or 'none'")
    settings = {k: v for k, v in spec.items() if k != "rule"}
    if isinstance(settings.get("shrink"), list):
        settings["shrink"] = tuple(settings["shrink"])
    try:
        return EliteBox(**settings)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def narrowing_to_dict(rule: NarrowingRule) -> Any:
    if isinstance(rule, NoNarrowing):
        return "none"
    if isinstance(rule, EliteBox):
        return {"rule": "elite_box", **{k: getattr(rule, k) for k in _RULE_FIELDS}}
    return repr(rule)


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
)


@dataclass(frozen=True)
class SweepConfig:
    """A validated sweep config. ``objective`` stays an import path until ``load_objective``."""

    name: str
    objective: Any  # "module:function", or an EstimatorTask
    mode: str
    space: SearchSpace
    rounds: int = 8
    samples_per_round: int = 32
    seed: int = 0
    workers: int | None = None
    sampler: Any = DEFAULT_SAMPLER  # a name in SAMPLERS ("grid": a GridSampler once parsed)
    storage: str = "runs"
    narrowing: NarrowingRule = dataclasses.field(default_factory=EliteBox)
    tolerance: float = 0.02
    patience: int | None = None
    budget: Any = None  # a fidelity.Budget, or None
    trial_timeout_s: float | None = None
    worker_resources: dict[str, Any] | None = None
    stages: Any = None  # stages.Stage tuple or stages.AutoStages
    edits: tuple[Any, ...] = ()  # written by `sweep continue` (extend.Edit)
    warm_start: dict[str, Any] | None = None  # {run, parameters}: where the ranges came from

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
            if self.sampler.name == "grid":
                out["grid_points"] = self.sampler.points
        out["budget"] = self.budget.to_dict() if self.budget is not None else None
        from .stages import stages_to_dict

        out["stages"] = stages_to_dict(self.stages)
        out["edits"] = [e.to_dict() for e in self.edits]
        return out


def parse_config(data: Any, *, default_name: str = "sweep") -> SweepConfig:
    """Validate a config mapping (as read from YAML) into a :class:`SweepConfig`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"a config must be a mapping of keys to values, got {type(data).__name__}")
    _check_keys("config", data, _TOP_KEYS)
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
    mode = data.get("mode", "max")
    if mode not in MODES:
        raise ConfigError(f"mode: expected 'min' or 'max', got {mode!r}")
    space = parse_space(data["space"])
    from .fidelity import Budget

    budget = Budget.parse(data.get("budget"))
    if budget is not None and budget.param is not None and not estimator_task:
        raise ConfigError(
            "budget.param: only estimator tasks name a budget parameter; a function objective "
            "receives the budget as its second argument"
        )
    if estimator_task:
        from .tasks import EstimatorTask

        objective = EstimatorTask.parse(objective)
        objective.check_space(space.names)
        objective.check_budget(budget, space.names)
        if mode != "max":
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
        raise ConfigError(f"sampler: unknown sampler {sampler!r}{_suggest(sampler, tuple(SAMPLERS))}")
    rounds = _int("rounds", data.get("rounds", 8), minimum=1, maximum=MAX_ROUNDS)
    samples = _int("samples_per_round", data.get("samples_per_round", 32), minimum=1,
                   maximum=MAX_SAMPLES_PER_ROUND, why=" (a round's most samples)")
    points = _int("grid_points", data.get("grid_points", 5), minimum=1,
                  maximum=MAX_SAMPLES_PER_ROUND, why=" (a round's most samples)")
    if "grid_points" in data and sampler != "grid":
        raise ConfigError("grid_points: only used with sampler: grid")
    storage = data.get("storage", "runs")
    if not isinstance(storage, str) or not storage:
        raise ConfigError(f"storage: expected a folder path, got {storage!r}")
    _check_storage_scheme(storage)
    tolerance = _number("tolerance", data.get("tolerance", 0.02))
    if not 0 <= tolerance < 1:
        raise ConfigError(f"tolerance: must be in [0, 1), got {tolerance}")
    return SweepConfig(
        name=name,
        objective=objective,
        mode=mode,
        space=space,
        rounds=rounds,
        samples_per_round=samples,
        seed=_int("seed", data.get("seed", 0), minimum=0),
        workers=_int("workers", data.get("workers"), minimum=1, maximum=MAX_WORKERS,
                     allow_none=True, why=" (more than a Ray cluster runs)"),
        sampler=_grid(sampler, points, space, samples),
        storage=storage,
        narrowing=parse_narrowing(data.get("narrowing")),
        tolerance=tolerance,
        patience=_int("patience", data.get("patience"), minimum=1, allow_none=True),
        budget=budget,
        trial_timeout_s=_timeout(data.get("trial_timeout_s")),
        worker_resources=_worker_resources(data.get("worker_resources")),
        stages=_stages(data.get("stages"), space),
        edits=_edits(data.get("edits"), space),
        warm_start=_warm_start(data.get("warm_start"), space),
    )


#: URI schemes pyarrow's filesystem layer opens (a plain path needs none).
STORAGE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "file")


def _check_storage_scheme(storage: str) -> None:
    """An unknown ``scheme://`` is known to fail before anything runs: say so now."""
    from urllib.parse import urlsplit

    from .redact import redact_uri
    from .storage import is_uri

    if is_uri(storage):
        scheme = urlsplit(storage).scheme.lower()
        if scheme not in STORAGE_SCHEMES:
            raise ConfigError(
                f"storage: unknown filesystem {scheme!r} in {redact_uri(storage)!r}; use a folder "
                f"path or a URI starting with one of: {', '.join(s + '://' for s in STORAGE_SCHEMES)}"
            )


def load_config(path: str | Path) -> SweepConfig:
    """Read and validate a YAML config file; every problem is a one-line ConfigError."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(f"{path}: not UTF-8 text (line {line}, column {column}); "
                          "save it as UTF-8") from None
    try:
        data = yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = first_line(getattr(exc, "problem", None) or exc)
        raise ConfigError(f"{path}: not valid YAML{at}: {problem}") from None
    except RecursionError:
        raise ConfigError(f"{path}: not valid YAML: nested too deeply") from None
    if data is None:
        raise ConfigError(f"{path}: the file is empty")
    try:
        return parse_config(data, default_name=re.sub(r"[^A-Za-z0-9_.-]", "-", path.stem) or "sweep")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
