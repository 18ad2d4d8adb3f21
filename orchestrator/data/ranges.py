"""The ranges table: the ranges of every round, with what decided them and why.

One row per (round, parameter)::

    round           int32    the round these ranges are (or would be) sampled in
    sampled         bool     false for the final proposal that no round used
    parameter       string
    type            string   float | int | choice
    low, high       float64  numeric bounds (null for choices)
    log             bool
    choices         string   JSON list of the remaining choices (null for numbers)
    relative_width  float64  width / the first round's width, in the search scale
    action          string   initial | shrink | grow | keep | prune | hold | converged
    reason          string   why, in words
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import pyarrow as pa

from orchestrator.search.narrowing import Decision
from orchestrator.search.space import Choice, Dimension, SearchSpace, relative_width

RANGES_SCHEMA = pa.schema(
    [
        ("round", pa.int32()),
        ("sampled", pa.bool_()),
        ("parameter", pa.string()),
        ("type", pa.string()),
        ("low", pa.float64()),
        ("high", pa.float64()),
        ("log", pa.bool_()),
        ("choices", pa.string()),
        ("relative_width", pa.float64()),
        ("action", pa.string()),
        ("reason", pa.string()),
    ]
)


def ranges_rows(
    round_index: int,
    space: SearchSpace,
    original: SearchSpace,
    decisions: Sequence[Decision],
    *,
    sampled: bool = True,
) -> pa.Table:
    """The rows describing ``space`` as the ranges of ``round_index``."""
    by_name = {d.parameter: d for d in decisions}
    rows = []
    for name, dim in space.items():
        decision = by_name.get(name, Decision(name, "keep", ""))
        numeric = not isinstance(dim, Choice)
        rows.append(
            {
                "round": round_index,
                "sampled": sampled,
                "parameter": name,
                "type": dim.kind,
                "low": float(dim.low) if numeric else None,
                "high": float(dim.high) if numeric else None,
                "log": bool(dim.log),
                "choices": None if numeric else json.dumps(list(dim.values)),
                "relative_width": relative_width(space, original, name),
                "action": decision.action,
                "reason": decision.reason,
            }
        )
    return pa.Table.from_pylist(rows, schema=RANGES_SCHEMA)


def initial_rows(space: SearchSpace) -> pa.Table:
    return ranges_rows(
        0, space, space, [Decision(n, "initial", "the configured range") for n in space]
    )


def space_at(template: SearchSpace, ranges: pa.Table, round_index: int) -> SearchSpace:
    """Rebuild the space of one round from the ranges table (types and limits from template)."""
    rows = [r for r in ranges.to_pylist() if r["round"] == round_index]
    if not rows:
        raise KeyError(f"no ranges recorded for round {round_index}")
    dims: dict[str, Dimension] = {}
    for row in rows:
        dim = template[row["parameter"]]
        if isinstance(dim, Choice):
            dims[row["parameter"]] = dim.with_values(json.loads(row["choices"]))
        else:
            dims[row["parameter"]] = dim.with_bounds(row["low"], row["high"])
    return SearchSpace.narrowed(dims)
