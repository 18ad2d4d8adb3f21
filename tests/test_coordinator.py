"""The round loop without Ray (in-process executor): bookkeeping, stopping, determinism."""

import pyarrow as pa
import pyarrow.parquet
import pytest

from orchestrator import Choice, Float, Int, TuneResult, tune
from orchestrator.errors import ConfigError
from orchestrator.execution.serial import SerialExecutor
from tests.objectives import OPT_LR, OPT_X, flaky, shifted_bowl

SPACE = {
    "x": Float(0.0, 1.0),
    "lr": Float(1e-5, 1e-1, log=True),
    "n": Int(1, 20),
    "act": Choice(["a", "b"]),
}


def run(tmp_path, objective=shifted_bowl, space=SPACE, name="r", **kwargs):
    kwargs.setdefault("rounds", 6)
    kwargs.setdefault("samples_per_round", 20)
    return tune(
        objective,
        space,
        mode=kwargs.pop("mode", "min"),
        seed=kwargs.pop("seed", 0),
        run_dir=tmp_path / name,
        executor=SerialExecutor(objective, param_names=list(space)),
        **kwargs,
    )


def test_one_row_per_configuration_and_history_is_consistent(tmp_path):
    result = run(tmp_path)
    t = result.table
    assert t.num_rows == result.rounds_run * 20
    assert t.column("trial_id").to_pylist() == list(range(t.num_rows))
    assert sorted(set(t.column("round").to_pylist())) == list(range(result.rounds_run))
    assert result.best_score == min(t.column("score").to_pylist())
    assert result.ranges.num_rows == (result.rounds_run + 1) * 4  # + the final proposal


def test_each_round_samples_inside_its_ranges(tmp_path):
    from orchestrator.data.ranges import space_at
    from orchestrator.search.space import SearchSpace

    result = run(tmp_path)
    template = SearchSpace(SPACE)
    for r in range(result.rounds_run):
        space = space_at(template, result.ranges, r)
        rows = result.table.filter(pa.compute.equal(result.table.column("round"), r)).to_pylist()
        assert all(space.contains(row) for row in rows)


def test_store_reloads_to_the_same_table(tmp_path):
    result = run(tmp_path)
    loaded = TuneResult.load(result.run_dir)
    assert loaded.table.equals(result.table)
    assert loaded.ranges.equals(result.ranges)
    assert loaded.best_config == result.best_config and loaded.final_space == result.final_space


def test_same_seed_same_run_other_seed_differs(tmp_path):
    a, b = run(tmp_path, name="a"), run(tmp_path, name="b")
    c = run(tmp_path, name="c", seed=1)
    cols = ["trial_id", "score", "x", "lr", "n", "act"]
    assert a.table.select(cols).equals(b.table.select(cols))
    assert a.ranges.equals(b.ranges)
    assert not a.table.select(cols).equals(c.table.select(cols))


def test_converges_around_the_optimum(tmp_path):
    space = {k: SPACE[k] for k in ("x", "lr", "act")}
    result = run(tmp_path, space=space, rounds=8, samples_per_round=24)
    final = result.final_space
    assert final["x"].low <= OPT_X <= final["x"].high
    assert final["lr"].low <= OPT_LR <= final["lr"].high
    assert final["x"].high - final["x"].low < 0.05
    assert final["act"].values == ("b",)


def test_stops_on_convergence_and_patience(tmp_path):
    converged = run(tmp_path, name="conv", rounds=50, tolerance=0.2)
    assert converged.rounds_run < 50 and "converged" in converged.stop_reason
    stale = run(tmp_path, name="stale", objective=lambda c: 1.0, rounds=50, patience=2)
    assert stale.rounds_run == 3 and "no improvement for 2 rounds" in stale.stop_reason


def test_failed_and_invalid_rows_do_not_stop_the_sweep(tmp_path):
    result = run(tmp_path, objective=flaky, space={"x": Float(0.0, 1.0)}, rounds=3)
    statuses = set(result.table.column("status").to_pylist())
    assert statuses == {"ok", "failed", "invalid"}
    assert result.best_config["x"] == pytest.approx(0.4, abs=0.1)


