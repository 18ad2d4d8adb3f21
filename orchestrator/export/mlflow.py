"""A run in MLflow: one parent run per sweep, a nested child run per trial.

:func:`export_run` (``sweep export RUN_DIR --mlflow URI``) reads the run folder - it never
writes to it - and writes into the experiment named like the sweep (or ``experiment``):

- the **parent run** (tags ``sweep.sweep_id``, ``sweep.kind=sweep``): the sweep's config as
  params (``mode``, ``rounds``, ``samples_per_round``, ``seed``, ``sampler``, ... and
  ``space.<name>`` per parameter); the metric ``best_score`` (one step per round: the best
  so far) and ``trials``; the best trial as tags (``sweep.best_trial_id``,
  ``sweep.best_run_id``, ``best.<param>``); the state and stop reason as tags; its MLflow
  status (RUNNING while the sweep runs, FINISHED, KILLED when stopped, FAILED); the metric
  ``test_score`` once the sealed test was evaluated; the artifacts ``config.json`` and
  ``ranges.json`` (the final ranges and every round's, with their decisions) and, with
  several objectives, ``pareto_front.json`` with the metric ``front_size``;
- a **child run** per trial (tags ``mlflow.parentRunId``, ``sweep.trial_id``): its
  configuration as params (an inactive conditional parameter - null in the table - is not
  logged); ``score``, every numeric metric column, ``round``, ``rung``, ``budget`` and
  ``duration_s`` as metrics; text metric columns as tags; ``sweep.status``, ``sweep.error``
  (truncated), ``sweep.config_id`` and ``sweep.worker`` as tags; the run's start and end
  are the trial's, its status FINISHED (ok), FAILED (failed, invalid) or KILLED (timeout).

Exporting again is idempotent: the parent is found by its tags, the children by their
parent and trial id, and only what is missing is written - so an export after the sweep
went on adds the trials committed since. A child whose export was cut short (still
RUNNING) is completed, never duplicated. MLflow's params never change, so the parent's
params are the config at the first export (a later ``sweep continue``'s new rounds show in
``config.json``, rewritten each time). Only committed rounds are exported. Artifacts are
JSON; nothing is pickled. Values go in batches (``log_batch``), within MLflow's limits.

:class:`LiveExport` runs the same export after each committed round of a running sweep
(``sweep run --mlflow URI``), on a thread of its own so the sweep never waits for MLflow;
a failing MLflow costs one warning line, and the next round's export tries again.
"""

from __future__ import annotations

import json
import math
import re
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.data.run_store import RunStore
from orchestrator.data.tune_result import TuneResult
from orchestrator.errors import ConfigError, SweepError, first_line
from orchestrator.redact import redact_record, redact_uri
from orchestrator.search.fidelity import Budget, at_budget
from orchestrator.search.space import INACTIVE, SearchSpace
from orchestrator.search.specs import space_to_dict
from orchestrator.search.trials import config_at, decode_column
from workers.evaluate import RESERVED_COLUMNS, STATUS_OK, STATUS_TIMEOUT

__all__ = [
    "INSTALL",
    "ExportCancelled",
    "ExportError",
    "ExportSummary",
    "LiveExport",
    "MlflowExporter",
    "export_run",
    "require_mlflow",
]

INSTALL = "pip install 'sweep-orchestrator[mlflow]'"
PARENT_TAG = "mlflow.parentRunId"
SWEEP_ID_TAG = "sweep.sweep_id"
KIND_TAG = "sweep.kind"  # "sweep" on the parent, "trial" on a child
TRIAL_TAG = "sweep.trial_id"
#: MLflow's limits (the smallest of the versions the extra allows): a param's value, a tag's
#: value, a key; one log_batch call's metrics, params, tags and entries in all.
PARAM_CHARS, TAG_CHARS, KEY_CHARS = 6000, 5000, 250
BATCH_METRICS, BATCH_PARAMS, BATCH_TAGS, BATCH_ENTRIES = 1000, 100, 100, 1000
ERROR_CHARS = 1000  # a trial's error, cut to this length (a tag)
SEARCH_PAGE = 10_000
#: The parent run's MLflow status by the run's state in run.json (others: RUNNING).
SWEEP_STATUS = {
    "finished": "FINISHED",
    "tuned": "FINISHED",
    "interrupted": "KILLED",
    "failed": "FAILED",
}
_NOT_KEY = re.compile(r"[^\w./\- ]")
_SAFE_ID = re.compile(r"^[\w.\-]+$")


