"""What each view of the dashboard sends: small, JSON-ready summaries of a run.

Every view reads only the columns it needs (:meth:`RunData.table`) and aggregates or samples
on the server, so that a run of a million trials sends kilobytes, not the table:

- best score so far: a step curve of the improvements only (at most ``MAX_POINTS``), with a
  fixed-size, evenly spaced sample of the scores behind it;
- scatter plots, parallel coordinates, importance and the Pareto front: a fixed-size sample
  that always includes the best trials (and the whole front, up to a cap);
- the worker timeline: each trial's bar for small runs, busy time per worker and time bin
  (and the busy share of all workers) for large ones;
- the trial table: filtered, sorted and paged here (``trials``); only the page is sent.

Results are cached per run version (see :meth:`RunData.derived`). Numbers follow
:class:`~orchestrator.data.tune_result.TuneResult`: the best trial and importance come from
the same functions, on the committed rounds (a running round's configurations are not on
disk yet); the curves and the timeline include the running rounds' partial commits.
"""

from __future__ import annotations

import functools
import json
import math
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.dashboard.source import PENDING, Catalog, Plan, RunData, Snapshot
from orchestrator.errors import StoreError
from orchestrator.redact import redact_uri
from orchestrator.search.fidelity import at_budget, comparable
from orchestrator.search.importance import MIN_TRIALS, importance
from orchestrator.search.pareto import (
    Objectives,
    front_rows,
    objective_values,
    pareto_order,
    pareto_ranks,
)
from orchestrator.search.space import Choice, Dimension
from orchestrator.search.trials import best_trial, ranked
from workers.evaluate import STATUS_OK, STATUSES

MAX_POINTS = 2000  # points of a best-so-far step curve
SAMPLE = 1000  # trials in a scatter sample
TOP = 100  # best trials every sample includes
EXACT_FRONT = 4000  # up to this many counted trials, fronts use the project's exact code
IMPORTANCE_TRIALS = 1000  # ok trials the importance forest is fitted on, at most
IMPORTANCE_PAUSE = 10  # while a run changes, refit after 10x the last fit's time (>= 2 s)
RAW_TIMELINE = 3000  # up to this many trials the timeline has one bar per trial
TIME_BINS = 200
TIMELINE_WORKERS = 150  # workers shown one by one in an aggregated timeline, at most
PAGE_MAX = 500
HIDDEN_COLUMNS = ("sweep_id", "shard", "__state__")
ERROR_CHARS = 300  # an error in the summary's list is cut here (the table has it whole)


class BadQuery(ValueError):
    """A request's parameters cannot be used (an unknown column, a malformed filter)."""


# -- small helpers ------------------------------------------------------------------------
def floats(column: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A numeric or timestamp column as float64 (null -> NaN)."""
    if pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.int64())
    if not pa.types.is_floating(column.type):
        column = pc.cast(column, pa.float64())
    return np.asarray(column.to_numpy(zero_copy_only=False), dtype=float)


def micros(column: pa.ChunkedArray) -> np.ndarray:
    """A timestamp column in microseconds since the epoch, as float (null -> NaN)."""
    if column.type != pa.timestamp("us", tz="UTC") and pa.types.is_timestamp(column.type):
        column = pc.cast(column, pa.timestamp("us", tz="UTC"))
    return floats(column)


def is_ok(table: pa.Table) -> np.ndarray:
    ok = pc.fill_null(pc.equal(table.column("status"), STATUS_OK), False)
    return np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool) & np.isfinite(
        floats(table.column("score"))
    )


def spread(rows: np.ndarray, cap: int) -> np.ndarray:
    """At most ``cap`` of ``rows``, evenly spaced (all of them if there are fewer)."""
    if rows.size <= cap:
        return rows
    return rows[np.unique(np.linspace(0, rows.size - 1, cap).round().astype(int))]


def clean(value: Any) -> Any:
    """Plain JSON data: numpy values and arrays as Python ones, NaN and infinities as None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, bool)) or value is None or isinstance(value, float):
        return value
    return str(value)


def choice_labels(dim: Choice) -> list[str]:
    """How a choice's values are shown (and compared with its column): strings as they are
    when all are strings, otherwise their JSON text."""
    if all(isinstance(v, str) for v in dim.values):
        return list(dim.values)
    return [json.dumps(v, sort_keys=True) for v in dim.values]


def shown_values(dim: Dimension, column: pa.ChunkedArray | pa.Array) -> list[Any]:
    """A parameter's column for the page: numbers as numbers, choices as their label, null
    where inactive."""
    values = column.to_pylist()
    if not isinstance(dim, Choice):
        return values
    if all(isinstance(v, str) for v in dim.values) or pa.types.is_string(column.type):
        return [v if v is None or isinstance(v, str) else json.dumps(v) for v in values]
    return [None if v is None else json.dumps(v, sort_keys=True) for v in values]


