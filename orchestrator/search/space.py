"""Search spaces: what a hyperparameter may take, and in which scale it is searched.

Three kinds of dimension, each a frozen dataclass that validates itself on construction:

>>> Float(1e-5, 1e-1, log=True)          # searched in log10 space
>>> Int(16, 512, log=True)               # log-uniform integers
>>> Choice(["relu", "tanh"])

Numeric dimensions may carry hard limits (``hard_low`` / ``hard_high``): narrowing may grow a
range past the user's coarse bounds, but never past these. Log ranges are implicitly limited to
values > 0 (log integers to >= 1).

A :class:`SearchSpace` maps parameter names to dimensions, in the order given. Narrowing
returns a new space with the same dimensions and new bounds (``with_bounds``/``with_values``).

Conditional parameters: any dimension may carry ``when={"kernel": "poly"}`` (or a list of
values: ``when={"kernel": ["poly", "rbf"]}``; several keys must all hold). It is then active
only in configurations whose ``kernel`` choice is one of those values (and whose ``kernel``
is active itself, so conditions nest). An inactive parameter is absent from the
configuration the objective receives and null in the trial table. Conditions name choice
parameters of the same space and may not form a cycle.
"""

from __future__ import annotations

import dataclasses
import json
import math
import numbers
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np

from orchestrator.checks import suggest
from workers.evaluate import METRIC_PREFIX, RESERVED_COLUMNS


class _Inactive:
    """The value of a parameter whose condition does not hold (one instance: ``INACTIVE``)."""

    _instance: _Inactive | None = None

    def __new__(cls) -> _Inactive:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "INACTIVE"

    def __reduce__(self) -> str:
        return "INACTIVE"

    def __bool__(self) -> bool:
        return False


#: Stands for an inactive parameter in sampled columns (configurations leave it out).
INACTIVE = _Inactive()


def _label(name: str | None, kind: str) -> str:
    return f"parameter {name!r}" if name else f"{kind} parameter"


def _check_number(value: Any, field: str, name: str | None, kind: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(
            f"{_label(name, kind)}: `{field}` must be a number, got {value!r} "
            f"({type(value).__name__})"
        )
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{_label(name, kind)}: `{field}` must be finite, got {value!r}")
    return value


def choice_key(value: Any) -> str:
    """The text a choice value is compared by (1 and 1.0 are the same choice)."""
    return encode_choice(float(value) if _is_plain_number(value) else value)


Condition = tuple[tuple[str, tuple[Any, ...]], ...]


def _normalise_when(when: Any, name: str | None, kind: str) -> Condition:
    """``{"kernel": "poly"}`` / ``{"kernel": ["poly", "rbf"]}`` -> ``(("kernel", ("poly",
    "rbf")),)``, sorted by parent; a tuple already in that form passes through."""
    label = _label(name, kind)
    if when is None or (isinstance(when, (tuple, list, Mapping)) and len(when) == 0):
        return ()
    if isinstance(when, tuple) and all(
        isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], tuple) for item in when
    ):
        when = dict(when)
    if not isinstance(when, Mapping):
        raise ValueError(
            f"{label}: `when` must map a choice parameter to its value(s), like "
            f"{{kernel: poly}} or {{kernel: [poly, rbf]}}; got {when!r}"
        )
    out = []
    for parent, values in when.items():
        if not isinstance(parent, str) or not parent:
            raise ValueError(f"{label}: `when` names a parameter by its name, got {parent!r}")
        given = tuple(values) if isinstance(values, (list, tuple)) else (values,)
        if not given:
            raise ValueError(f"{label}: `when: {{{parent}: []}}` lists no value")
        for value in given:
            try:
                choice_key(value)
            except ValueError as exc:
                raise ValueError(f"{label}: `when`: {exc}") from None
        out.append((parent, tuple(native_value(v) for v in given)))
    return tuple(sorted(out, key=lambda item: item[0]))


def _describe_when(when: Condition) -> str:
    if not when:
        return ""
    parts = [
        f"{parent}={values[0]}"
        if len(values) == 1
        else f"{parent} in {{{', '.join(map(str, values))}}}"
        for parent, values in when
    ]
    return " and ".join(parts)


_N = TypeVar("_N", bound="_Numeric")


