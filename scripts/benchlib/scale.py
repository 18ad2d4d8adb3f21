"""Scaling benchmark: how well each tuner keeps W workers busy on heavy-tailed evaluations.

The workload is the same for every tool: a 2-parameter objective (``x``, ``y`` in [0, 1],
``score = (x - 0.3)**2 + (y - 0.7)**2``, minimised) that sleeps a heavy-tailed time per
evaluation, lognormal with median ``--median`` (0.2 s) and ``--sigma`` (1):
``median * exp(sigma * z)``, z standard normal. z is a deterministic function of the
configuration (the rounded ``x``, ``y`` hashed into a numpy seed), so every tool draws from
the same distribution and a configuration always costs the same. Sleeping costs no CPU, so
many simulated workers share the 2 CPUs of the local Ray.

Each tool runs ``--evals`` (640) evaluations at each worker count of ``--workers`` (4 16
64); each evaluation's start and end wall-clock time (``time.time()``) is taken in the
worker:

- ``sweep``: ``orchestrator.tune`` with ``rounds = evals // --samples-per-round`` rounds of
  ``--samples-per-round`` (32), ``seed=0``, ``tolerance=0.0`` (no stop on convergence, so
  it always runs ``evals`` evaluations; checked), W workers with ``num_cpus = 2 / W`` each,
  default sampler and narrowing, a fresh temporary run directory. The start and end of an
  evaluation are the trial table's ``started_at`` and ``started_at + duration_s``.
  ``--overlap VALUE`` (``auto`` or a number) is passed as ``tune(overlap=...)`` and
  ``--sweep-option NAME=VALUE`` as any other keyword (VALUE read as JSON, else as text);
  without them nothing extra is passed. A keyword this checkout's ``tune`` does not take is
  refused before anything runs.
- ``sweep_pool``: the same call, its W workers started beforehand (untimed) in a
  ``WorkerPool`` and passed as ``pool=``. Here every simulated worker is a process of its
  own on 2 CPUs, so Ray starts them a couple at a time (about 0.5 s of CPU each: 4-5 s for
  16, far more for 64), and the first workers run trials while the rest still start; on a
  cluster each node starts its own workers side by side. This line measures the scheduling
  alone, as Optuna's threads (which start nothing) are measured; ``sweep`` measures it with
  the start-up on this machine.
- ``optuna``: ``TPESampler(seed=0)``, in-memory storage, ``study.optimize(n_trials=evals,
  n_jobs=W)`` (W threads in this process); the times are trial user attributes.
- ``raytune``: ``ray.tune.Tuner`` with ``ASHAScheduler(metric="score", mode="min")``,
  ``num_samples=evals``, ``max_concurrent_trials=W``, ``tune.with_resources(trainable,
  {"cpu": 2 / W})``, otherwise Tune's defaults (a new actor per trial, storage in a
  temporary directory, console output off; ``--tune-reuse-actors`` sets Tune's
  ``reuse_actors=True``); the times are returned as metrics. The
  trainable reports once (a single fidelity step), so ASHA never stops a trial early: it is
  here as Ray Tune's asynchronous scheduling, not as pruning.

Ray is started once (``address="local"``, 2 CPUs, no dashboard) and every selected tool gets
one small untimed warm-up run (a near-zero sleep) before anything is timed.

Per (tool, W), from the evaluations' own times: ``busy`` = the sum of their durations,
``span`` = first start to last end, ``lower bound`` = max(busy / W, the longest single
evaluation) - no scheduler on W workers can finish in less. Printed:

- ``wall s``: the whole call (``tune``, ``optimize``, ``Tuner.fit``);
- ``util. call`` = busy / (W x wall); ``util. span`` = busy / (W x span);
- ``efficiency`` = lower bound / span;
- ``max busy``: the most evaluations that ran at once (at most W);
- the evaluations done; below each table, sweep's wall over Optuna's.

A tool that fails at some W (an error, or Ray Tune stopped by a signal) gets a line whose
note starts with ``FAILED:``; the other runs go on and are printed.

Targets (issue): sweep's efficiency >= 0.85 at W = 16 and >= 0.7 at W = 64, and sweep's wall
<= 1.1x Optuna's at W = 16 and 64; each printed as met / NOT met (or not measured), for
``sweep`` and (when run) ``sweep_pool``.

``--fifo`` adds two simulated lines per W (pure Python, no Ray): ``evals`` durations drawn
the same way for uniformly random configurations (seed 0), dispatched first-in-first-out to
W workers with every configuration known in advance (``fifo``), and the same in rounds of
``--samples-per-round`` with a barrier after each round (``rounds``: what a
round-synchronous scheduler gets at best). Their note gives the median and range of the
efficiency over ``--fifo-draws`` draws (seeds 0, 1, ...). With ``--fifo`` and ``--tools``
given no tool, only the simulation runs (and Ray is not started).

Run from the repository root::

    .venv/bin/python scripts/bench_scale.py                  # full run (several minutes)
    .venv/bin/python scripts/bench_scale.py --quick          # smoke run (~1 minute)
    .venv/bin/python scripts/bench_scale.py --tools optuna raytune --fifo
    .venv/bin/python scripts/bench_scale.py --tools sweep --overlap auto
    .venv/bin/python scripts/bench_scale.py --fifo --tools   # the simulation alone
    .venv/bin/python scripts/bench_scale.py --json scale.json
"""

