"""Promoted configurations continue training from the state of the rung below.

An objective ``objective(config, budget, state)`` gets None at a configuration's first rung
and, once promoted, the state it returned at the rung below; ``budget`` is the total to
reach. The states stay on the coordinator (with the round's work), so the loss of the worker
that made one costs nothing; they are dropped once their configuration cannot be promoted.
"""

from __future__ import annotations

import json
import pickle

import numpy as np
import pyarrow as pa
import pytest

from orchestrator import Float, tune
from orchestrator.errors import SweepInterrupted
from orchestrator.execution.serial import SerialExecutor
from orchestrator.loop.round_work import RoundWork
from orchestrator.search.fidelity import Budget
from tests.objectives import DiesOnceContinuing, continuing_bowl, restarting_bowl
from workers.evaluate import evaluate_shard
from workers.state import decode_state, encode_state, takes_state

SPACE = {"x": Float(0.0, 1.0)}
SAME = ["round", "trial_id", "x", "rung", "budget", "score", "status"]


def run(tmp_path, name, objective, **kwargs):
    kwargs.setdefault("executor", SerialExecutor(objective, param_names=["x"], shard_size=3))
    return tune(
        objective,
        SPACE,
        mode="min",
        rounds=3,
        samples_per_round=9,
        seed=1,
        budget=(1, 9),
        sampler="random",
        run_dir=tmp_path / name,
        **kwargs,
    )


def rows(result, columns=SAME):
    return result.table.select(columns).sort_by("trial_id").to_pylist()


def test_a_promoted_configuration_continues_where_its_rung_below_stopped(tmp_path):
    result = run(tmp_path, "continue", continuing_bowl)
    table = result.table.to_pylist()
    by_config = {}
    for r in table:
        by_config.setdefault((r["round"], r["config_id"]), []).append(r)
    promoted = [rs for rs in by_config.values() if len(rs) > 1]
    assert promoted, "no configuration was promoted: nothing to test"
    for rs in by_config.values():
        rs.sort(key=lambda r: r["rung"])
        assert rs[0]["continued"] is False and rs[0]["trained"] == rs[0]["budget"]
        for below, above in zip(rs, rs[1:]):
            assert above["continued"] is True
            assert above["trained"] == above["budget"] - below["budget"]  # only the missing
    assert "__state__" not in result.table.column_names  # states are never stored


def test_continuing_scores_like_restarting_and_trains_less(tmp_path):
    cont = run(tmp_path, "continue", continuing_bowl)
    restart = run(tmp_path, "restart", restarting_bowl)
    assert rows(cont) == rows(restart)  # the objective is deterministic in (config, budget)
    assert "continued" not in restart.table.column_names  # a plain objective is unchanged
    trained_c = sum(cont.table.column("trained").to_pylist())
    trained_r = sum(restart.table.column("trained").to_pylist())
    assert trained_c < trained_r
    meta = json.loads((tmp_path / "continue" / "run.json").read_text())
    assert meta["state_peak_bytes"] > 0
    assert "state_peak_bytes" not in json.loads((tmp_path / "restart" / "run.json").read_text())


def batch(keys, scores, states):
    return pa.table(
        {
            "trial_id": pa.array(keys, pa.int64()),
            "status": ["ok"] * len(keys),
            "score": pa.array(scores, pa.float64()),
            "__state__": pa.array(states, pa.binary()),
        }
    )