@dataclass(frozen=True)
class _Numeric:
    """Shared behaviour of :class:`Float` and :class:`Int` (not used directly)."""

    low: float
    high: float
    log: bool = False
    hard_low: float | None = None
    hard_high: float | None = None
    name: str | None = dataclasses.field(default=None, compare=False)
    when: Any = ()  # {"kernel": "poly"} given; kept as a Condition (see _normalise_when)

    kind = "numeric"
    _cell = 0  # integers own [v, v + 1) in the search scale

    def _validate(self) -> None:
        label = _label(self.name, self.kind)
        low = _check_number(self.low, "low", self.name, self.kind)
        high = _check_number(self.high, "high", self.name, self.kind)
        if not isinstance(self.log, bool):
            raise ValueError(f"{label}: `log` must be true or false, got {self.log!r}")
        if low > high:
            raise ValueError(
                f"{label}: `low` must be smaller than or equal to `high` (low={self.low!r}, "
                f"high={self.high!r}); swap them"
            )
        if self.log and low <= 0:
            raise ValueError(
                f"{label}: a log range needs `low` > 0 (low={self.low!r}, high={self.high!r}); "
                "use a positive lower bound or log: false"
            )
        hard_low, hard_high = self.hard_low, self.hard_high
        if hard_low is not None:
            hard_low = _check_number(hard_low, "hard_low", self.name, self.kind)
            if hard_low > low:
                raise ValueError(
                    f"{label}: `hard_low` must be <= `low` (hard_low={self.hard_low!r}, "
                    f"low={self.low!r})"
                )
        if hard_high is not None:
            hard_high = _check_number(hard_high, "hard_high", self.name, self.kind)
            if hard_high < high:
                raise ValueError(
                    f"{label}: `hard_high` must be >= `high` (hard_high={self.hard_high!r}, "
                    f"high={self.high!r})"
                )
        if self.log and hard_low is not None and hard_low <= 0:
            raise ValueError(
                f"{label}: a log range needs `hard_low` > 0 (hard_low={self.hard_low!r})"
            )
        object.__setattr__(self, "when", _normalise_when(self.when, self.name, self.kind))

    # -- scale ---------------------------------------------------------------------------
    def to_scaled(self, values: Any) -> np.ndarray:
        """Map native values to the search scale (log10 for log ranges)."""
        arr = np.asarray(values, dtype=float)
        return np.log10(arr) if self.log else arr

    def from_scaled(self, values: Any) -> np.ndarray:
        """Map search-scale values back to native values (floats; see ``Int.round``)."""
        arr = np.asarray(values, dtype=float)
        return np.power(10.0, arr) if self.log else arr

    @property
    def scaled_bounds(self) -> tuple[float, float]:
        """The range in the search scale (an integer ``v`` owns the cell ``[v, v + 1)``)."""
        lo, hi = self.to_scaled([self.low, self.high + self._cell])
        return float(lo), float(hi)

    @property
    def scaled_limits(self) -> tuple[float, float]:
        """Hard limits in the search scale; infinite where there is none."""
        lo = -math.inf if self.hard_low is None else float(self.to_scaled(self.hard_low))
        hi = (
            math.inf
            if self.hard_high is None
            else float(self.to_scaled(self.hard_high + self._cell))
        )
        return lo, hi

    def scaled_values(self, values: Any) -> np.ndarray:
        """Where values sit in the search scale (an integer at the centre of its cell)."""
        return self.to_scaled(np.asarray(values, dtype=float) + self._cell / 2)

    def cell_scaled(self, value: float) -> tuple[float, float]:
        """The search-scale interval a value owns: a point for floats, ``[v, v + 1)`` for ints."""
        lo, hi = self.to_scaled([value, value + self._cell])
        return float(lo), float(hi)

    def bounds_from_scaled(self, low: float, high: float) -> tuple[float, float]:
        """Native bounds of the search-scale interval ``[low, high]``, within hard limits."""
        lo, hi = (float(v) for v in self.from_scaled([low, high]))
        if self.hard_low is not None:
            lo = max(lo, self.hard_low)
        if self.hard_high is not None:
            hi = min(hi, self.hard_high + self._cell)
        return lo, hi

    def with_bounds(self: _N, low: float, high: float) -> _N:
        """The same dimension (scale, hard limits, name) over ``[low, high]``."""
        return dataclasses.replace(self, low=low, high=high)

    def describe(self) -> str:
        return f"[{format_number(self.low)}, {format_number(self.high)}]" + (
            " log" if self.log else ""
        )

    def condition(self) -> str:
        """When it is active, in words (``"kernel=poly"``); empty without a condition."""
        return _describe_when(self.when)