from __future__ import annotations

import argparse
import bisect
import contextlib
import heapq
import inspect
import io
import json
import logging
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .methods import RAY_CPUS, local_ray, quiet_optuna
from .reporting import (
    argument_parser,
    fmt_seconds,
    load_average,
    load_warning,
    log,
    machine_facts,
    other_ray_nodes,
    write_json,
)
from .sleep_workload import MEDIAN_S, SIGMA, SleepObjective, duration_s

EVALS = 640
WORKERS = (4, 16, 64)
TOOLS = ("sweep", "sweep_pool", "optuna", "raytune")
SWEEPS = ("sweep", "sweep_pool")  # the lines the targets are about
QUICK: dict[str, Any] = {"evals": 128, "workers": (4, 16), "tools": ("sweep", "optuna")}
SAMPLES_PER_ROUND = 32
FIFO_DRAWS = 20
TARGET_EFFICIENCY = {16: 0.85, 64: 0.7}  # sweep's efficiency at these worker counts
TARGET_WALL_RATIO = 1.1  # sweep's wall at most this times Optuna's ...
TARGET_WALL_RATIO_WORKERS = (16, 64)  # ... at these worker counts
LABELS = {
    "sweep": "sweep",
    "sweep_pool": "sweep, pool",
    "optuna": "optuna (TPE)",
    "raytune": "ray tune (ASHA)",
    "fifo": "fifo (simulated)",
    "rounds": "rounds (simulated)",
}
WARM_MEDIAN_S = 0.001  # the warm-up runs' sleep

Interval = tuple[float, float]  # one evaluation's (start, end), in seconds


# -- the workload ---------------------------------------------------------------------------


def draw_durations(
    n: int, seed: int = 0, median: float = MEDIAN_S, sigma: float = SIGMA
) -> list[float]:
    """The durations of ``n`` configurations drawn uniformly from the unit square."""
    points = np.random.default_rng(seed).random((n, 2))
    return [duration_s(float(x), float(y), median, sigma) for x, y in points]


# -- schedules and what they achieve --------------------------------------------------------


def fifo_intervals(durations: Sequence[float], workers: int, t0: float = 0.0) -> list[Interval]:
    """First-in-first-out on ``workers`` workers from ``t0``: each duration, in order, goes
    to the worker free first (all known in advance, no dispatch cost)."""
    free = [t0] * workers
    out = []
    for d in durations:
        start = heapq.heappop(free)
        out.append((start, start + d))
        heapq.heappush(free, start + d)
    return out