def test_states_are_handed_up_and_dropped_once_no_promotion_can_use_them():
    configs = [{"x": i / 10} for i in range(9)]
    work = RoundWork(configs, mode="min", budget=Budget(1, 9), base=1)
    first = work.take(9)
    state = [encode_state({"epochs": 1, "i": i}) for i in range(9)]
    work.record(batch([it.key for it in first[:8]], [float(i) for i in range(8)], state[:8]))
    # 0 and 1 are promoted already (one result outstanding); 3..7 have 3 ahead of them and
    # can never be: their states go now, not when the rung completes
    assert sorted(work.take_released()) == [it.key for it in first[3:8]]
    assert work.peak_state_bytes == sum(map(len, state[:3]))
    work.record(batch([first[8].key], [8.0], [state[8]]))  # rung 0 complete: 2 promoted too
    assert work.take_released() == [first[8].key]
    second = work.take(9)
    assert [it.index for it in second] == [0, 1, 2]
    assert [decode_state(it.state)["i"] for it in second] == [0, 1, 2]
    assert not work._states  # the 3 promoted states travel with their items
    top = encode_state({"epochs": 3})
    work.record(batch([it.key for it in second], [0.0, 1.0, 2.0], [top] * 3))
    third = work.take(9)
    assert [it.index for it in third] == [0] and decode_state(third[0].state) == {"epochs": 3}
    assert not work._states
    assert sorted(work.take_released()) == [it.key for it in first[:3]] + [
        second[1].key,
        second[2].key,
    ]
    work.record(batch([third[0].key], [0.0], [encode_state({"epochs": 9})]))
    assert work.finished()
    assert not work._states and all(it.state is None for it in work.items.values())


def first_rung(objective):
    """One evaluation of a continuing objective at its first rung (no state yet)."""
    return evaluate_shard(
        objective,
        shard_id=0,
        trial_ids=[0],
        configs=[{"x": 0.5}],
        worker="w",
        budgets=[1.0],
        states=[None],
    )


def test_a_state_that_cannot_be_stored_fails_its_row_with_the_reason():
    def objective(config, budget, state):
        return {"score": 1.0, "state": {"model": object()}}

    out = first_rung(objective).to_pylist()[0]
    assert out["status"] == "failed"
    assert "numpy cannot store without pickle" in out["error"]


def test_an_unreadable_state_restarts_the_evaluation_and_says_so():
    seen = []

    def objective(config, budget, state):
        seen.append(state)
        return 1.0

    out = evaluate_shard(
        objective,
        shard_id=0,
        trial_ids=[0, 1],
        configs=[{"x": 0.5}] * 2,
        worker="w",
        budgets=[3.0, 3.0],
        states=[b"garbage", encode_state(b"weights")],
    ).to_pylist()
    assert seen == [None, b"weights"]
    assert [r["continued"] for r in out] == [False, True]


def test_which_objectives_continue():
    assert takes_state(continuing_bowl)
    assert takes_state(lambda config, budget, state=None: 0)
    assert takes_state(DiesOnceContinuing("m"))
    assert not takes_state(restarting_bowl)
    assert not takes_state(lambda config, budget=1: 0)


def interrupted(tmp_path, name):
    """A run stopped inside round 1, after some promotions: its partial commits and states
    are on disk."""
    polls = []

    def should_stop():
        polls.append(1)
        return len(polls) > 7

    with pytest.raises(SweepInterrupted):
        run(tmp_path, name, continuing_bowl, should_stop=should_stop)
    states = list((tmp_path / name / "trials" / "_states").glob("round-*/*.state"))
    assert states, "the stop came before any state was kept: nothing to test"
    return states


def test_a_resumed_run_continues_from_the_kept_states_and_equals_the_uninterrupted(tmp_path):
    reference = run(tmp_path, "ref", continuing_bowl)
    interrupted(tmp_path, "run")
    resumed = run(tmp_path, "run", continuing_bowl, resume=True)
    full = [*SAME, "continued", "trained"]
    assert rows(resumed, full) == rows(reference, full)
    assert not list((tmp_path / "run" / "trials" / "_states").glob("round-*/*"))  # all freed


def test_a_resumed_run_restarts_what_lost_its_state_and_says_so(tmp_path):
    reference = run(tmp_path, "ref", continuing_bowl)
    for path in interrupted(tmp_path, "run"):
        path.unlink()  # lost with the disk they were on
    resumed = run(tmp_path, "run", continuing_bowl, resume=True)
    assert rows(resumed) == rows(reference)  # the scores depend on (config, budget) only
    restarted = [r for r in resumed.table.to_pylist() if r["rung"] > 0 and not r["continued"]]
    assert restarted, "every promotion after the resume found its state: nothing to test"
    for r in restarted:  # a restart trains the whole budget, and the row says so
        assert r["trained"] == r["budget"]


