"""Range narrowing: the next round's ranges from the results so far.

A narrowing rule is a small interface: the current ranges, the trial history and a context
in; the next ranges and one :class:`Decision` (action + reason) per parameter out. Nothing
here touches Ray or the store.

The default, :class:`EliteBox`, is the rule the research prototypes measured best at many
small rounds (see DESIGN.md): per numeric parameter, in its own scale (log10 for log ranges),

1. take the elite - the best ``k`` ok trials so far, ``k = max(min_elite,
   ceil(elite_fraction * samples_per_round))`` (with several objectives, the first ``k`` in
   Pareto order: front first, sparse parts of a front before crowded ones; see
   :mod:`orchestrator.search.pareto`) - and its span, padded by ``margin`` of the current
   width;
2. force the width to ``shrink`` (0.5-0.7) of the current width: never faster (noise cannot
   collapse a range), never slower (a multimodal elite cannot stall the search);
3. keep the incumbent (the best trial) at least ``incumbent_margin`` of the width inside, and
   the box inside the current range;
4. grow a side outward by ``grow_fraction`` of the original width when the incumbent lies
   within ``edge_fraction`` of it and that side did not move inward at the previous
   narrowing - the user's coarse range may simply be wrong - within hard limits.

A conditional parameter is decided only from the trials where it was active (its elite is
the best of those, sized in proportion), and held while fewer than ``min_ok`` were.

Integers are rounded outward. Choices that had at least ``prune_after`` ok trials and never
reached the elite are dropped (the incumbent's choice always stays). The prototypes used 6;
the default is 12 because an elite of three cannot tell choices apart after six trials each
(with three choices, an equally good one is missing from it about a third of the time by
chance alone), and on the search-quality benchmark's MLP, where the activation is a choice,
12 lowered the median validation loss from 0.0743 to 0.0696 (seeds 0-19) and from 0.0735 to
0.0673 (seeds 100-119).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from orchestrator.checks import whole_number
from orchestrator.search.pareto import Objectives, front_mask
from orchestrator.search.space import (
    INACTIVE,
    Choice,
    Dimension,
    Float,
    Int,
    SearchSpace,
    encode_choice,
    format_number,
)
from orchestrator.search.trials import active_rows, decode_column, ranked_by

ACTIONS = ("initial", "shrink", "grow", "keep", "prune", "hold", "freeze", "release")


@dataclass(frozen=True)
class Decision:
    """What happened to one parameter's range between two rounds, and why."""

    parameter: str
    action: str
    reason: str


@dataclass(frozen=True)
class Proposal:
    """A narrowing rule's answer: the next ranges and one decision per parameter."""

    space: SearchSpace
    decisions: tuple[Decision, ...]


@dataclass(frozen=True)
class Held:
    """Parameters held at one value (by a stage or by hand) and the range each had before,
    given back when it is tuned again. A value: deciding returns a new one."""

    values: Mapping[str, Any] = field(default_factory=dict)
    ranges: Mapping[str, Dimension] = field(default_factory=dict)


@dataclass(frozen=True)
class NarrowingContext:
    """What a rule may know besides the current ranges and the history."""

    original: SearchSpace
    mode: str
    round_index: int
    samples_per_round: int
    previous: SearchSpace | None = None  # the ranges of the round before the current one
    objectives: Objectives | None = None  # several objectives: the elite is Pareto-ranked


class NarrowingRule(Protocol):
    """Computes the next ranges: ``propose(current, history, context) -> Proposal``."""

    def propose(
        self, current: SearchSpace, history: pa.Table, context: NarrowingContext
    ) -> Proposal: ...


class NoNarrowing:
    """Keep the ranges as they are: plain random search over the original ranges."""

    def propose(
        self, current: SearchSpace, history: pa.Table, context: NarrowingContext
    ) -> Proposal:
        return Proposal(current, tuple(Decision(n, "keep", "narrowing is off") for n in current))


@dataclass(frozen=True)
class _Elite:
    rows: np.ndarray  # row indices of the elite, best first
    n_ok: int