def describe_dim(name: str, dim: Dimension) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "kind": dim.kind, "log": bool(dim.log)}
    if isinstance(dim, Choice):
        out["choices"] = choice_labels(dim)
    else:
        out["low"], out["high"] = float(dim.low), float(dim.high)
    if dim.when:
        out["when"] = dim.condition()
    return out


def present(schema: pa.Schema, names: Sequence[str]) -> list[str]:
    return [n for n in names if n in schema.names]


def committed_table(run: RunData, snap: Snapshot, extra: Sequence[str] = ()) -> pa.Table:
    """The committed trials with status, score, round, trial_id, the parameters, the
    objectives, the budget (if any) and ``extra``; ranked as TuneResult ranks them."""
    plan = run.plan(snap)
    names = ["round", "trial_id", "status", "score", *plan.space]
    if plan.objectives is not None:
        names += list(plan.objectives.names)
    if plan.budget is not None:
        names.append("budget")
    return run.table(present(run.schema(snap), [*names, *extra]), snap, committed=True)


def scored_table(run: RunData, snap: Snapshot) -> pa.Table:
    """The committed trials whose scores may be ranked together (one budget, as
    ``TuneResult.importance`` takes them)."""
    table = committed_table(run, snap)
    return comparable(table, 2 * MIN_TRIALS) if run.plan(snap).budget else table


def fast_front(values: np.ndarray, block: int = 1024) -> np.ndarray:
    """The rows of ``values`` (n x k, minimised) that no other row dominates, for any n:
    exact like :func:`orchestrator.search.pareto.pareto_ranks` ``== 0``, without its n x n
    matrices. Rows are visited in lexicographic order, so no row dominates one before it."""
    n = values.shape[0]
    if n == 0:
        return np.empty(0, dtype=int)
    order = np.lexsort(values.T[::-1])
    v = values[order]
    if values.shape[1] == 2:  # a staircase: one pass
        x, y = v[:, 0], v[:, 1]
        prev_min = np.minimum.accumulate(np.concatenate(([np.inf], y[:-1])))
        new_min = np.concatenate(([True], y[1:] < prev_min[1:]))
        first = np.maximum.accumulate(np.where(new_min, np.arange(n), 0))
        holder_x = np.concatenate(([np.inf], x[first[:-1]]))  # x of the earliest prefix min
        dominated = (prev_min < y) | ((prev_min == y) & (holder_x < x))
        return np.sort(order[~dominated])
    kept: list[np.ndarray] = []
    front = np.empty((0, values.shape[1]))
    for start in range(0, n, block):
        chunk = v[start : start + block]
        alive = np.ones(len(chunk), dtype=bool)
        for f0 in range(0, len(front), 4096):
            f = front[f0 : f0 + 4096]
            le = np.all(f[None, :, :] <= chunk[:, None, :], axis=2)
            lt = np.any(f[None, :, :] < chunk[:, None, :], axis=2)
            alive &= ~np.any(le & lt, axis=1)
        survivors = np.flatnonzero(alive)
        if survivors.size:
            inner = survivors[pareto_ranks(chunk[survivors]) == 0]
            kept.append(order[start + inner])
            front = np.vstack([front, chunk[inner]])
    return np.sort(np.concatenate(kept)) if kept else np.empty(0, dtype=int)


def counted_rows(table: pa.Table, objectives: Objectives) -> np.ndarray:
    ok = pc.fill_null(pc.equal(table.column("status"), STATUS_OK), False)
    mask = np.asarray(ok.to_numpy(zero_copy_only=False), dtype=bool)
    for name in objectives.names:
        if name not in table.column_names:
            return np.empty(0, dtype=int)
        mask &= np.isfinite(floats(table.column(name)))
    return np.flatnonzero(mask)


def front_of(table: pa.Table, objectives: Objectives) -> np.ndarray:
    """The Pareto front's rows ordered by the first objective (then trial id), as
    :func:`~orchestrator.search.pareto.front_rows` gives them - for any number of trials."""
    rows = counted_rows(table, objectives)
    if rows.size <= EXACT_FRONT:
        return front_rows(table, objectives)
    front = rows[fast_front(objective_values(table, objectives, rows))]
    first = objective_values(table, objectives, front)[:, 0]
    return front[np.lexsort((table.column("trial_id").to_numpy()[front], first))]


def best_order(run: RunData, snap: Snapshot, table: pa.Table) -> np.ndarray:
    """Rows of ``table`` best first: by score, or with several objectives in Pareto order
    (for a large run: the front, by the first objective)."""
    plan = run.plan(snap)
    if plan.objectives is None:
        return ranked(table, plan.mode)
    if counted_rows(table, plan.objectives).size <= EXACT_FRONT:
        return pareto_order(table, plan.objectives)[0]
    return front_of(table, plan.objectives)


