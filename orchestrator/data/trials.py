"""The trial table: one Arrow schema for every trial row, and helpers over it.

Columns, in order::

    sweep_id   string     the run's id
    round      int32      0-based round
    trial_id   int64      one per evaluation: unique in the run, consecutive within a round
    config_id  int64      the configuration (the trial_id of its first evaluation)
    rung       int32      successive-halving rung (0 without a budget)
    budget     float64    the budget it ran at (null without a budget)
    shard      int32      the shard the trial travelled in
    worker     string     the worker actor that ran it
    status     string     ok | failed | invalid | timeout
    score      float64    the objective's score (null unless ok)
    <param>    one column per hyperparameter (float64, int64, or the choice's type; null
               where a conditional parameter is inactive)
    <metric>   extra metrics of a dict return (float64 or string)
    error      string     why a trial is not ok
    started_at timestamp  UTC, microseconds
    duration_s float64    wall time of the objective call

Choice columns are typed by their values: all strings -> string, all bools -> bool, all
integers -> int64, all numbers -> float64, anything else (None, lists, mixtures) -> the
value's JSON text (see :mod:`orchestrator.search.trials`, which reads the rows back).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.search.space import INACTIVE, SearchSpace
from orchestrator.search.trials import arrow_type, encode_column
from workers.evaluate import RESULT_SCHEMA

_LEADING = ["shard", "worker", "status", "score"]
_TRAILING = ["error", "started_at", "duration_s"]


def trial_schema(space: SearchSpace, metrics: pa.Schema | None = None) -> pa.Schema:
    """The schema of a run's trial rows (metric columns from ``metrics`` if given)."""
    base = {f.name: f for f in RESULT_SCHEMA}
    fields = [
        pa.field("sweep_id", pa.string()),
        pa.field("round", pa.int32()),
        pa.field("trial_id", pa.int64()),
        pa.field("config_id", pa.int64()),
        pa.field("rung", pa.int32()),
        pa.field("budget", pa.float64()),
    ]
    fields += [base[n] for n in _LEADING]
    fields += [pa.field(name, arrow_type(dim)) for name, dim in space.items()]
    if metrics is not None:
        fields += [f for f in metrics if f.name not in base]
    fields += [base[n] for n in _TRAILING]
    return pa.schema(fields)


def build_round_table(
    *,
    sweep_id: str,
    round_index: int,
    first_trial_id: int,
    space: SearchSpace,
    items: Mapping[int, Any],
    batches: Sequence[pa.RecordBatch],
) -> pa.Table:
    """Join the round's evaluations (work items by key) with the workers' result batches.

    Rows are ordered by work key (rung, then configuration) and numbered from
    ``first_trial_id``, so the table is the same whatever order the batches arrived in.
    Raises ``RuntimeError`` if an evaluation has no row or two rows.
    """
    tables = [
        pa.Table.from_batches([b]) if isinstance(b, pa.RecordBatch) else b
        for b in batches
        if b.num_rows
    ]
    if not tables:
        raise RuntimeError(f"round {round_index}: no results for {len(items)} evaluations")
    results = concat_trials(tables).sort_by("trial_id")
    keys = results.column("trial_id").to_pylist()
    if keys != sorted(items):
        missing = sorted(set(items) - set(keys))
        raise RuntimeError(
            f"round {round_index}: expected one row per evaluation ({len(items)}), got "
            f"{len(keys)} rows (missing keys: {missing[:10]})"
        )
    n = len(keys)
    ordered = [items[k] for k in keys]
    columns: dict[str, Any] = {name: results.column(name) for name in results.column_names}
    columns.update(
        sweep_id=pa.array([sweep_id] * n, type=pa.string()),
        round=pa.array([round_index] * n, type=pa.int32()),
        trial_id=pa.array(range(first_trial_id, first_trial_id + n), type=pa.int64()),
        config_id=pa.array([first_trial_id + it.index for it in ordered], type=pa.int64()),
        rung=pa.array([it.rung for it in ordered], type=pa.int32()),
        budget=pa.array([it.budget for it in ordered], type=pa.float64()),
    )
    for name, dim in space.items():
        columns[name] = encode_column(dim, [it.config.get(name, INACTIVE) for it in ordered])
    metric_schema = pa.schema([f for f in results.schema if f.name not in RESULT_SCHEMA.names])
    schema = trial_schema(space, metric_schema)
    return pa.table([columns[f.name] for f in schema], schema=schema)


def unified_schema(schemas: Sequence[pa.Schema]) -> pa.Schema:
    """One schema for tables whose metric columns differ: every column once; a column whose
    type differs between tables (a metric that is a number here, text there) becomes text;
    the trailing columns (error, started_at, duration_s) stay last."""
    types: dict[str, pa.DataType] = {}
    for schema in schemas:
        for f in schema:
            known = types.get(f.name)
            if known is None or pa.types.is_null(known):
                types[f.name] = f.type
            elif known != f.type and not pa.types.is_null(f.type):
                types[f.name] = pa.string()
    names = [n for n in types if n not in _TRAILING] + [n for n in _TRAILING if n in types]
    return pa.schema([(n, types[n]) for n in names])


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly ``schema``'s columns: missing ones null, others cast."""
    columns = []
    for f in schema:
        if f.name not in table.column_names:
            columns.append(pa.nulls(table.num_rows, f.type))
            continue
        column = table.column(f.name)
        columns.append(column if column.type == f.type else pc.cast(column, f.type))
    return pa.table(columns, schema=schema)


def concat_trials(tables: Sequence[pa.Table]) -> pa.Table:
    """Concatenate trial tables whose metric columns may differ (see ``unified_schema``)."""
    tables = [t for t in tables if t is not None]
    if not tables:
        raise ValueError("no trial tables to concatenate")
    schema = unified_schema([t.schema for t in tables])
    return pa.concat_tables([conform(t, schema) for t in tables])
