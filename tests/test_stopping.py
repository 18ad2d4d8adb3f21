import pytest

from orchestrator import Choice, Float, Int, SearchSpace, StopRule
from orchestrator.search.stopping import converged, rounds_without_improvement, stop_reason

ORIGINAL = SearchSpace({"x": Float(0, 1), "lr": Float(1e-5, 1e-1, log=True), "n": Int(1, 100)})


def test_converged_needs_every_numeric_range_narrow():
    narrow = SearchSpace(
        {"x": Float(0.5, 0.51), "lr": Float(1e-3, 1.05e-3, log=True), "n": Int(40, 42)}
    )
    assert converged(narrow, ORIGINAL, 0.02)
    assert not converged(narrow.replace(x=Float(0.4, 0.6)), ORIGINAL, 0.02)
    assert not converged(SearchSpace({"a": Choice([1])}), SearchSpace({"a": Choice([1, 2])}), 0.5)


@pytest.mark.parametrize(
    "scores, mode, stale",
    [
        ([3.0, 2.0, 1.0], "min", 0),
        ([1.0, 2.0, 3.0], "min", 2),
        ([1.0, 2.0, 3.0], "max", 0),
        ([None, None], "min", 2),
        ([None, 5.0, 5.0], "max", 1),
    ],
)
def test_rounds_without_improvement(scores, mode, stale):
    assert rounds_without_improvement(scores, mode) == stale


def test_stop_reasons_in_order():
    rule = StopRule(rounds=5, tolerance=0.02, patience=2)
    kw = dict(next_space=ORIGINAL, original=ORIGINAL, mode="min")
    assert (
        stop_reason(rule, rounds_done=5, best_per_round=[1, 1, 1, 1, 1], **kw) == "ran all 5 rounds"
    )
    assert stop_reason(rule, rounds_done=1, best_per_round=[1.0], **kw) is None
    assert "no improvement for 2 rounds" in stop_reason(
        rule, rounds_done=3, best_per_round=[1.0, 2.0, 3.0], **kw
    )
    narrow = SearchSpace({"x": Float(0.5, 0.5), "lr": Float(1e-3, 1e-3, log=True), "n": Int(3, 3)})
    assert "converged" in stop_reason(
        rule, rounds_done=1, best_per_round=[1.0], next_space=narrow, original=ORIGINAL, mode="min"
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rounds": 0}, "rounds: must be >= 1, got 0"),
        ({"rounds": 2, "tolerance": 1.5}, "tolerance"),
        ({"rounds": 2, "patience": 0}, "patience"),
    ],
)
def test_stop_rule_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        StopRule(**kwargs)