# -- the views ----------------------------------------------------------------------------
def best_of(run: RunData, snap: Snapshot) -> dict[str, Any] | None:
    """The run's result as TuneResult.load finds it: the best committed trial (at the full
    budget, with a budget), or the front's member ``pick`` chooses."""

    def compute() -> dict[str, Any] | None:
        plan = run.plan(snap)
        table = committed_table(run, snap)
        if table.num_rows == 0:
            return None
        if plan.budget is not None:
            table = at_budget(table, plan.budget.max)
        if plan.objectives is not None and (
            counted_rows(table, plan.objectives).size > EXACT_FRONT
        ):
            table = table.take(pa.array(front_of(table, plan.objectives)))
        elif plan.objectives is None and table.num_rows > EXACT_FRONT:
            table = table.take(pa.array(_best_rows(table, plan.mode)))  # no full sort
        return best_trial(table, plan.space, plan.mode, plan.objectives, plan.weights)

    return run.derived(("best",), snap.version, compute)


def _best_rows(table: pa.Table, mode: str) -> np.ndarray:
    """The ok rows with the best score (ties all kept): what ``ranked`` puts first, found
    without sorting every row."""
    scores = floats(table.column("score"))
    key = np.where(is_ok(table), scores if mode == "min" else -scores, np.inf)
    best = key.min() if key.size else np.inf
    return np.flatnonzero(key == best) if np.isfinite(best) else np.empty(0, dtype=int)


def version(run: RunData) -> dict[str, Any]:
    return run.consistent(lambda snap: _version(run, snap))


def _version(run: RunData, snap: Snapshot) -> dict[str, Any]:
    meta = run.meta(snap)
    committed, pending = run.row_count(snap)
    return {
        "version": snap.version,
        "state": meta.get("state"),
        "trials": committed + pending,
        "pending": pending,
        "rounds": len(snap.rounds),
        "running": snap.running_rounds,
    }


def runs_list(catalog: Catalog) -> list[dict[str, Any]]:
    out = []
    for run in catalog.runs():
        entry: dict[str, Any] = {"key": run.key, "location": run.location}
        try:
            entry.update(run.consistent(functools.partial(_listed, run)))
        except (StoreError, OSError, ValueError) as exc:
            entry["error"] = redact_uri(str(exc))
        out.append(entry)
    return clean(out)


def _listed(run: RunData, snap: Snapshot) -> dict[str, Any]:
    meta = run.meta(snap)
    committed, pending = run.row_count(snap)
    config = meta.get("config") or {}
    best = meta.get("best") or {}
    return {
        "name": meta.get("name"),
        "state": meta.get("state"),
        "created_at": meta.get("created_at"),
        "updated_at": meta.get("updated_at"),
        "trials": committed + pending,
        "pending": pending,
        "rounds": len(snap.rounds),
        "best_score": best.get("score"),
        "mode": config.get("mode"),
        "objectives": config.get("objectives"),
        "version": snap.version,
    }


def summary(run: RunData, snap: Snapshot) -> dict[str, Any]:
    meta = run.meta(snap)
    plan = run.plan(snap)
    config = meta.get("config") or {}

    def compute() -> dict[str, Any]:
        table = run.table(["status", "error"], snap)
        pending = np.asarray(table.column(PENDING).to_numpy(zero_copy_only=False), dtype=bool)
        counts: dict[str, dict[str, int]] = {"committed": {}, "running": {}}
        for label, mask in (("committed", ~pending), ("running", pending)):
            if mask.any():
                part = table.filter(pa.array(mask)) if not mask.all() else table
                for item in pc.value_counts(part.column("status")).to_pylist():
                    counts[label][str(item["values"])] = int(item["counts"])
        errors = []
        column = table.column("error")
        if column.null_count < len(column):
            found = pc.value_counts(column.filter(pc.is_valid(column))).to_pylist()
            found.sort(key=lambda item: (-item["counts"], item["values"]))
            for item in found[:10]:
                text = redact_uri(str(item["values"]))
                cut = text if len(text) <= ERROR_CHARS else text[:ERROR_CHARS] + "..."
                errors.append({"count": int(item["counts"]), "error": cut})
        return {"counts": counts, "errors": errors, "trials": table.num_rows}

    numbers = run.derived(("summary",), snap.version, compute)
    best = best_of(run, snap)
    objectives = (
        {"names": list(plan.objectives.names), "modes": list(plan.objectives.modes)}
        if plan.objectives is not None
        else None
    )
    facts = {
        k: meta.get(k)
        for k in (
            "name",
            "sweep_id",
            "state",
            "stop_reason",
            "created_at",
            "updated_at",
            "finished_at",
            "duration_s",
            "workers",
            "overlap",
            "host",
            "address",
            "rounds_run",
            "continues",
        )
    }
    return clean(
        {
            "key": run.key,
            "location": run.location,
            **facts,
            "mode": plan.mode,
            "objectives": objectives,
            "weights": plan.weights,
            "budget": plan.budget.to_dict() if plan.budget is not None else None,
            "seed": config.get("seed"),
            "sampler": config.get("sampler"),
            "rounds_planned": config.get("rounds"),
            "samples_per_round": config.get("samples_per_round"),
            "versions": meta.get("versions"),
            "space": [describe_dim(n, d) for n, d in plan.space.items()],
            "rounds": [r for r, _ in snap.rounds],
            "running": snap.running_rounds,
            "best": best,
            "test": meta.get("test"),
            "sealed": meta.get("state") == "tuned" and not meta.get("test"),
            "config": config,
            "version": snap.version,
            **numbers,
        }
    )


