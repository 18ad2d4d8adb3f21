"""Model inputs from configurations: the one encoder the guided sampler's GP and importance's
forest share.

A numeric parameter is one column in its search scale (log10 on a log range; an integer at
the centre of its cell), optionally placed on a reference space's range: 0..1 inside that
range, beyond it where a range grew. A choice is one column per value (one-hot). Each
parameter owns a group of columns, so a choice can be treated as one parameter (importance
shuffles a group's columns together).
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
    for name, dim in space.items():
        start = len(parts)
        values = columns[name]
        if isinstance(dim, Choice):
            keys = [encode_choice(v) for v in values]
            for choice in dim.values:
                code = encode_choice(choice)
                parts.append(np.array([k == code for k in keys], dtype=float))
        else:
            scaled = dim.scaled_values(np.asarray(values, dtype=float))
            if normalise:
                lo, hi = dim.scaled_bounds
                scaled = (scaled - lo) / (hi - lo if hi > lo else 1.0)
            parts.append(scaled)
        groups.append(list(range(start, len(parts))))
    return np.column_stack(parts), groups


__all__ = ["encode"]
