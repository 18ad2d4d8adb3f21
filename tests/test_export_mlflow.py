"""A run in MLflow (`sweep export --mlflow`, `sweep run --mlflow`), written into a real local
MLflow tracking store (a `file:` store in tmp_path) and read back with MlflowClient. The runs
are made in this process (SerialExecutor, no Ray)."""

from __future__ import annotations

import io
import json
import math
import os
import socket
import sys
from datetime import timezone

import pytest

from orchestrator import Choice, Float, Int, SearchSpace, tune
from orchestrator.cli.commands import _mlflow_reporter, build_parser, main
from orchestrator.cli.progress import PlainReporter
from orchestrator.data.run_store import RunStore
from orchestrator.errors import SweepInterrupted
from orchestrator.execution.serial import SerialExecutor
from orchestrator.export.mlflow import ExportError, LiveExport, MlflowExporter, export_run
from orchestrator.search.specs import space_to_dict
from tests.objectives import conditional_bowl
from tests.test_cli import sweep
from tests.test_conditional import SPACE as CONDITIONAL
from tests.test_conditional import expected_keys
from workers.multi_objective import MultiObjective

SPACE = SearchSpace(
    {
        "x": Float(0.0, 1.0),
        "lr": Float(1e-5, 1e-1, log=True),
        "act": Choice(["a", "b"]),
        "n": Int(1, 4),
    }
)


def bowl(config):
    """A score, a number and a text metric; x > 0.85 fails (an error to export)."""
    if config["x"] > 0.85:
        raise ValueError(f"x too large: {config['x']:.3f}")
    loss = (config["x"] - 0.3) ** 2 + (math.log10(config["lr"]) + 3) ** 2 / 16
    return {"score": loss, "acc": 1 / (1 + loss), "note": f"act {config['act']}"}


def two_objectives(config):
    x = config["x"]
    return {"f1": x, "f2": (1 - x) ** 2 + (config["lr"] * 10), "size": float(config["n"])}


def run(run_dir, objective=bowl, space=SPACE, rounds=3, samples=8, **kw):
    evaluated = MultiObjective(objective, kw["objectives"]) if "objectives" in kw else objective
    return tune(
        objective,
        space,
        mode=kw.pop("mode", "min"),
        rounds=rounds,
        samples_per_round=samples,
        seed=kw.pop("seed", 3),
        sampler="random",
        name="bowl",
        executor=SerialExecutor(evaluated, param_names=list(space), shard_size=4),
        run_dir=run_dir,
        **kw,
    )


@pytest.fixture
def uri(tmp_path, monkeypatch):
    """A local MLflow file store. MLflow 3 keeps it behind MLFLOW_ALLOW_FILE_STORE; its
    telemetry stays off (the tests talk to this machine only)."""
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    return (tmp_path / "mlruns").as_uri()


@pytest.fixture
def bowl_run(tmp_path):
    return run(tmp_path / "run")


