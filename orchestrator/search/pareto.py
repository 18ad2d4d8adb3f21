"""Several objectives: Pareto ranks, crowding, the front, and its hypervolume.

A sweep with ``objectives: [val_loss, latency_ms]`` and ``mode: [min, max]`` has no single
"best": a trial *dominates* another when it is at least as good on every objective and
better on one. Trials are ordered by their Pareto rank (0: nobody dominates them - the
front; 1: only front trials do; ...), ties within a rank by crowding distance (trials in
sparse parts of their front first, the ends of a front before anything else, as NSGA-II
does), then by trial id. Narrowing keeps the head of that order as its elite, so the ranges
close around the whole front rather than one end of it.

Everything here works on plain arrays of objective values turned into minimisation (a
``max`` objective is negated); nothing touches Ray or the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from workers.evaluate import RESERVED_COLUMNS, STATUS_OK

MODES = ("min", "max")


@dataclass(frozen=True)
class Objectives:
    """The names of a multi-objective sweep's objectives (keys of the objective's dict
    return, columns of the trial table) and each one's direction."""

    names: tuple[str, ...]
    modes: tuple[str, ...]

    def __post_init__(self) -> None:
        names, modes = tuple(self.names), tuple(self.modes)
        if len(names) < 2:
            raise ValueError(
                f"objectives: give at least two names for a multi-objective sweep, got "
                f"{list(names)!r} (one objective: return it as the score)"
            )
        for name in names:
            if not isinstance(name, str) or not name.isidentifier():
                raise ValueError(f"objectives: {name!r} must be an identifier")
            if name in RESERVED_COLUMNS and name != "score":
                raise ValueError(
                    f"objectives: {name!r} is a column of the trial table already (the row's "
                    f"own {name}); return the objective under another name, like val_{name}"
                )
        if len(set(names)) != len(names):
            raise ValueError(f"objectives: a name is given twice in {list(names)!r}")
        if len(modes) != len(names):
            raise ValueError(
                f"mode: one direction per objective ({len(names)}: {list(names)!r}), "
                f"got {list(modes)!r}"
            )
        bad = [m for m in modes if m not in MODES]
        if bad:
            raise ValueError(f"mode: each entry must be 'min' or 'max', got {bad[0]!r}")
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "modes", modes)

    @property
    def signs(self) -> np.ndarray:
        """+1 for a ``min`` objective, -1 for ``max``: values x signs are minimised."""
        return np.array([1.0 if m == "min" else -1.0 for m in self.modes])

    def to_dict(self) -> dict[str, Any]:
        return {"objectives": list(self.names), "mode": list(self.modes)}


def resolve(mode: Any, objectives: Any) -> tuple[Any, Objectives | None]:
    """``mode`` and ``objectives`` as given -> (the mode of the ``score`` column, the
    objectives or None). With objectives, ``mode`` lists one direction each; the score column
    is the objective named ``score`` if there is one, else the first."""
    if objectives is None:
        if isinstance(mode, (list, tuple)):
            raise ValueError(
                f"mode: a list of directions ({list(mode)!r}) needs `objectives`, the names of "
                "the objectives the dict result holds"
            )
        return mode, None
    if isinstance(objectives, str) or not isinstance(objectives, (list, tuple)):
        raise ValueError(f"objectives: expected a list of names, got {objectives!r}")
    if isinstance(mode, str):
        raise ValueError(
            f"mode: with objectives {list(objectives)!r}, give one direction each, like "
            f"[{', '.join('min' for _ in objectives)}]"
        )
    parsed = Objectives(tuple(objectives), tuple(mode) if isinstance(mode, (list, tuple)) else ())
    first = parsed.names.index("score") if "score" in parsed.names else 0
    return parsed.modes[first], parsed


def pareto_ranks(values: np.ndarray) -> np.ndarray:
    """Each row's Pareto rank (0 = non-dominated) among ``values`` (n x k, minimised)."""
    n = values.shape[0]
    ranks = np.full(n, -1, dtype=int)
    if n == 0:
        return ranks
    le = np.all(values[:, None, :] <= values[None, :, :], axis=2)
    lt = np.any(values[:, None, :] < values[None, :, :], axis=2)
    dominates = le & lt  # dominates[i, j]: i dominates j
    count = dominates.sum(axis=0)  # how many dominate j
    rank, current = 0, np.flatnonzero(count == 0)
    while current.size:
        ranks[current] = rank
        count = count - dominates[current].sum(axis=0)
        count[ranks >= 0] = -1
        current = np.flatnonzero(count == 0)
        rank += 1
    return ranks


def crowding(values: np.ndarray) -> np.ndarray:
    """Crowding distance of each row within ``values`` (one front): the ends are infinite,
    others the sum over objectives of the gap between their neighbours (range-normalised)."""
    n, k = values.shape
    out = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(k):
        order = np.argsort(values[:, j], kind="stable")
        column = values[order, j]
        span = column[-1] - column[0]
        out[order[0]] = out[order[-1]] = np.inf
        if span > 0:
            out[order[1:-1]] += (column[2:] - column[:-2]) / span
    return out


def objective_values(table: pa.Table, objectives: Objectives, rows: np.ndarray) -> np.ndarray:
    """The objectives of ``rows`` as an n x k array to minimise."""
    columns = [
        table.column(name).take(pa.array(rows)).to_numpy(zero_copy_only=False).astype(float)
        for name in objectives.names
    ]
    return np.column_stack(columns) * objectives.signs if columns else np.empty((0, 0))


