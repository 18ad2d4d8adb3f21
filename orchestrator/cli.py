"""The ``sweep`` command: run, validate and show sweeps.

    sweep run CONFIG [--address A] [--workers N] [--run-dir DIR] [--seed S]
    sweep resume RUN_DIR [--address A] [--workers N]
    sweep validate CONFIG
    sweep show RUN_DIR [--top K]
    sweep submit CONFIG --address http://HEAD:8265 [--storage DIR | --run-dir DIR] [--wait]
    sweep status JOB | logs JOB [--follow] | stop JOB | jobs   (all take --address)

Bad input exits with status 2 and one line on stderr naming what is wrong; a sweep that
cannot run (Ray, workers) exits with status 1. The first Ctrl+C (or SIGTERM) stops the sweep
after committing what finished and exits with 130 (143), printing how to resume; a second
one stops at once.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from .errors import ConfigError, StoreError, SweepError, SweepInterrupted

EXIT_USAGE = 2
EXIT_FAILED = 1


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _describe_space(space: Any) -> str:
    return "  ".join(f"{name}={dim.describe()}" for name, dim in space.items())


def _print_round(report: Any) -> None:
    problems = {k: v for k, v in report.statuses.items() if k != "ok"}
    statuses = ", ".join(f"{v} {k}" for k, v in problems.items()) or "0 failed"
    best = "none yet" if report.best_score is None else _fmt(report.best_score)
    if report.best_budget is not None:
        best += f" at budget {_fmt(report.best_budget)}"
    budgets = ""
    if report.budgets:
        budgets = "  budgets " + "/".join(_fmt(b) for b in report.budgets)
    print(
        f"round {report.round_index + 1}/{report.rounds}  {report.trials}/{report.trials} done  "
        f"{statuses}  best {best}{budgets}  ({report.elapsed_s:.1f} s)",
        flush=True,
    )
    moved = [d for d in report.decisions if d.action in ("shrink", "grow", "prune")]
    label = "final" if report.stop_reason else "next"
    print(f"  {label}: {_describe_space(report.next_space)}", flush=True)
    if not moved and report.decisions:
        print(f"  ({report.decisions[0].reason})", flush=True)


class _RoundProgress:
    """Prints how far a long round has got, at most every ``every_s`` seconds."""

    def __init__(self, every_s: float = 10.0) -> None:
        self.every_s = every_s
        self._round = 0
        self._round_started = self._last = self._previous_call = time.monotonic()

    def __call__(self, round_index: int, done: int, total: int, not_ok: int) -> None:
        now = time.monotonic()
        if round_index != self._round:  # the previous round ended at its last report
            self._round, self._round_started = round_index, self._previous_call
            self._last = now
        self._previous_call = now
        if done < total and now - self._last >= self.every_s:
            self._last = now
            print(f"  round {round_index + 1}: {done}/{total} done, {not_ok} not ok "
                  f"({now - self._round_started:.0f} s)", flush=True)


def _load_objective(config: Any, where: Any) -> None:
    try:
        config.load_objective()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def cmd_validate(args: argparse.Namespace) -> int:
    from .config import load_config
    from .tasks import EstimatorTask

    config = load_config(args.config)
    if isinstance(config.objective, EstimatorTask):
        prepared = config.objective.prepare(config.seed)
        split = prepared.split
        what = (f"estimator {config.objective.estimator} on {prepared.dataset.name} "
                f"({prepared.dataset.n_rows} rows: {len(split.tune_rows)} for tuning in "
                f"{len(split.folds)} fold(s), {len(split.test_rows)} sealed for the test)")
    else:
        _load_objective(config, args.config)
        what = f"objective {config.objective}"
    print(f"{args.config}: ok - {len(config.space)} parameters, {config.rounds} rounds x "
          f"{config.samples_per_round} samples, mode={config.mode}, {what}")
    for name, dim in config.space.items():
        print(f"  {name:<16} {dim.kind:<6} {dim.describe()}")
    return 0


class _StopOnSignal:
    """First Ctrl+C or SIGTERM: stop after committing what finished. Second: stop at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> "_StopOnSignal":
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info: Any) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        print("sweep: stopping after committing what has finished "
              "(press Ctrl+C again to stop at once)", file=sys.stderr, flush=True)

    def __call__(self) -> bool:
        # Polled by the sweep loop. ray.init installs its own SIGTERM handler (which exits
        # at once); take the signals back so SIGTERM stops as gracefully as Ctrl+C.
        if self._previous and threading.current_thread() is threading.main_thread():
            for sig in self._previous:
                if signal.getsignal(sig) != self._handle:
                    signal.signal(sig, self._handle)
        return self.signal is not None

    @property
    def exit_code(self) -> int:
        return 128 + (self.signal or signal.SIGINT)


