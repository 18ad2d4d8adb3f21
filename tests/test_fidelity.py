"""Budgets, rungs and the promotion rule (pure), and the round's work (no Ray)."""

import random

import pyarrow as pa
import pytest

from orchestrator.errors import ConfigError
from orchestrator.loop.round_work import RoundWork
from orchestrator.search.fidelity import Budget, comparable, promotable, rung_sizes


@pytest.mark.parametrize(
    "budget, rounds, bases",
    [
        (Budget(1, 100), 3, [1, 10, 100]),
        (Budget(5, 80), 5, [5, 10, 20, 40, 80]),
        (Budget(1, 100, schedule="linear"), 3, [1, 50, 100]),  # 50.5 rounds to a whole budget
        (Budget(5, 100, schedule="fixed"), 3, [5, 5, 5]),
        (Budget(0.1, 1.0), 2, [0.1, 1.0]),
    ],
)
def test_base_budget_schedule(budget, rounds, bases):
    assert [budget.base(r, rounds) for r in range(rounds)] == pytest.approx(bases)


@pytest.mark.parametrize(
    "budget, base, rungs",
    [
        (Budget(1, 100), 1, [1, 3, 9, 27, 81, 100]),
        (Budget(1, 100, eta=4), 10, [10, 40, 100]),
        (Budget(5, 100), 100, [100]),
        (Budget(0.1, 1.0), 0.1, [0.1, 0.3, 0.9, 1.0]),
    ],
)
def test_rungs(budget, base, rungs):
    assert budget.rungs(base) == pytest.approx(rungs)


def test_rung_sizes():
    assert rung_sizes(27, 3, 4) == [27, 9, 3, 1]
    assert rung_sizes(20, 3, 4) == [20, 6, 2, 1]
    assert rung_sizes(2, 3, 3) == [2, 1, 1]


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"min": 0, "max": 10}, "need 0 < min <= max"),
        ({"min": 10, "max": 5}, r"min=10, max=5"),
        ({"min": 1, "max": 5, "eta": 1}, "budget.eta: must be >= 2, got 1"),
        ({"min": 1, "max": 5, "schedule": "cosine"}, "unknown schedule 'cosine'"),
        ({"min": 1}, "needs 'min' and 'max'"),
        ({"min": 1, "max": 5, "maxx": 3}, "unknown key 'maxx'"),
        ({"min": 0.1, "max": 2, "param": "rows"}, "fractions <= 1"),
    ],
)
def test_budget_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        Budget.parse(spec)


def test_promotion_waits_until_certain():
    results = [(0, 0.9), (1, 0.5), (2, None)]
    # 6 outstanding results could all beat config 0: nothing is certain yet
    assert promotable(results, outstanding=6, quota=3, promoted=set(), mode="max") == []
    # with 2 outstanding, the best (0) is certain to stay in the top 3
    assert promotable(results, outstanding=2, quota=3, promoted=set(), mode="max") == [0]
    # all in: the top 3 ok trials (only two are ok; failures are never promoted)
    assert promotable(results, outstanding=0, quota=3, promoted={0}, mode="max") == [1]
    assert promotable(results, outstanding=0, quota=1, promoted=set(), mode="min") == [1]
    # ties break by key
    assert promotable([(5, 1.0), (3, 1.0)], outstanding=0, quota=1, promoted=set(), mode="min") == [
        3
    ]


def run_work(work, order_seed, score):
    """Feed results back in a shuffled order, a few at a time, like workers would."""
    rng = random.Random(order_seed)
    finished = []
    in_flight = []
    while work.ready_count() or in_flight:
        in_flight += work.take(rng.randint(1, 4))
        rng.shuffle(in_flight)
        done, in_flight = in_flight[:2], in_flight[2:]
        batch = pa.table(
            {
                "trial_id": [i.key for i in done],
                "status": ["ok"] * len(done),
                "score": [score(i) for i in done],
            }
        )
        work.record(batch)
        finished += done
    assert work.finished()
    return finished


def test_round_work_equals_synchronous_halving_in_any_order():
    configs = [{"x": i / 27} for i in range(27)]

    def score(item):
        return (item.config["x"] - 0.5) ** 2 + 0.01 / item.budget

    outcomes = set()
    for seed in range(5):
        work = RoundWork(configs, mode="min", budget=Budget(1, 27), base=1)
        finished = run_work(work, seed, score)
        by_rung = {}
        for item in finished:
            by_rung.setdefault(item.rung, set()).add(item.index)
        outcomes.add(tuple(tuple(sorted(by_rung[r])) for r in sorted(by_rung)))
        assert [len(by_rung[r]) for r in sorted(by_rung)] == [27, 9, 3, 1]
        assert {item.budget for item in finished if item.rung == 3} == {27.0}
    assert len(outcomes) == 1  # the same promotions whatever the arrival order
    (rungs,) = outcomes
    best9 = sorted(range(27), key=lambda i: abs(i / 27 - 0.5))[:9]
    assert set(rungs[1]) == set(best9)