@dataclass(frozen=True)
class Float(_Numeric):
    """A real-valued hyperparameter in ``[low, high]``, searched in log10 space if ``log``."""

    kind = "float"

    def __post_init__(self) -> None:
        self._validate()
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))

    def sample_from_unit(self, u: np.ndarray) -> list[float]:
        lo, hi = self.scaled_bounds
        values = self.from_scaled(lo + u * (hi - lo))
        return [float(v) for v in np.clip(values, self.low, self.high)]


@dataclass(frozen=True)
class Int(_Numeric):
    """An integer hyperparameter in ``[low, high]`` (both included); log-uniform if ``log``."""

    kind = "int"
    _cell = 1

    def __post_init__(self) -> None:
        self._validate()
        label = _label(self.name, self.kind)
        for field in ("low", "high", "hard_low", "hard_high"):
            value = getattr(self, field)
            if value is not None and float(value) != int(value):
                raise ValueError(f"{label}: `{field}` must be a whole number, got {value!r}")
            if value is not None:
                object.__setattr__(self, field, int(value))

    def sample_from_unit(self, u: np.ndarray) -> list[int]:
        # Each integer gets the mass of [v, v + 1) in the chosen scale, so log-uniform
        # integers favour small values the way a log range should.
        lo, hi = self.scaled_bounds
        values = np.floor(self.from_scaled(lo + u * (hi - lo)))
        return [int(v) for v in np.clip(values, self.low, self.high)]

    def bounds_from_scaled(self, low: float, high: float) -> tuple[int, int]:
        """Integer bounds covering ``[low, high)`` in the search scale, rounded outward."""
        lo, hi = super().bounds_from_scaled(low, high)
        int_lo = int(math.floor(lo + 1e-9))
        int_hi = max(int_lo, int(math.ceil(hi - 1e-9)) - 1)
        if self.log:
            int_lo, int_hi = max(int_lo, 1), max(int_hi, 1)
        return int_lo, int_hi

    @property
    def scaled_limits(self) -> tuple[float, float]:
        lo, hi = super().scaled_limits
        if self.log:  # integers on a log scale stay >= 1
            lo = max(lo, 0.0)
        return lo, hi


def encode_choice(value: Any) -> str:
    """A canonical text form of a choice value (used for duplicates and storage)."""
    try:
        return json.dumps(value, sort_keys=True)
    except (TypeError, ValueError):
        raise ValueError(f"choice value {value!r} is not a plain YAML/JSON value") from None


@dataclass(frozen=True)
class Choice:
    """A categorical hyperparameter: one of ``values`` (strings, numbers, bools, None, lists)."""

    values: Sequence[Any]  # any sequence given; kept as a tuple
    name: str | None = dataclasses.field(default=None, compare=False)
    when: Any = ()  # {"kernel": "poly"} given; kept as a Condition (see _normalise_when)

    kind = "choice"
    log = False

    def __post_init__(self) -> None:
        label = _label(self.name, self.kind)
        if isinstance(self.values, (str, bytes)) or not isinstance(self.values, Sequence):
            raise ValueError(f"{label}: `values` must be a list of choices, got {self.values!r}")
        values = tuple(self.values)
        if not values:
            raise ValueError(f"{label}: `values` is empty; give at least one choice")
        seen: dict[str, Any] = {}
        for value in values:
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{label}: choice {value!r} is not a finite number")
            try:
                key = choice_key(value)
            except ValueError as exc:
                raise ValueError(f"{label}: {exc}") from None
            if key in seen:
                raise ValueError(f"{label}: duplicate choice {value!r} in values={list(values)!r}")
            seen[key] = value
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "when", _normalise_when(self.when, self.name, self.kind))

    def with_values(self, values: Sequence) -> Choice:
        return dataclasses.replace(self, values=tuple(values))

    def sample_from_unit(self, u: np.ndarray) -> list:
        idx = np.minimum((np.asarray(u) * len(self.values)).astype(int), len(self.values) - 1)
        return [native_value(self.values[i]) for i in idx]

    def describe(self) -> str:
        return "{" + ", ".join(str(v) for v in self.values) + "}"

    def condition(self) -> str:
        """When it is active, in words (``"kernel=poly"``); empty without a condition."""
        return _describe_when(self.when)


Dimension = Float | Int | Choice

#: Names a parameter may not take: they are columns of the trial table.
RESERVED_NAMES = RESERVED_COLUMNS


def _is_plain_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def native_value(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (list, tuple)):
        return [native_value(v) for v in value]
    return value


