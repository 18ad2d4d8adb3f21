"""The ``sweep`` command: run, validate and show sweeps.

    sweep run CONFIG [--address A] [--workers N] [--run-dir DIR] [--seed S]
    sweep resume RUN_DIR [--address A] [--workers N]
    sweep continue RUN_DIR --rounds N [--set P.low=V] [--set P.high=V] [--set P=V] [--release P]
                   [--discard-partial]
    sweep validate CONFIG
    sweep show RUN_DIR [--top K]
    sweep export RUN_DIR --mlflow URI [--experiment NAME]   (run/resume/continue: --mlflow URI)
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
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import yaml

from orchestrator.checks import overlap_setting, whole_number
from orchestrator.cli.text import EXIT_FAILED, EXIT_USAGE, format_table
from orchestrator.config.safe_yaml import load_yaml
from orchestrator.errors import ConfigError, StoreError, SweepError, SweepInterrupted
from orchestrator.redact import redact_uri

if TYPE_CHECKING:
    from orchestrator.config.loader import SweepConfig


def _load_objective(config: SweepConfig, where: object) -> None:
    try:
        config.load_objective()
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def cmd_validate(args: argparse.Namespace) -> int:
    from orchestrator.config.loader import load_config
    from orchestrator.sklearn.estimator_tasks import EstimatorTask

    config = load_config(args.config)
    if isinstance(config.objective, EstimatorTask):
        try:
            prepared = config.objective.prepare(config.seed)
        except ConfigError as exc:
            raise ConfigError(f"{args.config}: {exc}") from None
        split = prepared.split
        task = config.objective
        estimators = (
            f"{len(task.subspaces)} subspaces (estimator chosen per trial)"
            if task.subspaces
            else f"estimator {task.estimator}"
        )
        what = (
            f"{estimators} on {prepared.dataset.name} "
            f"({prepared.dataset.n_rows} rows: {len(split.tune_rows)} for tuning in "
            f"{len(split.folds)} fold(s), {len(split.test_rows)} sealed for the test)"
        )
    else:
        _load_objective(config, args.config)
        what = f"objective {config.objective}"
    from orchestrator.data.run_store import check_storage

    try:
        check_storage(config.storage)
    except StoreError as exc:
        raise StoreError(f"{args.config}: {exc}") from None
    print(
        f"{args.config}: ok - {len(config.space)} parameters, {config.rounds} rounds x "
        f"{config.samples_per_round} samples, mode={config.mode}, {what}"
    )
    for name, dim in config.space.items():
        when = f"  when {dim.condition()}" if dim.when else ""
        print(f"  {name:<16} {dim.kind:<6} {dim.describe()}{when}")
    return 0


class _StopOnSignal:
    """First Ctrl+C or SIGTERM: stop after committing what finished. Second: stop at once."""

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _StopOnSignal:
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
        print(
            "sweep: stopping after committing what has finished "
            "(press Ctrl+C again to stop at once)",
            file=sys.stderr,
            flush=True,
        )

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


def _run(
    config: SweepConfig,
    args: argparse.Namespace,
    run_dir: str | os.PathLike | None,
    *,
    resume: bool,
) -> int:
    from orchestrator.cli.progress import make_reporter
    from orchestrator.runs import run_config

    review = None
    if getattr(args, "review", False):
        from orchestrator.cli.progress import PlainReporter
        from orchestrator.cli.review import TerminalReview

        review, out = TerminalReview(), PlainReporter()  # a live bar would fight the prompt
    else:
        out = make_reporter(json_events=args.json, quiet=args.quiet)
    out = _mlflow_reporter(args, run_dir, out)
    out.start(config, run_dir, resume=resume)
    return _supervised(
        out,
        run_dir,
        lambda stop: run_config(
            config,
            address=args.address,
            run_dir=run_dir,
            on_round=out.round,
            on_progress=out.progress,
            resume=resume,
            should_stop=stop,
            review=review,
        ),
    )


class _Exporting:
    """``--mlflow URI``: the reporter, plus an MLflow export after each committed round (in
    the background: a failing MLflow warns once, the sweep goes on) and a last one when the
    sweep ends (its final state, the test score)."""

    def __init__(self, out: Any, live: Any, say: bool) -> None:
        self.out, self.live, self.say = out, live, say

    def __getattr__(self, name: str) -> Any:
        return getattr(self.out, name)

    def __enter__(self) -> _Exporting:
        self.out.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            summary = self.live.close()
            if summary is not None and self.say:
                self.out.say(summary.describe(counts=False))
        finally:
            self.out.__exit__(*exc)

    def round(self, report: Any) -> None:
        self.out.round(report)
        self.live(report)


def _mlflow_reporter(args: argparse.Namespace, run_dir: Any, out: Any) -> Any:
    if not getattr(args, "mlflow", None):
        return out
    from orchestrator.export.mlflow import LiveExport, require_mlflow

    require_mlflow()  # missing: one line saying how to install it, before the sweep starts
    live = LiveExport(run_dir, args.mlflow, experiment=args.mlflow_experiment)
    return _Exporting(out, live, say=not (args.quiet or args.json))


def _supervised(out: Any, run_dir: Any, call: Any) -> int:
    """Run ``call(should_stop)`` under Ctrl+C/SIGTERM handling; report how it ended."""
    with _StopOnSignal() as stop, out:
        try:
            outcome = call(stop)
        except (SweepInterrupted, KeyboardInterrupt):
            out.stopped(run_dir)
            print(
                f"sweep: stopped; what finished is committed. Resume with: sweep resume "
                f"{redact_uri(str(run_dir))}",
                file=sys.stderr,
            )
            return stop.exit_code
    return out.finish(outcome)


def cmd_run(args: argparse.Namespace) -> int:
    from orchestrator.api import new_run_dir
    from orchestrator.config.loader import load_config

    config = load_config(args.config)
    overrides = {"seed": args.seed, "workers": args.workers, "overlap": _overlap(args.overlap)}
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    whole_number("--seed", config.seed, minimum=0)
    if isinstance(config.objective, str):
        _load_objective(config, args.config)  # fail on a bad import path before Ray starts
    if args.review and not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise ConfigError(
            "--review needs a terminal (it waits for your answer after each "
            "round); run without --review, or use sweep continue to edit ranges"
        )
    if args.warm_start:
        from orchestrator.config.warm_start import warm_start

        config = warm_start(config, args.warm_start)
    run_dir = args.run_dir or new_run_dir(config.storage, config.name)
    return _run(config, args, run_dir, resume=False)


def _overlap(value: str | None) -> int | str | None:
    if value is None:
        return None
    return overlap_setting(int(value) if value.strip().isdigit() else value, "--overlap")


def cmd_resume(args: argparse.Namespace) -> int:
    from orchestrator.config.loader import parse_config
    from orchestrator.data.run_store import STATE_FINISHED, RunStore
    from orchestrator.sklearn.sealed_test import test_pending

    store = RunStore.open(args.run_dir)
    meta = store.metadata()
    if meta.get("state") == STATE_FINISHED and not test_pending(meta, store):
        print(
            f"{redact_uri(args.run_dir)}: this sweep already finished "
            f"({meta.get('stop_reason')}); "
            "nothing to resume, nothing changed"
        )
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


def cmd_show(args: argparse.Namespace) -> int:
    from orchestrator.cli.progress import fmt
    from orchestrator.data.run_store import RunStore
    from orchestrator.data.tune_result import TuneResult

    whole_number("--top", args.top, minimum=1)
    store = RunStore.open(args.run_dir)
    meta = store.metadata()
    if not store.has_rounds():
        running = meta.get("state") == "running"
        print(
            f"run {redact_uri(str(store.run_dir))}: {meta.get('name')} "
            f"({meta.get('state')}); no round "
            f"committed yet" + (" - the first round is running" if running else "")
        )
        return 0
    result = TuneResult.load(args.run_dir)
    table = result.table
    statuses = table.column("status").to_pylist()
    counts = {s: statuses.count(s) for s in sorted(set(statuses))}
    print(
        f"run {redact_uri(str(result.run_dir))}: {meta.get('name')} ({meta.get('state')}), "
        f"{result.rounds_run} rounds, {table.num_rows} trials "
        f"({', '.join(f'{v} {k}' for k, v in counts.items())}), "
        + (
            "objectives "
            + ", ".join(
                f"{n} ({m})" for n, m in zip(result.objectives.names, result.objectives.modes)
            )
            if result.objectives is not None
            else f"mode={result.mode}"
        )
    )
    if meta.get("stop_reason"):
        print(f"stopped: {meta['stop_reason']}")
    if meta.get("overlap"):
        print(
            f"overlap {meta['overlap']}: round k was sampled once round k-{meta['overlap'] + 1} "
            f"was committed ({meta.get('workers')} workers)"
        )
    if meta.get("continues"):
        line = f"promotions {meta['continues']}"
        if "continued" in table.column_names:
            flags = [
                c
                for c, r in zip(
                    table.column("continued").to_pylist(), table.column("rung").to_pylist()
                )
                if r
            ]
            line += f" ({sum(map(bool, flags))} of {len(flags)} promoted evaluations continued"
            line += f"; at most {meta.get('state_peak_bytes', 0) / 1e6:.1f} MB of states held)"
        print(line)
    names = list(result.final_space)
    conditional = [n for n, d in result.final_space.items() if d.when]
    if conditional:
        listed = "; ".join(f"{n} when {result.final_space[n].condition()}" for n in conditional)
        print(f"conditions: {listed} (- marks an inactive parameter)")
    if result.objectives is not None:
        from orchestrator.search.pareto import describe_pick

        front = result.pareto_front().to_pylist()
        objectives = list(result.objectives.names)
        how = describe_pick(result.objectives, result.weights)
        print(
            f"\nPareto front: {len(front)} trials (by {objectives[0]}); * = the result, by {how}:"
        )
        print(
            format_table(
                [
                    [
                        "*" if r["trial_id"] == result.best_trial_id else "",
                        r["round"],
                        r["trial_id"],
                    ]
                    + [fmt(r[n]) for n in objectives]
                    + ["-" if n in conditional and r[n] is None else fmt(r[n]) for n in names]
                    for r in front
                ],
                ["", "round", "trial", *objectives, *names],
            )
        )
    if result.objectives is None:
        top = result.top(args.top).to_pylist()
        print(f"\ntop {len(top)} trials:")
        print(
            format_table(
                [
                    [r["round"], r["trial_id"], fmt(r["score"])]
                    + ["-" if n in conditional and r[n] is None else fmt(r[n]) for n in names]
                    for r in top
                ],
                ["round", "trial", "score", *names],
            )
        )
    from orchestrator.search.importance import format_importance

    of = "the score" if result.objectives is None else result.objectives.names[0]
    print(f"\nimportance (share of {of}'s variation, from a random forest on the trials):")
    print(format_importance(result.importance()))
    print("\nranges per round:")
    rows = []
    for r in result.ranges.to_pylist():
        span = (
            r["choices"]
            if r["type"] == "choice"
            else (f"[{fmt(r['low'])}, {fmt(r['high'])}]" + (" log" if r["log"] else ""))
        )
        round_label = str(r["round"] + 1) if r["sampled"] else "final"
        rows.append([round_label, r["parameter"], span, r["action"], redact_uri(r["reason"])])
    print(format_table(rows, ["round", "parameter", "range", "action", "reason"]))
    return 0


def parse_sets(sets: Iterable[str], release: Iterable[str]) -> tuple[dict, dict, tuple]:
    """``["lr.low=1e-4", "act=relu"]`` -> bounds and freezes (values read as YAML scalars)."""
    bounds: dict[str, list[Any]] = {}
    freeze: dict[str, Any] = {}
    for text in sets:
        key, sep, raw = text.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {text!r}: expected P.low=V, P.high=V or P=V")
        try:
            value = load_yaml(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {text!r}: {raw!r} is not a value") from None
        name, _, side = key.partition(".")
        if side in ("low", "high"):
            bounds.setdefault(name, [None, None])[0 if side == "low" else 1] = value
        elif side:
            raise ConfigError(f"--set {text!r}: only .low and .high can follow a parameter name")
        else:
            freeze[name] = value
    return {k: tuple(v) for k, v in bounds.items()}, freeze, tuple(release)


def cmd_continue(args: argparse.Namespace) -> int:
    from orchestrator.cli.progress import make_reporter
    from orchestrator.runs import extend

    bounds, freeze, release = parse_sets(args.set or (), args.release or ())
    out = make_reporter(json_events=args.json, quiet=args.quiet)
    out = _mlflow_reporter(args, args.run_dir, out)
    return _supervised(
        out,
        args.run_dir,
        lambda stop: extend(
            args.run_dir,
            rounds=args.rounds,
            ranges=bounds,
            freeze=freeze,
            release=release,
            address=args.address,
            discard_partial=args.discard_partial,
            on_round=out.round,
            on_progress=out.progress,
            should_stop=stop,
        ),
    )


def cmd_report(args: argparse.Namespace) -> int:
    from orchestrator.cli.report import write_report

    out = write_report(args.run_dir, args.output, png_dir=args.png)
    print(f"report: {out}" + (f"; plots in {args.png}" if args.png else ""))
    return 0


def cmd_test(args: argparse.Namespace) -> int:
    from orchestrator.cli.progress import fmt
    from orchestrator.sklearn.sealed_test import evaluate_test

    record = evaluate_test(args.run_dir, trial=args.trial)
    extra = "  ".join(f"{k} {fmt(v)}" for k, v in (record.get("objectives") or {}).items())
    config = ", ".join(f"{k}={fmt(v)}" for k, v in record["config"].items())
    print(f"trial {record['trial_id']}: {config}")
    print(
        f"validation score {fmt(record['validation_score'])}   test score "
        f"{fmt(record['score'])}  ({record['scoring']}; the sealed test set, "
        f"{record['n_test_rows']} rows, evaluated once)" + (f"\n  {extra}" if extra else "")
    )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    import time

    from orchestrator.export.mlflow import export_run

    started, shown = time.monotonic(), [0.0]

    def progress(done: int, total: int) -> None:
        now = time.monotonic() - started
        if done == 0:
            shown[0] = now
            print(f"exporting {total} trials to MLflow ...", flush=True)
        elif done == total or now - shown[0] >= 2.0:
            shown[0] = now
            print(f"  {done}/{total} trials (at {now:.0f} s)", flush=True)

    summary = export_run(args.run_dir, args.mlflow, experiment=args.experiment, progress=progress)
    print(summary.describe())
    return 0


def _mlflow_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--mlflow",
        metavar="URI",
        help="export the run to this MLflow tracking URI after each round (needs "
        "sweep-orchestrator[mlflow]; a failing MLflow only warns)",
    )
    parser.add_argument(
        "--mlflow-experiment", metavar="NAME", help="the MLflow experiment (the sweep's name)"
    )


def _output_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="also show Ray's own log lines (start-up, warnings); default: errors only",
    )
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quiet", action="store_true", help="print only the final result")
    group.add_argument(
        "--json", action="store_true", help="machine-readable events, one JSON object per line"
    )


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
    run.add_argument(
        "--overlap",
        help="rounds running beside the oldest unfinished one: auto (by the number of "
        "workers) or a number (0: one round at a time); overrides the config's",
    )
    run.add_argument(
        "--review",
        action="store_true",
        help="after each round, accept, edit ($EDITOR) or stop (terminal only)",
    )
    run.add_argument(
        "--warm-start", metavar="RUN_DIR", help="start from the final ranges of another run"
    )
    _output_flags(run)
    _mlflow_flags(run)
    run.set_defaults(func=cmd_run)
    validate = sub.add_parser("validate", help="check a config without running anything")
    validate.add_argument("config")
    validate.set_defaults(func=cmd_validate)
    resume = sub.add_parser("resume", help="continue a sweep that was stopped or killed")
    resume.add_argument("run_dir")
    resume.add_argument("--address", help="an existing Ray cluster (default: start Ray locally)")
    resume.add_argument("--workers", type=int, help="worker actors (default: as the run had)")
    _output_flags(resume)
    _mlflow_flags(resume)
    resume.set_defaults(func=cmd_resume)
    show = sub.add_parser("show", help="print the best trials and the ranges of a run")
    show.add_argument("run_dir")
    show.add_argument("--top", type=int, default=10, help="how many trials to list (10)")
    show.set_defaults(func=cmd_show)
    more = sub.add_parser("continue", help="run more rounds of a finished sweep, with edits")
    more.add_argument("run_dir")
    more.add_argument("--rounds", type=int, required=True, help="how many more rounds")
    more.add_argument(
        "--set",
        action="append",
        metavar="P.low=V|P.high=V|P=V",
        help="replace a bound, or freeze a parameter at a value (repeatable)",
    )
    more.add_argument(
        "--release",
        action="append",
        metavar="P",
        help="unfreeze a parameter (back to its last range; repeatable)",
    )
    more.add_argument(
        "--discard-partial",
        action="store_true",
        help="a round the run stopped in the middle of: drop its committed "
        "evaluations and sample it anew with the edits (default: finish "
        "it as planned first)",
    )
    more.add_argument("--address", help="an existing Ray cluster (default: start Ray locally)")
    _output_flags(more)
    _mlflow_flags(more)
    more.set_defaults(func=cmd_continue)
    report = sub.add_parser("report", help="write an HTML report of a run (plots embedded)")
    report.add_argument("run_dir")
    report.add_argument("-o", "--output", default="report.html", help="the HTML file (report.html)")
    report.add_argument("--png", help="also write every plot as a PNG file into this folder")
    report.set_defaults(func=cmd_report)
    test = sub.add_parser(
        "test",
        help="score a tuned run's result on its sealed test set, once (or the trial you pick "
        "from a Pareto front)",
    )
    test.add_argument("run_dir")
    test.add_argument("--trial", type=int, help="the trial to evaluate (default: the run's result)")
    test.set_defaults(func=cmd_test)
    export = sub.add_parser(
        "export", help="write a run into MLflow: a parent run, a child run per trial"
    )
    export.add_argument("run_dir")
    export.add_argument(
        "--mlflow",
        metavar="URI",
        required=True,
        help="the MLflow tracking URI (file:, http://, ...)",
    )
    export.add_argument(
        "--experiment", metavar="NAME", help="the MLflow experiment (default: the sweep's name)"
    )
    export.set_defaults(func=cmd_export)
    from orchestrator.cli.jobs_commands import add_job_commands

    add_job_commands(sub)
    from orchestrator.cli.dashboard_command import add_dashboard_command

    add_dashboard_command(sub)
    return parser


def _show_warning(message: Any, category: Any, *args: Any, **kwargs: Any) -> None:
    print(f"sweep: warning: {redact_uri(str(message))}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import warnings

    warnings.showwarning = _show_warning  # one line, no source excerpt
    try:
        whole_number("--workers", getattr(args, "workers", None), minimum=1, allow_none=True)
    except ConfigError as exc:
        print(f"sweep: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # An objective named in a config is imported from the folder sweep is run in.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    if getattr(args, "verbose", False):
        os.environ["SWEEP_VERBOSE"] = "1"  # read where Ray starts (and by Ray's job workers)
    try:
        return args.func(args)
    except (ConfigError, StoreError) as exc:  # messages may name a location: no secrets
        print(f"sweep: error: {redact_uri(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except SweepError as exc:
        print(f"sweep: error: {redact_uri(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except BrokenPipeError:  # e.g. `sweep show RUN | head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print(
            "sweep: interrupted; what was committed stays in the run folder "
            "(sweep resume RUN_DIR continues a sweep)",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":
    sys.exit(main())
