"""Staged tuning: explicit stages and `stages: auto` fix parameters, and say so."""

import pytest

from orchestrator import Choice, Float, parse_config, tune
from orchestrator.errors import ConfigError
from orchestrator.execution.serial import SerialExecutor
from orchestrator.search.stages import apply_stages
from tests.objectives import shifted_bowl
from tests.test_importance import SPACE as SIX
from tests.test_importance import two_matter

SPACE = {"x": Float(0.0, 1.0), "lr": Float(1e-5, 1e-1, log=True), "act": Choice(["a", "b"])}


def run(tmp_path, objective, space, stages, rounds=4, n=24):
    return tune(
        objective,
        space,
        mode="min",
        rounds=rounds,
        samples_per_round=n,
        seed=1,
        stages=stages,
        run_dir=tmp_path / "r",
        executor=SerialExecutor(objective, param_names=list(space)),
    )


def rows_of(result, round_index):
    return [r for r in result.table.to_pylist() if r["round"] == round_index]


def test_explicit_stages_fix_then_release(tmp_path):
    stages = [
        {"params": ["x"], "rounds": 2, "fixed": {"lr": 1e-3, "act": "b"}},
        {"params": ["lr", "act"], "rounds": 2},
    ]
    result = run(tmp_path, shifted_bowl, SPACE, stages)
    for r in (0, 1):
        rows = rows_of(result, r)
        assert {row["lr"] for row in rows} == {1e-3} and {row["act"] for row in rows} == {"b"}
        assert len({row["x"] for row in rows}) == len(rows)
    best_x = min((row for r in (0, 1) for row in rows_of(result, r)), key=lambda row: row["score"])[
        "x"
    ]
    for r in (2, 3):
        rows = rows_of(result, r)
        assert {row["x"] for row in rows} == {best_x}
        assert len({row["lr"] for row in rows}) == len(rows)
    decisions = [(d["round"], d["parameter"], d["action"]) for d in result.ranges.to_pylist()]
    assert (0, "lr", "freeze") in decisions and (2, "x", "freeze") in decisions
    assert (2, "lr", "release") in decisions
    reasons = {d["reason"] for d in result.ranges.to_pylist() if d["action"] == "freeze"}
    assert any("stated in the stage" in r for r in reasons) and any(
        "best value so far" in r for r in reasons
    )


def test_auto_stages_freeze_the_unimportant_parameters(tmp_path):
    result = run(
        tmp_path, two_matter, SIX, {"auto": {"after": 2, "threshold": 0.05}}, rounds=5, n=40
    )
    freezes = [d for d in result.ranges.to_pylist() if d["action"] == "freeze"]
    frozen = {d["parameter"] for d in freezes}
    assert frozen and not frozen & {"lr", "depth"}
    assert all(d["round"] == 2 and "importance" in d["reason"] for d in freezes)
    for name in frozen:
        later = {row[name] for r in (2, 3, 4) for row in rows_of(result, r)}
        assert len(later) == 1
    assert len({row["lr"] for row in rows_of(result, 3)}) > 1


@pytest.mark.parametrize(
    "stages, message",
    [
        ([{"params": ["nope"], "rounds": 1}], "unknown parameter 'nope'"),
        ([{"params": ["x"], "rounds": 0}], r"stages\[0\]\.rounds: must be >= 1, got 0"),
        ("sometimes", "expected 'auto' or a list"),
        ({"auto": {"afterr": 2}}, "unknown key 'afterr'"),
    ],
)
def test_stage_config_errors(stages, message):
    base = {
        "objective": "a:b",
        "mode": "min",
        "space": {"x": {"type": "float", "low": 0, "high": 1}},
        "stages": stages,
    }
    with pytest.raises(ConfigError, match=message):
        parse_config(base)


def test_freezing_decisions_are_values_and_change_nothing_given():
    """apply_stages and apply_edit return what is held next; the held state passed in (and
    the proposal) stay as they were, so a decision can be replayed or compared."""
    from orchestrator.search.edits import Edit, apply_edit
    from orchestrator.search.narrowing import Held, Proposal
    from orchestrator.search.space import SearchSpace
    from orchestrator.search.stages import parse_stages

    space = SearchSpace(SPACE)
    stages = parse_stages(
        [
            {"params": ["x"], "rounds": 1, "fixed": {"lr": 1e-3, "act": "b"}},
            {"params": ["lr", "act"], "rounds": 1},
        ],
        space,
    )
    start = Held()
    proposal, held = apply_stages(
        stages,
        round_index=0,
        proposal=Proposal(space, ()),
        history=None,
        original=space,
        mode="min",
        held=start,
    )
    assert start == Held() and dict(held.values) == {"lr": 1e-3, "act": "b"}
    assert proposal.space["act"].values == ("b",)
    before = Held(dict(held.values), dict(held.ranges))
    edited, after = apply_edit(Edit(1, release=("act",)), proposal, held)
    assert held == before  # the input is untouched
    assert dict(after.values) == {"lr": 1e-3} and edited.space["act"].values == ("a", "b")
    again, same = apply_edit(Edit(1, release=("act",)), proposal, held)
    assert (again, same) == (edited, after)  # the same decision from the same inputs


def kernel_bowl(config):
    """linear is best; 'gamma' (active for rbf) matters little, 'noise' not at all."""
    loss = (config["x"] - 0.3) ** 2
    if config["kernel"] == "rbf":
        loss += 0.5 + 0.001 * config["gamma"]
    return loss


COND = {
    "x": Float(0.0, 1.0),
    "kernel": Choice(["linear", "rbf"]),
    "gamma": Float(0.0, 1.0, when={"kernel": "rbf"}),
}


def test_stages_freeze_a_conditional_parameter_at_its_best_active_value(tmp_path):
    # the best trial is linear, where gamma is inactive: a stage holding gamma fixed takes
    # its value from the best trial where gamma was active (it failed with a KeyError)
    stages = [{"params": ["x", "kernel"], "rounds": 2}, {"params": ["gamma"], "rounds": 2}]
    result = run(tmp_path, kernel_bowl, COND, stages)
    rbf = [r for r in result.table.to_pylist() if r["kernel"] == "rbf" and r["round"] == 0]
    assert rbf  # round 0 holds gamma fixed: no trial yet, the middle of its range
    assert {r["gamma"] for r in rbf} == {0.5}
    freezes = {
        (d["round"], d["parameter"]): d["reason"]
        for d in result.ranges.to_pylist()
        if d["action"] == "freeze"
    }
    assert "best value so far" in freezes[(2, "x")]
    auto = run(tmp_path / "auto", kernel_bowl, COND, {"auto": {"after": 2, "threshold": 0.5}})
    frozen = {d["parameter"] for d in auto.ranges.to_pylist() if d["action"] == "freeze"}
    assert "gamma" in frozen or "x" in frozen
