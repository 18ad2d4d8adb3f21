import math

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import Choice, EliteBox, Float, Int, NoNarrowing, SearchSpace
from orchestrator.search.narrowing import NarrowingContext
from orchestrator.search.trials import encode_column


def history(space, configs, scores, statuses=None):
    """A minimal trial table: what narrowing reads (status, score, trial_id, params)."""
    n = len(scores)
    cols = {
        "trial_id": pa.array(range(n), type=pa.int64()),
        "status": pa.array(statuses or ["ok"] * n),
        "score": pa.array(scores, type=pa.float64()),
    }
    for name, dim in space.items():
        cols[name] = encode_column(dim, [c[name] for c in configs])
    return pa.table(cols)


def context(space, mode="min", n=20, previous=None):
    return NarrowingContext(
        original=space, mode=mode, round_index=0, samples_per_round=n, previous=previous
    )


def grid_history(space, f, n=20, seed=0):
    rng = np.random.default_rng(seed)
    configs = [
        {name: dim.sample_from_unit(rng.random(1))[0] for name, dim in space.items()}
        for _ in range(n)
    ]
    return history(space, configs, [f(c) for c in configs])


def test_shrinks_around_an_interior_optimum():
    space = SearchSpace({"x": Float(0.0, 1.0)})
    h = grid_history(space, lambda c: (c["x"] - 0.4) ** 2, n=40)
    proposal = EliteBox().propose(space, h, context(space))
    new = proposal.space["x"]
    assert new.low < 0.4 < new.high
    assert 0.5 - 1e-9 <= new.high - new.low <= 0.7 + 1e-9  # the forced shrink
    assert proposal.decisions[0].action == "shrink"
    assert "width x0." in proposal.decisions[0].reason


def test_the_elite_decides_within_the_shrink_band():
    space = SearchSpace({"x": Float(0.0, 1.0)})
    agreeing = grid_history(space, lambda c: (c["x"] - 0.4) ** 2, n=40)
    two_basins = grid_history(  # the deeper basin inside, so no edge grows
        space, lambda c: min(abs(c["x"] - 0.3), abs(c["x"] - 0.95) + 0.002), n=40, seed=2
    )
    narrow = EliteBox().propose(space, agreeing, context(space)).space["x"]
    wide = EliteBox().propose(space, two_basins, context(space)).space["x"]
    assert narrow.high - narrow.low == pytest.approx(0.5)  # an elite that agrees: halved
    assert wide.high - wide.low == pytest.approx(0.7)  # one over two basins: the slowest shrink


def test_log_range_narrows_in_log_space():
    space = SearchSpace({"lr": Float(1e-6, 1e-1, log=True)})
    h = grid_history(space, lambda c: (math.log10(c["lr"]) + 3) ** 2, n=40)
    new = EliteBox().propose(space, h, context(space)).space["lr"]
    width = math.log10(new.high) - math.log10(new.low)
    assert 0.5 * 5 - 1e-9 <= width <= 0.7 * 5 + 1e-9
    assert new.low < 1e-3 < new.high


def test_grows_past_the_edge_when_the_best_sits_there():
    space = SearchSpace({"x": Float(0.0, 1.0)})
    h = grid_history(space, lambda c: -c["x"], n=30)  # best at the high edge, mode min
    proposal = EliteBox().propose(space, h, context(space))
    assert proposal.space["x"].high == pytest.approx(1.25)  # grows by 25% of the first width
    assert proposal.decisions[0].action == "grow"
    assert "high edge" in proposal.decisions[0].reason


def test_growth_stops_at_hard_limits():
    space = SearchSpace({"x": Float(0.0, 1.0, hard_high=1.1)})
    h = grid_history(space, lambda c: c["x"], n=30, seed=1)
    new = EliteBox().propose(space, h, context(space, mode="max")).space["x"]
    assert new.high == pytest.approx(1.1)
    space = SearchSpace({"x": Float(0.0, 1.0, hard_high=1.0)})
    new = EliteBox().propose(space, h, context(space, mode="max")).space["x"]
    assert new.high == 1.0


def test_no_growth_on_a_side_that_moved_inward_last_round():
    previous = SearchSpace({"x": Float(0.0, 2.0)})
    space = SearchSpace({"x": Float(0.0, 1.0)})  # high moved in from 2.0 to 1.0
    h = grid_history(space, lambda c: -c["x"], n=30)
    new = EliteBox().propose(space, h, context(space, previous=previous)).space["x"]
    assert new.high <= 1.0