def test_round_work_without_budget_is_the_plain_list():
    work = RoundWork([{"x": 1}, {"x": 2}], mode="min")
    items = work.take(10)
    assert [(i.key, i.budget, i.rung) for i in items] == [(0, None, 0), (1, None, 0)]
    assert not work.finished()
    work.record(pa.table({"trial_id": [0, 1], "status": ["ok", "failed"], "score": [1.0, None]}))
    assert work.finished()


def test_comparable_picks_the_highest_budget_with_enough_ok_trials():
    t = pa.table(
        {
            "budget": [1.0] * 9 + [3.0] * 5 + [9.0] * 2 + [None],
            "status": ["ok"] * 16 + ["ok"],
            "score": [0.0] * 17,
        }
    )
    assert set(comparable(t, 4).column("budget").to_pylist()) == {3.0}
    assert set(comparable(t, 6).column("budget").to_pylist()) == {1.0}
    assert set(comparable(t, 50).column("budget").to_pylist()) == {1.0}  # most ok trials
    plain = pa.table(
        {
            "budget": pa.array([None, None], pa.float64()),
            "status": ["ok", "ok"],
            "score": [1.0, 2.0],
        }
    )
    assert comparable(plain, 5).num_rows == 2


def _result_rows(items, score):
    return pa.table(
        {
            "trial_id": [i.key for i in items],
            "status": ["ok"] * len(items),
            "score": [score(i) for i in items],
        }
    )


@pytest.mark.parametrize("split", ["one_commit", "two_commits", "row_by_row"])
def test_replay_of_a_commit_holding_a_promotion_and_its_result(split):
    """A partial commit can hold rung-0 results and the rung-1 result they promoted (one
    commit every 2 s, trials far shorter): replay must rebuild the same work, not raise."""
    configs = [{"x": i / 9} for i in range(9)]

    def score(item):
        return (item.config["x"] - 0.5) ** 2 + 0.01 / item.budget

    live = RoundWork(configs, mode="min", budget=Budget(1, 9), base=1)
    arrived = []
    while not live.finished() and len(arrived) < 12:
        items = live.take(3)
        batch = _result_rows(items, score)
        live.record(batch)
        arrived.append(batch)
    assert any(k >= 9 for b in arrived for k in b.column("trial_id").to_pylist())  # promotions
    rows = pa.concat_tables(arrived)
    if split == "one_commit":
        commits = [rows]
    elif split == "two_commits":
        commits = [rows.slice(0, 5), rows.slice(5)]
    else:
        commits = [rows.slice(i, 1) for i in range(rows.num_rows)]
    again = RoundWork(configs, mode="min", budget=Budget(1, 9), base=1)
    for table in commits:
        again.replay(table)
    assert set(again.items) == set(live.items)
    assert again.known == live.known and again.finished() == live.finished()
    rest = again.take(100)
    assert sorted(i.key for i in rest) == sorted(i.key for i in live.take(100))
    assert not {i.key for i in rest} & set(rows.column("trial_id").to_pylist())


class FailsFirstAtFullBudget:
    """(x - 0.3)^2 + 1/budget; the first evaluation of a configuration at budget 9 raises."""

    def __init__(self):
        self.tried = set()

    def __call__(self, config, budget):
        if budget >= 9 and config["x"] not in self.tried:
            self.tried.add(config["x"])
            raise RuntimeError("first try at the full budget")
        return (config["x"] - 0.3) ** 2 + 1.0 / budget


def test_a_sweep_that_stops_early_without_a_full_budget_score_gets_a_selection_round(tmp_path):
    import json

    from orchestrator import Float, tune
    from orchestrator.execution.serial import SerialExecutor

    objective = FailsFirstAtFullBudget()
    result = tune(
        objective,
        {"x": Float(0.0, 1.0)},
        mode="min",
        rounds=6,
        samples_per_round=9,
        seed=0,
        budget=(1, 9),
        patience=1,
        run_dir=tmp_path / "run",
        executor=SerialExecutor(objective, param_names=["x"]),
    )
    rows = result.table.to_pylist()
    first = [r for r in rows if r["round"] == 0]
    assert {r["budget"] for r in first} == {1.0, 3.0, 9.0}
    assert not [r for r in first if r["budget"] == 9.0 and r["status"] == "ok"]  # none at max
    # stopped after round 0 of 6 (patience); round 1 is the selection round at the full budget
    assert result.rounds_run == 2
    assert json.loads((tmp_path / "run" / "run.json").read_text())["selection_round"] == 1
    selection = [r for r in rows if r["round"] == 1]
    assert {r["budget"] for r in selection} == {9.0}
    ranked = sorted((r for r in first if r["budget"] == 1.0), key=lambda r: r["score"])
    assert sorted(r["x"] for r in selection) == sorted(r["x"] for r in ranked[:3])  # the best 3
    best = next(r for r in rows if r["trial_id"] == result.best_trial_id)
    assert best["round"] == 1 and best["budget"] == 9.0 and best["status"] == "ok"
    assert result.best_score == best["score"] and result.best_config == {"x": best["x"]}
