"""Samplers: configurations drawn inside the current ranges.

A sampler turns a space and a random generator into ``n`` configurations, returned as
columns (``{name: [value, ...]}``, native Python types). Each round draws from its own
generator, derived from the sweep's seed and the round number with
:class:`numpy.random.SeedSequence`, so a round's configurations depend only on (seed, round,
ranges) - never on the number of workers or the order in which results arrive.
"""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Protocol

import numpy as np

from .space import SearchSpace

Columns = dict[str, list[Any]]


def round_generator(seed: int, round_index: int, stream: int = 0) -> np.random.Generator:
    """The generator of one round: a child of ``SeedSequence(seed)`` keyed by the round.

    ``stream`` separates independent uses within a round (0 is sampling).
    """
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(round_index, stream))
    return np.random.default_rng(seq)


class Sampler(Protocol):
    """Draws configurations inside a space.

    One method: ``history`` is the sweep's committed trials so far (a
    :class:`~orchestrator.guided.Guide`), or None in the first round; samplers that do not
    learn from trials ignore it.
    """

    name: str

    def sample(self, space: SearchSpace, n: int, rng: np.random.Generator,
               history: Any = None) -> Columns:
        """``n`` configurations as columns of native Python values."""
        ...


def from_unit(space: SearchSpace, unit: np.ndarray) -> Columns:
    """Configurations (as columns) from points of the unit cube, one row per point."""
    return {name: space[name].sample_from_unit(unit[:, j]) for j, name in enumerate(space)}


class RandomSampler:
    """Independent uniform draws in each parameter's scale (log-uniform on log ranges)."""

    name = "random"

    def sample(self, space: SearchSpace, n: int, rng: np.random.Generator,
               history: Any = None) -> Columns:
        return from_unit(space, rng.random((n, len(space))))


class SobolSampler:
    """Scrambled Sobol points: low-discrepancy coverage of the box, seeded per round."""

    name = "sobol"

    def sample(self, space: SearchSpace, n: int, rng: np.random.Generator,
               history: Any = None) -> Columns:
        from scipy.stats import qmc

        engine = qmc.Sobol(d=len(space), scramble=True, seed=rng)
        with warnings.catch_warnings():
            # Sobol's balance is best at powers of two; other sizes are still fine here.
            warnings.simplefilter("ignore", UserWarning)
            unit = engine.random(n)
        return from_unit(space, unit)


class GridSampler:
    """Every choice and ``points`` values per numeric parameter, laid over the current ranges.

    Values are evenly spaced in each parameter's scale (log-spaced on log ranges); integers
    are rounded and deduplicated. The grid is the whole round: it must not exceed the round's
    ``n`` samples (:func:`grid_size` says how large it is). Random draws are not used.
    """

    name = "grid"

    def __init__(self, points: int = 5) -> None:
        if isinstance(points, bool) or not isinstance(points, int) or points < 1:
            raise ValueError(f"grid_points must be a whole number >= 1, got {points!r}")
        self.points = points

    def axis(self, dim: Any) -> list[Any]:
        if hasattr(dim, "values"):
            return [_plain(v) for v in dim.values]
        lo, hi = dim.to_scaled([dim.low, dim.high])
        values = dim.from_scaled(np.linspace(lo, hi, self.points)) if self.points > 1 \
            else dim.from_scaled([(lo + hi) / 2])
        if dim.kind == "int":  # rounded half to even, like round()
            return [int(v) for v in np.unique(np.rint(values))]
        return [float(v) for v in np.clip(values, dim.low, dim.high)]

    def sample(self, space: SearchSpace, n: int, rng: np.random.Generator,
               history: Any = None) -> Columns:
        axes = [self.axis(space[name]) for name in space]
        size = math.prod(len(a) for a in axes)  # Python ints: no int64 wrap-around
        if size > n:
            shape = " x ".join(str(len(a)) for a in axes)
            raise ValueError(
                f"the grid has {size} configurations ({shape}) but a round has "
                f"samples_per_round={n}; lower grid_points or raise samples_per_round"
            )
        columns: Columns = {name: [] for name in space}
        for combo in itertools.product(*axes):
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
    return math.prod(_axis_length(sampler, space[name]) for name in space)


def _axis_length(sampler: GridSampler, dim: Any) -> int:
    if hasattr(dim, "values"):
        return len(dim.values)
    if dim.kind == "float":
        return sampler.points
    if not dim.log:  # evenly spaced: steps of 1 or more round to distinct integers
        return min(sampler.points, int(dim.high) - int(dim.low) + 1)
    return len(sampler.axis(dim))


def columns_to_rows(columns: Columns) -> list[dict[str, Any]]:
    """``{name: [v0, v1]}`` -> ``[{name: v0}, {name: v1}]``."""
    names = list(columns)
    return [dict(zip(names, row)) for row in zip(*(columns[n] for n in names))]