def _run(config: Any, args: argparse.Namespace, run_dir: Any, *, resume: bool) -> int:
    from .runner import run_config

    verb = "resuming" if resume else "sweep"
    print(f"{verb} {config.name}: {config.rounds} rounds x {config.samples_per_round} samples, "
          f"mode={config.mode}, results in {run_dir}", flush=True)
    print(f"  start: {_describe_space(config.space)}", flush=True)
    with _StopOnSignal() as stop:
        try:
            outcome = run_config(config, address=args.address, run_dir=run_dir,
                                 on_round=_print_round, on_progress=_RoundProgress(),
                                 resume=resume, should_stop=stop)
        except (SweepInterrupted, KeyboardInterrupt):
            print(f"sweep: stopped; what finished is committed. Resume with: sweep resume "
                  f"{run_dir}", file=sys.stderr)
            return stop.exit_code
    return _print_outcome(outcome)


def _print_outcome(outcome: Any) -> int:
    result = outcome.result
    print(f"stopped: {result.stop_reason}")
    if result.best_config is None:
        print("no trial finished ok; see the error column: sweep show " + str(result.run_dir))
        return EXIT_FAILED
    params = ", ".join(f"{k}={_fmt(v)}" for k, v in result.best_config.items())
    print(f"best configuration (trial {result.best_trial_id}): {params}")
    if outcome.test is not None:
        print(f"validation score {_fmt(result.best_score)}   test score "
              f"{_fmt(outcome.test['score'])}  ({outcome.test['scoring']}; the sealed test set, "
              f"{outcome.test['n_test_rows']} rows, evaluated once)")
    else:
        note = "" if outcome.sealed else "  (no test split: nothing sealed, no test score)"
        print(f"best validation score {_fmt(result.best_score)}{note}")
    print(f"results: {result.run_dir}  (sweep show {result.run_dir})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from .api import new_run_dir
    from .config import load_config

    config = load_config(args.config)
    overrides = {"seed": args.seed, "workers": args.workers}
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    if config.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {config.seed}")
    if isinstance(config.objective, str):
        _load_objective(config, args.config)  # fail on a bad import path before Ray starts
    run_dir = args.run_dir or new_run_dir(config.storage, config.name)
    return _run(config, args, run_dir, resume=False)


def cmd_resume(args: argparse.Namespace) -> int:
    from .config import parse_config
    from .store import RunStore

    meta = RunStore.open(args.run_dir).metadata()
    if meta.get("state") == "finished":
        print(f"{args.run_dir}: this sweep already finished ({meta.get('stop_reason')}); "
              "nothing to resume, nothing changed")
        return 0
    record = dict(meta.get("config") or {})
    if args.workers is not None:
        record["workers"] = args.workers
    try:
        config = parse_config(record, default_name=str(meta.get("name") or "sweep"))
    except ConfigError as exc:
        raise ConfigError(f"{args.run_dir}: the run's stored config is not usable: {exc}") from None
    if isinstance(config.objective, str):
        _load_objective(config, args.run_dir)
    return _run(config, args, args.run_dir, resume=True)


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(h).ljust(w) for h, w in zip(header, widths))]
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(line.rstrip() for line in lines)