class ExportError(SweepError):
    """MLflow refused the export or could not be reached."""


class ExportCancelled(ExportError):
    """The export was told to stop (:meth:`MlflowExporter.cancel`); it stopped between two
    trials, and a later export completes it."""


# One export of a sweep into one tracking store at a time in this process: two exporters
# (a live export that outlived its sweep's close(), and the next one of a resume) each know
# only the children they made, and would both make the rest.
_EXPORTING: dict[tuple[str, str], threading.Lock] = {}
_EXPORTING_LOCK = threading.Lock()


def _export_lock(tracking_uri: str, sweep_id: str) -> threading.Lock:
    with _EXPORTING_LOCK:
        return _EXPORTING.setdefault((tracking_uri, sweep_id), threading.Lock())


def require_mlflow() -> Any:
    """The ``mlflow`` module; a :class:`ConfigError` saying how to install it if it is missing."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError(
            f"--mlflow needs MLflow's client, which is not installed: {INSTALL}"
        ) from None
    return mlflow


@dataclass(frozen=True)
class ExportSummary:
    """What one export did."""

    tracking_uri: str  # without credentials
    experiment: str
    experiment_id: str
    parent_run_id: str
    trials: int  # committed trials in the run
    added: int  # child runs created by this export
    completed: int  # children an earlier export left unfinished, completed now
    new_parent: bool

    def describe(self, counts: bool = True) -> str:
        """One line: where the run is; with ``counts``, what this export added."""
        where = (
            f"mlflow: {self.trials} trials in experiment {self.experiment!r} at "
            f"{self.tracking_uri} (parent run {self.parent_run_id})"
        )
        if not counts:
            return where
        there = self.trials - self.added - self.completed
        completed = f", {self.completed} completed" if self.completed else ""
        return f"{where}: {self.added} added{completed}, {there} already there"


def export_run(
    run_dir: Any,
    tracking_uri: str,
    *,
    experiment: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Export the run in ``run_dir`` to the MLflow tracking server or store at
    ``tracking_uri`` (``http://host:5000``, ``file:/path/mlruns``, ``databricks``, ...), in
    ``experiment`` (default: the sweep's name; made if missing). ``progress(done, total)``
    is called as child runs are written. Idempotent (see the module's doc)."""
    return MlflowExporter(run_dir, tracking_uri, experiment=experiment).export(progress)


