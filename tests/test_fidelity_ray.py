"""Multi-fidelity sweeps on a local Ray."""

import json
import textwrap

import pytest

from orchestrator import Float, load_config, run_config, tune
from tests.objectives import misleading_fidelity

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def runs(ray_cluster, tmp_path_factory):
    d = tmp_path_factory.mktemp("mf")
    return [
        tune(
            misleading_fidelity,
            {"x": Float(0.0, 1.0)},
            mode="min",
            rounds=6,
            samples_per_round=18,
            seed=3,
            workers=w,
            budget=(1, 100),
            overlap=1,  # stated: "auto" would give one worker 0
            run_dir=d / f"w{w}",
        )
        for w in (1, 2)
    ]


def test_budgets_are_recorded_and_rise_with_the_rounds(runs):
    t = runs[1].table.to_pylist()
    assert all(r["budget"] is not None for r in t)
    base = [min(r["budget"] for r in t if r["round"] == k) for k in range(6)]
    assert base == sorted(base) and base[0] == 1.0 and base[-1] == 100.0


def test_only_the_best_of_a_rung_are_promoted(runs):
    t = runs[1].table.to_pylist()
    for k in range(5):
        rows = [r for r in t if r["round"] == k]
        for rung in range(max(r["rung"] for r in rows)):
            here = sorted(
                (r for r in rows if r["rung"] == rung), key=lambda r: (r["score"], r["config_id"])
            )
            up = {r["config_id"] for r in rows if r["rung"] == rung + 1}
            assert up == {r["config_id"] for r in here[: len(up)]}
            assert len(up) == max(1, len(here) // 3)


def test_misleading_low_budgets_do_not_steer_the_final_choice(runs):
    result = runs[1]
    best = next(r for r in result.table.to_pylist() if r["trial_id"] == result.best_trial_id)
    assert best["budget"] == 100.0  # a full-budget score
    assert result.best_config["x"] == pytest.approx(0.2, abs=0.05)
    assert result.best_score < 0.01


def test_one_and_two_workers_agree(runs):
    cols = ["round", "trial_id", "config_id", "rung", "budget", "x", "score"]
    assert runs[0].table.select(cols).equals(runs[1].table.select(cols))
    assert runs[0].ranges.equals(runs[1].ranges)


def test_estimator_task_with_a_budget_parameter(ray_cluster, tmp_path):
    path = tmp_path / "gb.yaml"
    path.write_text(
        textwrap.dedent("""\
        objective:
          estimator: sklearn.ensemble.HistGradientBoostingClassifier
          params: {random_state: 0, early_stopping: false}
          scoring: accuracy
          dataset: breast_cancer
          split: {test: 0.2, validation: 0.25}
        budget: {min: 5, max: 45, param: max_iter}
        space:
          learning_rate: {type: float, low: 1e-2, high: 1.0, log: true}
        rounds: 3
        samples_per_round: 9
        workers: 2
    """)
    )
    outcome = run_config(load_config(path), run_dir=tmp_path / "run")
    table = outcome.result.table.to_pylist()
    assert {r["budget"] for r in table} >= {5.0, 45.0}
    best = next(r for r in table if r["trial_id"] == outcome.result.best_trial_id)
    assert best["budget"] == 45.0 and outcome.test is not None and outcome.test["score"] > 0.85
    # boosting warm-starts: a promoted configuration adds iterations to its fitted models,
    # handed from worker to worker in memory
    promoted = [r for r in table if r["rung"] > 0]
    assert promoted and all(r["continued"] for r in promoted)
    assert all(r["trained"] < r["budget"] for r in promoted)
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["continues"] == "continues: warm_start, the budget parameter counting the total"