def test_metadata_records_config_state_and_versions(tmp_path):
    import json

    result = run(tmp_path)
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["state"] == "finished" and meta["rounds_run"] == result.rounds_run
    assert meta["config"]["seed"] == 0 and meta["config"]["space"]["lr"]["log"] is True
    assert "pyarrow" in meta["versions"] and meta["best"]["score"] == result.best_score


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"mode": "minimize"}, "mode must be 'min' or 'max'"),
        ({"samples_per_round": 0}, "samples_per_round: must be >= 1"),
        ({"rounds": 0}, "rounds: must be >= 1"),
        ({"sampler": "grdi"}, "unknown sampler"),
        ({"narrowing": "tight"}, "unknown narrowing rule"),
        ({"samples_per_round": 10**23}, r"samples_per_round: must be <= 10000000"),
        ({"rounds": 10**12}, r"rounds: must be <= 10000000"),
        ({"workers": 10**9}, r"workers: must be <= 100000"),
    ],
)
def test_bad_arguments_fail_before_anything_is_written(tmp_path, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        run(tmp_path, **kwargs)
    assert not (tmp_path / "r").exists()


def test_mode_is_required(tmp_path):
    with pytest.raises(TypeError, match="mode"):
        tune(shifted_bowl, SPACE)


def test_mixed_int_and_float_choices_keep_their_types_and_prune(tmp_path):
    space = {"c": Choice([1, 2.5, 4]), "x": Float(0.0, 1.0)}
    result = run(tmp_path, objective=lambda c: abs(c["c"] - 1) + c["x"], space=space, rounds=4)
    values = {type(v) for v in result.table.column("c").to_pylist()}
    assert values == {str}  # stored as JSON text, decoded on the way out
    assert type(result.best_config["c"]) is int and result.best_config["c"] == 1
    assert result.final_space["c"].values == (1,)


def test_fixed_values_stay_fixed(tmp_path):
    space = {"n": Int(5, 5), "w": Float(0.5, 0.5), "x": Float(0.0, 1.0)}
    result = run(tmp_path, objective=lambda c: c["x"] + c["n"], space=space, rounds=3)
    assert set(result.table.column("n").to_pylist()) == {5}
    assert (result.final_space["n"].low, result.final_space["n"].high) == (5, 5)


def test_workers_are_checked_before_anything_is_written(tmp_path):
    for workers in (0, 2.5, "2"):
        with pytest.raises(ConfigError, match="workers: (must be >= 1|expected a whole number)"):
            tune(shifted_bowl, SPACE, mode="min", workers=workers, run_dir=tmp_path / "r")
    assert not (tmp_path / "r").exists()


def test_show_reports_a_run_whose_first_round_is_running(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    from orchestrator.data.run_store import RunStore

    RunStore.create(tmp_path / "r", {"name": "r", "state": "running", "config": {}})
    exe = Path(sys.executable).with_name("sweep")
    proc = subprocess.run([str(exe), "show", str(tmp_path / "r")], capture_output=True, text=True)
    assert (
        proc.returncode == 0
        and "no round committed yet - the first round is running" in proc.stdout
    )


def test_trial_columns_are_in_the_documented_order(tmp_path):
    result = run(tmp_path, rounds=2, samples_per_round=4)  # shifted_bowl reports x_seen too
    documented = [
        "sweep_id",
        "round",
        "trial_id",
        "config_id",
        "rung",
        "budget",
        "shard",
        "worker",
        "status",
        "score",
        "x",
        "lr",
        "n",
        "act",
        "x_seen",
        "error",
        "started_at",
        "duration_s",
    ]  # README "Results on disk"
    assert result.table.column_names == documented
    for path in sorted((tmp_path / "r" / "trials").glob("round-*.parquet")):
        assert pa.parquet.read_schema(path).names == documented, path.name
