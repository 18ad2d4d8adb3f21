"""The grid sampler: every choice and evenly spaced values of each numeric parameter,
laid over the current ranges; the whole grid is one round."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np

from orchestrator.checks import whole_number
from orchestrator.search.samplers.base import Columns, Guide, combinations
from orchestrator.search.space import Dimension, SearchSpace

#: The most combinations of a conditional grid enumerated to drop the invalid ones.
_ENUMERATE = 1_000_000


class GridSampler:
    """Every choice and ``points`` values per numeric parameter, laid over the current ranges.

    Values are evenly spaced in each parameter's scale (log-spaced on log ranges); integers
    are rounded and deduplicated. In a conditional space only valid combinations are laid
    (an inactive parameter takes no values). The grid is the whole round: it must not exceed
    the round's ``n`` samples (:func:`grid_size` says how large it is). Random draws are not used.
    """

    name = "grid"

    def __init__(self, points: int = 5) -> None:
        whole_number("grid_points", points, minimum=1)
        self.points = points

    def axis(self, dim: Dimension) -> list[Any]:
        if hasattr(dim, "values"):
            return [_plain(v) for v in dim.values]
        lo, hi = dim.to_scaled([dim.low, dim.high])
        values = (
            dim.from_scaled(np.linspace(lo, hi, self.points))
            if self.points > 1
            else dim.from_scaled([(lo + hi) / 2])
        )
        if dim.kind == "int":  # rounded half to even, like round()
            return [int(v) for v in np.unique(np.rint(values))]
        return [float(v) for v in np.clip(values, dim.low, dim.high)]

    def sample(
        self, space: SearchSpace, n: int, rng: np.random.Generator, history: Guide | None = None
    ) -> Columns:
        axes = [self.axis(space[name]) for name in space]
        size = math.prod(len(a) for a in axes)  # Python ints: no int64 wrap-around
        combos = None
        if space.conditional and size <= _ENUMERATE:  # only the valid combinations count
            combos = list(combinations(space, axes))
            size = len(combos)
        if size > n:
            shape = " x ".join(str(len(a)) for a in axes)
            valid = " valid" if space.conditional else ""
            raise ValueError(
                f"the grid has {size}{valid} configurations ({shape}) but a round has "
                f"samples_per_round={n}; lower grid_points or raise samples_per_round"
            )
        columns: Columns = {name: [] for name in space}
        for combo in combos if combos is not None else itertools.product(*axes):
            for name, value in zip(space, combo):
                columns[name].append(value)
        return columns


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def grid_size(space: SearchSpace, points: int) -> int:
    """How many configurations ``GridSampler(points)`` lays over ``space``.

    Counted from the axes' lengths without building them where the length is known (choices,
    floats, linear integers), so a config with a huge ``grid_points`` is refused at once.
    """
    sampler = GridSampler(points)
    size = math.prod(_axis_length(sampler, space[name]) for name in space)
    if space.conditional and size <= _ENUMERATE:
        axes = [sampler.axis(space[name]) for name in space]
        return sum(1 for _ in combinations(space, axes))
    return size


def _axis_length(sampler: GridSampler, dim: Dimension) -> int:
    if hasattr(dim, "values"):
        return len(dim.values)
    if dim.kind == "float":
        return sampler.points
    if not dim.log:  # evenly spaced: steps of 1 or more round to distinct integers
        return min(sampler.points, int(dim.high) - int(dim.low) + 1)
    return len(sampler.axis(dim))