class MlflowExporter:
    """Exports one run to one experiment; kept between exports (a running sweep's), it
    remembers which trials are in MLflow, so each later export only writes what is new."""

    def __init__(self, run_dir: Any, tracking_uri: str, *, experiment: str | None = None):
        self.run_dir = run_dir
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self._client: Any = None
        self._parent: str | None = None
        self._experiment_id: str | None = None
        self._done: dict[int, str] = {}  # trial_id -> its finished child run
        self._cancel = threading.Event()

    def cancel(self) -> None:
        """Stop a running export between two trials (it raises :class:`ExportCancelled`),
        and any later one before it starts; what is in MLflow stays consistent."""
        self._cancel.set()

    # -- the export ---------------------------------------------------------------------
    def export(self, progress: Callable[[int, int], None] | None = None) -> ExportSummary:
        self._stop_if_cancelled()
        store = RunStore.open(self.run_dir)
        sweep_id = str(store.metadata().get("sweep_id") or "")
        if not _SAFE_ID.match(sweep_id):
            raise ExportError(f"{redact_uri(str(store.run_dir))}: run.json has no usable sweep_id")
        lock = _export_lock(self.tracking_uri, sweep_id)
        while not lock.acquire(timeout=0.2):  # another export of this sweep is running
            self._stop_if_cancelled()
        try:  # the run read once it is this export's turn: what the last one left is older
            meta = store.metadata()
            result = TuneResult.load(self.run_dir) if store.has_rounds() else None
            return self._export(store, meta, result, progress, sweep_id)
        except BaseException as exc:
            self._parent = None  # the next export reads again what MLflow holds
            if isinstance(exc, SweepError) or not isinstance(exc, Exception):
                raise
            # MLflow's error, its HTTP client's, or its store's
            if type(exc).__name__ == "UnsupportedModelRegistryStoreURIException":
                exc = ExportError(_unsupported(self.tracking_uri))
            raise ExportError(
                f"MLflow export to {redact_uri(self.tracking_uri)} failed: "
                f"{redact_uri(first_line(exc))}"
            ) from None
        finally:
            lock.release()

    def _stop_if_cancelled(self) -> None:
        if self._cancel.is_set():
            raise ExportCancelled("the export was cancelled; exporting again completes it")

    def _export(
        self,
        store: RunStore,
        meta: dict[str, Any],
        result: TuneResult | None,
        progress: Callable[[int, int], None] | None,
        sweep_id: str,
    ) -> ExportSummary:
        self._stop_if_cancelled()
        client = self._connect()
        name = self.experiment or str(meta.get("name") or "sweep")
        if self._experiment_id is None:
            _check_reachable(self.tracking_uri)
            self._experiment_id = _experiment(client, name)
        new_parent = False
        if self._parent is None:
            self._parent, new_parent = self._find_or_create_parent(client, store, meta, sweep_id)
            self._done = {}
            unfinished = {} if new_parent else self._known_children(client)
        else:
            unfinished = {}
        table = result.table if result is not None else None
        added = completed = 0
        if table is not None and result is not None:
            space = result.space or result.final_space
            added, completed = self._children(client, table, space, sweep_id, unfinished, progress)
        self._update_parent(client, store, meta, result)
        return ExportSummary(
            tracking_uri=redact_uri(self.tracking_uri),
            experiment=name,
            experiment_id=self._experiment_id,
            parent_run_id=self._parent,
            trials=0 if table is None else table.num_rows,
            added=added,
            completed=completed,
            new_parent=new_parent,
        )

    def _connect(self) -> Any:
        if self._client is None:
            require_mlflow()
            from mlflow.tracking import MlflowClient

            self._client = MlflowClient(tracking_uri=self.tracking_uri)
        return self._client

    # -- the parent ---------------------------------------------------------------------
    def _find_or_create_parent(
        self, client: Any, store: RunStore, meta: dict[str, Any], sweep_id: str
    ) -> tuple[str, bool]:
        found = client.search_runs(
            [self._experiment_id],
            filter_string=f"tags.`{SWEEP_ID_TAG}` = '{sweep_id}' and tags.`{KIND_TAG}` = 'sweep'",
            order_by=["attributes.start_time ASC"],
            max_results=1,
        )
        if found:
            return found[0].info.run_id, False
        run = client.create_run(
            self._experiment_id,
            start_time=_millis(meta.get("created_at")),
            tags={SWEEP_ID_TAG: sweep_id, KIND_TAG: "sweep"},
            run_name=_run_name(store, meta),
        )
        return run.info.run_id, True

    def _update_parent(
        self, client: Any, store: RunStore, meta: dict[str, Any], result: TuneResult | None
    ) -> None:
        assert self._parent is not None
        run = client.get_run(self._parent)
        config = meta.get("config") or {}
        params = {k: v for k, v in _config_params(config).items() if k not in run.data.params}
        tags = self._parent_tags(store, meta, result)
        stale = [k for k in run.data.tags if k.startswith("best.") and k not in tags]
        for key in stale:  # a conditional parameter the new best trial has inactive
            client.delete_tag(self._parent, key)
        tags = {k: v for k, v in tags.items() if run.data.tags.get(k) != v}
        metrics = []
        for key, steps in _parent_metrics(meta, result).items():
            if not steps:
                continue
            logged = {m.step for m in client.get_metric_history(self._parent, key)}
            metrics += [(key, value, step) for step, value in steps.items() if step not in logged]
        now = int(time.time() * 1000)
        _log(
            client,
            self._parent,
            metrics=[_metric(k, v, now, step) for k, v, step in metrics],
            params=list(params.items()),
            tags=list(tags.items()),
        )
        client.log_text(self._parent, _json(redact_record(config)), "config.json")
        if result is not None:
            client.log_text(self._parent, _json(_ranges_record(meta, result)), "ranges.json")
            if result.objectives is not None:
                front = _front_record(result, self._done)
                client.log_text(self._parent, _json(front), "pareto_front.json")
        status = SWEEP_STATUS.get(str(meta.get("state")), "RUNNING")
        if status == "RUNNING":
            if run.info.status != "RUNNING":  # continued after it had finished
                client.update_run(self._parent, status="RUNNING")
        elif run.info.status != status or not run.info.end_time:
            end = meta.get("finished_at") or meta.get("updated_at")
            client.set_terminated(self._parent, status=status, end_time=_millis(end))

    def _parent_tags(
        self, store: RunStore, meta: dict[str, Any], result: TuneResult | None
    ) -> dict[str, str]:
        tags = {
            "sweep.run_dir": str(redact_uri(str(store.run_dir))),
            "sweep.state": str(meta.get("state", "")),
            "sweep.rounds_run": str(meta.get("rounds_run", 0)),
        }
        if meta.get("stop_reason"):
            tags["sweep.stop_reason"] = str(meta["stop_reason"])
        version = (meta.get("versions") or {}).get("sweep-orchestrator")
        if version:
            tags["sweep.version"] = str(version)
        if result is not None and result.objectives is not None:
            tags["sweep.objectives"] = ", ".join(
                f"{n} ({m})" for n, m in zip(result.objectives.names, result.objectives.modes)
            )
        if result is not None and result.best_trial_id is not None:
            tags["sweep.best_trial_id"] = str(result.best_trial_id)
            if result.best_trial_id in self._done:
                tags["sweep.best_run_id"] = self._done[result.best_trial_id]
            for name, value in (result.best_config or {}).items():
                tags[_key(f"best.{name}")] = _text(value, TAG_CHARS)
        test = meta.get("test")
        if isinstance(test, Mapping):
            for key in ("trial_id", "scoring", "n_test_rows", "evaluated_at"):
                if test.get(key) is not None:
                    tags[f"sweep.test_{key}"] = _text(test[key], TAG_CHARS)
        return {k: _cut(v, TAG_CHARS) for k, v in tags.items()}

    # -- the children -------------------------------------------------------------------
    def _known_children(self, client: Any) -> dict[int, Any]:
        """Children already in MLflow: finished ones into ``_done``; unfinished ones
        (an export cut short) returned, by trial id, to be completed."""
        unfinished: dict[int, Any] = {}
        token = None
        while True:
            page = client.search_runs(
                [self._experiment_id],
                filter_string=f"tags.`{PARENT_TAG}` = '{self._parent}'",
                max_results=SEARCH_PAGE,
                page_token=token,
            )
            for run in page:
                trial = run.data.tags.get(TRIAL_TAG)
                if trial is None or not trial.lstrip("-").isdigit():
                    continue
                if run.info.status == "RUNNING":
                    unfinished[int(trial)] = run
                else:
                    self._done[int(trial)] = run.info.run_id
            token = page.token
            if not token:
                return unfinished

    def _children(
        self,
        client: Any,
        table: pa.Table,
        space: SearchSpace,
        sweep_id: str,
        unfinished: dict[int, Any],
        progress: Callable[[int, int], None] | None,
    ) -> tuple[int, int]:
        ids = table.column("trial_id").to_numpy()
        todo = table.filter(pa.array(~np.isin(ids, np.fromiter(self._done, np.int64))))
        total = todo.num_rows
        if progress is not None:
            progress(0, total)
        added = completed = 0
        for child in _child_rows(todo, space):
            self._stop_if_cancelled()
            trial = child["trial_id"]
            tags = {
                PARENT_TAG: self._parent,
                SWEEP_ID_TAG: sweep_id,
                KIND_TAG: "trial",
                TRIAL_TAG: str(trial),
                **child["tags"],
            }
            existing = unfinished.pop(trial, None)
            if existing is None:
                # the tags that find it again, at once; the rest in the batch (a file
                # store writes create_run's tags one by one, slowly)
                run = client.create_run(
                    self._experiment_id,
                    start_time=child["start"],
                    tags={k: tags[k] for k in (PARENT_TAG, TRIAL_TAG)},
                    run_name=f"trial-{trial}",
                )
                run_id, data = run.info.run_id, None
                added += 1
            else:
                run_id, data = existing.info.run_id, existing.data
                completed += 1
            metrics = [_metric(k, v, child["end"], 0) for k, v in child["metrics"].items()]
            params, tag_items = list(child["params"].items()), list(tags.items())
            if data is not None:  # only what the cut-short export did not write
                metrics = [m for m in metrics if m.key not in data.metrics]
                params = [(k, v) for k, v in params if k not in data.params]
                tag_items = [(k, v) for k, v in tag_items if data.tags.get(k) != v]
            else:
                tag_items = [(k, v) for k, v in tag_items if k not in (PARENT_TAG, TRIAL_TAG)]
            _log(client, run_id, metrics=metrics, params=params, tags=tag_items)
            client.set_terminated(run_id, status=child["status"], end_time=child["end"])
            self._done[trial] = run_id
            if progress is not None:
                progress(added + completed, total)
        return added, completed


