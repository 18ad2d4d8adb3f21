"""Several objectives: Pareto ranks, the front, the elite narrowing keeps, and whole sweeps."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from orchestrator import EliteBox, Float, SearchSpace, TuneResult, tune
from orchestrator.config.loader import parse_config
from orchestrator.errors import ConfigError, SweepInterrupted
from orchestrator.execution.serial import SerialExecutor
from orchestrator.search.narrowing import NarrowingContext
from orchestrator.search.pareto import (
    Objectives,
    crowding,
    front_rows,
    hypervolume_2d,
    pareto_order,
    pareto_ranks,
    pick_row,
    resolve,
)
from workers.evaluate import evaluate_shard
from workers.multi_objective import MultiObjective

ROOT = Path(__file__).resolve().parent.parent
TWO = Objectives(("a", "b"), ("min", "min"))


def table(points, trial_ids=None, statuses=None, x=None):
    points = np.asarray(points, dtype=float)
    n = len(points)
    cols = {
        "trial_id": pa.array(trial_ids if trial_ids is not None else range(n), type=pa.int64()),
        "status": pa.array(statuses or ["ok"] * n),
        "score": pa.array(points[:, 0]),
        "a": pa.array(points[:, 0]),
        "b": pa.array(points[:, 1]),
    }
    if x is not None:
        cols["x"] = pa.array(x, type=pa.float64())
    return pa.table(cols)


# -- ranks, crowding, the front, hypervolume -----------------------------------------------
def test_pareto_ranks_peel_fronts_off_in_turn():
    points = np.array([[1, 5], [2, 3], [4, 1], [3, 4], [5, 5], [2, 3]], dtype=float)
    # front: (1,5) (2,3) (4,1) and the duplicate (2,3); (3,4) is dominated by (2,3) only;
    # (5,5) by (3,4) as well, so it is in the third front
    assert pareto_ranks(points).tolist() == [0, 0, 0, 1, 2, 0]


def test_a_max_objective_is_negated():
    t = table([[1, 1], [2, 2]])
    both_min = pareto_order(t, TWO)
    b_max = pareto_order(t, Objectives(("a", "b"), ("min", "max")))
    assert both_min[1].tolist() == [0, 1]  # (1, 1) dominates when both are minimised
    assert sorted(b_max[1].tolist()) == [0, 0]  # neither dominates when b is maximised


def test_crowding_puts_the_ends_first_and_sparse_points_before_crowded_ones():
    front = np.array([[0.0, 1.0], [0.1, 0.9], [0.12, 0.88], [0.6, 0.3], [1.0, 0.0]])
    dist = crowding(front)
    assert math.isinf(dist[0]) and math.isinf(dist[4])
    assert dist[3] > dist[1] and dist[3] > dist[2]
    rows, ranks = pareto_order(table(front), TWO)
    assert set(rows[:2].tolist()) == {0, 4} and rows[2] == 3 and ranks.tolist() == [0] * 5


def test_failed_and_non_finite_rows_never_count():
    t = table([[0, 0], [1, 1], [np.nan, 0.5]], statuses=["failed", "ok", "ok"])
    rows, _ = pareto_order(t, TWO)
    assert rows.tolist() == [1]


def test_hypervolume_of_a_staircase():
    pts = np.array([[1, 5], [2, 3], [4, 1], [3, 4], [7, 0.5]], dtype=float)
    # (3,4) is dominated; (7, 0.5) lies beyond the reference on the first objective
    assert hypervolume_2d(pts, [6, 6]) == pytest.approx(1 * 1 + 2 * 3 + 2 * 5)
    assert hypervolume_2d(np.empty((0, 2)), [1, 1]) == 0.0


def test_the_result_is_picked_from_the_front_by_weights_or_the_first_objective():
    t = table([[1, 5], [2, 3], [4, 1], [3, 4]])
    assert front_rows(t, TWO).tolist() == [0, 1, 2]  # by the first objective
    assert pick_row(t, TWO) == 0
    assert pick_row(t, TWO, {"a": 1.0, "b": 1.0}) == 1  # 5 < 6 = 1 + 5 = 4 + 1 (tie: 2, 1)
    assert pick_row(t, TWO, {"b": 1.0}) == 2


# -- the elite ---------------------------------------------------------------------------
def test_the_elite_spans_the_whole_front_and_is_not_forced_to_shrink():
    rng = np.random.default_rng(0)
    x = rng.random(60)
    # a front along x in [0.2, 0.8] (a = x, b = 1 - x there), everything else dominated
    on = (x > 0.2) & (x < 0.8)
    a = np.where(on, x, x + 1)
    b = np.where(on, 1 - x, 2 - x)
    space = SearchSpace({"x": Float(0.0, 1.0)})
    context = NarrowingContext(
        original=space, mode="min", round_index=0, samples_per_round=20, objectives=TWO
    )
    t = table(np.column_stack([a, b]), x=x)
    new = EliteBox().propose(space, t, context).space["x"]
    front_x = x[on]
    assert new.low <= front_x.min() and new.high >= front_x.max()
    assert new.high - new.low > 0.7  # the single-objective rule would force <= 0.7


# -- settings ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "mode, objectives, message",
    [
        (["min", "min"], None, "needs `objectives`"),
        ("min", ["a", "b"], "give one direction each"),
        (["min"], ["a", "b"], "one direction per objective"),
        (["min", "up"], ["a", "b"], "'min' or 'max'"),
        (["min"], ["a"], "at least two names"),
        (["min", "min"], ["a", "a"], "given twice"),
        (["min", "min"], ["a", "error"], "column of the trial table already"),
        (None, [None, []], "None must be an identifier"),  # found by the fuzz test: TypeError
    ],
)
def test_bad_objective_settings_are_refused(mode, objectives, message):
    with pytest.raises(ValueError, match=message):
        resolve(mode, objectives)


def test_the_score_column_follows_the_objective_named_score():
    assert resolve(["min", "max"], ["latency", "score"]) == (
        "max",
        Objectives(("latency", "score"), ("min", "max")),
    )
    assert resolve(["max", "min"], ["acc", "size"])[0] == "max"


CONFIG = {
    "objective": "workers.examples:forest_size",
    "objectives": ["val_error", "nodes"],
    "mode": ["min", "min"],
    "space": {"trees": {"type": "int", "low": 2, "high": 20}},
}


@pytest.mark.parametrize(
    "change, message",
    [
        ({"pick": {"weights": {"val_error": 1}}, "objectives": None, "mode": "min"}, "needs"),
        ({"pick": {"weights": {"size": 1}}}, "'size' is not an objective"),
        ({"pick": {"weights": {"nodes": -1}}}, ">= 0"),
        ({"pick": {"best": "nodes"}}, "expected {weights"),
        ({"mode": "min"}, "give one direction each"),
    ],
)
def test_config_errors_for_several_objectives(change, message):
    data = {k: v for k, v in {**CONFIG, **change}.items() if v is not None}
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_a_config_with_objectives_parses_and_records_them():
    config = parse_config({**CONFIG, "pick": {"weights": {"val_error": 1, "nodes": 1e-5}}})
    assert config.objectives == ["val_error", "nodes"] and config.mode == ["min", "min"]
    record = config.to_dict()
    assert record["objectives"] == ["val_error", "nodes"]
    assert record["pick"] == {"weights": {"val_error": 1.0, "nodes": 1e-5}}


def test_what_several_objectives_do_not_support_yet_is_refused():
    def f(c):
        return {"a": c["x"], "b": 1 - c["x"]}

    space = {"x": Float(0, 1)}
    for extra, message in (
        ({"budget": (1, 9)}, "budget is not supported"),
        ({"patience": 2}, "patience is not supported"),
    ):
        with pytest.raises(ConfigError, match=message):
            tune(f, space, mode=["min", "min"], objectives=["a", "b"], **extra)
    with pytest.raises(ConfigError, match="'x' is also a parameter"):
        tune(f, space, mode=["min", "min"], objectives=["a", "x"])


# -- the worker side ------------------------------------------------------------------------
def test_a_row_missing_an_objective_fails_with_the_reason():
    def f(c):
        if c["x"] > 0.5:
            return {"a": 1.0}
        if c["x"] > 0.3:
            return {"a": 1.0, "b": float("nan")}
        return {"a": 2.0, "b": 3.0}

    batch = evaluate_shard(
        MultiObjective(f, ["a", "b"]),
        shard_id=0,
        trial_ids=[0, 1, 2],
        configs=[{"x": 0.9}, {"x": 0.4}, {"x": 0.1}],
        worker="w",
    ).to_pylist()
    assert [r["status"] for r in batch] == ["failed", "failed", "ok"]
    assert "has no b" in batch[0]["error"] and "finite number" in batch[1]["error"]
    assert batch[2]["score"] == 2.0 and batch[2]["b"] == 3.0  # score: the first objective


# -- whole sweeps --------------------------------------------------------------------------
def zdt1(config):
    x = np.array([config[f"x{i}"] for i in range(4)])
    g = 1 + 9 * x[1:].sum() / 3
    return {"f1": float(x[0]), "f2": float(g * (1 - math.sqrt(x[0] / g)))}


ZSPACE = {f"x{i}": Float(0.0, 1.0, hard_low=0.0, hard_high=1.0) for i in range(4)}


def run_zdt1(run_dir, sampler="random", **kwargs):
    return tune(
        zdt1,
        ZSPACE,
        mode=["min", "min"],
        objectives=["f1", "f2"],
        rounds=5,
        samples_per_round=16,
        seed=3,
        sampler=sampler,
        executor=SerialExecutor(
            MultiObjective(zdt1, ["f1", "f2"]), param_names=list(ZSPACE), shard_size=4
        ),
        run_dir=run_dir,
        **kwargs,
    )


@pytest.mark.parametrize("sampler", ["random", "guided"])
def test_a_sweep_returns_its_true_front_and_the_picked_member(tmp_path, sampler):
    weights = {"f1": 1.0, "f2": 2.0}
    result = run_zdt1(tmp_path / "run", sampler=sampler, pick={"weights": weights})
    t = result.table
    assert t.num_rows == 80 and set(t.column("status").to_pylist()) == {"ok"}
    values = np.column_stack([t.column("f1").to_numpy(), t.column("f2").to_numpy()])
    dominated = [
        bool(np.any(np.all(values <= v, axis=1) & np.any(values < v, axis=1))) for v in values
    ]
    expected = set(t.column("trial_id").to_numpy()[~np.array(dominated)].tolist())
    front = result.pareto_front()
    assert set(front.column("trial_id").to_pylist()) == expected
    cost = front.column("f1").to_numpy() + 2.0 * front.column("f2").to_numpy()
    assert result.best_trial_id == front.column("trial_id")[int(np.argmin(cost))].as_py()
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["config"]["objectives"] == ["f1", "f2"]
    assert meta["config"]["pick"] == {"weights": weights}
    assert meta["best"]["objectives"]["f1"] == pytest.approx(
        front.column("f1")[int(np.argmin(cost))].as_py()
    )
    loaded = TuneResult.load(tmp_path / "run")
    assert loaded.best_trial_id == result.best_trial_id
    assert loaded.pareto_front().equals(front)


def test_the_front_gets_better_with_the_rounds(tmp_path):
    result = run_zdt1(tmp_path / "run", sampler="guided")
    t = result.table
    first = t.filter(pa.compute.equal(t.column("round"), 0))
    hv = []
    for part in (first, t):
        front = front_rows(part, Objectives(("f1", "f2"), ("min", "min")))
        pts = np.column_stack(
            [part.column("f1").to_numpy()[front], part.column("f2").to_numpy()[front]]
        )
        hv.append(hypervolume_2d(pts, [1.1, 11.0]))
    assert hv[1] > hv[0]


def test_a_multi_objective_sweep_resumes_to_the_same_run(tmp_path):
    whole = run_zdt1(tmp_path / "whole", sampler="guided")
    polls = []
    with pytest.raises(SweepInterrupted):
        run_zdt1(
            tmp_path / "part",
            sampler="guided",
            should_stop=lambda: polls.append(1) or len(polls) > 9,
        )
    resumed = run_zdt1(tmp_path / "part", sampler="guided", resume=True)
    same = ["trial_id", "status", "f1", "f2", *ZSPACE]
    assert (
        resumed.table.select(same).sort_by("trial_id").to_pylist()
        == whole.table.select(same).sort_by("trial_id").to_pylist()
    )
    assert resumed.best_trial_id == whole.best_trial_id


def test_show_prints_the_front_and_marks_the_result(tmp_path):
    run_zdt1(tmp_path / "run", pick={"weights": {"f1": 1.0, "f2": 1.0}})
    exe = Path(sys.executable).with_name("sweep")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "orchestrator.cli"]
    shown = subprocess.run(
        [*cmd, "show", str(tmp_path / "run")], capture_output=True, text=True, timeout=120
    )
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "objectives f1 (min), f2 (min)" in out
    assert "Pareto front:" in out and "the least 1 x f1 + 1 x f2" in out
    marked = [line for line in out.splitlines() if line.startswith("*")]
    assert len(marked) == 1
    result = TuneResult.load(tmp_path / "run")
    assert f" {result.best_trial_id} " in marked[0]
    report = subprocess.run(
        [*cmd, "report", str(tmp_path / "run"), "-o", str(tmp_path / "r.html")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert report.returncode == 0, report.stderr
    assert "Pareto front" in (tmp_path / "r.html").read_text()


# -- an estimator task: the sealed test evaluates the member chosen from the front ----------
SVC_MO = {
    "name": "svc-mo",
    "objective": {
        "estimator": "sklearn.svm.SVC",
        "preprocessing": ["standard_scaler"],
        "scoring": "accuracy",
        "dataset": "wine",
        "split": {"test": 0.2, "cv": 2},
    },
    "objectives": ["score", "fit_time"],
    "mode": ["max", "min"],
    "space": {
        "C": {"type": "float", "low": 1e-3, "high": 1e3, "log": True},
        "gamma": {"type": "float", "low": 1e-5, "high": 1.0, "log": True},
    },
    "rounds": 2,
    "samples_per_round": 6,
    "workers": 2,
}


@pytest.mark.ray
def test_the_sealed_test_waits_for_a_choice_from_the_front(ray_cluster, tmp_path):
    from orchestrator.runs import run_config
    from orchestrator.sklearn.sealed_test import SealedTestError, evaluate_test

    outcome = run_config(parse_config(SVC_MO), run_dir=tmp_path / "run")
    assert outcome.sealed and outcome.test is None
    assert json.loads((tmp_path / "run" / "run.json").read_text())["state"] == "tuned"
    result = outcome.result
    front = result.pareto_front().column("trial_id").to_pylist()
    off_front = next(t for t in result.table.column("trial_id").to_pylist() if t not in front)
    with pytest.raises(SealedTestError, match=f"trial {off_front} .* not on the Pareto front"):
        evaluate_test(tmp_path / "run", trial=off_front)
    chosen = front[-1]
    record = evaluate_test(tmp_path / "run", trial=chosen)
    assert record["trial_id"] == chosen and set(record["objectives"]) == {"score", "fit_time"}
    row = result.table.filter(pa.compute.equal(result.table.column("trial_id"), chosen))
    assert record["validation_score"] == row.column("score")[0].as_py()
    assert record["config"] == {k: row.column(k)[0].as_py() for k in ("C", "gamma")}
    with pytest.raises(SealedTestError, match="already evaluated"):
        evaluate_test(tmp_path / "run", trial=front[0])
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["state"] == "finished" and meta["test"]["trial_id"] == chosen

    picked = parse_config({**SVC_MO, "pick": {"weights": {"score": 1.0, "fit_time": 1.0}}})
    outcome = run_config(picked, run_dir=tmp_path / "picked")
    assert outcome.test is not None and outcome.test["trial_id"] == outcome.result.best_trial_id


def test_an_estimator_tasks_objectives_must_include_its_score():
    data = {**SVC_MO, "objectives": ["fit_time", "score_std"], "mode": ["min", "min"]}
    with pytest.raises(ConfigError, match="include 'score'"):
        parse_config(data)
    with pytest.raises(ConfigError, match="estimator tasks maximise"):
        parse_config({**SVC_MO, "mode": ["min", "min"]})