def progress(run: RunData, snap: Snapshot) -> dict[str, Any]:
    """Best score so far against evaluations and against wall time (completion order)."""
    plan = run.plan(snap)

    def compute() -> dict[str, Any]:
        names = ["round", "trial_id", "status", "score", "started_at", "duration_s"]
        if plan.budget is not None:
            names.append("budget")
        table = run.table(names, snap)
        return curve(table, plan)

    return clean(run.derived(("progress",), snap.version, compute))


def curve(table: pa.Table, plan: Plan) -> dict[str, Any]:
    n = table.num_rows
    out: dict[str, Any] = {"mode": plan.mode, "evaluations": n}
    if plan.objectives is not None:
        names = plan.objectives.names
        out["score_is"] = "score" if "score" in names else names[0]
    if plan.budget is not None:
        out["budget"] = plan.budget.max
    if n == 0:
        return out | {"steps": None, "sample": None}
    start = micros(table.column("started_at"))
    duration = floats(table.column("duration_s"))
    finish = start + np.nan_to_num(duration) * 1e6
    order = np.argsort(finish, kind="stable")  # NaN (no time) last
    counted = is_ok(table)
    if plan.budget is not None:
        at_max = pc.fill_null(pc.equal(table.column("budget"), plan.budget.max), False)
        counted &= np.asarray(at_max.to_numpy(zero_copy_only=False), dtype=bool)
    sign = 1.0 if plan.mode == "min" else -1.0
    scores = floats(table.column("score"))
    key = np.where(counted, scores * sign, np.inf)[order]
    best = np.minimum.accumulate(key)
    improved = np.flatnonzero(best < np.concatenate(([np.inf], best[:-1])))
    t0 = np.nanmin(start) if np.isfinite(start).any() else np.nan
    when = (finish[order] - t0) / 1e6
    trial_ids = table.column("trial_id").to_numpy(zero_copy_only=False)
    rounds = table.column("round").to_numpy(zero_copy_only=False)
    steps = spread(improved, MAX_POINTS)
    if improved.size and steps[-1] != improved[-1]:
        steps = np.append(steps, improved[-1])
    ok_positions = np.flatnonzero(counted[order])
    sample = np.union1d(spread(ok_positions, SAMPLE), improved)
    end = float(np.nanmax(when)) if np.isfinite(when).any() else None
    return out | {
        "best": float(best[-1] * sign) if improved.size else None,
        "t0": float(t0 / 1e6) if np.isfinite(t0) else None,
        "end": {"evals": n, "time": end},
        "steps": {
            "evals": steps + 1,
            "time": when[steps],
            "score": best[steps] * sign,
            "trial": trial_ids[order[steps]],
            "round": rounds[order[steps]],
        },
        "sample": {
            "evals": sample + 1,
            "time": when[sample],
            "score": scores[order[sample]],
        },
        "ok": int(ok_positions.size),
    }


def ranges(run: RunData, snap: Snapshot) -> dict[str, Any]:
    """The ranges of every round with each decision and its reason, and the five best
    trials of each round (their values inside the ranges)."""
    plan = run.plan(snap)

    def compute() -> dict[str, Any]:
        found = run.ranges(snap)
        rows = found.to_pylist() if found is not None else []
        for row in rows:
            row["reason"] = redact_uri(row.get("reason"))
        table = scored_table(run, snap)
        ok = np.flatnonzero(is_ok(table))
        elite: dict[str, Any] = {"round": [], "score": [], "trial": [], "values": {}}
        if ok.size:
            sign = 1.0 if plan.mode == "min" else -1.0
            rounds = table.column("round").to_numpy()[ok]
            key = floats(table.column("score"))[ok] * sign
            trial_ids = table.column("trial_id").to_numpy()[ok]
            order = np.lexsort((trial_ids, key, rounds))
            sorted_rounds = rounds[order]
            starts = np.searchsorted(sorted_rounds, sorted_rounds, side="left")
            pick = ok[order[(np.arange(order.size) - starts) < 5]]
            taken = table.take(pa.array(pick))
            elite["round"] = taken.column("round").to_pylist()
            elite["score"] = taken.column("score").to_pylist()
            elite["trial"] = taken.column("trial_id").to_pylist()
            elite["values"] = {n: shown_values(d, taken.column(n)) for n, d in plan.space.items()}
        return {
            "rows": rows,
            "space": [describe_dim(n, d) for n, d in plan.space.items()],
            "elite": elite,
            "mode": plan.mode,
        }

    return clean(run.derived(("ranges",), snap.version, compute))


