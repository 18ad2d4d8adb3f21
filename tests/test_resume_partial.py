"""A round stopped half-way: resume, continue and replay never pair a score with another
configuration or budget (every row's score is a function of its own x and budget here)."""

import pyarrow.parquet as pq
import pytest

from orchestrator import Float, extend, load_config, run_config, tune
from orchestrator.errors import SweepInterrupted
from orchestrator.execution.serial import SerialExecutor
from tests.objectives import echo_x_budget

CONFIG = """\
objective: "tests.objectives:echo_x"
mode: max
space:
  x: {type: float, low: 0, high: 1, hard_low: 0, hard_high: 1}
rounds: 3
samples_per_round: 8
workers: 2
seed: 5
"""
# one round at a time: with overlap, round 1 can finish beside round 0 before its progress
# is reported, and the stop would land after its commit
BUDGET_CONFIG = """\
objective: "tests.objectives:echo_x_budget"
mode: min
space:
  x: {type: float, low: 0, high: 1, hard_low: 0, hard_high: 1}
rounds: 3
samples_per_round: 9
budget: {min: 1, max: 9}
workers: 2
seed: 6
overlap: 0
"""


def rows(result, round_index=None):
    out = [r for r in result.table.to_pylist() if round_index is None or r["round"] == round_index]
    return sorted(out, key=lambda r: r["trial_id"])


def assert_scores_belong_to_their_rows(result, budgets=False):
    for r in rows(result):
        expected = 1000.0 * r["x"] + r["budget"] if budgets else r["x"]
        assert r["score"] == pytest.approx(expected), r


def stopped_in_round(tmp_path, text, round_index, name="run"):
    """Run the config and stop it once ``round_index`` has results; the partials stay."""
    (tmp_path / f"{name}.yaml").write_text(text)
    run = tmp_path / name
    seen = []

    def progress(r, done, total, not_ok):
        if r == round_index and done > 0:
            seen.append(done)

    with pytest.raises(SweepInterrupted):
        run_config(
            load_config(tmp_path / f"{name}.yaml"),
            run_dir=run,
            on_progress=progress,
            should_stop=lambda: bool(seen),
        )
    partials = list((run / "trials" / "_partial" / f"round-{round_index:05d}").glob("part-*"))
    assert partials, "the stop landed after the round was committed: nothing to test"
    assert not (run / "trials" / f"round-{round_index:05d}.parquet").exists()
    return run


@pytest.fixture(scope="module")
def reference(ray_cluster, tmp_path_factory):
    d = tmp_path_factory.mktemp("ref")
    (d / "c.yaml").write_text(CONFIG)
    return run_config(load_config(d / "c.yaml"), run_dir=d / "run").result


@pytest.mark.ray
def test_continue_finishes_a_half_done_round_as_planned_then_edits(reference, tmp_path):
    run = stopped_in_round(tmp_path, CONFIG, 1)
    with pytest.warns(UserWarning, match="round 1 was not finished: finishing it as planned"):
        result = extend(run, rounds=1, ranges={"x": (0.5, None)}).result
    assert_scores_belong_to_their_rows(result)
    assert result.table.column("trial_id").to_pylist() == list(range(24))
    for r in (0, 1):  # both rounds exactly as the uninterrupted run had them
        assert [(t["x"], t["score"]) for t in rows(result, r)] == [
            (t["x"], t["score"]) for t in rows(reference, r)
        ]
    assert all(t["x"] >= 0.5 for t in rows(result, 2))  # the edit starts after the round
    manual = {
        (d["round"], d["parameter"]) for d in result.ranges.to_pylist() if d["action"] == "manual"
    }
    assert manual == {(2, "x")}


@pytest.mark.ray
def test_continue_can_discard_a_half_done_round_and_says_so(reference, tmp_path):
    run = stopped_in_round(tmp_path, CONFIG, 1)
    committed = sum(
        pq.read_table(p).num_rows
        for p in (run / "trials" / "_partial" / "round-00001").glob("part-*")
    )
    with pytest.warns(UserWarning, match=f"discarded {committed} committed evaluation"):
        result = extend(run, rounds=1, ranges={"x": (0.5, None)}, discard_partial=True).result
    assert_scores_belong_to_their_rows(result)
    assert result.rounds_run == 2 and result.table.num_rows == 16
    assert [(t["x"], t["score"]) for t in rows(result, 0)] == [
        (t["x"], t["score"]) for t in rows(reference, 0)
    ]
    assert all(t["x"] >= 0.5 for t in rows(result, 1))  # round 1 sampled anew, edited


@pytest.mark.ray
def test_an_edit_free_continue_keeps_the_budgets_of_a_half_done_round(ray_cluster, tmp_path):
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    (ref_dir / "c.yaml").write_text(BUDGET_CONFIG)
    reference = run_config(load_config(ref_dir / "c.yaml"), run_dir=ref_dir / "run").result
    run = stopped_in_round(tmp_path, BUDGET_CONFIG, 1)
    with pytest.warns(UserWarning, match="finishing it as planned"):
        result = extend(run, rounds=1).result  # 2 rounds in all: a shorter schedule
    assert_scores_belong_to_their_rows(result, budgets=True)

    def key(t):
        return (t["config_id"], t["rung"], t["budget"], t["x"], t["score"])

    for r in (0, 1):
        assert sorted(map(key, rows(result, r))) == sorted(map(key, rows(reference, r)))


def serial_budget_run(run_dir, **kwargs):
    return tune(
        echo_x_budget,
        {"x": Float(0.0, 1.0)},
        mode="min",
        rounds=2,
        samples_per_round=9,
        seed=2,
        budget=(1, 9),
        sampler="random",
        run_dir=run_dir,
        executor=SerialExecutor(echo_x_budget, param_names=["x"], shard_size=2),
        **kwargs,
    )


def test_resume_replays_a_commit_holding_a_promotion_and_its_result(tmp_path):
    reference = serial_budget_run(tmp_path / "ref")
    run, done = tmp_path / "run", [0]

    def progress(r, n, total, not_ok):
        done[0] = n

    with pytest.raises(SweepInterrupted):  # stopped once a promoted evaluation has a result
        serial_budget_run(run, on_progress=progress, should_stop=lambda: done[0] >= 10)
    (part,) = (run / "trials" / "_partial" / "round-00000").glob("part-*")  # one commit
    keys = pq.read_table(part).column("trial_id").to_pylist()
    assert any(k < 9 for k in keys) and any(k >= 9 for k in keys)  # rung 0 and rung 1
    result = serial_budget_run(run, resume=True)
    cols = ["round", "trial_id", "config_id", "rung", "budget", "x", "score", "status"]
    assert result.table.select(cols).equals(reference.table.select(cols))
    assert_scores_belong_to_their_rows(result, budgets=True)
