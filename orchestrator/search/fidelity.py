"""Multi-fidelity: budgets that rise with the rounds, successive halving inside a round.

A :class:`Budget` (``min``, ``max``, ``eta``, ``schedule``) gives each round a base budget
- low while the ranges are coarse, rising to ``max`` in the last round - and the rungs of
successive halving inside a round: ``base, base*eta, base*eta**2, ...`` capped at ``max``.

:func:`promotable` is the promotion rule. Every configuration of a round starts at the
lowest rung; of the ``n`` results at rung ``k`` the best ``n // eta`` move up to rung
``k + 1``. Promotions are made as results arrive, but only when they are certain: a
configuration is promoted once it is in the top ``n // eta`` even if every result still
outstanding at its rung beat it. So no worker waits for a whole rung to finish when other
work is there, and the promoted set is exactly that of synchronous successive halving -
independent of the number of workers and of the order in which results arrive.

Scores are compared only within a rung (equal budgets), never across budgets.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.checks import whole_number
from orchestrator.errors import ConfigError

SCHEDULES = ("geometric", "linear", "fixed")


@dataclass(frozen=True)
class Budget:
    """The budget dimension: ``objective(config, budget)`` with ``min <= budget <= max``.

    ``schedule``: how the round's base budget rises - ``geometric`` (default: equal ratios
    from ``min`` in the first round to ``max`` in the last), ``linear``, or ``fixed`` (every
    round starts at ``min``; only successive halving raises it). ``integer``: round budgets
    to whole numbers (default: when ``min`` and ``max`` are whole numbers). ``param``: for
    estimator tasks, the estimator parameter that carries the budget (``max_iter``,
    ``n_estimators``, ...) or ``rows`` for a fraction of the training rows.
    """

    min: float
    max: float
    eta: int = 3
    schedule: str = "geometric"
    integer: bool | None = None
    param: str | None = None

    def __post_init__(self) -> None:
        for key in ("min", "max"):
            value = getattr(self, key)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise ConfigError(f"budget.{key}: expected a number, got {value!r}")
        if not 0 < self.min <= self.max:
            raise ConfigError(f"budget: need 0 < min <= max (min={self.min!r}, max={self.max!r})")
        whole_number("budget.eta", self.eta, minimum=2)
        if self.schedule not in SCHEDULES:
            raise ConfigError(
                f"budget.schedule: unknown schedule {self.schedule!r}; expected one of "
                f"{', '.join(SCHEDULES)}"
            )
        if self.integer is None:
            whole = all(float(v).is_integer() for v in (self.min, self.max))
            object.__setattr__(self, "integer", whole)
        if self.param == "rows" and self.max > 1:
            raise ConfigError(
                f"budget: with param: rows, budgets are fractions <= 1 (max={self.max!r})"
            )

    @classmethod
    def parse(cls, spec: Any, where: str = "budget") -> Budget | None:
        if spec is None:
            return None
        if isinstance(spec, Budget):
            return spec
        if isinstance(spec, (tuple, list)) and len(spec) == 2:
            return cls(min=spec[0], max=spec[1])
        if not isinstance(spec, Mapping):
            raise ConfigError(f"{where}: expected {{min: 5, max: 100}} or (min, max), got {spec!r}")
        keys = ("min", "max", "eta", "schedule", "integer", "param")
        for key in spec:
            if key not in keys:
                raise ConfigError(
                    f"{where}: unknown key {key!r}; expected one of: {', '.join(keys)}"
                )
        if "min" not in spec or "max" not in spec:
            raise ConfigError(f"{where}: needs 'min' and 'max'")
        return cls(**dict(spec))

    def to_dict(self) -> dict[str, Any]:
        out = {
            "min": self.min,
            "max": self.max,
            "eta": self.eta,
            "schedule": self.schedule,
            "integer": self.integer,
        }
        if self.param is not None:
            out["param"] = self.param
        return out

    def _round(self, value: float) -> float:
        value = min(max(value, self.min), self.max)
        return float(round(value)) if self.integer else float(value)

    def base(self, round_index: int, rounds: int) -> float:
        """The lowest budget of a round (the last planned round runs at ``max``)."""
        if self.schedule == "fixed" or rounds <= 1:
            return self._round(self.max if rounds <= 1 and self.schedule != "fixed" else self.min)
        t = min(round_index, rounds - 1) / (rounds - 1)
        if self.schedule == "linear":
            return self._round(self.min + t * (self.max - self.min))
        return self._round(self.min * (self.max / self.min) ** t)

    def rungs(self, base: float) -> list[float]:
        """The budgets of successive halving from ``base``: ``base * eta**k``, capped at max."""
        rungs = [self._round(base)]
        while rungs[-1] < self.max:
            nxt = self._round(rungs[-1] * self.eta)
            if nxt <= rungs[-1]:  # rounding stalled: jump to the next whole step
                nxt = self._round(rungs[-1] + 1)
            rungs.append(nxt)
        return rungs


def rung_sizes(n: int, eta: int, rungs: int) -> list[int]:
    """How many configurations reach each rung: ``n, n // eta, n // eta**2, ...`` (>= 1)."""
    sizes = [n]
    for _ in range(rungs - 1):
        sizes.append(max(1, sizes[-1] // eta))
    return sizes


def promotable(
    results: Sequence[tuple[int, float | None]],
    *,
    outstanding: int,
    quota: int,
    promoted: set[int],
    mode: str,
) -> list[int]:
    """Configurations of one rung that are certain to be among its best ``quota``.

    ``results``: (config key, score or None for a failed trial) of the finished trials at
    the rung; ``outstanding``: how many of the rung's trials have no result yet. A
    configuration is promoted when fewer than ``quota`` configurations can end up ahead of
    it (those already ahead plus every outstanding one). Ties are broken by the key, so the
    outcome equals synchronous successive halving. Already promoted keys are left out.
    """
    ok = [(key, score) for key, score in results if score is not None and math.isfinite(score)]
    sign = -1.0 if mode == "max" else 1.0
    ok.sort(key=lambda item: (sign * item[1], item[0]))
    out = []
    for ahead, (key, _) in enumerate(ok):
        if ahead + outstanding >= quota:
            break
        if key not in promoted:
            out.append(key)
    return out


def _budgets(table: pa.Table) -> list[float | None]:
    return (
        table.column("budget").to_pylist()
        if "budget" in table.column_names
        else [None] * table.num_rows
    )


def comparable(history: pa.Table, min_count: int) -> pa.Table:
    """The trials whose scores may be ranked together: those of one budget.

    Without budgets, every trial. Otherwise the highest budget with at least ``min_count``
    ok trials (or, if none has that many, the budget with the most ok trials).
    """
    budgets = _budgets(history)
    if all(b is None for b in budgets):
        return history
    statuses = history.column("status").to_pylist()
    counts: dict[float, int] = {}
    for b, s in zip(budgets, statuses):
        if b is not None and s == "ok":
            counts[b] = counts.get(b, 0) + 1
    if not counts:
        return history.slice(0, 0)
    enough = [b for b, c in counts.items() if c >= min_count]
    chosen = max(enough) if enough else max(counts, key=lambda b: (counts[b], b))
    return history.filter(pc.equal(history.column("budget"), pa.scalar(chosen, pa.float64())))


def at_budget(history: pa.Table, budget: float) -> pa.Table:
    """The trials that ran at exactly ``budget``."""
    mask = pc.fill_null(pc.equal(history.column("budget"), pa.scalar(budget, pa.float64())), False)
    return history.filter(mask)