def cmd_show(args: argparse.Namespace) -> int:
    from .result import TuneResult
    from .store import RunStore

    if args.top < 1:
        raise ConfigError(f"--top must be >= 1, got {args.top}")
    store = RunStore.open(args.run_dir)
    meta = store.metadata()
    if store.load_trials() is None:
        running = meta.get("state") == "running"
        print(f"run {store.run_dir}: {meta.get('name')} ({meta.get('state')}); no round "
              f"committed yet" + (" - the first round is running" if running else ""))
        return 0
    result = TuneResult.load(args.run_dir)
    table = result.table
    statuses = table.column("status").to_pylist()
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    print(f"run {result.run_dir}: {meta.get('name')} ({meta.get('state')}), "
          f"{result.rounds_run} rounds, {table.num_rows} trials "
          f"({', '.join(f'{v} {k}' for k, v in counts.items())}), mode={result.mode}")
    if meta.get("stop_reason"):
        print(f"stopped: {meta['stop_reason']}")
    names = list(result.final_space)
    top = result.top(args.top).to_pylist()
    print(f"\ntop {len(top)} trials:")
    print(_table([[r["round"], r["trial_id"], _fmt(r["score"])] + [_fmt(r[n]) for n in names]
                  for r in top], ["round", "trial", "score", *names]))
    from .importance import format_importance

    print("\nimportance (share of the score's variation, from a random forest on the trials):")
    print(format_importance(result.importance()))
    print("\nranges per round:")
    rows = []
    for r in result.ranges.to_pylist():
        span = r["choices"] if r["type"] == "choice" else (
            f"[{_fmt(r['low'])}, {_fmt(r['high'])}]" + (" log" if r["log"] else ""))
        round_label = str(r["round"] + 1) if r["sampled"] else "final"
        rows.append([round_label, r["parameter"], span, r["action"], r["reason"]])
    print(_table(rows, ["round", "parameter", "range", "action", "reason"]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sweep", description="Coarse-to-fine hyperparameter sweeps on Ray."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser("run", help="run a sweep from a YAML config")
    run.add_argument("config", help="the sweep's YAML config")
    run.add_argument("--address", help="an existing Ray cluster (default: start Ray locally)")
    run.add_argument("--workers", type=int, help="worker actors (default: every CPU Ray reports)")
    run.add_argument("--run-dir", help="the run folder (default: <storage>/<name>-<timestamp>)")
    run.add_argument("--seed", type=int, help="override the config's seed")
    run.set_defaults(func=cmd_run)
    validate = sub.add_parser("validate", help="check a config without running anything")
    validate.add_argument("config")
    validate.set_defaults(func=cmd_validate)
    resume = sub.add_parser("resume", help="continue a sweep that was stopped or killed")
    resume.add_argument("run_dir")
    resume.add_argument("--address", help="an existing Ray cluster (default: start Ray locally)")
    resume.add_argument("--workers", type=int, help="worker actors (default: as the run had)")
    resume.set_defaults(func=cmd_resume)
    show = sub.add_parser("show", help="print the best trials and the ranges of a run")
    show.add_argument("run_dir")
    show.add_argument("--top", type=int, default=10, help="how many trials to list (10)")
    show.set_defaults(func=cmd_show)
    from .cli_jobs import add_job_commands

    add_job_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "workers", None) is not None and args.workers < 1:
        print(f"sweep: error: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return EXIT_USAGE
    # An objective named in a config is imported from the folder sweep is run in.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        return args.func(args)
    except (ConfigError, StoreError) as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except SweepError as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # e.g. `sweep show RUN | head`
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except KeyboardInterrupt:
        print("sweep: interrupted; what was committed stays in the run folder "
              "(sweep resume RUN_DIR continues a sweep)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
