#!/usr/bin/env python3
"""Overhead benchmark: sweep versus one Ray task per trial versus the physical minimum.

Two scenarios, each run three ways in one process, printed side by side:

- ``trivial``: an objective that returns ``config["x"]`` (pure per-trial overhead).
- ``sleep``: an objective that sleeps ``--sleep-ms`` and returns ``config["x"]`` (the
  physical minimum is ``N * c / W`` seconds: N trials of c seconds on W workers).

Methods:

- ``sweep``: ``orchestrator.tune`` with one round of N samples, ``narrowing="none"``, W
  workers, writing its Parquet files into a fresh temporary run directory. The measured
  time is the whole ``tune`` call (actor start-up, sampling, shards, result tables, Parquet
  and metadata writes) - the product's real cost.
- ``ray task``: one bare ``@ray.remote(num_cpus=1)`` task per trial, all submitted, then
  one ``ray.get``. For the trivial case this uses ``--ray-task-n`` trials (it is slow).
- ``in-process serial loop`` (trivial) / ``physical minimum`` (sleep): the objective
  called N times in this process, or ``N * c / W`` computed.

Ray is started once (``address="local"``, 2 CPUs) before anything is timed, and every
method gets one small untimed warm-up run, so Ray start-up and first-import costs are
excluded. Each sweep is printed twice: the whole ``tune`` call, and the call less the time
Ray took to start the W worker actors (recorded by the sweep as ``workers_start_s`` in
``run.json``), a fixed per-sweep cost of Ray spawning processes. Targets (issue), Ray
start-up excluded: >= 10,000 trivial trials/s through sweep at N = 100,000 (checked on the
whole call), and >= 95 % of the physical minimum for 100 ms trials at N = 200, W = 2
(checked with the workers started; the whole-call figure is printed beside it).

Run from the repository root::

    .venv/bin/python scripts/bench_overhead.py            # full run (about a minute)
    .venv/bin/python scripts/bench_overhead.py --quick    # smoke run (seconds)
    .venv/bin/python scripts/bench_overhead.py --json bench.json
    .venv/bin/python scripts/bench_overhead.py --profile 25   # + cProfile of the driver
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import logging
import os
import platform
import pstats
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import ray

from orchestrator import Float, tune

TRIVIAL_TARGET_TPS = 10_000.0
TRIVIAL_TARGET_N = 100_000
SLEEP_TARGET_EFFICIENCY = 0.95
SLEEP_TARGET = {"n": 200, "sleep_ms": 100.0, "workers": 2}
RAY_CPUS = 2
WARMUP_N = 200

# Read by ``sleepy``; set once from the command line before any objective is pickled
# (cloudpickle sends functions of ``__main__`` by value, with this global's value).
SLEEP_S = 0.1

Objective = Callable[[dict[str, Any]], Any]


def trivial(config: dict[str, Any]) -> float:
    """The cheapest possible objective: the per-trial cost is all overhead."""
    return config["x"]


def sleepy(config: dict[str, Any]) -> float:
    """An objective that costs exactly ``SLEEP_S`` seconds of wall time, no CPU."""
    time.sleep(SLEEP_S)
    return config["x"]


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


# -- the three ways to run N trials ---------------------------------------------------------


def run_sweep(
    objective: Objective, n: int, workers: int, warm_n: int = 0
) -> tuple[float, dict[str, Any]]:
    """Wall seconds of one ``tune`` call over ``n`` trials, and facts from its result.

    With ``warm_n``, an untimed ``tune`` over ``warm_n`` trials runs first (driver imports
    and first-call costs; every ``tune`` call still starts its own worker actors).
    """
    if warm_n:
        run_sweep(objective, warm_n, workers)
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as run_dir:
        t0 = time.perf_counter()
        result = tune(
            objective, {"x": Float(0.0, 1.0)}, mode="min", rounds=1, samples_per_round=n,
            seed=0, workers=workers, run_dir=run_dir, narrowing="none",
        )
        wall = time.perf_counter() - t0
        meta = json.loads((Path(run_dir) / "run.json").read_text())
    table = result.table
    statuses = table.column("status").to_pylist()
    durations = table.column("duration_s").to_numpy()
    facts = {
        "rows": table.num_rows,
        "not_ok": sum(1 for s in statuses if s != "ok"),
        "objective_s": float(durations.sum()),
        "shards": len(set(table.column("shard").to_pylist())),
        "workers_start_s": float(meta["workers_start_s"]),
    }
    if facts["rows"] != n or facts["not_ok"]:
        raise RuntimeError(f"sweep returned {facts['rows']} rows, {facts['not_ok']} not ok")
    return wall, facts


def run_ray_tasks(objective: Objective, n: int, workers: int, warm_n: int = 0) -> float:
    """Wall seconds to run ``n`` trials as one bare Ray task each (submit all, get all).

    With ``warm_n``, ``warm_n`` untimed tasks run first, so Ray's task worker processes
    are up and the function is exported before the clock starts.
    """
    cpus = min(1.0, RAY_CPUS / workers)
    task = ray.remote(num_cpus=cpus)(objective)
    if warm_n:
        ray.get([task.remote(config) for config in make_configs(warm_n)])
    configs = make_configs(n)
    t0 = time.perf_counter()
    refs = [task.remote(config) for config in configs]
    results = ray.get(refs)
    wall = time.perf_counter() - t0
    if len(results) != n:
        raise RuntimeError(f"ray tasks returned {len(results)} results for {n} trials")
    return wall


def run_in_process(objective: Objective, n: int) -> float:
    """Wall seconds to call the objective ``n`` times in a plain loop, in this process."""
    configs = make_configs(n)
    t0 = time.perf_counter()
    for config in configs:
        objective(config)
    return time.perf_counter() - t0


def make_configs(n: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(0)
    return [{"x": float(v)} for v in rng.random(n)]


# -- scenarios ------------------------------------------------------------------------------


def trivial_scenario(args: argparse.Namespace) -> list[Row]:
    w = args.workers
    rows = []
    run_sweep(trivial, WARMUP_N, w)  # warm-up, kept out of the profile
    wall, facts = profiled(args.profile, lambda: run_sweep(trivial, args.trivial_n, w))
    rows += sweep_rows("trivial", args.trivial_n, w, wall, facts, None)
    wall = run_ray_tasks(trivial, args.ray_task_n, w, WARMUP_N)
    note = "" if args.ray_task_n == args.trivial_n else f"N = --ray-task-n ({args.ray_task_n:,})"
    rows.append(Row("trivial", "ray task per trial", args.ray_task_n, w, wall,
                    args.ray_task_n / wall, note=note))
    wall = run_in_process(trivial, args.trivial_n)
    rows.append(Row("trivial", "in-process serial loop", args.trivial_n, 1, wall,
                    args.trivial_n / wall, note="reference: the objective's own cost"))
    return rows


def sleep_scenario(args: argparse.Namespace) -> list[Row]:
    n, w, c = args.sleep_n, args.workers, args.sleep_ms / 1000.0
    label = f"sleep {args.sleep_ms:g} ms"
    minimum = n * c / w
    rows = []
    wall, facts = run_sweep(sleepy, n, w, 2 * w)
    rows += sweep_rows(label, n, w, wall, facts, minimum)
    wall = run_ray_tasks(sleepy, n, w, 2 * w)
    rows.append(Row(label, "ray task per trial", n, w, wall, n / wall, minimum / wall))
    rows.append(Row(label, "physical minimum N*c/W", n, w, minimum, n / minimum, 1.0,
                    note="computed, not run"))
    return rows


def sweep_rows(scenario: str, n: int, w: int, wall: float, facts: dict[str, Any],
               minimum: float | None) -> list[Row]:
    """Two rows for one tune call: the whole call, and the call less the worker start-up.

    Starting the worker actors is Ray starting W Python processes (about 0.3-0.9 s here),
    a fixed cost per sweep; the second row is the sweep machinery's own steady cost.
    """
    start = facts["workers_start_s"]
    note = f"{facts['shards']} shards, objective {facts['objective_s']:.3g} s"
    after = wall - start
    return [
        Row(scenario, "sweep, whole tune call", n, w, wall, n / wall,
            None if minimum is None else minimum / wall,
            note=f"{note}, incl. {start:.2f} s starting {w} worker actors"),
        Row(scenario, "sweep, workers started", n, w, after, n / after,
            None if minimum is None else minimum / after,
            note="the call less the worker start-up"),
    ]


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


def find_row(rows: Sequence[Row], scenario_prefix: str, method: str) -> Row:
    return next(r for r in rows if r.scenario.startswith(scenario_prefix) and r.method == method)


def evaluate_targets(rows: Sequence[Row], args: argparse.Namespace) -> list[Target]:
    trivial_row = find_row(rows, "trivial", "sweep, whole tune call")
    trivial_ok = args.trivial_n == TRIVIAL_TARGET_N
    sleep_row = find_row(rows, "sleep", "sweep, workers started")
    settings = {"n": args.sleep_n, "sleep_ms": args.sleep_ms, "workers": args.workers}
    sleep_ok = settings == SLEEP_TARGET
    efficiency = sleep_row.efficiency or 0.0
    return [
        Target("trivial trials/s through sweep (N = 100,000)", trivial_row.trials_per_s,
               TRIVIAL_TARGET_TPS, "trials/s", trivial_row.trials_per_s >= TRIVIAL_TARGET_TPS,
               trivial_ok, "" if trivial_ok else f"measured at N = {args.trivial_n:,}"),
        Target("sweep (workers started) vs physical minimum, 100 ms trials (N = 200, W = 2)",
               efficiency,
               SLEEP_TARGET_EFFICIENCY, "fraction", efficiency >= SLEEP_TARGET_EFFICIENCY,
               sleep_ok, "" if sleep_ok else
               f"measured at N = {args.sleep_n}, {args.sleep_ms:g} ms, W = {args.workers}"),
    ]


def format_seconds(seconds: float) -> str:
    return f"{seconds:.3f}" if seconds >= 0.1 else f"{seconds:.2g}"


def format_rows(rows: Sequence[Row]) -> str:
    header = ("scenario", "method", "N", "W", "wall s", "trials/s", "eff. vs min", "note")
    lines = [header]
    for r in rows:
        eff = "-" if r.efficiency is None else f"{100 * r.efficiency:.1f} %"
        lines.append((r.scenario, r.method, f"{r.n:,}", str(r.workers), format_seconds(r.wall_s),
                      f"{r.trials_per_s:,.0f}", eff, r.note))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    right = {2, 3, 4, 5, 6}
    out = []
    for k, line in enumerate(lines):
        cells = [c.rjust(wd) if i in right else c.ljust(wd)
                 for i, (c, wd) in enumerate(zip(line, widths))]
        out.append("  ".join(cells).rstrip())
        if k == 0:
            out.append("  ".join("-" * wd for wd in widths))
    return "\n".join(out)


def format_targets(targets: Sequence[Target]) -> str:
    out = ["targets:"]
    for t in targets:
        if t.unit == "fraction":
            measured, goal = f"{100 * t.measured:.1f} %", f">= {100 * t.target:.0f} %"
        else:
            measured, goal = f"{t.measured:,.0f} {t.unit}", f">= {t.target:,.0f} {t.unit}"
        verdict = "PASS" if t.passed else "MISS"
        caveat = "" if t.at_target_settings else f"  (not the target settings: {t.note})"
        out.append(f"  {verdict}  {t.name}: measured {measured}, target {goal}{caveat}")
    return "\n".join(out)


def load_average() -> float | None:
    """The 1-minute load average (None where the platform has none)."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