@dataclass(frozen=True)
class EliteBox:
    """Elite box with a forced shrink and pinned-edge growth (the default rule)."""

    elite_fraction: float = 0.2
    min_elite: int = 3
    min_ok: int = 3
    margin: float = 0.1
    shrink: tuple[float, float] = (0.5, 0.7)
    incumbent_margin: float = 0.1
    edge_fraction: float = 0.2
    grow_fraction: float = 0.25
    prune_after: int = 12

    def __post_init__(self) -> None:
        for name in ("min_elite", "min_ok", "prune_after"):
            whole_number(name, getattr(self, name), minimum=1)
        for name in (
            "elite_fraction",
            "margin",
            "incumbent_margin",
            "edge_fraction",
            "grow_fraction",
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
            ):
                raise ValueError(f"{name} must be a finite number, got {value!r}")
        shrink = self.shrink
        if not (
            isinstance(shrink, (tuple, list))
            and len(shrink) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in shrink)
        ):
            raise ValueError(f"shrink must be a pair [min, max] like [0.5, 0.7], got {shrink!r}")
        if not 0 < shrink[0] <= shrink[1] <= 1:
            raise ValueError(f"shrink must satisfy 0 < min <= max <= 1, got {shrink!r}")
        for name in ("elite_fraction", "edge_fraction"):
            if not 0 < getattr(self, name) < 1:
                raise ValueError(f"{name} must be in (0, 1), got {getattr(self, name)!r}")
        for name in ("margin", "grow_fraction"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0 <= self.incumbent_margin < 0.5:
            raise ValueError(f"incumbent_margin must be in [0, 0.5), got {self.incumbent_margin!r}")

    def propose(
        self, current: SearchSpace, history: pa.Table, context: NarrowingContext
    ) -> Proposal:
        order = ranked_by(history, context.mode, context.objectives)
        if order.size < self.min_ok:
            reason = f"only {order.size} ok trials so far (need {self.min_ok}); range kept"
            return Proposal(current, tuple(Decision(n, "hold", reason) for n in current))
        k = max(self.min_elite, math.ceil(self.elite_fraction * context.samples_per_round))
        if context.objectives is not None:  # the elite holds (at least) the whole front
            k = max(k, int(np.count_nonzero(front_mask(history, context.objectives))))
        elite = _Elite(rows=order[: min(k, order.size)], n_ok=int(order.size))
        dims: dict[str, Dimension] = {}
        decisions = []
        reachable = current.reachable()
        for name, dim in current.items():
            rows, top = order, elite
            if dim.when and name not in reachable:
                dims[name] = dim
                condition = dim.condition()
                reason = f"unused: it is active only when {condition}, no longer offered"
                decisions.append(Decision(name, "hold", reason))
                continue
            if dim.when:  # decided only by the trials where it was active
                rows = order[active_rows(dim, history.column(name))[order]]
                if rows.size < self.min_ok:
                    dims[name] = dim
                    decisions.append(
                        Decision(
                            name,
                            "hold",
                            f"active in only {rows.size} ok trials so far (need "
                            f"{self.min_ok}); range kept",
                        )
                    )
                    continue
                k_active = max(self.min_elite, math.ceil(k * rows.size / order.size))
                top = _Elite(rows=rows[: min(k_active, rows.size)], n_ok=int(rows.size))
            if isinstance(dim, Choice):
                new, decision = self._prune(name, dim, history, rows, top)
            else:
                new, decision = self._numeric(name, dim, history, top, context)
            dims[name] = new
            decisions.append(decision)
        return Proposal(SearchSpace.narrowed(dims), tuple(decisions))

    # -- numeric -------------------------------------------------------------------------
    def _numeric(
        self,
        name: str,
        dim: Float | Int,
        history: pa.Table,
        elite: _Elite,
        context: NarrowingContext,
    ) -> tuple[Dimension, Decision]:
        column = history.column(name).to_numpy(zero_copy_only=False).astype(float)
        best_native = float(column[elite.rows[0]])
        values = dim.scaled_values(column[elite.rows])
        best = float(values[0])
        lo, hi = dim.scaled_bounds
        width = hi - lo
        first = context.original[name]
        assert not isinstance(first, Choice)  # a parameter keeps its kind
        if width <= 0 or first.low == first.high:
            return dim, Decision(name, "keep", "a fixed value (low == high)")
        orig_lo, orig_hi = first.scaled_bounds
        hard_lo, hard_hi = dim.scaled_limits

        box_lo = float(values.min()) - self.margin * width
        box_hi = float(values.max()) + self.margin * width
        several = context.objectives is not None
        # several objectives: a front spans its parameters, so the box is never forced
        # narrower than the elite (a front is not a point to close in on)
        most = width if several else self.shrink[1] * width
        new_w = float(np.clip(box_hi - box_lo, self.shrink[0] * width, most))
        new_lo = (box_lo + box_hi) / 2 - new_w / 2
        inner = 0.0 if several else self.incumbent_margin * new_w
        new_lo += min(0.0, best - (new_lo + inner)) + max(0.0, best - (new_lo + new_w - inner))
        new_lo = min(max(new_lo, lo), hi - new_w)  # the box stays inside the current range
        new_hi = new_lo + new_w

        grown = []
        step = self.grow_fraction * (orig_hi - orig_lo)
        prev = context.previous[name] if context.previous is not None else None
        assert not isinstance(prev, Choice)
        prev_lo, prev_hi = prev.scaled_bounds if prev is not None else (lo, hi)
        cell_lo, cell_hi = dim.cell_scaled(best_native)
        if cell_lo - lo <= self.edge_fraction * width and lo <= prev_lo + 1e-12 and step > 0:
            if lo > hard_lo:
                new_lo = max(lo - step, hard_lo)
                grown.append("low")
        if hi - cell_hi <= self.edge_fraction * width and hi >= prev_hi - 1e-12 and step > 0:
            if hi < hard_hi:
                new_hi = min(hi + step, hard_hi)
                grown.append("high")

        low, high = dim.bounds_from_scaled(new_lo, new_hi)
        low, high = min(low, best_native), max(high, best_native)  # float round-trip safety
        new = dim.with_bounds(low, high)
        return new, self._numeric_decision(name, dim, new, grown, elite, best_native)

    def _numeric_decision(
        self,
        name: str,
        old: Float | Int,
        new: Float | Int,
        grown: Sequence[str],
        elite: _Elite,
        best: float,
    ) -> Decision:
        span = f"best {format_number(best)}; elite of {elite.rows.size} of {elite.n_ok} ok trials"
        if grown:
            sides = " and ".join(grown)
            return Decision(
                name,
                "grow",
                f"{span}; the best sits at the {sides} edge of {old.describe()}, "
                f"so the range grows past it to {new.describe()}",
            )
        if (new.low, new.high) == (old.low, old.high):
            return Decision(name, "keep", f"{span}; {new.describe()} cannot shrink further")
        (a, b), (c, d) = old.scaled_bounds, new.scaled_bounds
        ratio = (d - c) / (b - a)
        return Decision(name, "shrink", f"{span}; width x{ratio:.2f} to {new.describe()}")

    # -- categorical ---------------------------------------------------------------------
    def _prune(
        self, name: str, dim: Choice, history: pa.Table, order: np.ndarray, elite: _Elite
    ) -> tuple[Dimension, Decision]:
        values = [
            "" if v is INACTIVE else encode_choice(v)
            for v in decode_column(dim, history.column(name))
        ]
        ok_counts: dict[str, int] = {}
        for row in order:
            ok_counts[values[row]] = ok_counts.get(values[row], 0) + 1
        in_elite = {values[row] for row in elite.rows}
        keep, dropped = [], []
        for value in dim.values:
            key = encode_choice(value)
            if key not in in_elite and ok_counts.get(key, 0) >= self.prune_after:
                dropped.append(value)
            else:
                keep.append(value)
        if not keep:  # an edit left only losing choices: keep the best-ranked of them
            allowed = {encode_choice(v) for v in dim.values}
            best = next((values[row] for row in order if values[row] in allowed), None)
            keep = [v for v in dim.values if encode_choice(v) == best] or [dim.values[0]]
            dropped = [v for v in dropped if v not in keep]
        if not dropped:
            return dim, Decision(name, "keep", f"choices {dim.describe()} kept")
        new = dim.with_values(keep)
        listed = ", ".join(map(str, dropped))
        return new, Decision(
            name,
            "prune",
            f"dropped {listed}: at least {self.prune_after} ok trials each, none in the "
            f"elite of {elite.rows.size}",
        )


DEFAULT_RULE = EliteBox()


def make_rule(rule: str | NarrowingRule | None) -> NarrowingRule:
    """A narrowing rule from a name (``"elite_box"``, ``"none"``), a rule object or None."""
    if rule is None or rule == "elite_box":
        return DEFAULT_RULE
    if rule == "none":
        return NoNarrowing()
    if isinstance(rule, str):
        raise ValueError(f"unknown narrowing rule {rule!r}; expected 'elite_box' or 'none'")
    if not callable(getattr(rule, "propose", None)):
        raise ValueError(f"narrowing rule {rule!r} has no propose(current, history, context)")
    return rule


__all__ = [
    "ACTIONS",
    "Decision",
    "EliteBox",
    "NarrowingContext",
    "NarrowingRule",
    "NoNarrowing",
    "Proposal",
    "make_rule",
]