@pytest.mark.ray
def test_the_worker_holding_a_continued_trial_dies_and_it_still_continues(ray_cluster, tmp_path):
    marker = tmp_path / "died"
    result = tune(
        DiesOnceContinuing(str(marker)),
        SPACE,
        mode="min",
        rounds=2,
        samples_per_round=9,
        seed=1,
        budget=(1, 9),
        sampler="random",
        workers=2,
        run_dir=tmp_path / "run",
    )
    assert marker.exists(), "no worker died: nothing to test"
    table = result.table.to_pylist()
    keys = [(r["round"], r["config_id"], r["rung"]) for r in table]
    assert len(keys) == len(set(keys))  # exactly one row per configuration and rung
    assert all(r["status"] == "ok" for r in table)
    # the state lives on the coordinator: the re-run continues, it does not restart
    assert all(r["continued"] for r in table if r["rung"] > 0)


def tuning_data():
    from sklearn.datasets import load_breast_cancer

    from workers.estimator import TuningData

    X, y = load_breast_cancer(return_X_y=True)
    order = np.random.default_rng(0).permutation(len(y))
    folds = ((order[:300], order[300:]),)
    return TuningData(X, y, folds, np.arange(len(y)))


@pytest.mark.parametrize(
    ("estimator", "param", "mode"),
    [
        ("sklearn.ensemble.RandomForestClassifier", "n_estimators", "total"),
        ("sklearn.ensemble.HistGradientBoostingClassifier", "max_iter", "total"),
        ("sklearn.neural_network.MLPClassifier", "max_iter", "increment"),
        ("sklearn.linear_model.SGDClassifier", "max_iter", "increment"),
        ("sklearn.svm.SVC", "max_iter", None),  # no warm_start: restarts
        ("sklearn.ensemble.RandomForestClassifier", "rows", None),
    ],
)
def test_which_estimators_continue(estimator, param, mode):
    import importlib

    from workers.estimator import continuation

    module, name = estimator.rsplit(".", 1)
    template = getattr(importlib.import_module(module), name)()
    assert continuation(template, param) == mode


def test_a_pipeline_continues_through_its_last_step():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from workers.estimator import continuation

    pipe = Pipeline([("scale", StandardScaler()), ("model", RandomForestClassifier())])
    assert continuation(pipe, "n_estimators", "model__") == "total"


@pytest.mark.parametrize(
    ("template", "param"),
    [
        ("forest", "n_estimators"),
        ("boosting", "max_iter"),
    ],
)
def test_a_continued_estimator_scores_as_one_fitted_at_the_total_budget(template, param):
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier

    from workers.estimator import EstimatorObjective

    model = {
        "forest": RandomForestClassifier(random_state=0, max_features=3),
        "boosting": HistGradientBoostingClassifier(random_state=0, early_stopping=False),
    }[template]
    objective = EstimatorObjective(model, "neg_log_loss", budget_param=param)
    bound = objective.bind(tuning_data())
    assert takes_state(bound)
    low = bound({}, 5, None)
    high = bound({}, 15, low["state"])
    fresh = bound({}, 15, None)
    assert (low["trained"], high["trained"], fresh["trained"]) == (5, 10, 15)
    assert high["score"] == pytest.approx(fresh["score"], rel=1e-9)


def test_an_mlp_trains_only_the_missing_iterations():
    from sklearn.neural_network import MLPClassifier

    from workers.estimator import EstimatorObjective

    objective = EstimatorObjective(
        MLPClassifier(hidden_layer_sizes=(8,), random_state=0), "accuracy", budget_param="max_iter"
    )
    bound = objective.bind(tuning_data())
    low = bound({}, 3, None)
    high = bound({}, 9, low["state"])
    fitted = pickle.loads(high["state"])["fitted"][0]
    assert high["trained"] == 6
    # the weights went on from the 3 epochs below: 3 + 6 epochs in its loss curve, not 9
    # from scratch (MLP's n_iter_ counts the last fit's epochs only)
    assert fitted.n_iter_ == 6 and len(fitted.loss_curve_) == 9


