"""`sweep continue` / orchestrator.extend: more rounds after hand-made range edits."""

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from orchestrator import TuneResult, extend, load_config, run_config
from orchestrator.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """\
objective: "tests.objectives:shifted_bowl"
mode: min
space:
  x:   {type: float, low: 0, high: 1, hard_low: -1, hard_high: 2}
  lr:  {type: float, low: 1e-5, high: 1e-1, log: true}
  act: {type: choice, values: [a, b]}
rounds: 2
samples_per_round: 10
workers: 2
seed: 3
"""


@pytest.fixture
def finished(ray_cluster, tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    run_config(load_config(tmp_path / "c.yaml"), run_dir=tmp_path / "run")
    return tmp_path / "run"


def files(run_dir):
    return {p.name: p.read_bytes() for p in (run_dir / "trials").glob("round-*.parquet")}


@pytest.mark.ray
def test_continue_with_every_kind_of_edit(finished):
    before = TuneResult.load(finished)
    old_files = files(finished)
    result = extend(finished, rounds=2, ranges={"lr": (1e-4, 1e-2)}, freeze={"act": "b"}).result
    assert result.rounds_run == 4 and result.table.num_rows == before.table.num_rows + 20
    assert (
        result.table.slice(0, 20)
        .select(["trial_id", "x", "lr", "score"])
        .equals(before.table.select(["trial_id", "x", "lr", "score"]))
    )  # earlier rows unchanged
    assert all(files(finished)[n] == b for n, b in old_files.items())
    new = [r for r in result.table.to_pylist() if r["round"] >= 2]
    assert all(r["act"] == "b" for r in new)
    assert all(1e-4 <= r["lr"] <= 1e-2 for r in new if r["round"] == 2)
    manual = [
        (d["round"], d["parameter"]) for d in result.ranges.to_pylist() if d["action"] == "manual"
    ]
    assert (2, "lr") in manual and (2, "act") in manual
    # then release what was frozen, and move a bound
    result = extend(finished, rounds=1, release=["act"], ranges={"x": (None, 1.5)}).result
    assert result.rounds_run == 5
    choices = {
        d["round"]: json.loads(d["choices"])
        for d in result.ranges.to_pylist()
        if d["parameter"] == "act"
    }
    assert choices[2] == choices[3] == ["b"]  # frozen for two rounds
    assert choices[4] == ["a", "b"]  # released: back to both choices, and sampled in them
    assert {r["act"] for r in result.table.to_pylist() if r["round"] == 4} <= {"a", "b"}
    manual = [
        (d["round"], d["parameter"]) for d in result.ranges.to_pylist() if d["action"] == "manual"
    ]
    assert (4, "act") in manual and (4, "x") in manual
    assert json.loads((finished / "run.json").read_text())["state"] == "finished"


@pytest.mark.ray
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"ranges": {"lr": (1e-2, 1e-4)}}, "low.*must be smaller than or equal to"),
        ({"ranges": {"depth": (1, 2)}}, "unknown parameter 'depth'"),
        ({"freeze": {"x": 5.0}}, "hard_high"),
        ({"freeze": {"act": "c"}}, "not one of"),
        ({"release": ["lr"]}, "'lr' is not frozen"),
    ],
)
def test_invalid_edits_change_nothing(finished, kwargs, message):
    before = (finished / "run.json").read_text(), files(finished)
    with pytest.raises(ConfigError, match=message):
        extend(finished, rounds=1, **kwargs)
    assert ((finished / "run.json").read_text(), files(finished)) == before


@pytest.mark.ray
def test_the_cli_continues_a_run(finished):
    exe = Path(sys.executable).with_name("sweep")
    proc = subprocess.run(
        [
            str(exe),
            "continue",
            str(finished),
            "--rounds",
            "1",
            "--set",
            "x.low=0.1",
            "--set",
            "act=a",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "round 3/3" in proc.stdout
    bad = subprocess.run(
        [str(exe), "continue", str(finished), "--rounds", "1", "--set", "x.lo=1"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert bad.returncode == 2 and "only .low and .high" in bad.stderr
    ranges = pq.read_table(finished / "ranges.parquet").to_pylist()
    assert any(r["action"] == "manual" and r["parameter"] == "x" for r in ranges)