def round_intervals(durations: Sequence[float], workers: int, per_round: int) -> list[Interval]:
    """:func:`fifo_intervals` round by round (``per_round`` each), a barrier after each."""
    out: list[Interval] = []
    t0 = 0.0
    for i in range(0, len(durations), per_round):
        chunk = fifo_intervals(durations[i : i + per_round], workers, t0)
        out += chunk
        t0 = max(end for _, end in chunk)
    return out


def overlap_intervals(
    durations: Sequence[float], workers: int, per_round: int, overlap: int
) -> list[Interval]:
    """Rounds of ``per_round`` that overlap as sweep's do: round k+overlap+1 is released
    once round k has every result; the released work goes out oldest round first, each
    configuration to the worker free first (no dispatch or sampling cost)."""
    rounds = [list(durations[i : i + per_round]) for i in range(0, len(durations), per_round)]
    left = [len(r) for r in rounds]
    queue: list[tuple[int, int]] = []  # (round, index), released and not started
    released = 0

    def release(upto: int) -> None:
        nonlocal released
        while released < min(upto, len(rounds)):
            queue.extend((released, i) for i in range(len(rounds[released])))
            released += 1

    release(overlap + 1)
    out: list[Interval] = []
    running: list[tuple[float, int]] = []  # (end, round)
    now, free = 0.0, workers
    while queue or running:
        queue.sort()
        while free and queue:
            k, i = queue.pop(0)
            out.append((now, now + rounds[k][i]))
            heapq.heappush(running, (now + rounds[k][i], k))
            free -= 1
        now, k = heapq.heappop(running)
        free += 1
        left[k] -= 1
        if left[k] == 0:
            release(k + overlap + 2)
    return out


def peak_concurrency(intervals: Sequence[Interval]) -> int:
    """The most intervals open at one instant (one that ends as another starts: not both)."""
    starts = sorted(s for s, _ in intervals)
    ends = sorted(e for _, e in intervals)
    return max((i + 1 - bisect.bisect_right(ends, s) for i, s in enumerate(starts)), default=0)


def schedule_stats(intervals: Sequence[Interval], workers: int, wall_s: float) -> dict[str, Any]:
    """What the evaluations' times say about how busy ``workers`` workers were.

    ``busy_s``: the evaluations' total duration; ``span_s``: first start to last end;
    ``lower_bound_s``: max(busy / workers, the longest evaluation), the least any scheduler
    needs; ``utilization_call``: busy / (workers x wall); ``utilization_span``: busy /
    (workers x span); ``efficiency``: lower bound / span. Ratios are None without any time.
    """
    durations = [end - start for start, end in intervals]
    busy = float(sum(durations))
    span = max(e for _, e in intervals) - min(s for s, _ in intervals) if intervals else 0.0
    longest = max(durations, default=0.0)
    lower = max(busy / workers, longest)

    def ratio(a: float, b: float) -> float | None:
        return a / b if b > 0 else None

    return {
        "busy_s": busy,
        "span_s": span,
        "longest_s": longest,
        "lower_bound_s": lower,
        "utilization_call": ratio(busy, workers * wall_s),
        "utilization_span": ratio(busy, workers * span),
        "efficiency": ratio(lower, span),
        "peak_concurrent": peak_concurrency(intervals),
    }


@dataclass
class Run:
    """One (tool, W) line: the call's wall time and what its evaluations' times say."""

    tool: str
    workers: int
    evals: int  # asked for
    evals_done: int
    wall_s: float
    busy_s: float
    span_s: float
    longest_s: float
    lower_bound_s: float
    utilization_call: float | None
    utilization_span: float | None
    efficiency: float | None
    peak_concurrent: int
    simulated: bool = False
    note: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


def make_run(
    tool: str,
    workers: int,
    evals: int,
    intervals: Sequence[Interval],
    wall_s: float,
    *,
    simulated: bool = False,
    note: str = "",
    facts: dict[str, Any] | None = None,
) -> Run:
    stats = schedule_stats(intervals, workers, wall_s)
    return Run(
        tool,
        workers,
        evals,
        len(intervals),
        wall_s,
        **stats,
        simulated=simulated,
        note=note,
        facts=facts or {},
    )


