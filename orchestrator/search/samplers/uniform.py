"""The uniform samplers: independent draws (``random``) and scrambled Sobol points
(``sobol``) inside the current ranges. Neither learns from the history."""

from __future__ import annotations

import math

import numpy as np

from orchestrator.search.samplers.base import Columns, Guide, combinations, from_unit
from orchestrator.search.space import Choice, SearchSpace, native_value

#: The most combinations an all-choice space may have to be drawn without replacement.
MAX_GRID = 1_000_000
#: The same for a conditional space, whose valid combinations are listed one by one.
MAX_CONDITIONAL_GRID = 100_000


class RandomSampler:
    """Independent uniform draws in each parameter's scale (log-uniform on log ranges).

    When every parameter is a choice (and the combinations are at most :data:`MAX_GRID`),
    the round's combinations are drawn without replacement, as scikit-learn's
    ``ParameterSampler`` does for lists: all different while the grid holds enough, then
    each as evenly as the round's size allows (a round keeps its size; scikit-learn's
    search would run fewer candidates instead). In a conditional space the draws are over
    the valid combinations.
    """

    name = "random"

    def sample(
        self, space: SearchSpace, n: int, rng: np.random.Generator, history: Guide | None = None
    ) -> Columns:
        sizes = [len(d.values) if isinstance(d, Choice) else 0 for d in space.values()]
        total = math.prod(sizes)
        if space.conditional and 0 < total <= MAX_CONDITIONAL_GRID:  # valid combinations only
            axes = [
                [native_value(v) for v in d.values] for d in space.values() if isinstance(d, Choice)
            ]
            valid = list(combinations(space, axes))
            rounds = -(-n // len(valid))
            picks = np.concatenate([rng.permutation(len(valid)) for _ in range(rounds)])[:n]
            return {name: [valid[i][j] for i in picks] for j, name in enumerate(space)}
        if 0 < total <= MAX_GRID:
            picks = np.concatenate([rng.permutation(total) for _ in range(-(-n // total))])[:n]
            cells = np.stack(np.unravel_index(picks, sizes), axis=1)
            return from_unit(space, (cells + 0.5) / np.asarray(sizes))
        return from_unit(space, rng.random((n, len(space))))


class SobolSampler:
    """Scrambled Sobol points: low-discrepancy coverage of the box, seeded per round."""

    name = "sobol"

    def sample(
        self, space: SearchSpace, n: int, rng: np.random.Generator, history: Guide | None = None
    ) -> Columns:
        from scipy.stats import qmc

        engine = qmc.Sobol(d=len(space), scramble=True, seed=rng)
        # Sobol's balance is best at powers of two and scipy warns at other sizes; the first
        # n of the next power of two are the same points, drawn without the warning (this
        # runs on the planning thread, where silencing it would swap the process's filters).
        unit = engine.random_base2(max(n - 1, 0).bit_length())[:n]
        return from_unit(space, unit)
