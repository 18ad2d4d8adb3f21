"""Overhead benchmark: sweep versus other ways to run trials versus the physical minimum.

Three scenarios, each run several ways in one process, printed side by side:

- ``trivial``: an objective that returns ``config["x"]`` (pure per-trial overhead).
- ``sleep``: an objective that sleeps ``--sleep-ms`` and returns ``config["x"]`` (the
  physical minimum is ``N * c / W`` seconds: N trials of c seconds on W workers).
- ``short sleep``: the same with ``--short-sleep-ms`` (10 ms) over ``--short-sleep-n``
  trials, where the per-trial overhead is a larger share of the trial.

Methods:

- ``sweep``: ``orchestrator.tune`` with one round of N samples, ``narrowing="none"``, W
  workers, writing its Parquet files into a fresh temporary run directory. The measured
  time is the whole ``tune`` call (actor start-up, sampling, shards, result tables, Parquet
  and metadata writes) - the product's real cost; and the same on a worker pool.
- ``ray task``: one bare ``@ray.remote(num_cpus=1)`` task per trial, all submitted, then
  one ``ray.get``. For the trivial case this uses ``--ray-task-n`` trials (it is slow).
- ``ray tune``: ``ray.tune.Tuner`` with a function trainable returning ``{"score": ...}``,
  ``param_space={"x": tune.uniform(0, 1)}`` and ``TuneConfig(num_samples=N)``, otherwise
  Tune's defaults (storage in a temporary directory, console output off). Slow, so it uses
  ``--tune-n`` (trivial) and ``--tune-sleep-n`` (sleep) trials.
- ``optuna``: ``study.optimize(objective, n_trials=N, n_jobs=W)``, ``RandomSampler``,
  in-memory storage (threads in this process). Trivial case: ``--optuna-n`` trials.
- ``joblib``: ``joblib.Parallel(n_jobs=W)(delayed(objective)(config) ...)`` (loky
  processes, automatic batching). Trivial case: ``--joblib-n`` trials.
- ``in-process serial loop`` (trivial) / ``physical minimum`` (sleep): the objective
  called N times in this process, or ``N * c / W`` computed.

A baseline run at another N than the scenario's says so in the note column.

Ray is started once (``address="local"``, 2 CPUs) before anything is timed, and every method
gets one small untimed warm-up run, so Ray start-up and first-import costs are excluded.
Sweep is run two ways: a ``tune`` call that starts its own W worker actors (the default; the
time Ray took to start them, ``workers_start_s`` in ``run.json``, is in the note), and a
``tune`` call on a :class:`~orchestrator.execution.ray_executor.WorkerPool` whose workers
were started before the clock - the sweep counterpart of the Ray-task baseline's warm
workers, and what a session of several sweeps pays per sweep. Both are whole ``tune`` calls.
Targets (issue), Ray start-up excluded: >= 10,000 trivial trials/s through sweep at N =
100,000 (whole call, own workers), and >= 95 % of the physical minimum for 100 ms trials at
N = 200, W = 2 (on a worker pool; the call with its own workers is printed beside it). Also
checked: sweep's trivial trials/s (whole call, own workers) is >= 100x Ray Tune's.

With ``--million``, a 1,000,000-trial trivial sweep (10 rounds of 100,000, W = 2,
``narrowing="none"``) runs first, before anything else, and its wall time and the peak RSS
of this (the coordinator's) process are printed; target: peak RSS < 2 GiB. The peak is the
process's high-water mark, so it includes Ray's driver and the imports (printed beside it).

Run from the repository root::

    .venv/bin/python scripts/bench_overhead.py            # full run (2-3 minutes)
    .venv/bin/python scripts/bench_overhead.py --million  # + the 1M-trial memory check
    .venv/bin/python scripts/bench_overhead.py --quick    # smoke run (seconds)
    .venv/bin/python scripts/bench_overhead.py --json bench.json
    .venv/bin/python scripts/bench_overhead.py --profile 25   # + cProfile of the driver
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import os
import platform
import pstats
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from orchestrator import WorkerPool

from .methods import (
    RAY_CPUS,
    in_process_seconds,
    joblib_seconds,
    local_ray,
    optuna_seconds,
    quiet_optuna,
    ray_tasks_seconds,
    ray_tune_seconds,
    sweep_seconds,
)
from .problems import Objective, sleeper, trivial
from .reporting import (
    argument_parser,
    fmt_seconds,
    load_average,
    load_warning,
    other_ray_nodes,
    package_versions,
    peak_rss_mib,
    write_json,
)

TRIVIAL_TARGET_TPS = 10_000.0
TRIVIAL_TARGET_N = 100_000
SLEEP_TARGET_EFFICIENCY = 0.95
SLEEP_TARGET = {"n": 200, "sleep_ms": 100.0, "workers": 2}
TUNE_RATIO_TARGET = 100.0  # sweep trivial trials/s >= 100x Ray Tune's
MILLION = {"rounds": 10, "samples_per_round": 100_000, "workers": 2}
MILLION_RSS_TARGET_MIB = 2048.0
WARMUP_N = 200


@dataclass
class Row:
    """One measured (or computed) line of the side-by-side table."""

    scenario: str
    method: str
    n: int
    workers: int
    wall_s: float
    trials_per_s: float
    efficiency: float | None = None  # physical minimum / wall (sleep scenario only)
    note: str = ""


@dataclass
class Target:
    """One target of the issue, with what was measured against it."""

    name: str
    measured: float
    target: float
    unit: str
    passed: bool
    at_target_settings: bool
    note: str = ""
    at_most: bool = False  # the target is an upper bound (memory), not a lower one


# -- scenarios ------------------------------------------------------------------------------


def trivial_scenario(args: argparse.Namespace) -> list[Row]:
    w = args.workers
    rows = []
    sweep_seconds(trivial, WARMUP_N, w)  # warm-up, kept out of the profile
    wall, facts = profiled(args.profile, lambda: sweep_seconds(trivial, args.trivial_n, w))
    rows += sweep_rows("trivial", args.trivial_n, w, wall, facts, None)
    rows.append(pool_row("trivial", trivial, args.trivial_n, w, None))
    wall = ray_tasks_seconds(trivial, args.ray_task_n, w, WARMUP_N)
    note = "" if args.ray_task_n == args.trivial_n else f"N = --ray-task-n ({args.ray_task_n:,})"
    rows.append(
        Row(
            "trivial",
            "ray task per trial",
            args.ray_task_n,
            w,
            wall,
            args.ray_task_n / wall,
            note=note,
        )
    )
    ns = {
        "ray tune": (args.tune_n, "--tune-n"),
        "optuna": (args.optuna_n, "--optuna-n"),
        "joblib": (args.joblib_n, "--joblib-n"),
    }
    rows += baseline_rows("trivial", trivial, ns, args.trivial_n, w, None, WARMUP_N)
    wall = in_process_seconds(trivial, args.trivial_n)
    rows.append(
        Row(
            "trivial",
            "in-process serial loop",
            args.trivial_n,
            1,
            wall,
            args.trivial_n / wall,
            note="reference: the objective's own cost",
        )
    )
    return rows


def sleep_scenario(args: argparse.Namespace, sleep_ms: float, n: int) -> list[Row]:
    w, c = args.workers, sleep_ms / 1000.0
    label = f"sleep {sleep_ms:g} ms"
    sleepy = sleeper(c)
    minimum = n * c / w
    rows = []
    wall, facts = sweep_seconds(sleepy, n, w, 2 * w)
    rows += sweep_rows(label, n, w, wall, facts, minimum)
    rows.append(pool_row(label, sleepy, n, w, minimum))
    wall = ray_tasks_seconds(sleepy, n, w, 2 * w)
    rows.append(Row(label, "ray task per trial", n, w, wall, n / wall, minimum / wall))
    ns = {
        "ray tune": (min(n, args.tune_sleep_n), "--tune-sleep-n"),
        "optuna": (n, ""),
        "joblib": (n, ""),
    }
    rows += baseline_rows(label, sleepy, ns, n, w, c, 2 * w)
    rows.append(
        Row(
            label,
            "physical minimum N*c/W",
            n,
            w,
            minimum,
            n / minimum,
            1.0,
            note="computed, not run",
        )
    )
    return rows


def baseline_rows(
    scenario: str,
    objective: Objective,
    ns: dict[str, tuple[int, str]],
    scenario_n: int,
    w: int,
    cost_s: float | None,
    warm_n: int,
) -> list[Row]:
    """One row per other library: Ray Tune, Optuna, joblib, each at its own N.

    ``ns`` maps a method to its N and the flag that sets it (named in the note when the N
    differs from the scenario's); ``cost_s`` is one trial's cost (None: trivial).
    """
    runs: dict[str, Callable[[int], float]] = {
        "ray tune": lambda n: ray_tune_seconds(objective, n, 2 * w),
        "optuna": lambda n: optuna_seconds(objective, n, w, warm_n),
        "joblib": lambda n: joblib_seconds(objective, n, w, warm_n),
    }
    rows = []
    for method, run in runs.items():
        n, flag = ns[method]
        wall = run(n)
        efficiency = None if cost_s is None else n * cost_s / w / wall
        note = "" if n == scenario_n else f"N = {flag} ({n:,})"
        rows.append(Row(scenario, method, n, w, wall, n / wall, efficiency, note=note))
    return rows


def million_scenario(args: argparse.Namespace) -> tuple[Row, float, float]:
    """The 1,000,000-trial trivial sweep: its row, and peak RSS (MiB) before and after.

    Run first, so that the process's high-water mark after it is this sweep's (plus Ray's
    driver, the imports and one small warm-up sweep, measured as the "before" figure).
    """
    rounds, per_round, w = MILLION["rounds"], MILLION["samples_per_round"], MILLION["workers"]
    n = rounds * per_round
    sweep_seconds(trivial, WARMUP_N, w)
    before = peak_rss_mib()
    wall, facts = sweep_seconds(trivial, n, w, rounds=rounds)
    peak = facts["peak_rss_mib"]
    note = (
        f"{rounds} rounds x {per_round:,}, coordinator peak RSS {peak:,.0f} MiB "
        f"(before: {before:,.0f} MiB)"
    )
    row = Row("trivial 1M", "sweep, whole tune call", n, w, wall, n / wall, note=note)
    return row, before, peak


def sweep_rows(
    scenario: str, n: int, w: int, wall: float, facts: dict[str, Any], minimum: float | None
) -> list[Row]:
    """The whole ``tune`` call that starts its own workers (the worker start in the note).

    Starting the worker actors is Ray starting W Python processes (about 0.3-0.9 s here),
    a fixed cost per sweep that a :class:`WorkerPool` pays once (see :func:`pool_row`).
    """
    start = facts["workers_start_s"]
    note = f"{facts['shards']} shards, objective {facts['objective_s']:.3g} s"
    return [
        Row(
            scenario,
            "sweep, whole tune call",
            n,
            w,
            wall,
            n / wall,
            None if minimum is None else minimum / wall,
            note=f"{note}, incl. {start:.2f} s starting {w} worker actors",
        ),
    ]


def pool_row(scenario: str, objective: Objective, n: int, w: int, minimum: float | None) -> Row:
    """The whole ``tune`` call on a running :class:`WorkerPool` (started before the clock).

    The pool is what a session of several sweeps uses: Ray starts its workers once. It
    gets the same untimed warm-up as the Ray-task baseline (its workers up, one small
    sweep run), then one timed ``tune`` call, which still hands the pool's workers the
    objective, samples, shards, and writes every table and file.
    """
    with WorkerPool(workers=w) as pool:
        wall, facts = sweep_seconds(objective, n, w, 2 * w if minimum else WARMUP_N, pool=pool)
        started = pool.startup_s
    return Row(
        scenario,
        "sweep, on a worker pool",
        n,
        w,
        wall,
        n / wall,
        None if minimum is None else minimum / wall,
        note=f"{facts['shards']} shards; whole tune call, the pool's {w} workers "
        f"started before it ({started:.2f} s, untimed)",
    )


def profiled(top: int, fn: Callable[[], Any]) -> Any:
    """``fn()``, under cProfile if ``top`` > 0 (then the top entries go to stderr)."""
    if top <= 0:
        return fn()
    profiler = cProfile.Profile()
    result = profiler.runcall(fn)
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    print(out.getvalue(), file=sys.stderr)
    return result


# -- targets and output ---------------------------------------------------------------------


def find_row(rows: Sequence[Row], scenario: str, method: str) -> Row:
    """The last row of ``scenario`` (an exact label) and ``method``."""
    return next(r for r in reversed(rows) if r.scenario == scenario and r.method == method)


def evaluate_targets(
    rows: Sequence[Row], args: argparse.Namespace, peak_mib: float | None = None
) -> list[Target]:
    """The issue's targets; the 1M-trial memory target only with its peak RSS measured."""
    trivial_row = find_row(rows, "trivial", "sweep, whole tune call")
    trivial_ok = args.trivial_n == TRIVIAL_TARGET_N
    sleep_row = find_row(rows, f"sleep {args.sleep_ms:g} ms", "sweep, on a worker pool")
    settings = {"n": args.sleep_n, "sleep_ms": args.sleep_ms, "workers": args.workers}
    sleep_ok = settings == SLEEP_TARGET
    efficiency = sleep_row.efficiency or 0.0
    return [
        Target(
            "trivial trials/s through sweep (N = 100,000)",
            trivial_row.trials_per_s,
            TRIVIAL_TARGET_TPS,
            "trials/s",
            trivial_row.trials_per_s >= TRIVIAL_TARGET_TPS,
            trivial_ok,
            "" if trivial_ok else f"measured at N = {args.trivial_n:,}",
        ),
        Target(
            "sweep on a worker pool vs physical minimum, 100 ms trials (N = 200, W = 2)",
            efficiency,
            SLEEP_TARGET_EFFICIENCY,
            "fraction",
            efficiency >= SLEEP_TARGET_EFFICIENCY,
            sleep_ok,
            ""
            if sleep_ok
            else f"measured at N = {args.sleep_n}, {args.sleep_ms:g} ms, W = {args.workers}",
        ),
        tune_ratio_target(rows, args),
    ] + ([] if peak_mib is None else [million_target(peak_mib)])


def tune_ratio_target(rows: Sequence[Row], args: argparse.Namespace) -> Target:
    """Sweep's trivial trials/s (whole call) over Ray Tune's, each at its own N."""
    sweep_row = find_row(rows, "trivial", "sweep, whole tune call")
    tune_row = find_row(rows, "trivial", "ray tune")
    ratio = sweep_row.trials_per_s / tune_row.trials_per_s
    ok = args.trivial_n == TRIVIAL_TARGET_N
    return Target(
        "sweep trivial trials/s vs Ray Tune's (whole call)",
        ratio,
        TUNE_RATIO_TARGET,
        "x",
        ratio >= TUNE_RATIO_TARGET,
        ok,
        f"sweep at N = {sweep_row.n:,}, Ray Tune at N = {tune_row.n:,}",
    )


def million_target(peak_mib: float) -> Target:
    return Target(
        "coordinator peak RSS, 1,000,000 trivial trials (10 rounds, W = 2)",
        peak_mib,
        MILLION_RSS_TARGET_MIB,
        "MiB",
        peak_mib < MILLION_RSS_TARGET_MIB,
        True,
        at_most=True,
    )


def format_rows(rows: Sequence[Row]) -> str:
    header = ("scenario", "method", "N", "W", "wall s", "trials/s", "eff. vs min", "note")
    lines = [header]
    for r in rows:
        eff = "-" if r.efficiency is None else f"{100 * r.efficiency:.1f} %"
        tps = f"{r.trials_per_s:,.0f}" if r.trials_per_s >= 10 else f"{r.trials_per_s:.2f}"
        lines.append(
            (
                r.scenario,
                r.method,
                f"{r.n:,}",
                str(r.workers),
                fmt_seconds(r.wall_s),
                tps,
                eff,
                r.note,
            )
        )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}
    out = []
    for k, line in enumerate(lines):
        cells = [
            c.rjust(wd) if i in right else c.ljust(wd)
            for i, (c, wd) in enumerate(zip(line, widths))
        ]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("  ".join("-" * wd for wd in widths))
    return "\n".join(out)