def test_an_estimator_that_cannot_warm_start_takes_no_state():
    from sklearn.svm import SVC

    from workers.estimator import EstimatorObjective

    bound = EstimatorObjective(SVC(), "accuracy", budget_param="max_iter").bind(tuning_data())
    assert not takes_state(bound)


def test_sweep_show_says_how_promotions_went_on(tmp_path, capsys):
    from orchestrator.cli.commands import main

    result = run(tmp_path, "continue", continuing_bowl)
    capsys.readouterr()
    assert main(["show", str(tmp_path / "continue")]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("promotions"))
    promoted = sum(1 for r in result.table.column("rung").to_pylist() if r)
    assert promoted and f"{promoted} of {promoted} promoted evaluations continued" in line
    assert "from the state the rung below returned" in line


def test_any_name_survives_a_state_dict():
    state = {"file": np.arange(3), "allow_pickle": 1.5, "weights": [[1.0, 2.0]]}
    back = decode_state(encode_state(state))
    assert set(back) == set(state) and back["allow_pickle"] == 1.5
    assert back["file"].tolist() == [0, 1, 2] and back["weights"].tolist() == [[1.0, 2.0]]


def test_only_states_something_can_continue_from_are_written(tmp_path, monkeypatch):
    from orchestrator.data.run_store import RunStore

    written = []
    original = RunStore.write_state

    def spy(self, round_index, work, key, data):
        written.append((round_index, key))
        original(self, round_index, work, key, data)

    monkeypatch.setattr(RunStore, "write_state", spy)
    monkeypatch.setenv("SWEEP_COMMIT_EVERY_S", "0")  # a commit after every shard
    result = run(tmp_path, "run", continuing_bowl)
    table = result.table.to_pylist()
    rungs = {r["round"]: max(x["rung"] for x in table if x["round"] == r["round"]) for r in table}
    n = 9
    assert written
    for round_index, key in written:  # never a state of a round's top rung
        assert key // n < rungs[round_index]
    # fewer than every lower-rung evaluation: most were known to be out before a commit
    lower = sum(1 for r in table if r["rung"] < rungs[r["round"]])
    assert len(written) < lower


def test_a_pickle_in_the_state_folder_is_never_loaded(tmp_path):
    from orchestrator.data.run_store import RunStore
    from workers.state import MemoryOnly

    store = RunStore.create(tmp_path / "run", {"name": "x"})
    store.write_state(0, "f" * 32, 3, encode_state(b"weights"))
    store.write_state(0, "f" * 32, 4, encode_state(MemoryOnly(pickle.dumps(object()))))
    assert store.load_states(0, "f" * 32) == {3: encode_state(b"weights")}


def test_a_round_keeps_no_reference_to_the_message_that_brought_its_states(tmp_path):
    import gc
    import weakref

    from orchestrator.data.run_store import RunStore
    from orchestrator.loop.coordinator import _OpenRound, _RunContext
    from workers.evaluate import batch_from_bytes, batch_to_bytes

    def objective(config, budget, state):
        return {"score": 1.0, "state": b"x" * 5_000_000}

    shard = first_rung(objective)
    message = np.frombuffer(batch_to_bytes(shard), dtype=np.uint8).copy()  # as Ray hands it
    alive = weakref.ref(message)
    work = RoundWork([{"x": 0.5}] * 3, mode="min", budget=Budget(1, 9), base=1)
    store = RunStore.create(tmp_path / "run", {"name": "x"})
    opened = _OpenRound(_RunContext(store, "s"), 0, work, [])
    batch = batch_from_bytes(message)
    del message
    work.record(batch)
    opened.on_batch(batch)
    del batch
    gc.collect()
    assert alive() is None  # the rows kept for the commit are copies
    assert opened.batches[0].num_rows == 1 and "__state__" not in opened.batches[0].schema.names
