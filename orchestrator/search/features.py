"""Model inputs from configurations: the one encoder the guided sampler's GP and importance's
forest share.

A numeric parameter is one column in its search scale (log10 on a log range; an integer at
the centre of its cell), optionally placed on a reference space's range: 0..1 inside that
range, beyond it where a range grew. A choice is one column per value (one-hot). Each
parameter owns a group of columns, so a choice can be treated as one parameter (importance
shuffles a group's columns together).

A conditional parameter says when it is inactive without pretending a value: a choice's
one-hot columns are all 0 there (none of its values), and a number gets one more column,
1 where it is active and 0 where not, with its value column set to the middle of the range
where it is inactive - so inactive trials are alike in that parameter, and unlike every
active one only through the indicator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from orchestrator.search.space import Choice, SearchSpace, encode_choice


def encode(
    space: SearchSpace,
    columns: Mapping[str, Sequence[Any] | np.ndarray],
    *,
    normalise: bool = False,
) -> tuple[np.ndarray, list[list[int]]]:
    """The design matrix of ``columns`` (native values by parameter) and each parameter's
    column indices. With ``normalise``, numbers are placed on ``space``'s own ranges."""
    parts: list[np.ndarray] = []
    groups: list[list[int]] = []
    active = _activity(space, columns)
    for name, dim in space.items():
        start = len(parts)
        values = columns[name]
        on = active.get(name)
        if isinstance(dim, Choice):
            keys = [encode_choice(v) if on is None or on[i] else "" for i, v in enumerate(values)]
            for choice in dim.values:
                code = encode_choice(choice)
                parts.append(np.array([k == code for k in keys], dtype=float))
        else:
            lo, hi = dim.scaled_bounds
            numbers = np.asarray(
                [v if on is None or on[i] else np.nan for i, v in enumerate(values)], dtype=float
            )
            scaled = dim.scaled_values(numbers)
            if normalise:
                scaled = (scaled - lo) / (hi - lo if hi > lo else 1.0)
            if on is not None:
                middle = 0.5 if normalise else (lo + hi) / 2
                scaled = np.where(on, scaled, middle)
                parts.append(on.astype(float))
            parts.append(scaled)
        groups.append(list(range(start, len(parts))))
    return np.column_stack(parts), groups


def _activity(
    space: SearchSpace, columns: Mapping[str, Sequence[Any] | np.ndarray]
) -> dict[str, np.ndarray]:
    """For each conditional parameter, the rows where it is active (from its parents'
    values, so sampled candidates and stored trials are judged alike)."""
    if not space.conditional:
        return {}
    names = list(space)
    n = len(columns[names[0]])
    flags = [space.active({name: columns[name][i] for name in names}) for i in range(n)]
    return {
        name: np.array([f[name] for f in flags], dtype=bool)
        for name, dim in space.items()
        if dim.when
    }


__all__ = ["encode"]