def test_mode_max_uses_the_highest_scores():
    space = SearchSpace({"x": Float(0.0, 1.0)})
    h = grid_history(space, lambda c: -((c["x"] - 0.6) ** 2), n=40)
    new = EliteBox().propose(space, h, context(space, mode="max")).space["x"]
    assert new.low < 0.6 < new.high


def test_failed_and_nan_rows_never_enter_the_elite():
    space = SearchSpace({"x": Float(0.0, 1.0)})
    configs = [{"x": x} for x in np.linspace(0, 1, 21)]
    scores = [abs(c["x"] - 0.5) for c in configs]
    statuses = ["ok"] * 21
    for i in (0, 1, 2):  # the trials at x ~ 0 would be 'best' if failures counted
        scores[i], statuses[i] = -100.0, "failed"
    scores[3] = float("nan")
    new = (
        EliteBox()
        .propose(space, history(space, configs, scores, statuses), context(space))
        .space["x"]
    )
    assert new.low < 0.5 < new.high and new.low > 0.0


def test_too_few_ok_trials_hold_the_ranges():
    space = SearchSpace({"x": Float(0.0, 1.0)})
    h = history(space, [{"x": 0.1}, {"x": 0.2}], [1.0, None], ["ok", "failed"])
    proposal = EliteBox().propose(space, h, context(space))
    assert proposal.space == space
    assert proposal.decisions[0].action == "hold"


def test_integers_stay_integers_and_round_outward():
    space = SearchSpace({"n": Int(1, 20)})
    h = grid_history(space, lambda c: (c["n"] - 9) ** 2, n=40)
    new = EliteBox().propose(space, h, context(space)).space["n"]
    assert isinstance(new.low, int) and isinstance(new.high, int)
    assert new.low <= 9 <= new.high and (new.low, new.high) != (1, 20)


def test_choices_never_in_the_elite_are_pruned_but_one_stays():
    space = SearchSpace({"act": Choice(["a", "b", "c"]), "x": Float(0, 1)})
    rng = np.random.default_rng(0)
    configs = [{"act": "abc"[i % 3], "x": float(rng.random())} for i in range(30)]
    scores = [{"a": 0.0, "b": 1.0, "c": 2.0}[c["act"]] + 0.01 * c["x"] for c in configs]
    proposal = EliteBox(prune_after=5).propose(
        space, history(space, configs, scores), context(space)
    )
    assert proposal.space["act"].values == ("a",)
    assert proposal.decisions[0].action == "prune"
    assert "dropped b, c" in proposal.decisions[0].reason


def test_an_edit_that_left_only_losing_choices_keeps_the_best_of_them():
    # `sweep continue --set act=c`: the history's elite is all "a", the range holds "b", "c"
    full = SearchSpace({"act": Choice(["a", "b", "c"]), "x": Float(0, 1)})
    configs = [{"act": "abc"[i % 3], "x": 0.01 * i} for i in range(30)]
    scores = [{"a": 0.0, "b": 2.0, "c": 1.0}[c["act"]] + 0.01 * c["x"] for c in configs]
    edited = SearchSpace({"act": Choice(["b", "c"]), "x": Float(0, 1)})
    proposal = EliteBox(prune_after=5).propose(
        edited, history(full, configs, scores), context(full)
    )
    assert proposal.space["act"].values == ("c",)
    assert "dropped b" in proposal.decisions[0].reason


def test_by_default_a_choice_needs_twelve_ok_trials_before_it_is_dropped():
    space = SearchSpace({"act": Choice(["a", "b", "c"]), "x": Float(0, 1)})

    def proposal(n):
        configs = [{"act": "abc"[i % 3], "x": 0.01 * i} for i in range(n)]
        scores = [{"a": 0.0, "b": 1.0, "c": 2.0}[c["act"]] + 0.01 * c["x"] for c in configs]
        return EliteBox().propose(space, history(space, configs, scores), context(space))

    assert proposal(33).space["act"].values == ("a", "b", "c")  # 11 trials each: kept
    assert proposal(36).space["act"].values == ("a",)  # 12 each: b and c dropped


def test_choice_with_too_few_samples_is_kept():
    space = SearchSpace({"act": Choice(["a", "b"]), "x": Float(0, 1)})
    configs = [{"act": "a", "x": 0.1 * i} for i in range(10)] + [{"act": "b", "x": 0.5}]
    scores = [0.0] * 10 + [5.0]
    proposal = EliteBox(prune_after=3).propose(
        space, history(space, configs, scores), context(space)
    )
    assert proposal.space["act"].values == ("a", "b")


