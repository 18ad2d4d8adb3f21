"""Importance: on a function where only 2 of 6 parameters matter, those 2 rank first."""

import math

from orchestrator import Choice, Float, Int, TuneResult, tune
from orchestrator.execution.serial import SerialExecutor
from orchestrator.search.importance import format_importance, importance
from orchestrator.search.space import SearchSpace

SPACE = {
    "lr": Float(1e-5, 1e-1, log=True),
    "depth": Int(1, 12),
    "a": Float(0, 1),
    "b": Float(0, 1),
    "c": Choice(["x", "y", "z"]),
    "d": Int(1, 100, log=True),
}


def two_matter(config):
    """Only lr (log scale) and depth move the score."""
    return (math.log10(config["lr"]) + 3) ** 2 + 0.2 * (config["depth"] - 6) ** 2


def random_search(tmp_path, objective=two_matter, n=160, name="r"):
    return tune(
        objective,
        SPACE,
        mode="min",
        rounds=1,
        samples_per_round=n,
        seed=0,
        narrowing="none",
        run_dir=tmp_path / name,
        executor=SerialExecutor(objective, param_names=list(SPACE)),
    )


def test_the_two_parameters_that_matter_rank_first(tmp_path):
    shares = random_search(tmp_path).importance()
    assert set(list(shares)[:2]) == {"lr", "depth"}
    assert abs(sum(shares.values()) - 1) < 1e-9
    assert shares["lr"] + shares["depth"] > 0.8
    assert "lr" in format_importance(shares)


def test_deterministic_and_needs_enough_trials(tmp_path):
    result, again = random_search(tmp_path, name="a"), random_search(tmp_path, name="b")
    shares = result.importance()
    assert shares == again.importance()  # two independent runs: the same shares
    assert shares == TuneResult.load(result.run_dir).importance()  # and read back from disk
    few = result.table.slice(0, 5)
    assert importance(few, SearchSpace(SPACE)) is None
