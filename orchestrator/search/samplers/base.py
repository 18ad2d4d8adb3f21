"""The sampler contract: what every sampler is given and returns.

A sampler turns a space and a random generator into ``n`` configurations, returned as
columns (``{name: [value, ...]}``, native Python types). Each round draws from its own
generator, derived from the sweep's seed and the round number with
:class:`numpy.random.SeedSequence`, so a round's configurations depend only on (seed, round,
ranges) - never on the number of workers or the order in which results arrive.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import pyarrow as pa

from orchestrator.search.pareto import Objectives
from orchestrator.search.space import INACTIVE, SearchSpace, choice_key

Columns = dict[str, list[Any]]


@dataclass(frozen=True)
class Guide:
    """What a history-aware sampler may know besides the current ranges."""

    history: pa.Table | None  # every trial so far (ok or not), in trial order
    original: SearchSpace  # the first ranges: the scale features are normalised by
    mode: str  # "min" or "max"
    budgets: tuple[float, float] | None = None  # (min, max) of a multi-fidelity sweep
    objectives: Objectives | None = None  # several objectives: trials ranked in Pareto order


def round_generator(seed: int, round_index: int, stream: int = 0) -> np.random.Generator:
    """The generator of one round: a child of ``SeedSequence(seed)`` keyed by the round.

    ``stream`` separates independent uses within a round (0 is sampling).
    """
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(round_index, stream))
    return np.random.default_rng(seq)


class Sampler(Protocol):
    """Draws configurations inside a space.

    One method: ``history`` is the sweep's committed trials so far (a :class:`Guide`), or
    None in the first round; samplers that do not learn from trials ignore it. A sampler may
    also have ``warm_up()``: the coordinator calls it once, on its planning thread while the
    first rounds run, to load what a model needs before its first guided round.
    """

    name: str

    def sample(
        self, space: SearchSpace, n: int, rng: np.random.Generator, history: Guide | None = None
    ) -> Columns:
        """``n`` configurations as columns of native Python values."""
        ...


def from_unit(space: SearchSpace, unit: np.ndarray) -> Columns:
    """Configurations (as columns) from points of the unit cube, one row per point."""
    return {name: space[name].sample_from_unit(unit[:, j]) for j, name in enumerate(space)}


def columns_to_rows(columns: Columns) -> list[dict[str, Any]]:
    """``{name: [v0, v1]}`` -> ``[{name: v0}, {name: v1}]``; an :data:`INACTIVE` value is
    left out of its configuration."""
    names = list(columns)
    return [
        {name: value for name, value in zip(names, row) if value is not INACTIVE}
        for row in zip(*(columns[n] for n in names))
    ]


def combinations(space: SearchSpace, axes: Sequence[Sequence[Any]]) -> Iterator[tuple[Any, ...]]:
    """The valid combinations of one value per parameter (``axes`` in the space's order): in a
    conditional space an inactive parameter's value is :data:`INACTIVE` and combinations that
    differ only there are the same configuration, given once."""
    names = list(space)
    if not space.conditional:
        yield from itertools.product(*axes)
        return
    seen: set[tuple[str, ...]] = set()
    for combo in itertools.product(*axes):
        active = space.active(dict(zip(names, combo)))
        valid = tuple(v if active[n] else INACTIVE for n, v in zip(names, combo))
        key = tuple("-" if v is INACTIVE else choice_key(v) for v in valid)
        if key not in seen:
            seen.add(key)
            yield valid
