"""Sweeps on a real local Ray (the session's cluster): workers, shards, store, determinism."""

import json
import math

import duckdb
import pyarrow.dataset as ds
import pytest

from orchestrator import Choice, ExecutionError, Float, Int, TuneResult, tune
from tests.objectives import OPT_LR, OPT_X, flaky, shifted_bowl, sleepy_bowl

pytestmark = pytest.mark.ray

SPACE = {"x": Float(0.0, 1.0), "lr": Float(1e-5, 1e-1, log=True), "act": Choice(["a", "b"])}
CONFIG_COLUMNS = ["round", "trial_id", "x", "lr", "act", "score", "status"]


@pytest.fixture(scope="module")
def converged_run(ray_cluster, tmp_path_factory):
    return tune(
        shifted_bowl,
        SPACE,
        mode="min",
        rounds=8,
        samples_per_round=24,
        seed=0,
        workers=2,
        run_dir=tmp_path_factory.mktemp("runs") / "bowl",
    )


def test_sweep_converges_around_the_known_optimum(converged_run):
    first = converged_run.ranges.filter(ds.field("round") == 0).to_pylist()
    final = converged_run.final_space
    assert final["x"].low <= OPT_X <= final["x"].high
    assert final["lr"].low <= OPT_LR <= final["lr"].high
    assert final["x"].high - final["x"].low < 0.05 * (first[0]["high"] - first[0]["low"])
    assert math.log10(final["lr"].high / final["lr"].low) < 0.05 * 4
    assert converged_run.best_score < 1e-3


def test_exactly_one_row_per_sampled_configuration(converged_run):
    t = converged_run.table
    assert t.num_rows == converged_run.rounds_run * 24
    assert sorted(t.column("trial_id").to_pylist()) == list(range(t.num_rows))
    assert set(t.column("worker").to_pylist()) == {"w0", "w1"}  # both workers pulled shards
    assert t.column("status").unique().to_pylist() == ["ok"]


def test_store_reloads_to_the_same_table_with_pyarrow_and_duckdb(converged_run):
    run_dir = converged_run.run_dir
    assert TuneResult.load(run_dir).table.equals(converged_run.table)
    dataset = ds.dataset(run_dir / "trials").to_table().sort_by("trial_id")
    assert dataset.select(CONFIG_COLUMNS).equals(converged_run.table.select(CONFIG_COLUMNS))
    best = duckdb.sql(f"select min(score) from '{run_dir}/trials/*.parquet'").fetchall()[0][0]
    assert best == converged_run.best_score


@pytest.mark.parametrize("overlap", [0, 2])
def test_any_number_of_workers_samples_the_same_and_ends_in_the_same_ranges(
    ray_cluster, tmp_path, overlap
):
    # the number of workers and the order results arrive in change nothing, for a stated
    # overlap (with overlap 2, three rounds are out at once and finish in any order)
    space = {**SPACE, "n": Int(1, 64, log=True)}
    runs = [
        tune(
            shifted_bowl,
            space,
            mode="min",
            rounds=4,
            samples_per_round=30,
            seed=11,
            workers=w,
            worker_resources={"num_cpus": 0.5},
            overlap=overlap,
            run_dir=tmp_path / f"w{w}",
        )
        for w in (1, 2, 4)
    ]
    cols = [*CONFIG_COLUMNS, "n"]
    for other in runs[1:]:
        assert runs[0].table.select(cols).equals(other.table.select(cols))
        assert runs[0].ranges.equals(other.ranges)
        assert runs[0].final_space == other.final_space
    assert [json.loads((r.run_dir / "run.json").read_text())["overlap"] for r in runs] == [
        overlap
    ] * 3


def test_failing_and_nan_objectives_give_rows_and_the_sweep_finishes(ray_cluster, tmp_path):
    result = tune(
        flaky,
        {"x": Float(0.0, 1.0)},
        mode="min",
        rounds=3,
        samples_per_round=40,
        seed=2,
        workers=2,
        run_dir=tmp_path / "flaky",
    )
    rows = result.table.to_pylist()
    assert result.rounds_run == 3 and len(rows) == 120
    failed = [r for r in rows if r["status"] == "failed"]
    invalid = [r for r in rows if r["status"] == "invalid"]
    assert failed and all(r["error"].startswith("ValueError: x too large") for r in failed)
    assert {r["error"] for r in invalid} <= {
        "score is nan",
        "score must be a finite number, got str: 'not a number'",
    }
    assert all(r["score"] is None for r in failed + invalid)
    assert result.best_config["x"] == pytest.approx(0.4, abs=0.05)


def test_a_function_defined_in_the_callers_scope_works(ray_cluster, tmp_path):
    offset = 0.25

    def local_objective(config):  # pickled by value, like a notebook cell's function
        return {"score": abs(config["x"] - offset), "doubled": 2 * config["x"]}

    result = tune(
        local_objective,
        {"x": Float(0, 1)},
        mode="min",
        rounds=3,
        samples_per_round=16,
        seed=0,
        workers=2,
        run_dir=tmp_path / "local",
    )
    rows = result.table.to_pylist()
    assert all(r["doubled"] == pytest.approx(2 * r["x"]) for r in rows)
    assert result.best_config["x"] == pytest.approx(offset, abs=0.05)


def test_an_objective_that_cannot_load_on_workers_is_a_clear_error(ray_cluster, tmp_path):
    class Unpicklable:
        def __reduce__(self):
            raise TypeError("no pickling here")

    thing = Unpicklable()
    with pytest.raises(ExecutionError, match="cannot be sent to the workers.*no pickling here"):
        tune(
            lambda c: bool(thing) + c["x"],
            {"x": Float(0, 1)},
            mode="min",
            rounds=1,
            samples_per_round=2,
            workers=1,
            run_dir=tmp_path / "bad",
        )


def test_worker_resources_set_the_actors_and_their_number(ray_cluster, tmp_path):
    import json

    # work starts once the first worker is up; 0.2 s trials leave the others time to join
    result = tune(
        sleepy_bowl,
        SPACE,
        mode="min",
        rounds=1,
        samples_per_round=16,
        seed=0,
        worker_resources={"num_cpus": 0.5},
        run_dir=tmp_path / "half",
    )
    assert json.loads((result.run_dir / "run.json").read_text())["workers"] == 4
    assert len(set(result.table.column("worker").to_pylist())) >= 2


def test_work_starts_with_the_workers_that_are_up(ray_cluster, tmp_path):
    # three workers asked for, room for two (each reserves 40 % of the memory Ray manages):
    # the third never starts, and the sweep runs on the two instead of waiting for it
    import ray

    memory = int(ray.cluster_resources()["memory"] * 0.4)
    result = tune(
        sleepy_bowl,
        SPACE,
        mode="min",
        rounds=2,
        samples_per_round=8,
        seed=0,
        workers=3,
        worker_resources={"num_cpus": 0.1, "memory": memory},
        run_dir=tmp_path / "run",
    )
    assert result.table.num_rows == 16 and set(result.table.column("status").to_pylist()) == {"ok"}
    assert set(result.table.column("worker").to_pylist()) <= {"w0", "w1", "w2"}
    assert len(set(result.table.column("worker").to_pylist())) == 2