def simulated_runs(args: argparse.Namespace, workers: int) -> list[Run]:
    """The ``fifo`` and ``rounds`` lines at ``workers``: the draw of seed 0, and in the note
    the median (min-max) efficiency over ``--fifo-draws`` draws."""
    draws = [
        draw_durations(args.evals, seed, args.median, args.sigma) for seed in range(args.fifo_draws)
    ]
    from orchestrator.loop.coordinator import resolve_overlap

    spr = args.samples_per_round
    overlap = resolve_overlap(args.overlap or "auto", workers, spr)
    schedules: dict[str, Callable[[list[float]], list[Interval]]] = {
        "fifo": lambda d: fifo_intervals(d, workers),
        "rounds": lambda d: round_intervals(d, workers, spr),
        f"overlap {overlap}": lambda d: overlap_intervals(d, workers, spr, overlap),
    }
    runs = []
    for tool, schedule in schedules.items():
        effs = []
        for durations in draws:
            intervals = schedule(durations)
            effs.append(schedule_stats(intervals, workers, 1.0)["efficiency"])
        first = schedule(draws[0])
        makespan = max(end for _, end in first)
        what = {"fifo": "all known in advance", "rounds": f"rounds of {spr}"}.get(
            tool, f"rounds of {spr}, {tool} (sweep's schedule, no overheads)"
        )
        note = (
            f"{what}; efficiency over {len(effs)} draws: median {statistics.median(effs):.3f}, "
            f"mean {statistics.mean(effs):.3f} ({min(effs):.3f}-{max(effs):.3f})"
        )
        runs.append(make_run(tool, workers, args.evals, first, makespan, simulated=True, note=note))
    return runs


# -- the tools ------------------------------------------------------------------------------


def sweep_run(
    objective: SleepObjective,
    evals: int,
    workers: int,
    per_round: int,
    options: dict[str, Any],
    *,
    pool: bool = False,
) -> Run:
    """One ``tune`` call over ``evals`` evaluations; times from its trial table. ``pool``:
    the workers are started (untimed) in a ``WorkerPool`` before the call, as on a cluster
    whose nodes start their workers side by side."""
    from orchestrator import Float, WorkerPool, tune

    rounds = evals // per_round
    resources = {"num_cpus": RAY_CPUS / workers}
    with contextlib.ExitStack() as stack:
        run_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-scale-"))
        if pool:
            started = time.perf_counter()
            where = {"pool": stack.enter_context(WorkerPool(workers, worker_resources=resources))}
            pool_start = time.perf_counter() - started
        else:
            where = {"workers": workers, "worker_resources": resources}
        t0 = time.perf_counter()
        result = tune(
            objective,
            {"x": Float(0, 1), "y": Float(0, 1)},
            mode="min",
            rounds=rounds,
            samples_per_round=per_round,
            seed=0,
            tolerance=0.0,
            run_dir=run_dir,
            **where,
            **options,
        )
        wall = time.perf_counter() - t0
        meta = json.loads((Path(run_dir) / "run.json").read_text())
    table = result.table
    statuses = table.column("status").to_pylist()
    not_ok = sum(1 for s in statuses if s != "ok")
    if table.num_rows != evals or not_ok:
        raise RuntimeError(
            f"sweep returned {table.num_rows} rows for {evals} evaluations, {not_ok} not ok "
            f"(rounds run {result.rounds_run}: {result.stop_reason})"
        )
    intervals = sweep_intervals(table)
    facts = {
        "rounds_run": result.rounds_run,
        "stop_reason": result.stop_reason,
        "shards": len(set(table.column("shard").to_pylist())),
        "workers_start_s": float(meta.get("workers_start_s", math.nan)),
        "best_score": result.best_score,
        "options": options,
    }
    note = f"{rounds} rounds x {per_round}, {facts['shards']} shards, "
    if pool:
        facts["pool_start_s"] = pool_start
        note += f"workers started before the call in {pool_start:.2f} s"
    else:
        note += f"incl. {facts['workers_start_s']:.2f} s starting workers"
    if meta.get("overlap") is not None and "overlap" not in options:
        note += f", overlap {meta['overlap']} (auto)"
    if options:
        note += ", " + ", ".join(f"{k}={v!r}" for k, v in options.items())
    tool = "sweep_pool" if pool else "sweep"
    return make_run(tool, workers, evals, intervals, wall, note=note, facts=facts)


