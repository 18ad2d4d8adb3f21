"""The uniform samplers: independent draws (``random``) and scrambled Sobol points
(``sobol``) inside the current ranges. Neither learns from the history."""

from __future__ import annotations

import warnings

import numpy as np

from orchestrator.search.samplers.base import Columns, Guide, from_unit
from orchestrator.search.space import SearchSpace


class RandomSampler:
    """Independent uniform draws in each parameter's scale (log-uniform on log ranges)."""

    name = "random"

    def sample(
        self, space: SearchSpace, n: int, rng: np.random.Generator, history: Guide | None = None
    ) -> Columns:
        return from_unit(space, rng.random((n, len(space))))


class SobolSampler:
    """Scrambled Sobol points: low-discrepancy coverage of the box, seeded per round."""

    name = "sobol"

    def sample(
        self, space: SearchSpace, n: int, rng: np.random.Generator, history: Guide | None = None
    ) -> Columns:
        from scipy.stats import qmc

        engine = qmc.Sobol(d=len(space), scramble=True, seed=rng)
        with warnings.catch_warnings():
            # Sobol's balance is best at powers of two; other sizes are still fine here.
            warnings.simplefilter("ignore", UserWarning)
            unit = engine.random(n)
        return from_unit(space, unit)