def test_no_narrowing_keeps_everything():
    space = SearchSpace({"x": Float(0.0, 1.0)})
    h = grid_history(space, lambda c: c["x"])
    assert NoNarrowing().propose(space, h, context(space)).space == space


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shrink": (0.8, 0.5)}, "shrink"),
        ({"elite_fraction": 0.0}, "elite_fraction"),
        ({"incumbent_margin": 0.6}, "incumbent_margin"),
        ({"min_ok": 0}, "min_ok"),
    ],
)
def test_rule_settings_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=message):
        EliteBox(**kwargs)


# -- properties --------------------------------------------------------------------------
dims = st.one_of(
    st.builds(
        lambda lo, w, hl, hh: Float(
            lo,
            lo + w,
            hard_low=lo - hl if hl is not None else None,
            hard_high=lo + w + hh if hh is not None else None,
        ),
        st.floats(-100, 100),
        st.floats(1e-3, 100),
        st.none() | st.floats(0, 10),
        st.none() | st.floats(0, 10),
    ),
    st.builds(
        lambda lo, r: Float(lo, lo * r, log=True), st.floats(1e-8, 1e3), st.floats(1.01, 1e6)
    ),
    st.builds(
        lambda lo, w, hl: Int(lo, lo + w, hard_low=hl),
        st.integers(-50, 50),
        st.integers(1, 200),
        st.none() | st.just(-60),
    ),
    st.builds(lambda lo, r: Int(lo, lo * r, log=True), st.integers(1, 100), st.integers(2, 100)),
)


@settings(max_examples=200, deadline=None)
@given(
    dim=dims,
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(3, 40),
    mode=st.sampled_from(["min", "max"]),
    at_edge=st.sampled_from([None, "low", "high"]),
)
def test_properties_never_invert_stay_in_limits_keep_the_best_grow_at_edges(
    dim, seed, n, mode, at_edge
):
    space = SearchSpace({"p": dim})
    rng = np.random.default_rng(seed)
    values = dim.sample_from_unit(rng.random(n))
    scores = rng.normal(size=n).tolist()
    if at_edge is not None:  # put the best trial exactly on a soft edge
        values[0] = dim.low if at_edge == "low" else dim.high
        scores[0] = (min(scores) - 1.0) if mode == "min" else (max(scores) + 1.0)
    h = history(space, [{"p": v} for v in values], scores)
    proposal = EliteBox().propose(space, h, context(space, mode=mode, n=n))
    new = proposal.space["p"]
    best = values[int(np.argmin(scores) if mode == "min" else np.argmax(scores))]
    assert new.low <= new.high
    assert new.low <= best <= new.high
    if dim.hard_low is not None:
        assert new.low >= dim.hard_low
    if dim.hard_high is not None:
        assert new.high <= dim.hard_high
    if dim.log:
        assert new.low > 0
    if isinstance(dim, Int):
        assert isinstance(new.low, int) and isinstance(new.high, int)
    if (
        at_edge == "low"
        and (dim.hard_low is None or dim.hard_low < dim.low)
        and not (dim.log and isinstance(dim, Int) and dim.low == 1)
    ):
        assert new.low < dim.low
    if at_edge == "high" and (dim.hard_high is None or dim.hard_high > dim.high):
        assert new.high > dim.high


@settings(max_examples=80, deadline=None)
@given(
    low=st.floats(1e-4, 10),
    ratio=st.floats(2, 1e4),
    limit=st.floats(1.0, 100.0),
    target=st.floats(0, 1),
    seed=st.integers(0, 2**32 - 1),
    log=st.booleans(),
)
def test_properties_hold_over_many_rounds_with_hard_limits(low, ratio, limit, target, seed, log):
    high = low * ratio
    dim = Float(low, high, log=log, hard_low=low / limit, hard_high=high * limit)
    space = original = SearchSpace({"p": dim})
    lo_s, hi_s = dim.scaled_limits
    goal = lo_s + target * (hi_s - lo_s)  # an optimum anywhere within the hard limits
    rng = np.random.default_rng(seed)
    previous, configs, scores = None, [], []
    for r in range(6):
        current = space["p"]
        values = current.sample_from_unit(rng.random(12))
        configs += [{"p": v} for v in values]
        scores += [float((current.to_scaled(v) - goal) ** 2) for v in values]
        h = history(original, configs, scores)
        ctx = NarrowingContext(
            original=original, mode="min", round_index=r, samples_per_round=12, previous=previous
        )
        new = EliteBox().propose(space, h, ctx).space["p"]
        best = configs[int(np.argmin(scores))]["p"]
        assert new.low <= best <= new.high
        assert dim.hard_low <= new.low <= new.high <= dim.hard_high
        previous, space = space, SearchSpace({"p": new})
