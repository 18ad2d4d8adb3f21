import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import Choice, Float, Int, SearchSpace
from orchestrator.search.samplers.base import columns_to_rows
from orchestrator.search.samplers.registry import make_sampler, sample_round

SPACE = SearchSpace(
    {
        "lr": Float(1e-5, 1e-1, log=True),
        "momentum": Float(0.0, 0.99),
        "layers": Int(1, 4),
        "hidden": Int(8, 512, log=True),
        "act": Choice(["relu", "tanh"]),
        "mixed": Choice([None, 1, "two", [3, 4]]),
    }
)


@pytest.mark.parametrize("sampler", ["random", "sobol"])
def test_values_in_bounds_and_native_types(sampler):
    cols = sample_round(SPACE, 500, seed=3, round_index=0, sampler=sampler)
    assert all(1e-5 <= v <= 1e-1 and type(v) is float for v in cols["lr"])
    assert all(0.0 <= v <= 0.99 and type(v) is float for v in cols["momentum"])
    assert all(1 <= v <= 4 and type(v) is int for v in cols["layers"])
    assert all(8 <= v <= 512 and type(v) is int for v in cols["hidden"])
    assert set(cols["act"]) == {"relu", "tanh"}
    assert {repr(v) for v in cols["mixed"]} == {"None", "1", "'two'", "[3, 4]"}
    assert set(cols["layers"]) == {1, 2, 3, 4}  # both ends reachable


@pytest.mark.parametrize("sampler", ["random", "sobol"])
def test_same_seed_same_configs_other_seed_or_round_differs(sampler):
    a = sample_round(SPACE, 64, seed=7, round_index=2, sampler=sampler)
    b = sample_round(SPACE, 64, seed=7, round_index=2, sampler=sampler)
    c = sample_round(SPACE, 64, seed=8, round_index=2, sampler=sampler)
    d = sample_round(SPACE, 64, seed=7, round_index=3, sampler=sampler)
    assert a == b
    assert a["lr"] != c["lr"] and a["lr"] != d["lr"]


def test_log_uniform_covers_decades_evenly():
    cols = sample_round(
        SearchSpace({"lr": Float(1e-5, 1e-1, log=True)}), 20000, seed=0, round_index=0
    )
    decades = np.floor(np.log10(cols["lr"])).astype(int)
    counts = np.bincount(decades + 5, minlength=4)[:4]
    assert counts.min() > 0.2 * 20000  # ~25% each; uniform sampling would give ~0.01% below 1e-4


def test_log_int_favours_small_values():
    cols = sample_round(SearchSpace({"h": Int(1, 1000, log=True)}), 5000, seed=0, round_index=0)
    below_32 = np.mean(np.array(cols["h"]) < 32)
    assert 0.4 < below_32 < 0.6  # half the log range lies below ~31.6


def test_sobol_is_more_even_than_random_in_1d():
    space = SearchSpace({"x": Float(0, 1)})
    gaps = {}
    for name in ("random", "sobol"):
        x = np.sort(sample_round(space, 256, seed=1, round_index=0, sampler=name)["x"])
        gaps[name] = np.max(np.diff(np.concatenate([[0], x, [1]])))
    assert gaps["sobol"] < gaps["random"]


def test_unknown_sampler_and_bad_n():
    with pytest.raises(ValueError, match="unknown sampler 'grdi'"):
        make_sampler("grdi")
    with pytest.raises(ValueError, match="must be >= 1"):
        sample_round(SPACE, 0, seed=0, round_index=0)


def test_columns_to_rows():
    assert columns_to_rows({"a": [1, 2], "b": ["x", "y"]}) == [
        {"a": 1, "b": "x"},
        {"a": 2, "b": "y"},
    ]


@settings(max_examples=60, deadline=None)
@given(
    low=st.floats(1e-8, 1e3),
    ratio=st.floats(1.0, 1e6),
    seed=st.integers(0, 2**31),
    log=st.booleans(),
    n=st.integers(1, 50),
)
def test_floats_always_inside(low, ratio, seed, log, n):
    dim = Float(low, low * ratio, log=log)
    values = sample_round(SearchSpace({"p": dim}), n, seed=seed, round_index=0)["p"]
    assert all(dim.low <= v <= dim.high for v in values)


def test_lists_alone_are_drawn_without_replacement_as_scikit_learn_does():
    from orchestrator.search.samplers.uniform import RandomSampler

    sampler = RandomSampler()
    one = SearchSpace({"C": Choice([1, 10])})
    two = SearchSpace({"a": Choice(["x", "y"]), "b": Choice([1, 2, 3])})
    for seed in range(20):
        rng = np.random.default_rng(seed)
        assert sorted(sampler.sample(one, 2, rng)["C"]) == [1, 10]  # never [10, 10]
        both = sampler.sample(two, 6, rng)
        assert len(set(zip(both["a"], both["b"]))) == 6  # the whole grid, each once
        more = sampler.sample(one, 5, rng)["C"]  # larger than the grid: as even as can be
        assert sorted(more.count(v) for v in (1, 10)) == [2, 3]
    mixed = SearchSpace({"C": Choice([1, 10]), "x": Float(0.0, 1.0)})  # not all lists
    assert len(sampler.sample(mixed, 8, np.random.default_rng(0))["x"]) == 8
