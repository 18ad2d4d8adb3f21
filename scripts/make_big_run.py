#!/usr/bin/env python3
"""Write a synthetic run folder with many trials - by default 1,000,000 in 4 rounds - in the
run store's own format, in a few seconds: run.json through ``RunStore.create``, each round's
rows in the trial table's schema (``trial_schema``) through ``RunStore.write_round``, and the
ranges of every round (``ranges_rows``) through ``RunStore.write_ranges``.

    python scripts/make_big_run.py runs/big                  # 1,000,000 trials, finished
    python scripts/make_big_run.py runs/big --trials 200000 --running   # last round running

It holds what a real run holds: a conditional parameter (``dropout`` only for ``relu``), an
integer and a log-scaled one, a metric column, failed and invalid trials with their errors,
64 workers whose trials take lognormal times (with gaps between rounds: idle time), ranges
that narrow round by round with a reason each. With ``--running`` the last round is left as
partial commits (``trials/_partial/``) and run.json says ``running``.

Used by the dashboard's tests and to measure its load times (docs: README, sweep dashboard).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from orchestrator.data.ranges import ranges_rows
from orchestrator.data.run_store import RunStore
from orchestrator.data.trials import trial_schema
from orchestrator.search.narrowing import Decision
from orchestrator.search.space import Choice, Float, Int, SearchSpace
from orchestrator.search.specs import space_to_dict
from workers.evaluate import RESULT_SCHEMA

SPACE = SearchSpace(
    {
        "x": Float(0.0, 1.0),
        "lr": Float(1e-5, 1e-1, log=True),
        "layers": Int(1, 8),
        "act": Choice(["relu", "tanh", "sigmoid"]),
        "dropout": Float(0.0, 0.5, when={"act": "relu"}),
    }
)
OPTIMUM = {"x": 0.3, "lr": 1e-3, "layers": 3, "dropout": 0.1}
METRICS = pa.schema([("train_loss", pa.float64())])
ERRORS = [
    "ValueError: the loss diverged at step 120",
    "RuntimeError: CUDA out of memory (tried to allocate 2.00 GiB)",
    "objective returned nan",
]


def _narrowed(space: SearchSpace, shrink: float) -> tuple[SearchSpace, list[Decision]]:
    """Each numeric range ``shrink`` times as wide, around the optimum (in its own scale)."""
    dims, decisions = {}, []
    for name, dim in space.items():
        if isinstance(dim, Choice):
            dims[name] = dim
            decisions.append(Decision(name, "keep", "every choice reached the elite"))
            continue
        lo, hi = dim.scaled_bounds
        centre = float(dim.to_scaled(np.array([OPTIMUM[name]]))[0])
        half = (hi - lo) * shrink / 2
        lo, hi = max(lo, centre - half), min(hi, centre + half)
        low, high = dim.bounds_from_scaled(lo, hi)
        dims[name] = dim.with_bounds(low, high)
        decisions.append(
            Decision(name, "shrink", f"elite span plus margin; width x{shrink:g} of the last")
        )
    return SearchSpace.narrowed(dims), decisions


def _sample(space: SearchSpace, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name, dim in space.items():
        if isinstance(dim, Choice):
            out[name] = rng.integers(0, len(dim.values), n)
            continue
        lo, hi = dim.scaled_bounds
        values = dim.from_scaled(rng.uniform(lo, hi, n))
        if isinstance(dim, Int):
            values = np.clip(np.floor(values), dim.low, dim.high).astype(np.int64)
        out[name] = values
    return out


def _round_rows(
    space: SearchSpace,
    n: int,
    first_id: int,
    round_index: int,
    begin_s: float,
    workers: int,
    rng: np.random.Generator,
) -> tuple[dict[str, Any], float]:
    """The columns of one round (numpy arrays; choices as indices), and when it ended."""
    values = _sample(space, n, rng)
    act = values["act"]
    relu = act == 0
    loss = (values["x"] - 0.3) ** 2 + ((np.log10(values["lr"]) + 3) / 4) ** 2
    loss += 0.002 * np.abs(values["layers"] - 3) + np.where(act == 1, 0.01, 0.03) * (act != 0)
    loss += np.where(relu, (values["dropout"] - 0.1) ** 2, 0.0)
    loss += rng.normal(0, 0.002, n) ** 2
    status = np.zeros(n, dtype=np.int8)  # 0 ok, 1 failed, 2 invalid
    draw = rng.random(n)
    status[draw < 0.01] = 1
    status[(draw >= 0.01) & (draw < 0.015)] = 2
    error = np.where(status == 1, rng.integers(0, 2, n), np.where(status == 2, 2, -1))
    duration = rng.lognormal(-1.0, 0.5, n)
    per = math.ceil(n / workers)
    padded = np.zeros(per * workers)
    padded[:n] = duration
    ends = np.cumsum(padded.reshape(per, workers), axis=0).reshape(-1)[:n]
    started = begin_s + ends - duration
    cols: dict[str, Any] = dict(values)
    cols.update(
        relu=relu,
        score=loss,
        status=status,
        error=error,
        worker=np.arange(n) % workers,
        started=started,
        duration=duration,
        trial_id=np.arange(first_id, first_id + n),
        round=round_index,
    )
    return cols, float(started.max() + duration.max())


def _dictionary(codes: np.ndarray, labels: list[str]) -> pa.Array:
    """Text from a few labels by index (-1: null), built without a Python loop."""
    mask = codes < 0
    indices = pa.array(np.where(mask, 0, codes).astype(np.int32), mask=mask)
    return pa.DictionaryArray.from_arrays(indices, pa.array(labels)).cast(pa.string())


def _arrays(cols: dict[str, Any], sweep_id: str, workers: int) -> dict[str, pa.Array]:
    n = len(cols["score"])
    status = cols["status"]
    ok = status == 0
    labels = [f"worker-{w:03d}" for w in range(workers)]
    started = (cols["started"] * 1e6).astype(np.int64)
    act = SPACE["act"]
    assert isinstance(act, Choice)
    return {
        "sweep_id": pa.array(np.full(n, sweep_id)),
        "round": pa.array(np.full(n, cols["round"], dtype=np.int32)),
        "trial_id": pa.array(cols["trial_id"]),
        "config_id": pa.array(cols["trial_id"]),
        "rung": pa.array(np.zeros(n, dtype=np.int32)),
        "budget": pa.nulls(n, pa.float64()),
        "shard": pa.array((np.arange(n) // 64).astype(np.int32)),
        "worker": _dictionary(cols["worker"], labels),
        "status": _dictionary(status.astype(np.int64), ["ok", "failed", "invalid"]),
        "score": pa.array(cols["score"], mask=~ok),
        "x": pa.array(cols["x"]),
        "lr": pa.array(cols["lr"]),
        "layers": pa.array(cols["layers"]),
        "act": _dictionary(cols["act"], [str(v) for v in act.values]),
        "dropout": pa.array(cols["dropout"], mask=~cols["relu"]),
        "train_loss": pa.array(cols["score"] * 0.9, mask=~ok),
        "error": _dictionary(cols["error"], ERRORS),
        "started_at": pa.array(started).cast(pa.timestamp("us", tz="UTC")),
        "duration_s": pa.array(cols["duration"]),
    }


def make_big_run(
    run_dir: str | Path,
    *,
    trials: int = 1_000_000,
    rounds: int = 4,
    workers: int = 64,
    seed: int = 0,
    running: bool = False,
    parts: int = 5,
) -> Path | str:
    """Write the run folder (which must not hold a run yet); return its path (the URI for a
    run on another filesystem)."""
    rng = np.random.default_rng(seed)
    per_round = trials // rounds
    created = datetime(2026, 1, 1, tzinfo=timezone.utc)
    sweep_id = f"big-{seed:08x}"
    metadata = {
        "format": 1,
        "sweep_id": sweep_id,
        "name": "big",
        "state": "running",
        "created_at": created.isoformat(timespec="seconds"),
        "config": {
            "name": "big",
            "objective": "synthetic:bowl",
            "mode": "min",
            "space": space_to_dict(SPACE),
            "rounds": rounds,
            "samples_per_round": per_round,
            "seed": seed,
            "workers": workers,
            "sampler": "random",
            "budget": None,
            "overlap": 0,
        },
        "versions": {"python": sys.version.split()[0]},
        "workers": workers,
        "overlap": 0,
    }
    store = RunStore.create(run_dir, metadata)
    schema = trial_schema(SPACE, METRICS)
    space = SPACE
    ranges = []
    clock = created.timestamp()
    first_id = 0
    best: dict[str, Any] | None = None
    for r in range(rounds):
        n = per_round if r < rounds - 1 else trials - per_round * (rounds - 1)
        if r == 0:
            decisions = [Decision(name, "initial", "the configured range") for name in SPACE]
        else:
            space, decisions = _narrowed(space, 0.6)
        ranges.append(ranges_rows(r, space, SPACE, decisions))
        cols, clock_end = _round_rows(space, n, first_id, r, clock, workers, rng)
        arrays = _arrays(cols, sweep_id, workers)
        if not (running and r == rounds - 1):
            scores = np.where(cols["status"] == 0, cols["score"], np.inf)
            i = int(np.argmin(scores))
            if best is None or scores[i] < best["score"]:
                row = {name: arrays[name][i].as_py() for name in SPACE}
                best = {
                    "trial_id": int(cols["trial_id"][i]),
                    "round": r,
                    "score": float(scores[i]),
                    "config": {k: v for k, v in row.items() if v is not None},
                }
        table = pa.table([arrays[f.name] for f in schema], schema=schema)
        if running and r == rounds - 1:
            raw = table.select([*RESULT_SCHEMA.names[:5], "train_loss", *RESULT_SCHEMA.names[5:]])
            raw = raw.set_column(0, "trial_id", pa.array(np.arange(n, dtype=np.int64)))
            done = raw.slice(0, n // 2)  # half the round has finished so far
            step = math.ceil(done.num_rows / parts)
            for seq in range(parts):
                store.write_partial(r, seq, done.slice(seq * step, step), work="synthetic")
            break
        store.write_round(r, table)
        store.write_ranges(pa.concat_tables(ranges))
        first_id += n
        clock = clock_end + 2.0  # the coordinator narrows and samples: workers idle
    if not running:
        final, decisions = _narrowed(space, 0.6)
        ranges.append(ranges_rows(rounds, final, SPACE, decisions, sampled=False))
        store.write_ranges(pa.concat_tables(ranges))
    finished = datetime.fromtimestamp(clock, tz=timezone.utc)
    store.update_metadata(
        state="running" if running else "finished",
        rounds_run=rounds - 1 if running else rounds,
        best=best,
        updated_at=finished.isoformat(timespec="seconds"),
        **(
            {}
            if running
            else {
                "stop_reason": f"ran all {rounds} rounds",
                "finished_at": finished.isoformat(timespec="seconds"),
                "duration_s": round(clock - created.timestamp(), 3),
            }
        ),
    )
    return store.run_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir")
    parser.add_argument("--trials", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--workers", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--running", action="store_true", help="leave the last round running")
    args = parser.parse_args(argv)
    began = time.perf_counter()
    path = make_big_run(
        args.run_dir,
        trials=args.trials,
        rounds=args.rounds,
        workers=args.workers,
        seed=args.seed,
        running=args.running,
    )
    print(f"{path}: {args.trials:,} trials in {time.perf_counter() - began:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