def format_targets(targets: Sequence[Target]) -> str:
    out = ["targets:"]
    for t in targets:
        if t.unit == "fraction":
            measured, goal = f"{100 * t.measured:.1f} %", f">= {100 * t.target:.0f} %"
        elif t.unit == "x":
            measured, goal = f"{t.measured:,.0f}x", f">= {t.target:,.0f}x"
        else:
            bound = "<" if t.at_most else ">="
            measured, goal = f"{t.measured:,.0f} {t.unit}", f"{bound} {t.target:,.0f} {t.unit}"
        verdict = "PASS" if t.passed else "MISS"
        caveat = "" if t.at_target_settings else f"  (not the target settings: {t.note})"
        if t.at_target_settings and t.note:
            caveat = f"  ({t.note})"
        out.append(f"  {verdict}  {t.name}: measured {measured}, target {goal}{caveat}")
    return "\n".join(out)


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "ray": package_versions(["ray"])["ray"],
        "cpu_count": os.cpu_count(),
        "ray_cpus": RAY_CPUS,
        "platform": platform.platform(),
        "note": "Ray start-up and one small warm-up run per method excluded from timings",
    }


def results_doc(
    args: argparse.Namespace,
    rows: Sequence[Row],
    targets: Sequence[Target],
    before: dict[str, Any],
) -> dict[str, Any]:
    """What ``--json`` writes: the arguments, the machine, every row and target."""
    return {
        "arguments": {k: v for k, v in vars(args).items() if k != "json"},
        "environment": {**environment(), **before},
        "rows": list(rows),
        "targets": list(targets),
    }