def sweep_intervals(table: Any) -> list[Interval]:
    """(start, end) of each row: ``started_at`` (UTC microseconds) plus ``duration_s``."""
    import pyarrow as pa

    started_us = table.column("started_at").cast(pa.int64()).to_pylist()
    durations = table.column("duration_s").to_pylist()
    return [(us / 1e6, us / 1e6 + d) for us, d in zip(started_us, durations)]


def optuna_run(objective: SleepObjective, evals: int, workers: int) -> Run:
    """TPE on ``workers`` threads; each trial keeps its start and end as user attributes."""
    import optuna

    def optuna_objective(trial: optuna.Trial) -> float:
        config = {"x": trial.suggest_float("x", 0.0, 1.0), "y": trial.suggest_float("y", 0.0, 1.0)}
        value, start, end = objective.timed(config)
        trial.set_user_attr("start", start)
        trial.set_user_attr("end", end)
        return value

    study = optuna.create_study(direction="minimize", sampler=optuna.samplers.TPESampler(seed=0))
    t0 = time.perf_counter()
    study.optimize(optuna_objective, n_trials=evals, n_jobs=workers)
    wall = time.perf_counter() - t0
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if len(done) != evals:
        raise RuntimeError(f"optuna completed {len(done)} of {evals} trials")
    intervals = [(t.user_attrs["start"], t.user_attrs["end"]) for t in done]
    facts = {"best_score": study.best_value}
    return make_run("optuna", workers, evals, intervals, wall, note="threads", facts=facts)


def raytune_run(
    objective: SleepObjective, evals: int, workers: int, reuse_actors: bool = False
) -> Run:
    """``Tuner.fit`` with ASHA, ``workers`` trials at once; times returned as metrics.

    ``reuse_actors`` is Tune's own option (its default, False, starts an actor per trial).
    """
    from ray import tune as ray_tune
    from ray.tune.schedulers import ASHAScheduler

    def trainable(config: dict[str, Any]) -> dict[str, Any]:
        value, start, end = objective.timed(config)
        return {"score": value, "t_start": start, "t_end": end}

    with tempfile.TemporaryDirectory(prefix="bench-scale-tune-") as storage:
        tuner = ray_tune.Tuner(
            ray_tune.with_resources(trainable, {"cpu": RAY_CPUS / workers}),
            param_space={"x": ray_tune.uniform(0, 1), "y": ray_tune.uniform(0, 1)},
            tune_config=ray_tune.TuneConfig(
                num_samples=evals,
                scheduler=ASHAScheduler(metric="score", mode="min"),
                max_concurrent_trials=workers,
                reuse_actors=reuse_actors,
            ),
            run_config=ray_tune.RunConfig(storage_path=storage, name="scale", verbose=0),
        )
        t0 = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()):  # Tune prints tables despite verbose=0
            grid = tuner.fit()
        wall = time.perf_counter() - t0
    metrics = [grid[i].metrics or {} for i in range(len(grid))]
    intervals = [(m["t_start"], m["t_end"]) for m in metrics if "t_end" in m]
    if len(intervals) != evals or grid.num_errors:
        raise RuntimeError(
            f"ray tune finished {len(intervals)} of {evals} trials, {grid.num_errors} errors"
        )
    facts = {"best_score": min(m["score"] for m in metrics)}
    note = "actors reused" if reuse_actors else "one actor per trial (Tune's default)"
    return make_run("raytune", workers, evals, intervals, wall, note=note, facts=facts)