class LiveExport:
    """Exports a running sweep after each committed round: call it as (or from) the
    sweep's ``on_round``. Each export runs on a thread of its own - the sweep never waits
    for MLflow - and a round committed while one runs is taken by the next. A failing
    export prints one warning line (``warn``), once; later rounds try again.
    :meth:`close` runs the last export (the final state, the test score) and waits for it;
    one it gives up on stops at the next trial. Exports of one sweep into one tracking store
    take turns in this process (the next one reads what the last one wrote); two processes
    exporting the same sweep at once can both write a trial.
    """

    def __init__(
        self,
        run_dir: Any,
        tracking_uri: str,
        *,
        experiment: str | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.exporter = MlflowExporter(run_dir, tracking_uri, experiment=experiment)
        self.run_dir = run_dir
        self.last: ExportSummary | None = None
        self.failed = False
        self._warn = warn or _warn
        self._warned = False
        self._cond = threading.Condition()
        self._busy = False
        self._again = False

    def __call__(self, report: Any = None) -> None:
        with self._cond:
            if self._busy:
                self._again = True
                return
            self._busy = True
        threading.Thread(target=self._work, name="sweep-mlflow-export", daemon=True).start()

    def _work(self) -> None:
        while True:
            try:
                self.last, self.failed = self.exporter.export(), False
            except ExportCancelled:
                self.failed = True  # close() gave up on it and said so
            except Exception as exc:
                self.failed = True
                if not self._warned:
                    self._warned = True
                    self._warn(
                        f"MLflow export failed, the sweep goes on: {redact_uri(first_line(exc))} "
                        f"(later rounds try again; sweep export "
                        f"{redact_uri(str(self.run_dir))} --mlflow URI catches up)"
                    )
            with self._cond:
                if not self._again:
                    self._busy = False
                    self._cond.notify_all()
                    return
                self._again = False

    def close(self, timeout_s: float = 60.0) -> ExportSummary | None:
        """Export once more and wait for it (at most ``timeout_s``); the last summary, or
        None if no export succeeded since the last failure."""
        self()
        with self._cond:
            done = self._cond.wait_for(lambda: not self._busy, timeout_s)
        if not done:
            # stopped at the next trial, so that an export started after this one (a resume's)
            # does not wait long for it, and no two exports of the sweep run side by side
            self.exporter.cancel()
            self._warn(
                f"MLflow export still running after {timeout_s:.0f} s; left unfinished "
                f"(sweep export {redact_uri(str(self.run_dir))} --mlflow URI completes it)"
            )
            return None
        return None if self.failed else self.last


def _warn(text: str) -> None:
    print(f"sweep: warning: {text}", file=sys.stderr, flush=True)


# -- rows to runs -------------------------------------------------------------------------
def _child_rows(table: pa.Table, space: SearchSpace) -> Iterable[dict[str, Any]]:
    """Per trial row: its params, metrics, tags, start and end (ms) and MLflow status."""
    decoded = {name: decode_column(dim, table.column(name)) for name, dim in space.items()}
    extra = [f for f in table.schema if f.name not in RESERVED_COLUMNS and f.name not in space]
    numeric = {
        f.name
        for f in extra
        if pa.types.is_integer(f.type)
        or pa.types.is_floating(f.type)
        or pa.types.is_boolean(f.type)
    }
    for i, row in enumerate(table.to_pylist()):
        start = _millis(row.get("started_at"))
        duration = row.get("duration_s")
        end = start + int(round(1000 * duration)) if _finite(duration) else start
        metrics: dict[str, float] = {}
        if row.get("score") is not None:
            metrics["score"] = float(row["score"])
        tags = {
            "sweep.status": str(row["status"]),
            "sweep.config_id": str(row.get("config_id")),
        }
        if row.get("worker"):
            tags["sweep.worker"] = str(row["worker"])
        if row.get("error"):
            tags["sweep.error"] = _cut(str(row["error"]), ERROR_CHARS)
        if row.get("continued") is not None:
            tags["sweep.continued"] = str(bool(row["continued"])).lower()
        for f in extra:
            value = row.get(f.name)
            if value is None or f.name.startswith("mlflow."):
                continue
            if f.name in numeric:
                metrics[_key(f.name)] = float(value)
            else:
                tags[_key(f.name)] = _text(value, TAG_CHARS)
        for key in ("round", "rung", "budget", "duration_s"):
            if row.get(key) is not None:
                metrics[key] = float(row[key])
        params = {
            _key(name): _text(values[i], PARAM_CHARS)
            for name, values in decoded.items()
            if values[i] is not INACTIVE
        }
        yield {
            "trial_id": int(row["trial_id"]),
            "start": start,
            "end": end,
            "metrics": metrics,
            "params": params,
            "tags": tags,
            "status": _trial_status(str(row["status"])),
        }


def _trial_status(status: str) -> str:
    if status == STATUS_OK:
        return "FINISHED"
    return "KILLED" if status == STATUS_TIMEOUT else "FAILED"


def _config_params(config: Mapping[str, Any]) -> dict[str, str]:
    """The sweep's config as MLflow params: one per key (``space.<name>`` per parameter);
    unset keys (None, empty) are left out."""
    params: dict[str, str] = {}
    for key, value in config.items():
        if key == "space" and isinstance(value, Mapping):
            for name, spec in value.items():
                params[_key(f"space.{name}")] = _text(spec, PARAM_CHARS)
        elif value is not None and value != [] and value != {}:
            params[_key(str(key))] = _text(redact_record(value), PARAM_CHARS)
    return params


def _parent_metrics(
    meta: Mapping[str, Any], result: TuneResult | None
) -> dict[str, dict[int, float]]:
    """The parent's metrics, as {key: {step: value}} - steps are rounds where it has a
    history (``best_score``: the best so far after each round; ``trials``: how many)."""
    metrics: dict[str, dict[int, float]] = {}
    test = meta.get("test")
    if isinstance(test, Mapping) and _finite(test.get("score")):
        metrics["test_score"] = {0: float(test["score"])}
    if result is None:
        return metrics
    table = result.table
    rounds = table.column("round").to_numpy()
    last = int(rounds.max())
    metrics["trials"] = {int(r): float(n) for r, n in zip(*np.unique(rounds, return_counts=True))}
    total = 0.0
    for r in sorted(metrics["trials"]):
        total += metrics["trials"][r]
        metrics["trials"][r] = total
    if result.objectives is not None:
        metrics["front_size"] = {last: float(result.pareto_front().num_rows)}
        if result.best_score is not None and math.isfinite(result.best_score):
            metrics["best_score"] = {last: result.best_score}  # the picked member's
        return metrics
    budget = Budget.parse((meta.get("config") or {}).get("budget"))
    counted = at_budget(table, budget.max) if budget else table
    ok = pc.equal(counted.column("status"), STATUS_OK).to_numpy(zero_copy_only=False)
    scores = counted.column("score").to_numpy(zero_copy_only=False).astype(float)
    ok &= np.isfinite(scores)
    rows = counted.column("round").to_numpy()[ok]
    best: float | None = None
    metrics["best_score"] = {}
    for r in range(last + 1):
        here = scores[ok][rows == r]
        if here.size:
            top = float(here.max() if result.mode == "max" else here.min())
            if best is None or (top > best if result.mode == "max" else top < best):
                best = top
        if best is not None:
            metrics["best_score"][r] = best
    return metrics


def _ranges_record(meta: Mapping[str, Any], result: TuneResult) -> dict[str, Any]:
    last = int(max(result.ranges.column("round").to_pylist()))
    return {
        "sweep_id": meta.get("sweep_id"),
        "final_round": last,
        "final": space_to_dict(result.final_space),
        "rounds": result.ranges.to_pylist(),
    }


def _front_record(result: TuneResult, runs: Mapping[int, str]) -> dict[str, Any]:
    assert result.objectives is not None
    front = result.pareto_front()
    space = result.space or result.final_space
    members = []
    for i, row in enumerate(
        front.select(["trial_id", "round", *result.objectives.names]).to_pylist()
    ):
        members.append(
            {**row, "run_id": runs.get(row["trial_id"]), "config": config_at(front, space, i)}
        )
    return {
        "objectives": list(result.objectives.names),
        "mode": list(result.objectives.modes),
        "picked_trial_id": result.best_trial_id,
        "front": members,
    }


# -- MLflow's values ----------------------------------------------------------------------
#: The first look at an http(s) tracking server: so many tries (1 s, then 2 s apart), each
#: given so many seconds.
PROBE_TRIES, PROBE_TIMEOUT_S = 3, 5.0


def _check_reachable(uri: str) -> None:
    """For an http(s) tracking URI, one look at the server first (``GET .../health``):
    MLflow's client retries a refused connection or a 5xx answer for minutes (servers
    rate-limit), so a wrong or stopped server would otherwise cost that long; this fails
    in seconds, in one line. Any other answer - even a 401 or a 404 - lets the export go
    on with MLflow's own settings and retries; so does a TLS error (MLflow's TLS settings
    decide). Proxies are taken from the environment, as MLflow's client takes them. Nothing
    of the process's state is changed: a live export runs beside the sweep, on a thread of
    its own."""
    parts = urllib.parse.urlsplit(uri)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return
    try:
        port = parts.port
    except ValueError as exc:
        raise ExportError(f"MLflow tracking URI {redact_uri(uri)}: {exc}") from None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    where = host + (f":{port}" if port else "")  # without the user and password
    url = urllib.parse.urlunsplit((scheme, where, parts.path.rstrip("/") + "/health", "", ""))
    problem = "no answer"
    for attempt in range(PROBE_TRIES):
        if attempt:
            time.sleep(attempt)
        try:
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT_S):
                return
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return
            problem = f"it answers HTTP {exc.code}"
        except urllib.error.URLError as exc:
            if isinstance(exc.reason, ssl.SSLError):
                return
            problem = _reason(exc.reason)
        except ssl.SSLError:
            return
        except OSError as exc:  # a timeout while reading the answer
            problem = _reason(exc)
    raise ExportError(
        f"cannot reach MLflow at {redact_uri(uri)}: {problem} ({PROBE_TRIES} tries; is the "
        "tracking server running, and is that its address?)"
    )


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return first_line(str(reason)) or "no answer"