def format_number(x: float) -> str:
    if isinstance(x, (int, np.integer)) and not isinstance(x, bool):
        return str(int(x))
    return f"{x:.4g}"


class SearchSpace(Mapping):
    """An ordered, immutable mapping of parameter names to dimensions.

    >>> space = SearchSpace({"lr": Float(1e-4, 1e-1, log=True), "act": Choice(["relu", "tanh"])})
    >>> space.names
    ('lr', 'act')
    """

    __slots__ = ("_keys", "_order", "_params")
    _params: dict[str, Dimension]
    _order: tuple[str, ...]
    _keys: dict[str, list[tuple[str, frozenset[str]]]]

    def __init__(self, params: Mapping[str, Dimension], *, check_values: bool = True) -> None:
        """``check_values=False`` lets a condition name values its parent no longer offers
        (a narrowed space, where ``kernel: poly`` was pruned but ``degree`` keeps its
        condition); a space the user writes is checked."""
        if isinstance(params, SearchSpace):
            params = dict(params.items())
        if not isinstance(params, Mapping) or not params:
            raise ValueError("the search space is empty; give at least one parameter")
        bound: dict[str, Dimension] = {}
        for name, dim in params.items():
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(
                    f"parameter name {name!r} must be an identifier (letters, digits, _)"
                )
            if name in RESERVED_NAMES:
                raise ValueError(
                    f"parameter name {name!r} is taken by a column of the trial table; "
                    f"rename it (reserved: {', '.join(sorted(RESERVED_NAMES))})"
                )
            if name.startswith(METRIC_PREFIX):
                raise ValueError(
                    f"parameter name {name!r} starts with {METRIC_PREFIX!r}, which names the "
                    "columns of an objective's metrics; rename it"
                )
            if not isinstance(dim, (Float, Int, Choice)):
                raise ValueError(f"parameter {name!r}: expected Float, Int or Choice, got {dim!r}")
            bound[name] = dim if dim.name == name else dataclasses.replace(dim, name=name)
        object.__setattr__(self, "_params", bound)
        object.__setattr__(self, "_order", _condition_order(bound, check_values))
        object.__setattr__(self, "_keys", {n: _condition_keys(d) for n, d in bound.items()})

    def __setattr__(self, key: str, value: Any) -> None:
        raise AttributeError("SearchSpace is immutable; use replace()")

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt through __init__ (checked again), so a pickled space - a fitted
        # SweepSearchCV saved with joblib, say - loads.
        return (_rebuild, (dict(self._params),))

    def __getitem__(self, name: str) -> Dimension:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SearchSpace):
            return NotImplemented
        return list(self._params.items()) == list(other._params.items())

    def __hash__(self) -> int:
        return hash(tuple(self._params.items()))

    def __repr__(self) -> str:
        inner = ", ".join(
            f"{k}={v.describe()}" + (f" when {v.condition()}" if v.when else "")
            for k, v in self._params.items()
        )
        return f"SearchSpace({inner})"

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._params)

    def replace(self, **dims: Dimension) -> SearchSpace:
        """A new space with some dimensions replaced (names must exist)."""
        unknown = set(dims) - set(self._params)
        if unknown:
            raise KeyError(f"unknown parameters {sorted(unknown)}")
        return SearchSpace({**self._params, **dims}, check_values=False)

    @classmethod
    def narrowed(cls, params: Mapping[str, Dimension]) -> SearchSpace:
        """A space derived from a checked one (its conditions may name pruned values)."""
        return cls(params, check_values=False)

    # -- conditions ----------------------------------------------------------------------
    @property
    def conditional(self) -> bool:
        """Whether any parameter has a condition."""
        return any(dim.when for dim in self._params.values())

    def active(self, config: Mapping[str, Any]) -> dict[str, bool]:
        """Which parameters are active in ``config`` (parents before children)."""
        out: dict[str, bool] = {}
        for name in self._order:
            out[name] = all(
                out[parent]
                and config.get(parent, INACTIVE) is not INACTIVE
                and choice_key(config[parent]) in keys
                for parent, keys in self._keys[name]
            )
        return out

    def reachable(self) -> set[str]:
        """The parameters that can still be active: each condition names a value its parent
        (itself reachable) still offers. Narrowing can prune the value a condition needs."""
        out: set[str] = set()
        for name in self._order:
            if all(
                parent in out and any(choice_key(v) in keys for v in self._params[parent].values)  # type: ignore[union-attr]
                for parent, keys in self._keys[name]
            ):
                out.add(name)
        return out

    def mask(self, columns: Mapping[str, Sequence[Any]]) -> dict[str, list[Any]]:
        """Sampled columns with :data:`INACTIVE` where a parameter's condition fails."""
        out = {name: list(values) for name, values in columns.items()}
        if not self.conditional:
            return out
        names = list(self._params)
        n = len(out[names[0]]) if names else 0
        for i in range(n):
            active = self.active({name: out[name][i] for name in names})
            for name in names:
                if not active[name]:
                    out[name][i] = INACTIVE
        return out

    def prune(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` without its inactive parameters, in the space's order."""
        if not self.conditional:
            return {name: config[name] for name in self._params if name in config}
        # (an inactive value, present or not, is dropped)
        active = self.active(config)
        return {
            name: config[name]
            for name in self._params
            if active[name] and config.get(name, INACTIVE) is not INACTIVE
        }

    def contains(self, config: Mapping[str, Any]) -> bool:
        """Whether every value of ``config`` lies inside this space (an inactive parameter
        must be absent)."""
        active = self.active(config)
        for name, dim in self._params.items():
            if not active[name]:
                if name in config:
                    return False
                continue
            if name not in config:
                return False
            value = config[name]
            if isinstance(dim, Choice):
                if encode_choice(value) not in {encode_choice(v) for v in dim.values}:
                    return False
            elif not dim.low <= value <= dim.high:
                return False
        return True


def _rebuild(params: dict[str, Dimension]) -> SearchSpace:
    return SearchSpace(params, check_values=False)


def _condition_keys(dim: Dimension) -> list[tuple[str, frozenset[str]]]:
    return [(parent, frozenset(choice_key(v) for v in values)) for parent, values in dim.when]


def _condition_order(params: Mapping[str, Dimension], check_values: bool) -> tuple[str, ...]:
    """The parameters with every parent before its children; conditions checked: a parent
    exists, is a choice, offers the values named (``check_values``), and no cycle."""
    for name, dim in params.items():
        for parent, values in dim.when:
            if parent == name:
                raise ValueError(f"parameter {name!r}: its `when` names itself")
            if parent not in params:
                raise ValueError(
                    f"parameter {name!r}: `when` names {parent!r}, which is not a parameter"
                    f"{suggest(parent, list(params))}"
                )
            parent_dim = params[parent]
            if not isinstance(parent_dim, Choice):
                raise ValueError(
                    f"parameter {name!r}: `when` names {parent!r}, which is a {parent_dim.kind} "
                    "range; a condition must name a choice parameter"
                )
            if check_values:
                offered = {choice_key(v) for v in parent_dim.values}
                missing = [v for v in values if choice_key(v) not in offered]
                if missing:
                    raise ValueError(
                        f"parameter {name!r}: `when: {{{parent}: ...}}` names "
                        f"{', '.join(map(repr, missing))}, not among {parent!r}'s choices "
                        f"{list(parent_dim.values)!r}"
                    )
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = being visited, 2 = placed

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == 2:
            return
        if state.get(name) == 1:
            cycle = path[path.index(name) :] + [name]
            raise ValueError(
                "the conditions form a cycle: " + " -> ".join(cycle) + " (each `when` names "
                "the parameter it depends on; one of them must not depend on the others)"
            )
        state[name] = 1
        for parent, _ in params[name].when:
            visit(parent, [*path, name])
        state[name] = 2
        order.append(name)

    for name in params:
        visit(name, [])
    return tuple(order)


def fixed_at(dim: Dimension, value: Any) -> Dimension:
    """The dimension narrowed to one value (one choice, or ``low == high``)."""
    return dim.with_values([value]) if isinstance(dim, Choice) else dim.with_bounds(value, value)


def as_space(space: SearchSpace | Mapping[str, Dimension]) -> SearchSpace:
    """Accept a :class:`SearchSpace` or a plain dict of dimensions."""
    return space if isinstance(space, SearchSpace) else SearchSpace(space)


def relative_width(space: SearchSpace, original: SearchSpace, name: str) -> float | None:
    """A numeric range's width over the original width, in the search scale."""
    dim, first = space[name], original[name]
    if isinstance(dim, Choice) or isinstance(first, Choice):
        return None
    lo, hi = dim.scaled_bounds
    olo, ohi = first.scaled_bounds
    return (hi - lo) / (ohi - olo) if ohi > olo else 0.0
