"""What `sweep run` / `resume` print while a sweep runs.

- on a terminal: a live progress bar per round (done of total, not ok, elapsed, ETA) and the
  best so far, drawn with ``rich``, then a line per round with the next ranges;
- otherwise (logs, CI, pipes): plain lines, one per event;
- ``--quiet``: only the final result;
- ``--json``: one JSON object per line - ``start``, ``progress``, ``round``, ``finished`` or
  ``stopped`` events - for scripts.

Every line goes out through :meth:`PlainReporter.say`, which strips credentials from any
location in it (:func:`~orchestrator.redact.redact_uri`).
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

import pyarrow.compute as pc

from orchestrator.redact import redact_uri

if TYPE_CHECKING:
    from rich.progress import TaskID

    from orchestrator.config.loader import SweepConfig
    from orchestrator.search.space import SearchSpace


def fmt(value: Any) -> str:
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def describe_space(space: SearchSpace, conditions: bool = False) -> str:
    """``name=range`` per parameter; with ``conditions``, each condition too."""
    return "  ".join(
        f"{name}={dim.describe()}" + (f" when {dim.condition()}" if conditions and dim.when else "")
        for name, dim in space.items()
    )


def _statuses(report: Any) -> str:
    problems = {k: v for k, v in report.statuses.items() if k != "ok"}
    return ", ".join(f"{v} {k}" for k, v in problems.items()) or "0 failed"


def round_line(report: Any, at_s: float | None = None) -> str:
    """One round's summary; ``at_s``: seconds since the command started (default: since the
    sweep's workers were up, as the report counts)."""
    seconds = report.elapsed_s if at_s is None else at_s
    best = "none yet" if report.best_score is None else fmt(report.best_score)
    if report.best_budget is not None:
        best += f" at budget {fmt(report.best_budget)}"
    budgets = "  budgets " + "/".join(fmt(b) for b in report.budgets) if report.budgets else ""
    if getattr(report, "front", None) is not None:
        picked = ", ".join(f"{k}={fmt(v)}" for k, v in (report.best_objectives or {}).items())
        best = f"front of {report.front}" + (f", picked {picked}" if picked else "")
        return (
            f"round {report.round_index + 1}/{report.rounds}  {report.trials}/{report.trials} "
            f"done  {_statuses(report)}  {best}  (at {seconds:.1f} s)"
        )
    return (
        f"round {report.round_index + 1}/{report.rounds}  {report.trials}/{report.trials} "
        f"done  {_statuses(report)}  best {best}{budgets}  (at {seconds:.1f} s)"
    )


class PlainReporter:
    """One line per event; a line about a long round at most every ``every_s`` seconds.

    Every time printed is "at N s": seconds since the reporter was made, when the command
    started (Ray's start and the workers' included), so a progress line and the round line
    after it always agree."""

    def __init__(self, every_s: float = 10.0, stream: Any = None) -> None:
        self.every_s = every_s
        self.stream = stream or sys.stdout
        self._round = 0
        self._t0 = self._last = time.monotonic()

    def at(self) -> float:
        """Seconds since the command started."""
        return time.monotonic() - self._t0

    def __enter__(self) -> PlainReporter:
        return self

    def __exit__(self, *exc: Any) -> None:
        return None

    def say(self, text: str) -> None:
        print(redact_uri(text), file=self.stream, flush=True)

    def start(self, config: SweepConfig, run_dir: object, *, resume: bool = False) -> None:
        verb = "resuming" if resume else "sweep"
        self.say(
            f"{verb} {config.name}: {config.rounds} rounds x {config.samples_per_round} "
            f"samples, mode={config.mode}, results in {run_dir}"
        )
        self.say(f"  start: {describe_space(config.space, conditions=True)}")

    def progress(self, round_index: int, done: int, total: int, not_ok: int) -> None:
        now = time.monotonic()
        if round_index != self._round:
            self._round, self._last = round_index, now
        if done < total and now - self._last >= self.every_s:
            self._last = now
            self.say(
                f"  round {round_index + 1}: {done}/{total} done, {not_ok} not ok "
                f"(at {now - self._t0:.0f} s)"
            )

    def round(self, report: Any) -> None:
        self.say(round_line(report, self.at()))
        if report.round_index == 0 and report.overlap:
            self.say(
                f"  overlap {report.overlap}: up to {report.overlap + 1} rounds run at once "
                f"(round k starts once round k-{report.overlap + 1} is committed)"
            )
        if report.stop_reason:
            self.say(f"  final: {describe_space(report.next_space)}")
        elif report.next_round is not None:
            label = "next" if report.next_round == report.round_index + 1 else None
            label = label or f"round {report.next_round + 1}"
            self.say(f"  {label}: {describe_space(report.next_space)}")
        moved = [d for d in report.decisions if d.action in ("shrink", "grow", "prune")]
        if not moved and report.decisions:
            self.say(f"  ({report.decisions[0].reason})")

    def stopped(self, run_dir: Any) -> None:
        return None

    def finish(self, outcome: Any) -> int:
        result = outcome.result
        self.say(f"stopped: {result.stop_reason}")
        if result.best_config is None:
            self.say(f"no trial finished ok; see the error column: sweep show {result.run_dir}")
            return 1
        params = ", ".join(f"{k}={fmt(v)}" for k, v in result.best_config.items())
        if result.objectives is not None:
            from orchestrator.search.pareto import describe_pick

            front = result.pareto_front()
            how = describe_pick(result.objectives, result.weights)
            self.say(f"Pareto front: {front.num_rows} trials (sweep show lists them)")
            self.say(f"picked from it by {how} (trial {result.best_trial_id}): {params}")
            row = result.table.filter(
                pc.equal(result.table.column("trial_id"), result.best_trial_id)
            )
            values = "  ".join(
                f"{n} {fmt(row.column(n)[0].as_py())}" for n in result.objectives.names
            )
            self.say(f"  {values}")
            if outcome.test is None:
                if outcome.sealed:
                    self.say(
                        "the test set stays sealed until you choose from the front: "
                        f"sweep test {result.run_dir} --trial N (once)"
                    )
                self.say(f"results: {result.run_dir}  (sweep show {result.run_dir})")
                return 0
        else:
            self.say(f"best configuration (trial {result.best_trial_id}): {params}")
        if outcome.test is not None:
            self.say(
                f"validation score {fmt(result.best_score)}   test score "
                f"{fmt(outcome.test['score'])}  ({outcome.test['scoring']}; the sealed "
                f"test set, {outcome.test['n_test_rows']} rows, evaluated once)"
            )
        else:
            note = "" if outcome.sealed else "  (no test split: nothing sealed, no test score)"
            self.say(f"best validation score {fmt(result.best_score)}{note}")
        self.say(f"results: {result.run_dir}  (sweep show {result.run_dir})")
        return 0