# -- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argument_parser(__doc__)
    p.add_argument(
        "--trivial-n",
        type=int,
        default=TRIVIAL_TARGET_N,
        help="trivial trials through sweep and the in-process loop",
    )
    p.add_argument("--sleep-n", type=int, default=SLEEP_TARGET["n"], help="sleep trials")
    p.add_argument(
        "--sleep-ms",
        type=float,
        default=SLEEP_TARGET["sleep_ms"],
        help="cost of one sleep trial in milliseconds",
    )
    p.add_argument("--workers", type=int, default=SLEEP_TARGET["workers"], help="W")
    p.add_argument(
        "--ray-task-n",
        type=int,
        default=20_000,
        help="trivial trials for the one-Ray-task-per-trial baseline",
    )
    p.add_argument(
        "--short-sleep-ms",
        type=float,
        default=10.0,
        help="cost of one trial of the second, shorter sleep scenario",
    )
    p.add_argument(
        "--short-sleep-n", type=int, default=500, help="trials of the shorter sleep scenario"
    )
    p.add_argument(
        "--tune-n",
        type=int,
        default=40,
        help="trivial trials through Ray Tune (about 1 trial/s on 2 CPUs)",
    )
    p.add_argument(
        "--tune-sleep-n",
        type=int,
        default=20,
        help="sleep trials through Ray Tune (at most the scenario's N)",
    )
    p.add_argument("--optuna-n", type=int, default=2_000, help="trivial trials through Optuna")
    p.add_argument("--joblib-n", type=int, default=20_000, help="trivial trials through joblib")
    p.add_argument(
        "--million",
        action="store_true",
        help="also run 1,000,000 trivial trials through sweep (10 rounds, W = 2) "
        "first and report the coordinator's peak RSS",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run: 5,000 trivial (and Ray-task, joblib) trials, 20 sleep trials "
        "of 20 ms, 100 of 10 ms, 20 Ray Tune trials (10 sleep), 500 Optuna",
    )
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="TOP",
        help="cProfile the trivial sweep call on the driver; print TOP entries",
    )
    args = p.parse_args(argv)
    if args.quick:
        args.trivial_n, args.ray_task_n, args.sleep_n, args.sleep_ms = 5_000, 5_000, 20, 20.0
        args.short_sleep_n, args.tune_n, args.tune_sleep_n = 100, 20, 10
        args.optuna_n, args.joblib_n = 500, 5_000
    for name in (
        "trivial_n",
        "sleep_n",
        "workers",
        "ray_task_n",
        "short_sleep_n",
        "tune_n",
        "tune_sleep_n",
        "optuna_n",
        "joblib_n",
    ):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.sleep_ms < 0 or args.short_sleep_ms < 0:
        p.error("--sleep-ms and --short-sleep-ms must be >= 0")
    return args