def _unsupported(uri: str) -> str:
    scheme = uri.partition(":")[0].split("+")[0].lower()
    if scheme in ("sqlite", "postgresql", "mysql", "mssql"):
        return "a database tracking URI needs the full MLflow package: pip install mlflow"
    return (
        f"MLflow does not take the tracking URI scheme {scheme!r} (file:, http://, https://, "
        "databricks, or a database with the full MLflow package)"
    )


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage == "deleted":
            raise ExportError(
                f"MLflow experiment {name!r} is deleted; restore it, or pass --experiment"
            )
        return str(found.experiment_id)
    try:
        return str(client.create_experiment(name))
    except Exception:  # made at the same moment by another export
        again = client.get_experiment_by_name(name)
        if again is None:
            raise
        return str(again.experiment_id)


def _log(
    client: Any,
    run_id: str,
    *,
    metrics: Sequence[Any],
    params: Sequence[tuple[str, str]],
    tags: Sequence[tuple[str, str]],
) -> None:
    """``log_batch`` calls within MLflow's limits per call."""
    from mlflow.entities import Param, RunTag

    metrics, params, tags = list(metrics), list(params), list(tags)
    while metrics or params or tags:
        p, params = params[:BATCH_PARAMS], params[BATCH_PARAMS:]
        t, tags = tags[:BATCH_TAGS], tags[BATCH_TAGS:]
        room = BATCH_ENTRIES - len(p) - len(t)
        m, metrics = metrics[: min(room, BATCH_METRICS)], metrics[min(room, BATCH_METRICS) :]
        client.log_batch(
            run_id,
            metrics=m,
            params=[Param(k, v) for k, v in p],
            tags=[RunTag(k, v) for k, v in t],
        )