class QuietReporter(PlainReporter):
    """Only the final result."""

    def start(self, config: SweepConfig, run_dir: object, *, resume: bool = False) -> None:
        return None

    def progress(self, round_index: int, done: int, total: int, not_ok: int) -> None:
        return None

    def round(self, report: Any) -> None:
        return None


class JsonReporter(PlainReporter):
    """One JSON object per line on stdout."""

    def __init__(self, every_s: float = 2.0, stream: Any = None) -> None:
        super().__init__(every_s, stream)

    def emit(self, event: str, **fields: Any) -> None:
        self.say(json.dumps({"event": event, "time": time.time(), **fields}, default=str))

    def start(self, config: SweepConfig, run_dir: object, *, resume: bool = False) -> None:
        self.emit(
            "start",
            name=config.name,
            run_dir=str(run_dir),
            resume=resume,
            rounds=config.rounds,
            samples_per_round=config.samples_per_round,
            mode=config.mode,
        )

    def progress(self, round_index: int, done: int, total: int, not_ok: int) -> None:
        now = time.monotonic()
        if done >= total or now - self._last >= self.every_s:
            self._last = now
            self.emit("progress", round=round_index, done=done, total=total, not_ok=not_ok)

    def round(self, report: Any) -> None:
        ranges = {
            n: ([d.low, d.high] if hasattr(d, "low") else list(d.values))
            for n, d in report.next_space.items()
        }
        self.emit(
            "round",
            round=report.round_index,
            rounds=report.rounds,
            trials=report.trials,
            statuses=report.statuses,
            best_score=report.best_score,
            best_config=report.best_config,
            best_budget=report.best_budget,
            budgets=list(report.budgets),
            next_ranges=ranges,
            decisions=[
                {"parameter": d.parameter, "action": d.action, "reason": d.reason}
                for d in report.decisions
            ],
            elapsed_s=report.elapsed_s,
            stop_reason=report.stop_reason,
            next_round=report.next_round,
            overlap=report.overlap,
        )

    def stopped(self, run_dir: Any) -> None:
        self.emit("stopped", run_dir=str(run_dir), resume=f"sweep resume {run_dir}")

    def finish(self, outcome: Any) -> int:
        result = outcome.result
        self.emit(
            "finished",
            run_dir=str(result.run_dir),
            stop_reason=result.stop_reason,
            best_score=result.best_score,
            best_config=result.best_config,
            best_trial_id=result.best_trial_id,
            rounds_run=result.rounds_run,
            test=outcome.test,
        )
        return 0 if result.best_config is not None else 1


class RichReporter(PlainReporter):
    """A live progress bar for the running round (terminal only), then the plain lines."""

    def __enter__(self) -> RichReporter:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.console = Console(file=self.stream)
        self.bar = Progress(
            TextColumn("round {task.fields[round]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[not_ok]} not ok"),
            TextColumn("at {task.fields[at]} s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("best {task.fields[best]}"),
            console=self.console,
            transient=True,
        )
        self.bar.start()
        self.task: TaskID | None = None
        self.best = "-"
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.stop()

    def say(self, text: str) -> None:
        console = getattr(self, "console", None)
        if console is None:
            super().say(text)
        else:
            console.print(redact_uri(text), highlight=False, markup=False)

    def progress(self, round_index: int, done: int, total: int, not_ok: int) -> None:
        if self.task is None or self._round != round_index:
            if self.task is not None:
                self.bar.remove_task(self.task)
            self._round = round_index
            self.task = self.bar.add_task(
                "", total=total, round=round_index + 1, not_ok=0, best=self.best, at="0"
            )
        self.bar.update(
            self.task,
            completed=done,
            total=total,
            not_ok=not_ok,
            best=self.best,
            at=f"{self.at():.0f}",
        )

    def round(self, report: Any) -> None:
        self.best = "-" if report.best_score is None else fmt(report.best_score)
        if self.task is not None:
            self.bar.remove_task(self.task)
            self.task = None
        super().round(report)


def make_reporter(*, json_events: bool = False, quiet: bool = False) -> PlainReporter:
    """The reporter for this output: JSON, quiet, a live bar on a terminal, or plain lines."""
    if json_events:
        return JsonReporter()
    if quiet:
        return QuietReporter()
    if sys.stdout.isatty():
        return RichReporter()
    return PlainReporter()