def run_scenarios(args: argparse.Namespace) -> tuple[list[Row], float | None]:
    """Every scenario's rows (the 1M-trial sweep first, with ``--million``), and its peak."""
    rows: list[Row] = []
    peak = None
    if args.million:
        row, _, peak = million_scenario(args)
        rows.append(row)
    rows += trivial_scenario(args)
    rows += sleep_scenario(args, args.short_sleep_ms, args.short_sleep_n)
    rows += sleep_scenario(args, args.sleep_ms, args.sleep_n)
    return rows, peak


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    quiet_optuna()
    before: dict[str, Any] = {"load_before": load_average(2), "other_ray_nodes": other_ray_nodes()}
    with local_ray(logging_level=logging.WARNING):
        rows, peak = run_scenarios(args)
    targets = evaluate_targets(rows, args, peak)
    print(format_rows(rows))
    print()
    if peak is not None:
        million = rows[0]
        print(
            f"1,000,000-trial sweep: wall {million.wall_s:.1f} s, "
            f"{million.trials_per_s:,.0f} trials/s, coordinator peak RSS {peak:,.0f} MiB"
        )
        print()
    print(format_targets(targets))
    print()
    print(load_warning(before["load_before"], before["other_ray_nodes"], RAY_CPUS))
    if args.json:
        write_json(args.json, results_doc(args, rows, targets, before))
        print(f"\nresults written to {args.json}")
    return 0