def run_tool(tool: str, args: argparse.Namespace, objective: SleepObjective, workers: int) -> Run:
    if tool in SWEEPS:
        return sweep_run(
            objective,
            args.evals,
            workers,
            args.samples_per_round,
            args.sweep,
            pool=tool == "sweep_pool",
        )
    if tool == "optuna":
        return optuna_run(objective, args.evals, workers)
    if tool == "raytune":
        return raytune_run(objective, args.evals, workers, args.tune_reuse_actors)
    raise ValueError(f"unknown tool {tool!r}")


def warm_up(tool: str, args: argparse.Namespace) -> None:
    """One small untimed run of ``tool`` (near-zero sleeps): imports and first-call costs."""
    fast = SleepObjective(median=WARM_MEDIAN_S, sigma=0.0)
    workers = min(args.workers)
    if tool in SWEEPS:
        sweep_run(fast, 2 * workers, workers, 2 * workers, args.sweep, pool=tool == "sweep_pool")
    elif tool == "optuna":
        optuna_run(fast, 2 * workers, workers)
    else:
        raytune_run(fast, workers, workers, args.tune_reuse_actors)


# -- targets and output ---------------------------------------------------------------------


@dataclass
class Target:
    """One target of the issue and what was measured against it (None: not measured)."""

    name: str
    measured: float | None
    target: float
    at_most: bool = False

    @property
    def verdict(self) -> str:
        if self.measured is None:
            return "not measured"
        met = self.measured <= self.target if self.at_most else self.measured >= self.target
        return "met" if met else "NOT met"


def find_run(runs: Sequence[Run], tool: str, workers: int) -> Run | None:
    return next((r for r in runs if r.tool == tool and r.workers == workers), None)


def wall_ratio(runs: Sequence[Run], workers: int, tool: str = "sweep") -> float | None:
    """A sweep line's wall over Optuna's at ``workers`` (None unless both ran)."""
    sweep, optuna = find_run(runs, tool, workers), find_run(runs, "optuna", workers)
    if sweep is None or optuna is None or failed(sweep) or failed(optuna):
        return None
    return sweep.wall_s / optuna.wall_s


def failed(run: Run) -> bool:
    """Whether a run did not do all its evaluations (it failed, see :func:`guarded_run`)."""
    return run.evals_done < run.evals


def evaluate_targets(runs: Sequence[Run]) -> list[Target]:
    targets = []
    for tool in SWEEPS:
        if tool != "sweep" and not any(r.tool == tool for r in runs):
            continue
        label = LABELS[tool]
        for w, goal in TARGET_EFFICIENCY.items():
            sweep = find_run(runs, tool, w)
            efficiency = None if sweep is None else sweep.efficiency
            targets.append(Target(f"{label} efficiency at W = {w}", efficiency, goal))
        for w in TARGET_WALL_RATIO_WORKERS:
            targets.append(
                Target(
                    f"{label} wall / Optuna wall at W = {w}",
                    wall_ratio(runs, w, tool),
                    TARGET_WALL_RATIO,
                    at_most=True,
                )
            )
    return targets