def counted(table: pa.Table, objectives: Objectives) -> np.ndarray:
    """Rows that count: status ok and every objective a finite number."""
    ok = pc.equal(table.column("status"), STATUS_OK).to_numpy(zero_copy_only=False)
    for name in objectives.names:
        if name not in table.column_names:
            return np.empty(0, dtype=int)
        values = table.column(name).to_numpy(zero_copy_only=False).astype(float)
        ok &= np.isfinite(values)
    return np.flatnonzero(ok)


def pareto_order(table: pa.Table, objectives: Objectives) -> tuple[np.ndarray, np.ndarray]:
    """The counted rows, best first (Pareto rank, then crowding, then trial id), and the
    Pareto rank of each (aligned)."""
    rows = counted(table, objectives)
    if rows.size == 0:
        return rows, rows
    values = objective_values(table, objectives, rows)
    ranks = pareto_ranks(values)
    crowd = np.zeros(rows.size)
    for r in np.unique(ranks):
        members = np.flatnonzero(ranks == r)
        crowd[members] = crowding(values[members])
    trial_ids = table.column("trial_id").to_numpy()[rows]
    order = np.lexsort((trial_ids, -crowd, ranks))
    return rows[order], ranks[order]


def front_mask(table: pa.Table, objectives: Objectives) -> np.ndarray:
    """Which rows of ``table`` are on the Pareto front."""
    mask = np.zeros(table.num_rows, dtype=bool)
    rows, ranks = pareto_order(table, objectives)
    mask[rows[ranks == 0]] = True
    return mask


def front_rows(table: pa.Table, objectives: Objectives) -> np.ndarray:
    """Rows of the Pareto front (rank 0), ordered by the first objective."""
    rows, ranks = pareto_order(table, objectives)
    front = rows[ranks == 0]
    if front.size == 0:
        return front
    first = objective_values(table, objectives, front)[:, 0]
    return front[np.lexsort((table.column("trial_id").to_numpy()[front], first))]


def check_weights(weights: Any, objectives: Objectives) -> dict[str, float] | None:
    """``pick: {weights: {name: w}}`` checked: every name an objective, each w >= 0, one > 0."""
    if weights is None:
        return None
    if not isinstance(weights, dict) or not weights:
        raise ValueError(
            "pick.weights: expected a mapping of objective names to weights, like "
            f"{{{objectives.names[0]}: 1.0, {objectives.names[1]}: 0.1}}; got {weights!r}"
        )
    out = {}
    for name, w in weights.items():
        if name not in objectives.names:
            raise ValueError(
                f"pick.weights: {name!r} is not an objective ({', '.join(objectives.names)})"
            )
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not np.isfinite(w) or w < 0:
            raise ValueError(f"pick.weights: {name}'s weight must be a number >= 0, got {w!r}")
        out[name] = float(w)
    if not any(out.values()):
        raise ValueError("pick.weights: at least one weight must be > 0")
    return out


def pick_row(
    table: pa.Table, objectives: Objectives, weights: dict[str, float] | None = None
) -> int | None:
    """The front's member the sweep reports as its result: the one with the least weighted
    sum of the objectives (each turned to a cost: a ``max`` objective counts negated) under
    ``weights``, or, without weights, the best on the first objective. None: nothing counts."""
    front = front_rows(table, objectives)
    if front.size == 0:
        return None
    values = objective_values(table, objectives, front)
    if weights is None:
        cost = values[:, 0]
    else:
        cost = values @ np.array([weights.get(n, 0.0) for n in objectives.names])
    trial_ids = table.column("trial_id").to_numpy()[front]
    return int(front[np.lexsort((trial_ids, cost))[0]])


def describe_pick(objectives: Objectives, weights: dict[str, float] | None) -> str:
    """How the result is picked from the front, in words (a ``max`` objective's term is
    subtracted)."""
    if not weights:
        return f"the best {objectives.names[0]}"
    terms = []
    for name, mode in zip(objectives.names, objectives.modes):
        w = weights.get(name, 0.0)
        if w:
            terms.append(f"{'-' if mode == 'max' else '+'} {w:g} x {name}")
    text = " ".join(terms)
    return "the least " + (text[2:] if text.startswith("+") else "-" + text[2:])


def hypervolume_2d(points: np.ndarray, reference: Sequence[float]) -> float:
    """The area dominated by ``points`` (n x 2, minimised) and bounded by ``reference``
    (a point worse than every one counted; points beyond it add nothing)."""
    ref = np.asarray(reference, dtype=float)
    if points.size == 0:
        return 0.0
    inside = points[np.all(points < ref, axis=1)]
    if inside.size == 0:
        return 0.0
    inside = inside[np.lexsort((inside[:, 1], inside[:, 0]))]  # by x, then y
    stairs = []  # the non-dominated staircase: y falls strictly as x grows
    low_y = np.inf
    for x, y in inside:
        if y < low_y:
            stairs.append((x, y))
            low_y = y
    area = 0.0
    for i, (x, y) in enumerate(stairs):
        right = stairs[i + 1][0] if i + 1 < len(stairs) else ref[0]
        area += (right - x) * (ref[1] - y)
    return float(area)


__all__ = [
    "Objectives",
    "check_weights",
    "counted",
    "crowding",
    "describe_pick",
    "front_mask",
    "front_rows",
    "hypervolume_2d",
    "objective_values",
    "pareto_order",
    "pareto_ranks",
    "pick_row",
    "resolve",
]
