"""Guided sampling: random candidates inside the narrowed ranges, picked by a surrogate.

The narrowing rule decides *where* a round samples (the box); this sampler decides *which*
points inside it. It draws ``candidates`` configurations in the current ranges - most
uniformly, a quarter (``local_fraction``) scattered closely around the five best trials so
far - fits a Gaussian process to the trials so far (inputs in each parameter's search scale,
normalised by its original width; choices one-hot; with budgets, log budget as one more
input and the picks judged at the full budget; scores replaced by their normal scores, so one
huge loss cannot flatten the model) and keeps the candidates that independent draws of the
function from the posterior (Thompson sampling; the fitted white noise is left out of the
draws) rank best: one draw per configuration, so a round is a spread of promising points
rather than one point repeated.

It falls back to uniform draws in the box when there is too little history (round 0, or
fewer than ``min_trials`` ok trials) and when the model cannot be fitted. Only the first
``max_guided`` configurations of a large round are guided, and the model sees at most
``max_train`` trials (the best half of them, and a spread of the rest), which bounds the
cost at about 0.1-0.3 s per round on one core whatever the round size. Everything is seeded
from the round's generator, so a round's configurations depend only on (seed, round,
ranges, the committed history): a resumed sweep samples what the uninterrupted one did.

Why this exists: the search-quality benchmark (``scripts/bench_search.py``, see
docs/benchmarks.md) showed that the elite box with uniform draws trails Optuna's TPE on
multimodal and curved functions at equal evaluations, and that the surrogate alone (over the
whole range) is worse still; choosing the points inside the narrowed box with the surrogate
beat both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from orchestrator.checks import whole_number
from orchestrator.search.features import encode
from orchestrator.search.pareto import pareto_order
from orchestrator.search.samplers.base import Columns, Guide, from_unit
from orchestrator.search.samplers.gp import load, posterior_draws
from orchestrator.search.samplers.uniform import RandomSampler
from orchestrator.search.space import INACTIVE, Choice, Dimension, SearchSpace, encode_choice
from orchestrator.search.trials import decode_column, ok_scores


class GuidedSampler:
    """Thompson sampling from a Gaussian process over random candidates in the box."""

    name = "guided"

    def __init__(
        self,
        candidates: int = 1024,
        max_guided: int = 256,
        max_train: int = 128,
        min_trials: int = 5,
        restarts: int = 0,
        local_fraction: float = 0.25,
        local_scale: float = 0.05,
    ) -> None:
        for key, value in (
            ("candidates", candidates),
            ("max_guided", max_guided),
            ("max_train", max_train),
            ("min_trials", min_trials),
        ):
            whole_number(key, value, minimum=2)
        whole_number("restarts", restarts, minimum=0)
        if not 0 <= local_fraction < 1:
            raise ValueError(f"local_fraction must be in [0, 1), got {local_fraction!r}")
        if not local_scale > 0:
            raise ValueError(f"local_scale must be > 0, got {local_scale!r}")
        self.restarts = restarts
        self.local_fraction = local_fraction
        self.local_scale = local_scale
        self.candidates = candidates
        self.max_guided = max_guided
        self.max_train = max_train
        self.min_trials = min_trials

    def warm_up(self) -> None:
        """Load the model's code ahead of the first guided round (the coordinator calls it
        while the first rounds run)."""
        load()

    def sample(
        self, space: SearchSpace, n: int, rng: np.random.Generator, history: Guide | None = None
    ) -> Columns:
        """Uniform in the box without a history (the first round); else the picks of the
        surrogate among random candidates (see the module docstring)."""
        uniform = RandomSampler()
        if history is None:
            return uniform.sample(space, n, rng)
        guide = history
        ranked = _Ranked.of(guide)
        if ranked is None or ranked.rows.size < max(self.min_trials, 2):
            return uniform.sample(space, n, rng)
        guided = min(n, self.max_guided)
        size = max(self.candidates, 2 * guided)
        local = int(self.local_fraction * size)
        pool = uniform.sample(space, size - local, rng)
        if local:
            near = _near_best(space, guide, ranked, local, self.local_scale, rng)
            for name in space:
                pool[name].extend(near[name])
        rest = uniform.sample(space, n - guided, rng) if n > guided else None
        picks = self._pick(pool, guide, ranked, guided, rng)
        if picks is None:  # the model could not be fitted: stay uniform in the box
            return uniform.sample(space, n, rng)
        out = {name: [pool[name][i] for i in picks] for name in space}
        if rest is not None:
            for name in space:
                out[name].extend(rest[name])
        return out

    def sample_guided(
        self, space: SearchSpace, n: int, rng: np.random.Generator, guide: Guide
    ) -> Columns:
        """``sample`` with a history (kept for callers of the earlier name)."""
        return self.sample(space, n, rng, guide)

    # -- the surrogate -------------------------------------------------------------------
    def _pick(
        self, pool: Columns, guide: Guide, ranked: _Ranked, n: int, rng: np.random.Generator
    ) -> list[int] | None:
        history = guide.history
        assert history is not None
        idx, ranks = ranked.rows, ranked.ranks
        keep = np.arange(idx.size)
        if idx.size > self.max_train:  # the best half of the budget, and a spread of the rest
            half = self.max_train // 2
            keep = np.sort(
                np.concatenate(
                    [
                        ranked.order[:half],
                        rng.choice(ranked.order[half:], self.max_train - half, replace=False),
                    ]
                )
            )
        rows = idx[keep]
        x, _ = encode(
            guide.original,
            {name: _column(history, name, dim, rows) for name, dim in guide.original.items()},
            normalise=True,
        )
        y = _normal_scores(ranks[keep], idx.size)
        xc, _ = encode(guide.original, pool, normalise=True)
        if guide.budgets is not None:  # budget is an input; the picks are judged at the max
            lo, hi = (math.log(b) for b in guide.budgets)
            span = hi - lo if hi > lo else 1.0
            spent = np.array(history.column("budget").take(pa.array(rows)).to_pylist(), float)
            x = np.column_stack([x, (np.log(spent) - lo) / span])
            xc = np.column_stack([xc, np.full(xc.shape[0], (hi - lo) / span)])
        try:
            draws = posterior_draws(x, y, xc, n, rng, self.restarts)
        except (np.linalg.LinAlgError, ValueError):
            return None
        chosen: list[int] = []
        taken = np.zeros(xc.shape[0], dtype=bool)
        for j in range(n):
            for i in np.argsort(draws[:, j], kind="stable"):  # lowest = best (y is ascending)
                if not taken[i]:
                    taken[i] = True
                    chosen.append(int(i))
                    break
        return chosen


@dataclass(frozen=True)
class _Ranked:
    """The ok trials of the history (with a budget, in multi-fidelity sweeps), ranked once."""

    rows: np.ndarray  # row indices into the history, in trial order
    ranks: np.ndarray  # each row's rank, 0 = best; ties share the mean rank
    order: np.ndarray  # positions into ``rows``, best first (ties in trial order)

    @classmethod
    def of(cls, guide: Guide) -> _Ranked | None:
        from scipy.stats import rankdata

        if guide.history is None:
            return None
        if guide.objectives is not None:  # position in Pareto order (front first, then
            # crowding within a rank) is the rank the model learns
            ordered, _ = pareto_order(guide.history, guide.objectives)
            idx = np.sort(ordered)
            position = np.empty(idx.size)
            position[np.searchsorted(idx, ordered)] = np.arange(idx.size)
            return cls(idx, position, np.argsort(position, kind="stable"))
        idx, scores = ok_scores(guide.history)
        if guide.budgets is not None:  # a budget may be missing on rows of a failed start
            has = guide.history.column("budget").is_valid().to_numpy(zero_copy_only=False)[idx]
            idx, scores = idx[has], scores[has]
        key = -scores if guide.mode == "max" else scores
        return cls(idx, rankdata(key) - 1, np.argsort(key, kind="stable"))


def _near_best(
    space: SearchSpace,
    guide: Guide,
    ranked: _Ranked,
    n: int,
    scale: float,
    rng: np.random.Generator,
    best: int = 5,
) -> Columns:
    """``n`` candidates scattered around the ``best`` trials so far, inside the box: each
    numeric coordinate moves by a normal step of ``scale`` box widths; a choice stays with
    probability 0.8."""
    history = guide.history
    assert history is not None
    top = ranked.rows[ranked.order[:best]]
    parent = rng.integers(top.size, size=n)
    unit = np.empty((n, len(space)))
    for j, (name, dim) in enumerate(space.items()):
        values = _column(history, name, guide.original[name], top)
        if isinstance(dim, Choice):
            codes = [encode_choice(v) for v in dim.values]
            keys = ["" if v is INACTIVE else encode_choice(v) for v in values]
            at = np.array(
                [(codes.index(k) + 0.5) / len(codes) if k in codes else np.nan for k in keys]
            )
            u = at[parent]
            switch = np.isnan(u) | (rng.random(n) < 0.2)
            unit[:, j] = np.where(switch, rng.random(n), u)
            continue
        lo, hi = dim.scaled_bounds
        if hi <= lo:
            unit[:, j] = 0.5
            continue
        numbers = np.array([np.nan if v is INACTIVE else v for v in values], dtype=float)
        at = (dim.scaled_values(numbers) - lo) / (hi - lo)
        unit[:, j] = at[parent] + scale * rng.standard_normal(n)
        if np.isnan(at).any():  # inactive in that trial: drawn anew in the box
            unit[:, j] = np.where(np.isnan(unit[:, j]), rng.random(n), unit[:, j])
    return from_unit(space, np.clip(unit, 0.0, 1.0 - 1e-12))


def _column(table: pa.Table, name: str, dim: Dimension, rows: np.ndarray) -> list[Any]:
    return decode_column(dim, table.column(name).take(pa.array(rows)))


def _normal_scores(ranks: np.ndarray, total: int) -> np.ndarray:
    """Ranks (0 = best of ``total``) as standard normal quantiles: low is good."""
    from scipy.stats import norm

    return norm.ppf((ranks + 0.5) / total)


__all__ = ["GuidedSampler"]