def fmt_fraction(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def format_table(header: Sequence[str], lines: Sequence[Sequence[str]], right: set[int]) -> str:
    """Plain columns under a rule; columns in ``right`` right-aligned."""
    rows = [tuple(header), *map(tuple, lines)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    out = []
    for k, row in enumerate(rows):
        cells = [
            c.rjust(wd) if i in right else c.ljust(wd) for i, (c, wd) in enumerate(zip(row, widths))
        ]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("  ".join("-" * wd for wd in widths))
    return "\n".join(out)


def format_runs(runs: Sequence[Run], workers: int, args: argparse.Namespace) -> str:
    header = [
        "tool",
        "wall s",
        "util. call",
        "util. span",
        "efficiency",
        "max busy",
        "evals",
        "note",
    ]
    lines = [
        (
            LABELS.get(r.tool, f"{r.tool} (simulated)" if r.simulated else r.tool),
            fmt_seconds(r.wall_s),
            fmt_fraction(r.utilization_call),
            fmt_fraction(r.utilization_span),
            fmt_fraction(r.efficiency),
            str(r.peak_concurrent),
            f"{r.evals_done}/{r.evals}",
            r.note,
        )
        for r in runs
        if r.workers == workers
    ]
    title = (
        f"W = {workers} workers, {args.evals} evaluations "
        f"(sleep: lognormal, median {args.median:g} s, sigma {args.sigma:g})"
    )
    text = title + "\n" + format_table(header, lines, {1, 2, 3, 4, 5, 6})
    optuna = find_run(runs, "optuna", workers)
    for tool in SWEEPS:
        ratio, sweep = wall_ratio(runs, workers, tool), find_run(runs, tool, workers)
        if ratio is None or sweep is None or optuna is None:
            continue
        text += f"\n{LABELS[tool]} wall / optuna wall: {ratio:.2f}x"
        if tool == "sweep":
            start = sweep.facts.get("workers_start_s", 0.0)
            rest = (sweep.wall_s - start) / optuna.wall_s
            text += f" (without sweep's {start:.2f} s starting its workers: {rest:.2f}x)"
    return text


def format_targets(targets: Sequence[Target]) -> str:
    out = ["targets:"]
    for t in targets:
        bound = "<=" if t.at_most else ">="
        measured = "-" if t.measured is None else f"{t.measured:.3f}"
        out.append(f"  {t.verdict:<12}  {t.name}: {measured}, target {bound} {t.target:g}")
    return "\n".join(out)


# -- command line ---------------------------------------------------------------------------


def overlap_value(text: str) -> str | int | float:
    """``--overlap``: ``auto`` or a number (an int where it is one)."""
    if text == "auto":
        return text
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 'auto' or a number, got {text!r}") from None
    return int(number) if number.is_integer() else number


def sweep_option(text: str) -> tuple[str, Any]:
    """``--sweep-option NAME=VALUE``: VALUE as JSON if it reads as JSON, else as text."""
    name, sep, raw = text.partition("=")
    if not sep or not name.isidentifier():
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(raw)
    except json.JSONDecodeError:
        return name, raw


def tune_keywords() -> set[str]:
    """The keyword arguments this checkout's ``orchestrator.tune`` takes."""
    from orchestrator import tune

    return set(inspect.signature(tune).parameters)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argument_parser(__doc__)
    p.add_argument("--evals", type=int, help=f"evaluations per tool and W (default {EVALS})")
    p.add_argument(
        "--workers",
        type=int,
        nargs="+",
        help=f"worker counts W (default {' '.join(map(str, WORKERS))})",
    )
    p.add_argument(
        "--tools",
        nargs="*",
        choices=TOOLS,
        help=f"tools to run (default: {' '.join(TOOLS)}; none: only the --fifo simulation)",
    )
    p.add_argument("--median", type=float, default=MEDIAN_S, help="median sleep, seconds")
    p.add_argument("--sigma", type=float, default=SIGMA, help="lognormal sigma of the sleep")
    p.add_argument(
        "--samples-per-round", type=int, default=SAMPLES_PER_ROUND, help="sweep's round size"
    )
    p.add_argument(
        "--overlap",
        type=overlap_value,
        help="passed to sweep's tune(overlap=...): auto or a number",
    )
    p.add_argument(
        "--sweep-option",
        type=sweep_option,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="another keyword for sweep's tune call (VALUE read as JSON, else as text)",
    )
    p.add_argument(
        "--tune-reuse-actors",
        action="store_true",
        help="Ray Tune: TuneConfig(reuse_actors=True) instead of an actor per trial",
    )
    p.add_argument("--fifo", action="store_true", help="add the simulated FIFO and rounds lines")
    p.add_argument(
        "--fifo-draws", type=int, default=FIFO_DRAWS, help="draws summarised in the fifo note"
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke run: {QUICK['evals']} evaluations, W = "
        f"{' '.join(map(str, QUICK['workers']))}, tools {' '.join(QUICK['tools'])} "
        "(each unless given)",
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    args = p.parse_args(argv)
    defaults = QUICK if args.quick else {"evals": EVALS, "workers": WORKERS, "tools": TOOLS}
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, list(value) if isinstance(value, tuple) else value)
    for name in ("evals", "samples_per_round", "fifo_draws"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if min(args.workers) < 1:
        p.error("--workers must be >= 1")
    if args.median <= 0 or args.sigma < 0:
        p.error("--median must be > 0 and --sigma >= 0")
    sweeping = any(t in SWEEPS for t in args.tools)
    if sweeping and args.evals % args.samples_per_round:
        p.error(
            f"--evals ({args.evals}) must be a multiple of --samples-per-round "
            f"({args.samples_per_round}) for sweep"
        )
    if not args.tools and not args.fifo:
        p.error("no tool and no --fifo: nothing to run")
    args.sweep = dict(args.sweep_option)
    if args.overlap is not None:
        args.sweep["overlap"] = args.overlap
    if sweeping and args.sweep:
        unknown = sorted(set(args.sweep) - tune_keywords())
        if unknown:
            p.error(f"this checkout's tune() takes no {', '.join(unknown)} keyword")
    return args


def results_doc(
    args: argparse.Namespace, runs: Sequence[Run], targets: Sequence[Target], before: dict
) -> dict[str, Any]:
    """What ``--json`` writes: the arguments, the machine, every run, ratio and target."""
    return {
        "arguments": {k: v for k, v in vars(args).items() if k not in ("json", "sweep_option")},
        "environment": {
            **machine_facts(["ray", "optuna"]),
            **before,
            "ray_cpus": RAY_CPUS,
            "note": "Ray start-up and one small warm-up run per tool excluded from timings",
        },
        "runs": list(runs),
        "wall_ratio_sweep_over_optuna": {str(w): wall_ratio(runs, w) for w in args.workers},
        "wall_ratio_sweep_pool_over_optuna": {
            str(w): wall_ratio(runs, w, "sweep_pool") for w in args.workers
        },
        "targets": [{**vars(t), "verdict": t.verdict} for t in targets],
    }


def guarded_run(tool: str, args: argparse.Namespace, objective: SleepObjective, w: int) -> Run:
    """:func:`run_tool`; a tool that fails gives a line saying so (the others still run)."""
    t0 = time.perf_counter()
    try:
        return run_tool(tool, args, objective, w)
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}".splitlines()[0]
        log(f"{tool}, W = {w} failed: {error}")
        wall = time.perf_counter() - t0
        return make_run(tool, w, args.evals, [], wall, note=f"FAILED: {error}")


def measure(args: argparse.Namespace) -> list[Run]:
    """Every selected tool at every W (after one warm-up each), and the simulated lines."""
    runs: list[Run] = []
    if args.tools:
        objective = SleepObjective(args.median, args.sigma)
        with local_ray(logging_level=logging.WARNING):
            for tool in args.tools:
                log(f"warm-up: {tool}")
                warm_up(tool, args)
            for w in args.workers:
                for tool in args.tools:
                    log(f"{tool}, W = {w}: {args.evals} evaluations")
                    runs.append(guarded_run(tool, args, objective, w))
    if args.fifo:
        for w in args.workers:
            runs += simulated_runs(args, w)
    return runs


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if "optuna" in args.tools:
        quiet_optuna()
    before: dict[str, Any] = {"load_before": load_average(2), "other_ray_nodes": other_ray_nodes()}
    runs = measure(args)
    targets = evaluate_targets(runs)
    for w in args.workers:
        print(format_runs(runs, w, args))
        print()
    print(format_targets(targets))
    print()
    print(load_warning(before["load_before"], before["other_ray_nodes"], RAY_CPUS))
    if args.json:
        write_json(args.json, results_doc(args, runs, targets, before))
        print(f"\nresults written to {args.json}")
    return 1 if any(failed(r) for r in runs) else 0
