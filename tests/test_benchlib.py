"""The benchmarks' shared parts hold what they claim (fast: no Ray, no Optuna)."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
from benchlib import methods, problems, reporting

# Where each synthetic task's known optimum lies (from the functions' definitions).
OPTIMA = {
    "branin": [
        {"x1": -math.pi, "x2": 12.275},
        {"x1": math.pi, "x2": 2.275},
        {"x1": 9.42478, "x2": 2.475},
    ],
    "hartmann6": [
        dict(
            zip(
                (f"x{i}" for i in range(1, 7)),
                (0.20169, 0.150011, 0.476874, 0.275332, 0.311652, 0.6573),
            )
        )
    ],
    "rosenbrock_log": [{f"x{i}": 10.0 for i in range(1, 5)}],
    "rastrigin": [{f"x{i}": 0.0 for i in range(1, 5)}],
    "outside": [{"lr": 0.1, "wd": 1e-4, "dropout": 0.3}],
}


def uniform_points(params, n, rng):
    """``n`` configurations drawn uniformly (log-uniformly on log ranges) from the ranges."""
    points = [{} for _ in range(n)]
    for p in params:
        lo, hi = (math.log(p.low), math.log(p.high)) if p.log else (p.low, p.high)
        values = rng.uniform(lo, hi, n)
        for point, v in zip(points, np.exp(values) if p.log else values):
            point[p.name] = float(v)
    return points


@pytest.mark.parametrize("name", sorted(OPTIMA))
def test_each_synthetic_function_has_its_known_optimum_and_nothing_below_it(name):
    task = problems.SEARCH_TASKS[name]
    for point in OPTIMA[name]:
        assert task.fn(point) == pytest.approx(task.f_star, abs=1e-5)
    sampled = [task.fn(c) for c in uniform_points(task.params, 2000, np.random.default_rng(0))]
    assert min(sampled) >= task.f_star - 1e-9
    if task.floor is not None:  # the optimum lies outside: no point inside gets below the floor
        assert min(sampled) >= task.floor


def test_the_multi_fidelity_loss_is_exact_at_full_budget_and_biased_below_it():
    a = 10 ** (4 * problems.Z_STAR[0] - 4)
    best = {"a": a, "b": problems.Z_STAR[1], "c": problems.Z_STAR[2]}
    assert problems.synth_loss(best, problems.SYNTH_BMAX) == pytest.approx(0.0, abs=1e-12)
    # low budgets are noisy but deterministic, and biased upwards (+0.3 at budget 1)
    assert problems.synth_loss(best, 3) == problems.synth_loss(best, 3)
    assert problems.synth_loss(best, 1) > 0.2


def test_halving_spends_the_compute_its_schedule_says():
    problem = problems.synthetic_problem()
    for n in (9, 40, 81):  # 81 candidates are the fewest that reach the full budget, 81
        trace = methods.halving_trace(problem, seed=0, n_candidates=n, eta=3)
        assert trace.total == methods.halving_compute(n, problem.bmin, problem.bmax, 3)
    full = trace.full_scores[~np.isnan(trace.full_scores)]
    assert full.size == 1 and full[0] >= 0  # the last one standing; a loss, not a negated score


def test_the_spaces_agree_across_libraries():
    params = problems.SEARCH_TASKS["hgb_breast_cancer"].params
    space = problems.sweep_space(params)
    assert (space["max_leaf_nodes"].low, space["max_leaf_nodes"].hard_low) == (4, 2)
    assert space["l2_regularization"].hard_high is None
    draws = problems.sklearn_distributions(params)["min_samples_leaf"].rvs(500, random_state=0)
    assert draws.min() >= 2 and draws.max() <= 64 and len(set(draws)) > 20


@dataclasses.dataclass
class Row:
    method: str
    wall_s: float


def test_the_json_writer_round_trips(tmp_path):
    doc = {"rows": [Row("sweep", 1.5)], "where": Path("runs") / "a", "loss": math.inf, "n": [1, 2]}
    for indent in (None, 2):
        path = tmp_path / f"out-{indent}.json"
        reporting.write_json(path, doc, indent=indent)
        assert json.loads(path.read_text()) == {
            "rows": [{"method": "sweep", "wall_s": 1.5}],
            "where": str(Path("runs") / "a"),
            "loss": math.inf,
            "n": [1, 2],
        }


def test_medians_count_missing_values_as_the_worst():
    assert reporting.median_or_none([1.0, 2.0, None]) == 2.0
    assert reporting.median_or_none([1.0, None, None]) is None
    assert reporting.median_or_none([0.9, None, 0.8], "max") == 0.8
    assert reporting.md_row(["a", "b"]) == "| a | b |"
    assert reporting.md_rule(3, numeric=True) == "| --- | ---: | ---: |"
    assert reporting.md_rule(2, numeric=False) == "| --- | --- |"


def test_a_continued_evaluation_costs_what_it_trained():
    import pyarrow as pa
    from benchlib.methods import trace_from_table

    table = pa.table(
        {
            "trial_id": [0, 1, 2],
            "started_at": pa.array([1, 2, 3], pa.timestamp("us", tz="UTC")),
            "budget": [3.0, 9.0, 9.0],
            "status": ["ok"] * 3,
            "score": [0.5, 0.2, 0.1],
            "trained": [3.0, 6.0, 9.0],  # the second continued from budget 3, the third not
            "round": [0, 0, 0],
            "config_id": [0, 0, 1],
        }
    )
    trace = trace_from_table(table, 9.0, 1.0, {})
    assert list(trace.costs) == [3.0, 6.0, 9.0]
    assert trace.reach(0.2, "min") == 9.0 and trace.total == 18.0


def test_the_numpy_example_continues_to_exactly_what_a_fresh_run_reaches():
    from workers.examples import numpy_mlp

    config = {"hidden": 16, "lr": 0.05, "alpha": 1e-4}
    low = numpy_mlp(config, 3)
    high = numpy_mlp(config, 6, low["state"])
    fresh = numpy_mlp(config, 6)
    assert (low["trained"], high["trained"], fresh["trained"]) == (3.0, 3.0, 6.0)
    assert high["score"] == fresh["score"]
    for key in ("w1", "w2", "m_w1"):
        assert (high["state"][key] == fresh["state"][key]).all()


def test_the_forest_task_continues_to_what_a_forest_fitted_at_once_scores():
    objective = problems.ForestObjective(problems.digits_split())
    config = {"max_features": 0.3, "min_samples_leaf": 2, "max_depth": 8}
    low = objective.continuing(config, 3, None)
    high = objective.continuing(config, 6, low["state"])
    assert (low["trained"], high["trained"]) == (3.0, 3.0)
    assert high["score"] == objective(config, 6)
    assert list(objective.steps(config, 6))[-1] == objective(config, 6)


def test_zdt1s_true_front_has_the_stated_hypervolume_and_nothing_beats_it():
    from benchlib import multiobjective

    problem = multiobjective.zdt1(6)
    f1 = np.linspace(0, 1, 4001)
    front = np.column_stack([f1, 1 - np.sqrt(f1)])  # x1.. = 0 on the true front
    share = multiobjective.hypervolume(front, problem.reference) / problem.best
    assert share == pytest.approx(1.0, abs=1e-3)
    on_front = problem.objective({"x0": 0.25, **{f"x{i}": 0.0 for i in range(1, 6)}})
    assert on_front == {"f1": 0.25, "f2": pytest.approx(0.5)}
    rng = np.random.default_rng(0)
    points = np.array(
        [
            list(problem.objective({f"x{i}": v for i, v in enumerate(x)}).values())
            for x in rng.random((300, 6))
        ]
    )
    assert multiobjective.hypervolume(points, problem.reference) < problem.best


def test_front_of_keeps_exactly_the_non_dominated_points():
    from benchlib import multiobjective

    points = np.array([[1, 5], [2, 3], [3, 4], [4, 1], [2, 3.5]], dtype=float)
    assert multiobjective.front_of(points).tolist() == [[1, 5], [2, 3], [4, 1]]