def scatter(run: RunData, snap: Snapshot) -> dict[str, Any]:
    """Score against each hyperparameter: a sample of the committed ok trials, evenly spread
    over the run, always with the best ``TOP``."""
    plan = run.plan(snap)

    def compute() -> dict[str, Any]:
        table = scored_table(run, snap)
        ok = np.flatnonzero(is_ok(table))
        top = best_order(run, snap, table)[:TOP]
        rows = np.union1d(spread(ok, SAMPLE), top)
        taken = table.take(pa.array(rows, type=pa.int64()))
        is_top = np.isin(rows, top)
        return {
            "mode": plan.mode,
            "ok": int(ok.size),
            "shown": int(rows.size),
            "trial": taken.column("trial_id").to_pylist(),
            "round": taken.column("round").to_pylist(),
            "score": taken.column("score").to_pylist(),
            "top": is_top,
            "space": [describe_dim(n, d) for n, d in plan.space.items()],
            "values": {n: shown_values(d, taken.column(n)) for n, d in plan.space.items()},
        }

    return clean(run.derived(("scatter",), snap.version, compute))


def parallel(run: RunData, snap: Snapshot, k: int = 50) -> dict[str, Any]:
    """The best ``k`` committed trials (with several objectives: in Pareto order), every
    parameter's value, for parallel coordinates."""
    plan = run.plan(snap)
    k = max(1, min(int(k), 500))

    def compute() -> dict[str, Any]:
        table = scored_table(run, snap)
        rows = best_order(run, snap, table)[:k]
        taken = table.take(pa.array(rows, type=pa.int64()))
        out: dict[str, Any] = {
            "mode": plan.mode,
            "trial": taken.column("trial_id").to_pylist(),
            "round": taken.column("round").to_pylist(),
            "score": taken.column("score").to_pylist(),
            "space": [describe_dim(n, d) for n, d in plan.space.items()],
            "values": {n: shown_values(d, taken.column(n)) for n, d in plan.space.items()},
        }
        if plan.objectives is not None:
            out["objectives"] = {
                n: taken.column(n).to_pylist()
                for n in plan.objectives.names
                if n in taken.column_names
            }
        return out

    return clean(run.derived(("parallel", k), snap.version, compute))


def importance_view(run: RunData, snap: Snapshot) -> dict[str, Any]:
    """Each hyperparameter's share of the score's variation, as ``TuneResult.importance``
    computes it - on at most ``IMPORTANCE_TRIALS`` ok trials (evenly spread, the best
    always in). While a run changes, the last fit is served (``stale``) until ten times
    as long as it took has passed (at least 2 s): a 1 s fit is redone every 10 s at most."""
    plan = run.plan(snap)
    key = ("importance",)
    previous = run.cached(key)
    if (
        previous is not None
        and previous[0] != snap.version
        and time.monotonic() - previous[1]["fitted_at"]
        < max(2.0, IMPORTANCE_PAUSE * previous[1]["took_s"])
    ):
        return clean({**previous[1], "stale": True})

    def compute() -> dict[str, Any]:
        began = time.monotonic()
        table = scored_table(run, snap)
        ok = np.flatnonzero(is_ok(table))
        used = table
        if ok.size > IMPORTANCE_TRIALS:
            rows = np.union1d(spread(ok, IMPORTANCE_TRIALS - TOP), ranked(table, plan.mode)[:TOP])
            used = table.take(pa.array(rows, type=pa.int64()))
        shares = importance(used, plan.space, seed=0)
        return {
            "shares": shares,
            "ok": int(ok.size),
            "used": int(min(ok.size, IMPORTANCE_TRIALS)),
            "min_trials": MIN_TRIALS,
            "fitted_at": time.monotonic(),
            "took_s": time.monotonic() - began,
            "of": "score" if plan.objectives is None else plan.objectives.names[0],
        }

    result = run.derived(key, snap.version, compute)
    return clean({**result, "stale": False})


