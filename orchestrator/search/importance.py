"""Hyperparameter importance from the trial table.

A random forest learns score ~ configuration from the ok trials (of one budget, when the
sweep has budgets; numbers in their search scale, log10 for log ranges; choices one-hot).
A parameter's importance is how much the forest's fit (R^2) drops when that parameter's
values are shuffled across trials - all its one-hot columns together, so a choice counts
once. The drops are averaged over a few shuffles, clipped at zero and normalised to sum to 1.
Deterministic for a given table and seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from orchestrator.search.space import Choice, SearchSpace, encode_choice
from orchestrator.search.trials import decode_column, ok_scores

MIN_TRIALS = 8


def _features(table: pa.Table, space: SearchSpace) -> tuple[np.ndarray, list[list[int]]]:
    """The design matrix and, per parameter, its column indices."""
    columns: list[np.ndarray] = []
    groups: list[list[int]] = []
    for name, dim in space.items():
        start = len(columns)
        if isinstance(dim, Choice):
            values = [encode_choice(v) for v in decode_column(dim, table.column(name))]
            for choice in dim.values:
                key = encode_choice(choice)
                columns.append(np.array([v == key for v in values], dtype=float))
        else:
            raw = table.column(name).to_numpy(zero_copy_only=False).astype(float)
            columns.append(dim.to_scaled(raw))
        groups.append(list(range(start, len(columns))))
    return np.column_stack(columns), groups


def importance(
    table: pa.Table, space: SearchSpace, *, seed: int = 0, repeats: int = 5
) -> dict[str, float] | None:
    """``{parameter: share}`` summing to 1 (None with fewer than 8 ok trials)."""
    from sklearn.ensemble import RandomForestRegressor

    rows, scores = ok_scores(table)
    if rows.size < MIN_TRIALS:
        return None
    ok = table.take(pa.array(rows))
    X, groups = _features(ok, space)
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
