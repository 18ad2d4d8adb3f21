"""Reading trial rows: how a parameter's values are stored in its column, and which rows
count, ranked.

The trial table itself (its schema, how a round's rows are built and joined) belongs to
:mod:`orchestrator.data.trials`; the decisions in ``search/`` only read it, through these
functions. A row counts when its status is ok and its score is finite.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.search.pareto import Objectives, pareto_order, pick_row
from orchestrator.search.space import INACTIVE, Choice, Dimension, Float, Int, SearchSpace
from workers.evaluate import STATUS_OK


def _choice_encoding(dim: Choice) -> str:
    values = dim.values
    if all(isinstance(v, str) for v in values):
        return "string"
    if all(isinstance(v, bool) for v in values):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "int"
    if all(isinstance(v, float) for v in values):
        return "float"
    return "json"  # None, lists, mixtures (1 and 2.5 stay an int and a float)


_ARROW_TYPES = {
    "string": pa.string(),
    "bool": pa.bool_(),
    "int": pa.int64(),
    "float": pa.float64(),
    "json": pa.string(),
}


def arrow_type(dim: Dimension) -> pa.DataType:
    """The Arrow type of a hyperparameter's column."""
    if isinstance(dim, Float):
        return pa.float64()
    if isinstance(dim, Int):
        return pa.int64()
    return _ARROW_TYPES[_choice_encoding(dim)]


def encode_column(dim: Dimension, values: Sequence[Any]) -> pa.Array:
    """Native configuration values -> the parameter's Arrow column (null where
    :data:`~orchestrator.search.space.INACTIVE`)."""
    if isinstance(dim, Choice) and _choice_encoding(dim) == "json":
        return pa.array(
            [None if v is INACTIVE else json.dumps(v, sort_keys=True) for v in values],
            type=pa.string(),
        )
    return pa.array([None if v is INACTIVE else v for v in values], type=arrow_type(dim))


def decode_column(dim: Dimension, column: pa.Array | pa.ChunkedArray) -> list[Any]:
    """The parameter's Arrow column -> native Python values (inverse of ``encode_column``);
    a conditional parameter's null is :data:`~orchestrator.search.space.INACTIVE`."""
    values = column.to_pylist()
    missing = INACTIVE if dim.when else None
    if isinstance(dim, Choice) and _choice_encoding(dim) == "json":
        return [missing if v is None else json.loads(v) for v in values]
    if dim.when:
        return [INACTIVE if v is None else v for v in values]
    return values


def active_rows(dim: Dimension, column: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Which rows have the parameter active (every row unless it has a condition)."""
    if not dim.when:
        return np.ones(len(column), dtype=bool)
    return column.is_valid().to_numpy(zero_copy_only=False)


def ok_scores(table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
    """Row indices and scores of the trials that count: status ok and a finite score."""
    status = table.column("status")
    scores = table.column("score").to_numpy(zero_copy_only=False).astype(float)
    mask = pc.equal(status, STATUS_OK).to_numpy(zero_copy_only=False) & np.isfinite(scores)
    idx = np.flatnonzero(mask)
    return idx, scores[idx]


def ranked(table: pa.Table, mode: str) -> np.ndarray:
    """Row indices of the ok trials, best first (ties broken by trial_id)."""
    idx, scores = ok_scores(table)
    if idx.size == 0:
        return idx
    key = -scores if mode == "max" else scores
    trial_ids = table.column("trial_id").to_numpy()[idx]
    return idx[np.lexsort((trial_ids, key))]


def config_at(table: pa.Table, space: SearchSpace, row: int) -> dict[str, Any]:
    """The configuration of one row, as native Python values (inactive parameters left out)."""
    config = {
        name: decode_column(dim, table.column(name).slice(row, 1))[0] for name, dim in space.items()
    }
    return {name: value for name, value in config.items() if value is not INACTIVE}


def best_trial(
    table: pa.Table,
    space: SearchSpace,
    mode: str,
    objectives: Objectives | None = None,
    weights: dict[str, float] | None = None,
) -> dict[str, Any] | None:
    """The best ok trial: ``{"trial_id", "round", "score", "config"}``, or None. With several
    ``objectives``, the front's member :func:`~orchestrator.search.pareto.pick_row` picks
    (under ``weights``), with its ``objectives`` values too."""
    if objectives is not None:
        picked = pick_row(table, objectives, weights)
        if picked is None:
            return None
        row = picked
    else:
        order = ranked(table, mode)
        if order.size == 0:
            return None
        row = int(order[0])
    best = {
        "trial_id": int(table.column("trial_id")[row].as_py()),
        "round": int(table.column("round")[row].as_py()),
        "score": float(table.column("score")[row].as_py()),
        "config": config_at(table, space, row),
    }
    if "budget" in table.column_names and table.column("budget")[row].is_valid:
        best["budget"] = float(table.column("budget")[row].as_py())
    if objectives is not None:
        best["objectives"] = {n: float(table.column(n)[row].as_py()) for n in objectives.names}
    return best


def ranked_by(table: pa.Table, mode: str, objectives: Objectives | None = None) -> np.ndarray:
    """Row indices of the trials that count, best first: by score, or with several
    ``objectives`` in Pareto order (rank, then crowding)."""
    if objectives is None:
        return ranked(table, mode)
    return pareto_order(table, objectives)[0]


def is_better(a: float | None, b: float | None, mode: str) -> bool:
    """Whether score ``a`` beats ``b`` (None and NaN never beat anything)."""
    if a is None or (isinstance(a, float) and math.isnan(a)):
        return False
    if b is None:
        return True
    return a > b if mode == "max" else a < b
