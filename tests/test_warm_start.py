"""Warm start from a finished run."""

import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from orchestrator import TuneResult

ROOT = Path(__file__).resolve().parent.parent


def sweep(*args, cwd):
    exe = Path(sys.executable).with_name("sweep")
    return subprocess.run(
        [str(exe), *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.mark.e2e
def test_warm_start_from_a_finished_run(tmp_path):
    base = (
        'objective: "tests.objectives:shifted_bowl"\nmode: min\nsamples_per_round: 12\n'
        "workers: 2\nrounds: {rounds}\nspace:\n"
        "  x:   {{type: float, low: 0, high: 1}}\n"
        "  lr:  {{type: float, low: 1e-5, high: 1e-1, log: true}}\n"
        "  act: {{type: choice, values: [a, b]}}\n{extra}"
    )
    (tmp_path / "first.yaml").write_text(base.format(rounds=4, extra=""))
    proc = sweep("run", tmp_path / "first.yaml", "--run-dir", tmp_path / "first", cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    final = TuneResult.load(tmp_path / "first").final_space
    (tmp_path / "second.yaml").write_text(
        base.format(rounds=1, extra="  n:   {type: int, low: 1, high: 9}\n")
    )
    proc = sweep(
        "run",
        tmp_path / "second.yaml",
        "--run-dir",
        tmp_path / "second",
        "--warm-start",
        tmp_path / "first",
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert "sweep: warning: warm start: parameter 'n' is not in" in proc.stderr
    rows = pq.read_table(tmp_path / "second" / "ranges.parquet").to_pylist()
    first_round = {r["parameter"]: r for r in rows if r["round"] == 0}
    assert (
        first_round["x"]["action"] == "warm_start"
        and str(tmp_path / "first") in first_round["x"]["reason"]
    )
    assert (first_round["x"]["low"], first_round["x"]["high"]) == (final["x"].low, final["x"].high)
    assert first_round["n"]["action"] == "initial" and first_round["n"]["high"] == 9
    trials = TuneResult.load(tmp_path / "second").table.to_pylist()
    assert all(final["x"].low <= r["x"] <= final["x"].high for r in trials)
