"""Conditional parameters: a parameter active only under a condition on a choice."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from orchestrator import Choice, EliteBox, Float, Int, SearchSpace, tune
from orchestrator.errors import ConfigError, SweepInterrupted
from orchestrator.execution.serial import SerialExecutor
from orchestrator.search.edits import Edit, check_edit
from orchestrator.search.features import encode
from orchestrator.search.importance import importance
from orchestrator.search.narrowing import NarrowingContext
from orchestrator.search.samplers.base import columns_to_rows
from orchestrator.search.samplers.grid import grid_size
from orchestrator.search.samplers.registry import sample_round
from orchestrator.search.space import INACTIVE
from orchestrator.search.specs import parse_space, space_to_dict
from orchestrator.search.stopping import converged
from orchestrator.search.trials import config_at, decode_column, encode_column
from tests.objectives import conditional_bowl

SPACE = SearchSpace(
    {
        "kernel": Choice(["linear", "rbf", "poly"]),
        "c": Float(0.0, 1.0),
        "gamma": Float(1e-4, 10.0, log=True, when={"kernel": ["rbf", "poly"]}),
        "degree": Choice([2, 3, 4, 5], when={"kernel": "poly"}),
        "coef": Float(0.0, 1.0, when={"degree": 3}),
    }
)


def expected_keys(config):
    keys = {"kernel", "c"}
    if config["kernel"] in ("rbf", "poly"):
        keys.add("gamma")
    if config["kernel"] == "poly":
        keys.add("degree")
        if config["degree"] == 3:
            keys.add("coef")
    return keys


# -- the space ---------------------------------------------------------------------------
def test_yaml_form_parses_and_writes_back_the_same():
    spec = {
        "kernel": {"type": "choice", "values": ["linear", "rbf", "poly"]},
        "gamma": {
            "type": "float",
            "low": 1e-4,
            "high": 10,
            "log": True,
            "when": {"kernel": ["rbf", "poly"]},
        },
        "degree": {"type": "int", "low": 2, "high": 5, "when": {"kernel": "poly"}},
    }
    space = parse_space(spec)
    assert space["degree"].when == (("kernel", ("poly",)),)
    assert space["gamma"].condition() == "kernel in {rbf, poly}"
    written = space_to_dict(space)
    assert written["degree"]["when"] == {"kernel": "poly"}
    assert written["gamma"]["when"] == {"kernel": ["rbf", "poly"]}
    assert parse_space(written) == space
    assert "when" not in written["kernel"]


@pytest.mark.parametrize(
    "dims, message",
    [
        (
            lambda: {"a": Choice([1, 2], when={"b": 1}), "b": Choice([1, 2], when={"a": 1})},
            r"conditions form a cycle: a -> b -> a",
        ),
        (lambda: {"a": Choice([1, 2], when={"a": 1})}, "names itself"),
        (
            lambda: {"a": Float(0, 1), "b": Float(0, 1, when={"a": 1})},
            "which is a float range; a condition must name a choice parameter",
        ),
        (
            lambda: {"kernel": Choice(["rbf"]), "d": Int(1, 3, when={"kernel": "poly"})},
            r"names 'poly', not among 'kernel''s choices",
        ),
        (
            lambda: {"kernel": Choice(["rbf"]), "d": Int(1, 3, when={"kernl": "rbf"})},
            r"not a parameter; did you mean 'kernel'",
        ),
        (lambda: {"kernel": Choice(["rbf"]), "d": Int(1, 3, when="kernel")}, "must map a choice"),
        (lambda: {"kernel": Choice(["rbf"]), "d": Int(1, 3, when={"kernel": []})}, "lists no"),
    ],
)
def test_bad_conditions_are_refused_with_a_clear_message(dims, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace(dims())


def test_a_config_with_a_bad_condition_says_where():
    spec = {
        "kernel": {"type": "choice", "values": ["rbf"]},
        "degree": {"type": "int", "low": 2, "high": 5, "when": {"kernel": "ploy"}},
    }
    with pytest.raises(ConfigError, match=r"^space: parameter 'degree'.*'ploy'"):
        parse_space(spec)


def test_a_narrowed_space_keeps_a_condition_on_a_pruned_value_and_pickles():
    narrowed = SPACE.replace(kernel=Choice(["linear", "rbf"]))
    assert narrowed["degree"].when == SPACE["degree"].when
    assert "degree" not in narrowed.reachable() and "coef" not in narrowed.reachable()
    assert "gamma" in narrowed.reachable()
    assert pickle.loads(pickle.dumps(narrowed)) == narrowed
    assert pickle.loads(pickle.dumps(INACTIVE)) is INACTIVE


def test_active_follows_nested_conditions():
    assert SPACE.prune({"kernel": "linear", "c": 0.1, "gamma": 1.0, "degree": 3, "coef": 0.2}) == {
        "kernel": "linear",
        "c": 0.1,
    }
    assert SPACE.prune({"kernel": "poly", "c": 0.1, "gamma": 1.0, "degree": 4, "coef": 0.2}) == {
        "kernel": "poly",
        "c": 0.1,
        "gamma": 1.0,
        "degree": 4,
    }
    full = {"kernel": "poly", "c": 0.1, "gamma": 1.0, "degree": 3, "coef": 0.2}
    assert SPACE.prune(full) == full and SPACE.contains(full)
    assert not SPACE.contains({**full, "kernel": "rbf"})  # carries inactive parameters


# -- sampling ----------------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["random", "sobol"])
def test_sampled_configurations_hold_exactly_their_active_parameters(sampler):
    rows = columns_to_rows(sample_round(SPACE, 200, seed=3, round_index=0, sampler=sampler))
    assert all(set(row) == expected_keys(row) for row in rows)
    kernels = {row["kernel"] for row in rows}
    assert kernels == {"linear", "rbf", "poly"}
    assert any("coef" in row for row in rows)  # the nested one is drawn too
    again = columns_to_rows(sample_round(SPACE, 200, seed=3, round_index=0, sampler=sampler))
    assert again == rows


def test_the_grid_lays_only_valid_combinations():
    space = SearchSpace(
        {
            "kernel": Choice(["linear", "poly"]),
            "degree": Int(2, 4, when={"kernel": "poly"}),
            "c": Float(0.0, 1.0),
        }
    )
    # 5 points: linear has 5 values of c; poly 3 degrees (2, 3, 4) x 5 values of c
    assert grid_size(space, 5) == 5 + 15
    rows = columns_to_rows(sample_round(space, 20, seed=0, round_index=0, sampler="grid"))
    assert len(rows) == 20 and len({tuple(sorted(r.items())) for r in rows}) == 20
    assert sum("degree" not in r for r in rows) == 5
    with pytest.raises(ValueError, match="20 valid configurations"):
        sample_round(space, 19, seed=0, round_index=0, sampler="grid")


def test_lists_alone_are_drawn_over_valid_combinations_without_replacement():
    space = SearchSpace(
        {"kernel": Choice(["linear", "poly"]), "degree": Choice([2, 3], when={"kernel": "poly"})}
    )
    rows = columns_to_rows(sample_round(space, 3, seed=1, round_index=0))
    assert sorted(map(str, rows)) == sorted(
        map(
            str,
            [
                {"kernel": "linear"},
                {"kernel": "poly", "degree": 2},
                {"kernel": "poly", "degree": 3},
            ],
        )
    )


# -- the trial table -------------------------------------------------------------------
def test_inactive_is_null_and_a_none_choice_is_not():
    dim = Choice([None, "balanced"], when={"kernel": "rbf"}, name="weight")
    column = encode_column(dim, [None, INACTIVE, "balanced"])
    assert column.to_pylist() == ["null", None, '"balanced"']
    assert decode_column(dim, column) == [None, INACTIVE, "balanced"]
    space = SearchSpace({"kernel": Choice(["rbf", "linear"]), "weight": dim})
    table = pa.table({"kernel": ["rbf", "linear"], "weight": encode_column(dim, [None, INACTIVE])})
    assert config_at(table, space, 0) == {"kernel": "rbf", "weight": None}
    assert config_at(table, space, 1) == {"kernel": "linear"}


# -- narrowing ---------------------------------------------------------------------------
def _history(space, configs, scores):
    cols = {
        "trial_id": pa.array(range(len(scores)), type=pa.int64()),
        "status": pa.array(["ok"] * len(scores)),
        "score": pa.array(scores, type=pa.float64()),
    }
    for name, dim in space.items():
        cols[name] = encode_column(dim, [c.get(name, INACTIVE) for c in configs])
    return pa.table(cols)


def _context(space, n=20):
    return NarrowingContext(original=space, mode="min", round_index=0, samples_per_round=n)


def test_a_conditional_range_is_decided_by_the_trials_where_it_was_active():
    space = SearchSpace(
        {"kernel": Choice(["linear", "poly"]), "degree_x": Float(0.0, 1.0, when={"kernel": "poly"})}
    )
    rng = np.random.default_rng(0)
    configs, scores = [], []
    for i in range(40):  # the best trials are all linear (degree_x inactive)
        configs.append({"kernel": "linear"})
        scores.append(0.001 * i)
    for x in rng.random(20):  # among poly trials, x near 0.6 is best
        configs.append({"kernel": "poly", "degree_x": float(x)})
        scores.append(1.0 + (x - 0.6) ** 2)
    proposal = EliteBox().propose(space, _history(space, configs, scores), _context(space))
    new = proposal.space["degree_x"]
    assert new.low < 0.6 < new.high and new.high - new.low <= 0.7 + 1e-9
    decision = {d.parameter: d for d in proposal.decisions}["degree_x"]
    assert decision.action == "shrink" and "of 20 ok trials" in decision.reason


def test_a_conditional_range_with_too_few_active_trials_is_held():
    space = SearchSpace(
        {"kernel": Choice(["linear", "poly"]), "x": Float(0.0, 1.0, when={"kernel": "poly"})}
    )
    configs = [{"kernel": "linear"}] * 20 + [
        {"kernel": "poly", "x": 0.3},
        {"kernel": "poly", "x": 0.9},
    ]
    proposal = EliteBox().propose(space, _history(space, configs, list(range(22))), _context(space))
    assert proposal.space["x"] == space["x"]
    decision = {d.parameter: d for d in proposal.decisions}["x"]
    assert decision.action == "hold" and "active in only 2 ok trials" in decision.reason


def test_an_unreachable_range_does_not_block_convergence():
    original = SearchSpace(
        {
            "kernel": Choice(["linear", "poly"]),
            "c": Float(0.0, 1.0),
            "x": Float(0.0, 1.0, when={"kernel": "poly"}),
        }
    )
    narrow_c = original.replace(c=Float(0.5, 0.51))
    assert not converged(narrow_c, original, 0.02)  # x can still be active, and is wide
    pruned = narrow_c.replace(kernel=Choice(["linear"]))
    assert converged(pruned, original, 0.02)


# -- the model's inputs ------------------------------------------------------------------
def test_features_mark_inactive_values_without_inventing_them():
    space = SearchSpace(
        {
            "kernel": Choice(["linear", "poly"]),
            "x": Float(0.0, 10.0, when={"kernel": "poly"}),
            "d": Choice(["a", "b"], when={"kernel": "poly"}),
        }
    )
    columns = {"kernel": ["linear", "poly"], "x": [INACTIVE, 2.0], "d": [INACTIVE, "b"]}
    x, groups = encode(space, columns, normalise=True)
    assert not np.isnan(x).any()
    assert groups == [[0, 1], [2, 3], [4, 5]]
    np.testing.assert_allclose(x[0], [1, 0, 0, 0.5, 0, 0])  # x: indicator 0, value neutral
    np.testing.assert_allclose(x[1], [0, 1, 1, 0.2, 0, 1])
    # a sampled candidate whose drawn value is inactive is encoded as inactive too
    drawn = {"kernel": ["linear"], "x": [9.0], "d": ["a"]}
    np.testing.assert_allclose(encode(space, drawn, normalise=True)[0][0], x[0])


def test_importance_on_a_conditional_run():
    rows = columns_to_rows(sample_round(SPACE, 60, seed=0, round_index=0))
    table = _history(SPACE, rows, [conditional_bowl(r) for r in rows])
    shares = importance(table, SPACE)
    assert shares is not None and set(shares) == set(SPACE)
    assert abs(sum(shares.values()) - 1) < 1e-9 and all(np.isfinite(list(shares.values())))


# -- edits ----------------------------------------------------------------------------------
def test_setting_a_parameter_whose_condition_cannot_hold_is_refused():
    space = SPACE.replace(kernel=Choice(["linear", "rbf"]))
    with pytest.raises(ConfigError, match=r"'degree' is used only when kernel=poly"):
        check_edit(Edit(1, freeze={"degree": 3}), space, SPACE)
    with pytest.raises(ConfigError, match=r"'gamma' is used only when"):
        check_edit(Edit(1, freeze={"kernel": "linear", "gamma": 0.1}), SPACE, SPACE)
    check_edit(Edit(1, freeze={"kernel": "poly", "degree": 3}), SPACE, SPACE)  # fine


# -- a whole sweep -----------------------------------------------------------------------
@pytest.mark.parametrize("sampler", ["random", "guided"])
def test_a_sweep_hands_each_objective_call_only_its_active_parameters(tmp_path, sampler):
    result = tune(
        conditional_bowl,
        SPACE,
        mode="min",
        rounds=5,
        samples_per_round=16,
        seed=2,
        sampler=sampler,
        executor=SerialExecutor(conditional_bowl, param_names=list(SPACE)),
        run_dir=tmp_path / "run",
    )
    table = result.table
    assert table.num_rows == 80
    assert set(table.column("status").to_pylist()) == {"ok"}  # the objective checks its keys
    kernels = table.column("kernel").to_pylist()
    for name in ("gamma", "degree"):
        nulls = [v is None for v in table.column(name).to_pylist()]
        want = [k not in SPACE[name].when[0][1] for k in kernels]
        assert nulls == want
    files = sorted((tmp_path / "run" / "trials").rglob("*.parquet"))
    assert files
    for path in files:  # on disk: null exactly where the kernel leaves degree inactive
        stored = pq.read_table(path)
        assert [v is None for v in stored.column("degree").to_pylist()] == [
            k != "poly" for k in stored.column("kernel").to_pylist()
        ]
    assert set(result.best_config) == expected_keys(result.best_config)
    assert result.best_score < 0.05
    reread = type(result).load(tmp_path / "run")
    assert reread.best_config == result.best_config
    assert reread.space == SPACE


def test_a_conditional_sweep_resumes_to_the_same_run(tmp_path):
    def run(run_dir, **kw):
        return tune(
            conditional_bowl,
            SPACE,
            mode="min",
            rounds=4,
            samples_per_round=12,
            seed=5,
            executor=SerialExecutor(conditional_bowl, param_names=list(SPACE), shard_size=3),
            run_dir=run_dir,
            **kw,
        )

    whole = run(tmp_path / "whole")
    polls = []
    with pytest.raises(SweepInterrupted):
        run(tmp_path / "part", should_stop=lambda: polls.append(1) or len(polls) > 5)
    resumed = run(tmp_path / "part", resume=True)
    same = ["round", "trial_id", "status", "score", *SPACE]

    def rows(result):
        return result.table.select(same).sort_by("trial_id").to_pylist()

    assert rows(resumed) == rows(whole) and len(rows(whole)) == 48
    assert resumed.final_space == whole.final_space


def test_dataclass_replace_keeps_the_condition():
    dim = Int(2, 5, when={"kernel": "poly"})
    assert dataclasses.replace(dim, name="degree").when == dim.when
    assert dim.with_bounds(3, 4).when == dim.when