def pareto(run: RunData, snap: Snapshot) -> dict[str, Any]:
    """The front of a multi-objective run (every member, up to 500), the member picked as
    the result, and a sample of the other counted trials."""
    plan = run.plan(snap)
    if plan.objectives is None:
        raise BadQuery("this run has one objective; the Pareto front is for several")
    objectives = plan.objectives

    def compute() -> dict[str, Any]:
        table = committed_table(run, snap)
        for name in objectives.names:  # no trial returned it yet (all failed, say)
            if name not in table.column_names:
                table = table.append_column(name, pa.nulls(table.num_rows, pa.float64()))
        counted = counted_rows(table, objectives)
        front = front_of(table, objectives)
        sample = np.union1d(spread(counted, SAMPLE), front[:500])
        taken = table.take(pa.array(sample, type=pa.int64()))
        shown = table.take(pa.array(front[:500], type=pa.int64()))
        best = best_of(run, snap)
        return {
            "names": list(objectives.names),
            "modes": list(objectives.modes),
            "counted": int(counted.size),
            "size": int(front.size),
            "picked": best["trial_id"] if best else None,
            "weights": plan.weights,
            "front": {
                "trial": shown.column("trial_id").to_pylist(),
                "round": shown.column("round").to_pylist(),
                "objectives": {n: shown.column(n).to_pylist() for n in objectives.names},
                "values": {n: shown_values(d, shown.column(n)) for n, d in plan.space.items()},
            },
            "sample": {n: taken.column(n).to_pylist() for n in objectives.names},
            "space": [describe_dim(n, d) for n, d in plan.space.items()],
        }

    return clean(run.derived(("pareto",), snap.version, compute))


# -- the worker timeline ------------------------------------------------------------------
def _busy_until(
    starts: np.ndarray, ends: np.ndarray, edges: np.ndarray, sorted_starts: bool = False
) -> np.ndarray:
    """Busy time of the intervals [starts, ends) before each of ``edges`` (any overlaps
    counted twice): sum over s < t of (t - s) minus sum over e < t of (t - e)."""
    s = starts if sorted_starts else np.sort(starts)
    e = ends if np.all(ends[1:] >= ends[:-1]) else np.sort(ends)  # one worker: in order
    cs = np.concatenate(([0.0], np.cumsum(s)))
    ce = np.concatenate(([0.0], np.cumsum(e)))
    a = np.searchsorted(s, edges, side="left")
    b = np.searchsorted(e, edges, side="left")
    return (a * edges - cs[a]) - (b * edges - ce[b])


def workers(run: RunData, snap: Snapshot) -> dict[str, Any]:
    """Which worker ran what and when. Per worker: trials, busy and idle time over the run's
    span. Small runs: one bar per trial; large ones: busy share per worker and time bin."""

    def compute() -> dict[str, Any]:
        names = ["worker", "started_at", "duration_s", "status", "round", "trial_id", "score"]
        table = run.table(names, snap)
        start = micros(table.column("started_at")) / 1e6
        duration = floats(table.column("duration_s"))
        timed = np.flatnonzero(np.isfinite(start) & np.isfinite(duration))
        if timed.size == 0:
            return {"workers": [], "stats": [], "mode": "none", "trials": table.num_rows}
        if timed.size < table.num_rows:
            table = table.take(pa.array(timed, type=pa.int64()))
            start, duration = start[timed], duration[timed]
        duration = np.maximum(duration, 0.0)
        t0 = float(start.min())
        start = start - t0
        end = start + duration
        span = float(end.max()) or 1e-9
        encoded = pc.dictionary_encode(pc.fill_null(table.column("worker"), "?")).combine_chunks()
        labels = [str(v) for v in encoded.dictionary.to_pylist()]
        codes = np.asarray(encoded.indices.to_numpy(zero_copy_only=False), dtype=int)
        k = len(labels)
        busy = np.bincount(codes, weights=duration, minlength=k)
        count = np.bincount(codes, minlength=k)
        by_worker = np.lexsort((start, codes))  # each worker's trials in the order they ran
        bounds = np.searchsorted(codes[by_worker], np.arange(k + 1))
        first = start[by_worker[bounds[:-1]]]
        last = np.maximum.reduceat(end[by_worker], bounds[:-1])
        order = sorted(range(k), key=lambda i: labels[i])
        stats = [
            {
                "worker": labels[i],
                "trials": int(count[i]),
                "busy_s": float(busy[i]),
                "idle_s": float(span - busy[i]),
                "first_s": float(first[i]),
                "last_s": float(last[i]),
                "utilization": float(busy[i] / span),
            }
            for i in order
        ]
        out: dict[str, Any] = {
            "t0": t0,
            "span_s": span,
            "workers": [labels[i] for i in order],
            "stats": stats,
            "trials": int(table.num_rows),
            "utilization": float(busy.sum() / (span * k)),
        }
        edges = np.linspace(0.0, span, TIME_BINS + 1)
        width = edges[1] - edges[0]
        total = np.diff(_busy_until(start, end, edges)) / (width * k)
        out["bins"] = {"edges": edges.round(3), "busy_share": total.round(4)}
        if table.num_rows <= RAW_TIMELINE:
            out["mode"] = "bars"
            out["bars"] = {
                "worker": [labels[c] for c in codes],
                "start": start.round(6),
                "duration": duration.round(6),
                "status": table.column("status").to_pylist(),
                "round": table.column("round").to_pylist(),
                "trial": table.column("trial_id").to_pylist(),
                "score": table.column("score").to_pylist(),
            }
            return out
        out["mode"] = "heatmap"
        keep = sorted(
            sorted(range(k), key=lambda i: -busy[i])[:TIMELINE_WORKERS], key=lambda i: labels[i]
        )
        rows = []
        for i in keep:
            members = by_worker[bounds[i] : bounds[i + 1]]  # sorted by start already
            used = np.diff(_busy_until(start[members], end[members], edges, sorted_starts=True))
            rows.append(np.clip(used / width, 0.0, None).round(3))
        out["heatmap"] = {"workers": [labels[i] for i in keep], "busy_share": rows}
        out["hidden_workers"] = k - len(keep)
        return out

    return clean(run.derived(("workers",), snap.version, compute))