def _metric(key: str, value: float, timestamp: int, step: int) -> Any:
    from mlflow.entities import Metric

    return Metric(key, float(value), int(timestamp), int(step))


def _key(name: str) -> str:
    """A name MLflow takes as a key: letters, digits, ``_ - . / `` and spaces, and - MLflow
    reads a key as a path - no empty, ``.`` or ``..`` part (``val//loss`` -> ``val/loss``,
    ``./acc`` -> ``_/acc``)."""
    parts = [p for p in _NOT_KEY.sub("_", name).split("/") if p]
    key = "/".join("_" if p in (".", "..") else p for p in parts) or "_"
    return key[:KEY_CHARS].rstrip("/") or "_"


def _text(value: Any, limit: int) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, (bool, int, float)):
        text = str(value)
    else:
        text = json.dumps(value, sort_keys=True, default=str)
    return _cut(text, limit)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _millis(when: Any) -> int:
    """Milliseconds since the epoch of a datetime or an ISO text; now if there is none."""
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when)
        except ValueError:
            when = None
    if isinstance(when, datetime):
        return int(when.timestamp() * 1000)
    return int(time.time() * 1000)


def _run_name(store: RunStore, meta: Mapping[str, Any]) -> str:
    folder = str(store.run_dir).rstrip("/").rsplit("/", 1)[-1]
    return folder or str(meta.get("name") or "sweep")


def _json(record: Any) -> str:
    return json.dumps(_plain(record), indent=2, default=str)


def _plain(value: Any) -> Any:
    """JSON's values only: a NaN or an infinity becomes null, a time its ISO text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