def client_of(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def runs_of(uri, experiment="bowl"):
    """(the parent runs, the child runs) of an experiment."""
    client = client_of(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=10_000)
    parents = [r for r in runs if r.data.tags.get("sweep.kind") == "sweep"]
    children = [r for r in runs if r.data.tags.get("sweep.kind") == "trial"]
    assert len(parents) + len(children) == len(runs)
    return parents, children


def by_trial(children):
    ids = [int(c.data.tags["sweep.trial_id"]) for c in children]
    assert len(ids) == len(set(ids)), "a trial was exported twice"
    return dict(zip(ids, children))


def artifact(uri, run_id, name):
    from mlflow.artifacts import download_artifacts

    path = download_artifacts(run_id=run_id, artifact_path=name, tracking_uri=uri)
    with open(path) as fh:
        return json.load(fh)


def test_one_parent_and_one_child_per_trial_with_its_values(bowl_run, uri):
    result = bowl_run
    summary = export_run(result.run_dir, uri)
    assert (summary.added, summary.trials, summary.new_parent) == (24, 24, True)
    parents, children = runs_of(uri)
    assert len(parents) == 1
    parent = parents[0]
    rows = {r["trial_id"]: r for r in result.table.to_pylist()}
    assert set(by_trial(children)) == set(rows)
    statuses = set()
    for trial, child in by_trial(children).items():
        row, data = rows[trial], child.data
        statuses.add(row["status"])
        assert data.tags["mlflow.parentRunId"] == parent.info.run_id
        assert data.tags["sweep.sweep_id"] == row["sweep_id"]
        assert data.tags["sweep.status"] == row["status"]
        assert data.params == {
            "x": str(row["x"]),
            "lr": str(row["lr"]),
            "act": row["act"],
            "n": str(row["n"]),
        }
        assert data.metrics["round"] == row["round"] and data.metrics["rung"] == 0
        assert data.metrics["duration_s"] == pytest.approx(row["duration_s"])
        assert "budget" not in data.metrics  # null without a budget
        started = row["started_at"].astimezone(timezone.utc).timestamp() * 1000
        assert child.info.start_time == int(started)
        if row["status"] == "ok":
            assert child.info.status == "FINISHED"
            assert data.metrics["score"] == pytest.approx(row["score"])
            assert data.metrics["acc"] == pytest.approx(row["acc"])  # a number: a metric
            assert data.tags["note"] == row["note"]  # text: a tag
            assert "sweep.error" not in data.tags
        else:
            assert child.info.status == "FAILED"
            assert "score" not in data.metrics and "acc" not in data.metrics
            assert data.tags["sweep.error"].startswith("ValueError: x too large")
    assert statuses == {"ok", "failed"}

    p = parent.data
    assert parent.info.status == "FINISHED"
    assert {k: p.params[k] for k in ("mode", "rounds", "samples_per_round", "seed", "sampler")} == {
        "mode": "min",
        "rounds": "3",
        "samples_per_round": "8",
        "seed": "3",
        "sampler": "random",
    }
    assert json.loads(p.params["space.lr"]) == space_to_dict(SPACE)["lr"]
    assert p.metrics["best_score"] == pytest.approx(result.best_score)
    assert p.metrics["trials"] == 24
    assert p.tags["sweep.best_trial_id"] == str(result.best_trial_id)
    assert p.tags["sweep.best_run_id"] == by_trial(children)[result.best_trial_id].info.run_id
    assert {k[5:]: v for k, v in p.tags.items() if k.startswith("best.")} == {
        k: str(v) for k, v in result.best_config.items()
    }
    assert p.tags["sweep.state"] == "finished"
    ranges = artifact(uri, parent.info.run_id, "ranges.json")
    assert ranges["final"] == json.loads(json.dumps(space_to_dict(result.final_space)))
    assert len(ranges["rounds"]) == result.ranges.num_rows
    assert artifact(uri, parent.info.run_id, "config.json")["rounds"] == 3
    history = client_of(uri).get_metric_history(parent.info.run_id, "best_score")
    assert sorted(m.step for m in history) == [0, 1, 2]  # the best so far after each round
    assert not [p for p in (uri_path(uri)).rglob("*") if p.suffix in (".pkl", ".pickle")]


def uri_path(uri):
    from pathlib import Path
    from urllib.parse import urlparse

    return Path(urlparse(uri).path)


def test_exporting_again_duplicates_nothing(bowl_run, uri):
    first = export_run(bowl_run.run_dir, uri)
    parents, children = runs_of(uri)
    before = {c.info.run_id for c in children}
    again = export_run(bowl_run.run_dir, uri)
    assert (again.added, again.new_parent, again.parent_run_id) == (0, False, first.parent_run_id)
    parents, children = runs_of(uri)
    assert len(parents) == 1 and {c.info.run_id for c in children} == before
    # the sealed test evaluated later (the record sweep test writes into run.json)
    test = {"score": 0.875, "scoring": "accuracy", "trial_id": bowl_run.best_trial_id}
    RunStore(bowl_run.run_dir).update_metadata(test={**test, "n_test_rows": 40})
    assert export_run(bowl_run.run_dir, uri).added == 0
    export_run(bowl_run.run_dir, uri)
    client = client_of(uri)
    for key in ("best_score", "trials", "test_score"):
        steps = [m.step for m in client.get_metric_history(first.parent_run_id, key)]
        assert len(steps) == len(set(steps)), f"{key} logged twice"
    parent = client.get_run(first.parent_run_id).data
    assert parent.metrics["test_score"] == 0.875
    assert parent.tags["sweep.test_scoring"] == "accuracy"
    assert parent.tags["sweep.test_trial_id"] == str(bowl_run.best_trial_id)
    assert runs_of(uri)[1] and len(runs_of(uri)[0]) == 1


def test_an_export_cut_short_is_completed_not_duplicated(bowl_run, uri, monkeypatch):
    from mlflow.tracking import MlflowClient

    real, calls = MlflowClient.set_terminated, []

    def flaky(self, run_id, *args, **kwargs):
        calls.append(run_id)
        if len(calls) == 6:
            raise ConnectionError("the server went away")
        return real(self, run_id, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "set_terminated", flaky)
    exporter = MlflowExporter(bowl_run.run_dir, uri)  # kept, as a running sweep's is
    with pytest.raises(ExportError, match="the server went away"):
        exporter.export()
    monkeypatch.setattr(MlflowClient, "set_terminated", real)
    summary = exporter.export()
    assert (summary.added, summary.completed) == (24 - 6, 1)
    parents, children = runs_of(uri)
    assert len(parents) == 1 and len(by_trial(children)) == 24
    assert all(c.info.status in ("FINISHED", "FAILED") for c in children)


def test_a_run_that_went_on_adds_only_its_new_trials(tmp_path, uri):
    run_dir = tmp_path / "run"
    polls = []
    with pytest.raises(SweepInterrupted):  # stopped after its first shards
        run(run_dir, rounds=4, should_stop=lambda: polls.append(1) or len(polls) > 3)
    first = export_run(run_dir, uri)
    assert 0 < first.trials < 32
    parents, children = runs_of(uri)
    assert parents[0].info.status == "KILLED" and parents[0].data.tags["sweep.state"] == (
        "interrupted"
    )
    kept = {c.info.run_id for c in children}

    result = run(run_dir, rounds=4, resume=True)
    assert result.table.num_rows == 32
    second = export_run(run_dir, uri)
    assert (second.added, second.trials, second.parent_run_id) == (
        32 - first.trials,
        32,
        first.parent_run_id,
    )
    parents, children = runs_of(uri)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert set(by_trial(children)) == set(result.table.column("trial_id").to_pylist())
    assert kept <= {c.info.run_id for c in children}  # the first ones untouched


def test_an_inactive_conditional_parameter_is_not_logged(tmp_path, uri):
    result = run(tmp_path / "run", conditional_bowl, CONDITIONAL, rounds=2, samples=12)
    export_run(result.run_dir, uri)
    _, children = runs_of(uri)
    rows = {r["trial_id"]: r for r in result.table.to_pylist()}
    seen = set()
    for trial, child in by_trial(children).items():
        row = rows[trial]
        config = {k: row[k] for k in CONDITIONAL if row[k] is not None}
        assert set(child.data.params) == expected_keys(config)
        seen.add(row["kernel"])
    assert seen == {"linear", "rbf", "poly"}


def test_several_objectives_put_the_front_on_the_parent(tmp_path, uri):
    result = run(
        tmp_path / "run",
        two_objectives,
        rounds=2,
        samples=10,
        objectives=["f1", "f2"],
        mode=["min", "min"],
    )
    export_run(result.run_dir, uri)
    parents, children = runs_of(uri)
    parent = parents[0]
    front = result.pareto_front()
    record = artifact(uri, parent.info.run_id, "pareto_front.json")
    assert record["objectives"] == ["f1", "f2"]
    assert [m["trial_id"] for m in record["front"]] == front.column("trial_id").to_pylist()
    runs = {t: c.info.run_id for t, c in by_trial(children).items()}
    assert all(m["run_id"] == runs[m["trial_id"]] for m in record["front"])
    assert record["front"][0]["config"].keys() == set(SPACE)
    assert parent.data.metrics["front_size"] == front.num_rows
    assert parent.data.tags["sweep.objectives"] == "f1 (min), f2 (min)"
    assert parent.data.tags["sweep.best_trial_id"] == str(result.best_trial_id)
    child = by_trial(children)[result.best_trial_id]
    assert {"f1", "f2", "size", "score"} <= set(child.data.metrics)


def test_a_running_sweep_is_exported_after_each_round(tmp_path, uri):
    """`sweep run --mlflow`: the reporter's on_round hook exports each committed round in the
    background, and a last time when the sweep ends."""
    args = build_parser().parse_args(["run", "x.yaml", "--mlflow", uri])
    out = io.StringIO()
    reporter = _mlflow_reporter(args, tmp_path / "run", PlainReporter(stream=out))
    exports = []
    real = reporter.live.exporter.export
    reporter.live.exporter.export = lambda *a: exports.append(1) or real(*a)
    with reporter:
        run(tmp_path / "run", on_round=reporter.round)
    assert exports and len(exports) <= 4  # one per round at most, plus the last one
    parents, children = runs_of(uri)
    assert len(parents) == 1 and len(children) == 24
    assert parents[0].info.status == "FINISHED"
    assert "mlflow: 24 trials in experiment 'bowl'" in out.getvalue()
    assert "round 3/3" in out.getvalue()  # the reporter still reports


def test_a_failing_mlflow_warns_once_and_the_sweep_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    warnings = []
    live = LiveExport(tmp_path / "run", "nosuchscheme://x", warn=warnings.append)
    result = run(tmp_path / "run", rounds=4, on_round=live)
    assert result.table.num_rows == 32 and result.stop_reason == "ran all 4 rounds"
    assert live.close() is None
    assert len(warnings) == 1 and "\n" not in warnings[0]
    assert "MLflow export failed, the sweep goes on" in warnings[0]


def test_without_mlflow_export_says_how_to_install_it(bowl_run, uri, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    assert main(["export", str(bowl_run.run_dir), "--mlflow", uri]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "pip install 'sweep-orchestrator[mlflow]'" in err


@pytest.mark.e2e
def test_sweep_export_on_the_command_line(bowl_run, uri):
    done = sweep("export", bowl_run.run_dir, "--mlflow", uri, "--experiment", "cli")
    assert done.returncode == 0, done.stderr
    assert "exporting 24 trials to MLflow" in done.stdout
    assert "24 added, 0 already there" in done.stdout
    again = sweep("export", bowl_run.run_dir, "--mlflow", uri, "--experiment", "cli")
    assert again.returncode == 0, again.stderr
    assert "0 added, 24 already there" in again.stdout
    parents, children = runs_of(uri, "cli")
    assert len(parents) == 1 and len(children) == 24
    missing = sweep("export", bowl_run.run_dir.parent / "nothing", "--mlflow", uri)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def awkward_names(config):
    """Metric names MLflow refuses as they are: it reads a key as a path."""
    return {"score": config["x"], "val//loss": 1.0, "loss/": 2.0, "./acc": 3.0}


def test_metric_names_mlflow_reads_as_paths_are_made_keys_it_takes(tmp_path, uri):
    # 'val//loss' made the first child's log_batch fail, and with it every export of the run
    result = run(tmp_path / "odd", objective=awkward_names, rounds=1, samples=3)
    export_run(result.run_dir, uri, experiment="odd")
    _, children = runs_of(uri, "odd")
    assert len(children) == 3
    keys = set(children[0].data.metrics)
    assert {"val/loss", "loss", "_/acc"} <= keys


HTTP_SETTINGS = (
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR",
    "MLFLOW_HTTP_REQUEST_TIMEOUT",
)


def test_an_export_never_changes_the_process_environment(bowl_run, uri, monkeypatch):
    # A live export runs on a thread of its own: setting MLflow's HTTP settings around its
    # first request (and removing them after) changed them for every thread, and removed a
    # value the user set meanwhile.
    from mlflow.tracking import MlflowClient

    for key in HTTP_SETTINGS:
        monkeypatch.delenv(key, raising=False)
    seen = []
    real = MlflowClient.get_experiment_by_name

    def watched(self, name):
        seen.append({k: os.environ.get(k) for k in HTTP_SETTINGS})
        return real(self, name)

    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", watched)
    export_run(bowl_run.run_dir, uri)
    assert seen and all(v is None for s in seen for v in s.values()), seen
    assert not any(k in os.environ for k in HTTP_SETTINGS)


def test_an_unreachable_tracking_server_fails_at_once(bowl_run, monkeypatch):
    """Nothing listens there: one clean line, before MLflow's client retries for minutes."""
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    called = []
    monkeypatch.setattr(
        MlflowClient, "get_experiment_by_name", lambda self, name: called.append(name)
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends
    with pytest.raises(ExportError) as caught:
        export_run(bowl_run.run_dir, f"http://user:pw@127.0.0.1:{port}")
    message = str(caught.value)
    assert f"cannot reach MLflow at http://127.0.0.1:{port}" in message, message
    assert "\n" not in message and "pw" not in message
    assert called == []  # refused before any request of MLflow's


def test_an_export_given_up_on_stops_and_the_next_one_duplicates_nothing(
    tmp_path, uri, monkeypatch
):
    """close() times out on a slow MLflow; a resume's export of the same sweep starts in the
    same process. The old export used to go on beside it, both writing the missing trials."""
    import threading

    from mlflow.tracking import MlflowClient

    done = run(tmp_path / "run")
    first = LiveExport(done.run_dir, uri, warn=lambda text: None)
    stuck, release, calls = threading.Event(), threading.Event(), []
    real = MlflowClient.create_run

    def create_run(self, *args, **kwargs):
        if self is first.exporter._client and kwargs.get("run_name", "").startswith("trial-"):
            calls.append(1)
            if len(calls) == 5:  # MLflow stops answering the first export for a while
                stuck.set()
                release.wait(30)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(MlflowClient, "create_run", create_run)
    first()  # the sweep's export after a round, then its last one at the end
    assert stuck.wait(30)
    assert first.close(timeout_s=0.2) is None  # gave up: left unfinished
    second = LiveExport(done.run_dir, uri)
    summary = []
    waiting = threading.Thread(target=lambda: summary.append(second.close(timeout_s=60)))
    waiting.start()
    release.set()  # MLflow answers again
    waiting.join(90)
    for thread in threading.enumerate():
        if thread.name == "sweep-mlflow-export":
            thread.join(30)
    assert len(calls) == 5  # the first export stopped after the trial it was writing
    parents, children = runs_of(uri)
    assert len(parents) == 1 and len(children) == 24
    assert sorted(by_trial(children)) == done.table.column("trial_id").to_pylist()
    assert summary[0] is not None and summary[0].added == 24 - 5  # the rest, once each


@pytest.fixture
def answering(request):
    """A local HTTP server (127.0.0.1) that answers every GET with the given status."""
    import http.server
    import threading

    seen = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.append(self.path)
            self.send_response(request.param)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mlflow", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize("answering", [503], indirect=True)
def test_a_tracking_server_answering_5xx_fails_in_seconds(bowl_run, answering, monkeypatch):
    # an ingress whose MLflow behind it is down: MLflow's client retries it for minutes
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("http_proxy", "HTTP_PROXY"):  # the look goes to this machine only
        monkeypatch.delenv(name, raising=False)
    url, seen = answering
    called = []
    monkeypatch.setattr(
        MlflowClient, "get_experiment_by_name", lambda self, name: called.append(name)
    )
    with pytest.raises(ExportError, match=r"cannot reach MLflow at .*: it answers HTTP 503"):
        export_run(bowl_run.run_dir, url)
    assert seen == ["/mlflow/health"] * 3 and called == []


@pytest.mark.parametrize("answering", [404], indirect=True)
def test_a_server_that_answers_is_left_to_mlflow(bowl_run, answering, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.setenv("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(name, raising=False)
    url, seen = answering

    def refuse(self, name):
        raise RuntimeError("MLflow said no")

    monkeypatch.setattr(MlflowClient, "get_experiment_by_name", refuse)
    with pytest.raises(ExportError, match="MLflow said no"):
        export_run(bowl_run.run_dir, url)
    assert seen == ["/mlflow/health"]