# -- the trial table ----------------------------------------------------------------------
_WHERE = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|!=|==|=|<|>|~)\s*(.*?)\s*$")
_OPS = {"=": "equal", "==": "equal", "!=": "not_equal", "<": "less", "<=": "less_equal"}
_OPS |= {">": "greater", ">=": "greater_equal"}


_FIRST = ("round", "trial_id", "status", "score")
_FIDELITY = ("budget", "rung", "config_id")
_LAST = ("worker", "started_at", "duration_s", "error")


def table_columns(run: RunData, snap: Snapshot) -> list[str]:
    """The trial table's columns, in the order the page shows them."""
    plan = run.plan(snap)
    schema = run.schema(snap)
    objectives = [n for n in (plan.objectives.names if plan.objectives else ()) if n != "score"]
    params = list(plan.space)
    fidelity = list(_FIDELITY) if plan.budget is not None else []
    taken = {*_FIRST, *objectives, *params, *_FIDELITY, *_LAST, *HIDDEN_COLUMNS}
    metrics = [n for n in schema.names if n not in taken]
    return present(schema, [*_FIRST, *objectives, *params, *metrics, *fidelity, *_LAST])


def _where_mask(table: pa.Table, clause: str) -> pa.ChunkedArray:
    found = _WHERE.match(clause)
    if not found:
        raise BadQuery(
            f"filter {clause!r}: expected COLUMN OP VALUE with OP one of = != < <= > >= ~ "
            "(for example: score < 0.1, act = relu, error ~ memory)"
        )
    name, op, raw = found.groups()
    if name not in table.column_names:
        raise BadQuery(f"filter {clause!r}: no column {name!r}")
    column = table.column(name)
    kind = column.type
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        value = value[1:-1]
    if value.lower() in ("null", "none") and op in ("=", "==", "!="):
        return pc.is_null(column) if op != "!=" else pc.is_valid(column)
    if op == "~":
        if not pa.types.is_string(kind) and not pa.types.is_large_string(kind):
            raise BadQuery(f"filter {clause!r}: ~ (contains) is for text columns")
        return pc.match_substring(column, value, ignore_case=True)
    scalar: Any
    if pa.types.is_integer(kind) or pa.types.is_floating(kind):
        try:
            scalar = float(value)
        except ValueError:
            raise BadQuery(
                f"filter {clause!r}: {name} holds numbers, {value!r} is not one"
            ) from None
        column = pc.cast(column, pa.float64())
    elif pa.types.is_boolean(kind):
        if value.lower() not in ("true", "false"):
            raise BadQuery(f"filter {clause!r}: {name} is true or false")
        scalar = value.lower() == "true"
    elif pa.types.is_string(kind) or pa.types.is_large_string(kind):
        scalar = value
    else:
        raise BadQuery(f"filter {clause!r}: {name} cannot be filtered (type {kind})")
    return getattr(pc, _OPS[op])(column, scalar)


