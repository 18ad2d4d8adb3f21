"""The sealed test set under resume, kills and concurrent calls: never leaked, evaluated once."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestrator import TuneResult, evaluate_test, load_config, run_config
from orchestrator.errors import ConfigError, SweepInterrupted
from orchestrator.sklearn.sealed_test import SealedTestError
from tests.recording import all_calls, seen_rows

ROOT = Path(__file__).resolve().parent.parent
SWEEP = Path(sys.executable).with_name("sweep")


def write_data(path, n, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    feats = rng.normal(size=(n, 3)) + y[:, None]
    cols = {
        "row_id": np.arange(n, dtype=float),
        **{f"f{i}": feats[:, i] for i in range(3)},
        "label": y,
    }
    pq.write_table(pa.table(cols), path)


def config_file(tmp_path, log_dir, rounds=3):
    write_data(tmp_path / "data.parquet", 100)
    path = tmp_path / "c.yaml"
    path.write_text(
        textwrap.dedent(f"""\
        objective:
          estimator: tests.slow_estimator.SlowRefitClassifier
          params: {{log_dir: "{log_dir}"}}
          scoring: accuracy
          dataset: {{path: "{tmp_path / "data.parquet"}", target: label}}
          split: {{test: 0.2, validation: 0.25}}
        space:
          shrink: {{type: float, low: 0.0, high: 0.5}}
        rounds: {rounds}
        samples_per_round: 6
        workers: 2
        seed: 7
    """)
    )
    return path


def sweep(*args, env=None, timeout=300):
    proc = subprocess.Popen(
        [str(SWEEP), *map(str, args)],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    return proc.returncode, out, err


@pytest.fixture
def stopped_run(ray_cluster, tmp_path):
    """An estimator-task run stopped after its first round (test rows still sealed)."""
    logs = tmp_path / "logs"
    logs.mkdir()
    config = config_file(tmp_path, logs)
    rounds_done = []
    with pytest.raises(SweepInterrupted):
        run_config(
            load_config(config),
            run_dir=tmp_path / "run",
            on_round=lambda report: rounds_done.append(report.round_index),
            should_stop=lambda: bool(rounds_done),
        )
    assert (tmp_path / "run" / "trials" / "round-00000.parquet").exists()
    return config, tmp_path / "run", logs


@pytest.mark.ray
@pytest.mark.parametrize("change", ["grown", "same_size_other_content"])
def test_resume_refuses_a_dataset_that_changed_since_the_start(stopped_run, tmp_path, change):
    config, run, logs = stopped_run
    before = {p.name: p.read_bytes() for p in (run / "trials").glob("*.parquet")}
    test_rows = {
        r["row"] for r in pq.read_table(run / "split.parquet").to_pylist() if r["role"] == "test"
    }
    if change == "grown":
        write_data(tmp_path / "data.parquet", 110)  # the same first 100 rows, and 10 more
        message = "changed since the run started \\(110 rows now, 100 then\\)"
    else:
        table = pq.read_table(tmp_path / "data.parquet")
        labels = table.column("label").to_numpy().copy()
        labels[0] = 1 - labels[0]
        pq.write_table(table.set_column(4, "label", pa.array(labels)), tmp_path / "data.parquet")
        message = "same number of rows, other content"
    with pytest.raises(ConfigError, match=message):
        run_config(load_config(config), run_dir=run, resume=True)
    assert {p.name: p.read_bytes() for p in (run / "trials").glob("*.parquet")} == before
    assert not (seen_rows(logs)["fit"] | seen_rows(logs)["predict"]) & test_rows
    code, _, err = sweep("resume", run)
    assert code == 2 and "changed since the run started" in err
    assert len(err.strip().splitlines()) == 1, err
    with pytest.raises(SealedTestError, match="changed since the run started"):
        evaluate_test(run)


@pytest.mark.e2e
def test_a_kill_during_the_test_refit_leaves_a_resumable_run(tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    config = config_file(tmp_path, logs, rounds=2)
    run = tmp_path / "run"
    code, _, err = sweep("run", config, "--run-dir", run, env={"SWEEP_CRASH_AT": "refit:1"})
    assert code == 137, err  # killed in the final refit
    meta = json.loads((run / "run.json").read_text())
    assert meta["state"] == "tuned" and not (run / "test.json").exists()
    trials = TuneResult.load(run).table
    code, out, err = sweep("resume", run)
    assert code == 0, err
    assert "test" in out and (run / "test.json").exists()
    meta = json.loads((run / "run.json").read_text())
    assert meta["state"] == "finished" and meta["test"]["n_test_rows"] == 20
    assert TuneResult.load(run).table.equals(trials)  # no trial ran again
    code, out, _ = sweep("resume", run)
    assert code == 0 and "already finished" in out


@pytest.mark.ray
def test_two_test_evaluations_at_once_score_the_test_set_once(ray_cluster, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    config = config_file(tmp_path, logs, rounds=1)
    run = tmp_path / "run"
    run_config(load_config(config), run_dir=run, evaluate_test_set=False)
    assert json.loads((run / "run.json").read_text())["state"] == "tuned"
    test_rows = sorted(
        r["row"] for r in pq.read_table(run / "split.parquet").to_pylist() if r["role"] == "test"
    )
    code = (
        "import sys; from orchestrator import evaluate_test; "
        "print(evaluate_test(sys.argv[1])['score'])"
    )
    env = {**os.environ, "SWEEP_TEST_FIT_DELAY_S": "3", "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(run)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) + (p.returncode,) for p in procs]
    assert sorted(r[2] for r in results) == [0, 1], results
    (refused,) = [r for r in results if r[2] == 1]
    assert "is in use by another sweep" in refused[1] or "already evaluated" in refused[1]
    predicted = [
        rows for what, rows, _ in all_calls(logs) if what == "predict" and sorted(rows) == test_rows
    ]
    assert len(predicted) == 1  # the test rows were scored once
    assert json.loads((run / "run.json").read_text())["state"] == "finished"
