"""Hyperparameter importance from the trial table.

A random forest learns score ~ configuration from the ok trials (of one budget, when the
sweep has budgets; encoded by :mod:`orchestrator.search.features`, as the guided sampler's
model sees them: numbers in their search scale, choices one-hot).
A parameter's importance is how much the forest's fit (R^2) drops when that parameter's
values are shuffled across trials - all its one-hot columns together, so a choice counts
once. The drops are averaged over a few shuffles, clipped at zero and normalised to sum to 1.
Deterministic for a given table and seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from orchestrator.search.features import encode
from orchestrator.search.space import SearchSpace
from orchestrator.search.trials import decode_column, ok_scores

MIN_TRIALS = 8


def importance(
    table: pa.Table, space: SearchSpace, *, seed: int = 0, repeats: int = 5
) -> dict[str, float] | None:
    """``{parameter: share}`` summing to 1 (None with fewer than 8 ok trials)."""
    from sklearn.ensemble import RandomForestRegressor

    rows, scores = ok_scores(table)
    if rows.size < MIN_TRIALS:
        return None
    ok = table.take(pa.array(rows))
    X, groups = encode(
        space, {name: decode_column(dim, ok.column(name)) for name, dim in space.items()}
    )
    y = scores
    forest = RandomForestRegressor(n_estimators=100, min_samples_leaf=2, random_state=seed)
    forest.fit(X, y)
    base = forest.score(X, y)
    rng = np.random.default_rng(seed)
    drops = []
    for cols in groups:
        losses = []
        for _ in range(repeats):
            shuffled = X.copy()
            order = rng.permutation(len(X))
            shuffled[:, cols] = X[order][:, cols]
            losses.append(base - forest.score(shuffled, y))
        drops.append(max(0.0, float(np.mean(losses))))
    total = sum(drops)
    names = list(space)
    if total <= 0:
        return {n: 1.0 / len(names) for n in names}
    return {n: d / total for n, d in sorted(zip(names, drops), key=lambda item: -item[1])}


def format_importance(shares: dict[str, Any] | None) -> str:
    if not shares:
        return "importance: not enough ok trials yet"
    width = max(len(n) for n in shares)
    return "\n".join(
        f"  {n:<{width}}  {s:6.1%}  {'#' * int(round(s * 40))}" for n, s in shares.items()
    )