def _int_arg(query: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    raw = query.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(str(raw))
    except ValueError:
        raise BadQuery(f"{name}: expected a whole number, got {raw!r}") from None
    return max(low, min(high, value))


def trials(run: RunData, snap: Snapshot, query: Mapping[str, Any]) -> dict[str, Any]:
    """One page of the trial table, filtered and sorted here.

    ``query``: ``offset``, ``limit`` (at most 500), ``sort`` (a column; default
    ``started_at``), ``order`` (``asc``/``desc``; default desc), ``status`` (comma-separated),
    ``round``, ``q`` (text in the error or the worker), ``where`` (a list of ``COLUMN OP
    VALUE`` filters, OP one of ``= != < <= > >= ~``).
    """
    columns = table_columns(run, snap)
    offset = _int_arg(query, "offset", 0, 0, 2**62)
    limit = _int_arg(query, "limit", 50, 1, PAGE_MAX)
    sort = str(query.get("sort") or "started_at")
    if sort not in columns and sort != PENDING:
        raise BadQuery(f"sort: no column {sort!r} (columns: {', '.join(columns)})")
    order = str(query.get("order") or "desc")
    if order not in ("asc", "desc"):
        raise BadQuery(f"order: asc or desc, not {order!r}")
    statuses = [s for s in str(query.get("status") or "").split(",") if s]
    bad = [s for s in statuses if s not in STATUSES]
    if bad:
        raise BadQuery(f"status: {bad[0]!r} is not one of {', '.join(STATUSES)}")
    round_arg = query.get("round")
    round_index = _int_arg(query, "round", -1, -1, 2**31) if round_arg not in (None, "") else None
    text = str(query.get("q") or "").strip()
    where = query.get("where") or []
    if isinstance(where, str):
        where = [where]
    clauses = [c for c in where if str(c).strip()]
    needed = ["trial_id", sort, "status", "round"]
    for clause in clauses:
        found = _WHERE.match(str(clause))
        if found and found.group(1) in columns + [PENDING]:
            needed.append(found.group(1))
    if text:
        needed += ["error", "worker"]
    filters = (tuple(statuses), round_index, text, tuple(map(str, clauses)))

    def select() -> np.ndarray:
        table = run.table([c for c in needed if c != PENDING], snap)
        mask = pa.chunked_array([pa.array(np.ones(table.num_rows, dtype=bool))])
        if statuses:
            mask = pc.and_(mask, pc.is_in(table.column("status"), pa.array(statuses)))
        if round_index is not None:
            mask = pc.and_(mask, pc.equal(table.column("round"), round_index))
        if text:
            hits = pc.or_(
                *(
                    pc.fill_null(pc.match_substring(table.column(n), text, ignore_case=True), False)
                    for n in ("error", "worker")
                )
            )
            mask = pc.and_(mask, hits)
        for clause in clauses:
            mask = pc.and_(mask, pc.fill_null(_where_mask(table, str(clause)), False))
        rows = np.flatnonzero(np.asarray(pc.fill_null(mask, False).to_numpy(zero_copy_only=False)))
        if rows.size == 0:
            return rows
        keys = table.select([sort, "trial_id"]).take(pa.array(rows, type=pa.int64()))
        direction = "ascending" if order == "asc" else "descending"
        sort_keys = [(sort, direction)]
        if sort != "trial_id":
            sort_keys.append(("trial_id", direction))
        ordered = pc.sort_indices(keys, sort_keys=sort_keys)  # nulls last
        return rows[np.asarray(ordered.to_numpy())]

    selected = run.derived(("trials", filters, sort, order), snap.version, select)
    page = selected[offset : offset + limit]
    shown = run.table(columns, snap).take(pa.array(page, type=pa.int64()))
    plan = run.plan(snap)
    data = {}
    for name in columns:
        column = shown.column(name)
        if name in plan.space:
            data[name] = shown_values(plan.space[name], column)
        elif pa.types.is_timestamp(column.type):
            data[name] = [
                None if v is None else v.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
                for v in column.to_pylist()
            ]
        else:
            data[name] = column.to_pylist()
    data["error"] = [redact_uri(e) if e else e for e in data.get("error", [])]
    rows = [[data[n][i] for n in columns] for i in range(len(page))]
    kinds = {n: ("param" if n in plan.space else "column") for n in columns}
    kinds |= {n: "metric" for n in columns if n not in kinds or kinds[n] == "column"}
    kinds |= {n: "column" for n in (*_FIRST, *_LAST, *_FIDELITY) if n in kinds}
    total = run.row_count(snap)
    return clean(
        {
            "columns": [{"name": n, "kind": kinds[n]} for n in columns],
            "rows": rows,
            "pending": shown.column(PENDING).to_pylist(),
            "total": total[0] + total[1],
            "matched": int(selected.size),
            "offset": offset,
            "limit": limit,
            "sort": sort,
            "order": order,
            "version": snap.version,
        }
    )


# -- several runs side by side ------------------------------------------------------------
def compare(runs: Sequence[RunData]) -> dict[str, Any]:
    return clean({"runs": [run.consistent(functools.partial(_compared, run)) for run in runs]})


def _compared(run: RunData, snap: Snapshot) -> dict[str, Any]:
    meta = run.meta(snap)
    plan = run.plan(snap)
    best = best_of(run, snap)
    line = progress(run, snap)
    committed, pending = run.row_count(snap)
    counts = summary(run, snap)["counts"]
    test = meta.get("test") or {}
    return {
        "key": run.key,
        "name": meta.get("name"),
        "state": meta.get("state"),
        "location": run.location,
        "mode": plan.mode,
        "objectives": list(plan.objectives.names) if plan.objectives else None,
        "trials": committed + pending,
        "ok": counts["committed"].get(STATUS_OK, 0) + counts["running"].get(STATUS_OK, 0),
        "rounds": len(snap.rounds),
        "duration_s": meta.get("duration_s"),
        "best": best,
        "test_score": test.get("score"),
        "curve": {"steps": line.get("steps"), "end": line.get("end")},
        "version": snap.version,
    }