def other_ray_nodes() -> int | None:
    """How many raylet processes run on this machine (None without Linux's /proc)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    count = 0
    for comm in proc.glob("[0-9]*/comm"):
        try:
            count += comm.read_text().strip() == "raylet"
        except OSError:  # the process ended meanwhile
            pass
    return count


def load_warning(load: float | None, raylets: int | None) -> str:
    """A line about other work on the machine: it skews every timing here."""
    text = f"before the run: 1-min load average {load}, other Ray nodes running {raylets}"
    busy = (load or 0.0) > 0.5 * RAY_CPUS or bool(raylets)
    return text + ("  WARNING: the machine was busy; timings are unreliable" if busy else "")


def environment() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "ray": ray.__version__,
        "cpu_count": os.cpu_count(),
        "ray_cpus": RAY_CPUS,
        "platform": platform.platform(),
        "note": "Ray start-up and one small warm-up run per method excluded from timings",
    }


def write_json(path: str, args: argparse.Namespace, rows: Sequence[Row],
               targets: Sequence[Target], before: dict[str, Any]) -> None:
    doc = {
        "arguments": {k: v for k, v in vars(args).items() if k != "json"},
        "environment": {**environment(), **before},
        "rows": [asdict(r) for r in rows],
        "targets": [asdict(t) for t in targets],
    }
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
        fh.write("\n")


# -- command line ---------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trivial-n", type=int, default=TRIVIAL_TARGET_N,
                   help="trivial trials through sweep and the in-process loop")
    p.add_argument("--sleep-n", type=int, default=SLEEP_TARGET["n"], help="sleep trials")
    p.add_argument("--sleep-ms", type=float, default=SLEEP_TARGET["sleep_ms"],
                   help="cost of one sleep trial in milliseconds")
    p.add_argument("--workers", type=int, default=SLEEP_TARGET["workers"], help="W")
    p.add_argument("--ray-task-n", type=int, default=20_000,
                   help="trivial trials for the one-Ray-task-per-trial baseline")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: 5,000 trivial (and Ray-task) trials, 20 sleep trials of 20 ms")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    p.add_argument("--profile", type=int, default=0, metavar="TOP",
                   help="cProfile the trivial sweep call on the driver; print TOP entries")
    args = p.parse_args(argv)
    if args.quick:
        args.trivial_n, args.ray_task_n, args.sleep_n, args.sleep_ms = 5_000, 5_000, 20, 20.0
    for name in ("trivial_n", "sleep_n", "workers", "ray_task_n"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.sleep_ms < 0:
        p.error("--sleep-ms must be >= 0")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    global SLEEP_S
    args = parse_args(argv)
    SLEEP_S = args.sleep_ms / 1000.0
    before = {"load_before": load_average(), "other_ray_nodes": other_ray_nodes()}
    ray.init(address="local", num_cpus=RAY_CPUS, include_dashboard=False,
             logging_level=logging.WARNING)
    try:
        rows = trivial_scenario(args) + sleep_scenario(args)
    finally:
        ray.shutdown()
    targets = evaluate_targets(rows, args)
    print(format_rows(rows))
    print()
    print(format_targets(targets))
    print()
    print(load_warning(before["load_before"], before["other_ray_nodes"]))
    if args.json:
        write_json(args.json, args, rows, targets, before)
        print(f"\nresults written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
