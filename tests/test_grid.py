"""The grid sampler: sizes, log spacing, integer dedup, narrowing, the too-large error."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orchestrator import Choice, Float, Int, SearchSpace, parse_config, tune
from orchestrator.errors import ConfigError
from orchestrator.execution.serial import SerialExecutor
from orchestrator.search.samplers.grid import GridSampler, grid_size
from tests.objectives import shifted_bowl

RNG = np.random.default_rng(0)


def test_size_log_spacing_and_integer_dedup():
    space = SearchSpace(
        {
            "lr": Float(1e-4, 1e-1, log=True),
            "x": Float(0, 1),
            "n": Int(1, 3),
            "act": Choice(["a", "b"]),
        }
    )
    cols = GridSampler(4).sample(space, 1000, RNG)
    assert grid_size(space, 4) == 4 * 4 * 3 * 2 == len(cols["lr"])
    assert sorted(set(cols["lr"])) == pytest.approx([1e-4, 1e-3, 1e-2, 1e-1])  # log-spaced
    assert sorted(set(cols["x"])) == pytest.approx([0, 1 / 3, 2 / 3, 1])
    assert sorted(set(cols["n"])) == [1, 2, 3]  # 4 points on 3 integers: deduplicated
    assert all(type(v) is int for v in cols["n"])
    combos = set(zip(*cols.values()))
    assert len(combos) == len(cols["lr"])  # every combination once


def test_a_grid_larger_than_a_round_is_refused_with_its_size():
    space = SearchSpace({"a": Float(0, 1), "b": Float(0, 1)})
    with pytest.raises(
        ValueError, match=r"the grid has 25 configurations \(5 x 5\).*samples_per_round=20"
    ):
        GridSampler(5).sample(space, 20, RNG)
    config = {
        "objective": "a:b",
        "mode": "min",
        "sampler": "grid",
        "grid_points": 5,
        "samples_per_round": 20,
        "space": {
            "a": {"type": "float", "low": 0, "high": 1},
            "b": {"type": "float", "low": 0, "high": 1},
        },
    }
    with pytest.raises(ConfigError, match="the grid has 25 configurations with grid_points=5"):
        parse_config(config)
    assert parse_config({**config, "grid_points": 4}).sampler.points == 4


def test_the_grid_narrows_with_the_ranges(tmp_path):
    space = {"x": Float(0.0, 1.0), "lr": Float(1e-5, 1e-1, log=True), "act": Choice(["a", "b"])}
    result = tune(
        shifted_bowl,
        space,
        mode="min",
        rounds=4,
        samples_per_round=50,
        seed=0,
        sampler=GridSampler(5),
        run_dir=tmp_path / "g",
        executor=SerialExecutor(shifted_bowl, param_names=list(space)),
    )
    rows = result.table.to_pylist()
    first = [r["x"] for r in rows if r["round"] == 0]
    last = [r["x"] for r in rows if r["round"] == 3]
    assert sorted(set(first)) == pytest.approx([0, 0.25, 0.5, 0.75, 1])
    assert max(last) - min(last) < 0.5 and len(set(last)) == 5
    assert min(last) <= 0.3 <= max(last)


@st.composite
def _dims(draw):
    kind = draw(st.sampled_from(["float", "int", "intlog", "choice"]))
    if kind == "choice":
        return Choice(list(range(draw(st.integers(1, 4)))))
    if kind == "float":
        low = draw(st.floats(-100, 100))
        return Float(low, low + draw(st.floats(0, 100)))
    low = draw(st.integers(1 if kind == "intlog" else -50, 60))
    return Int(low, low + draw(st.integers(0, 200)), log=kind == "intlog")


@settings(max_examples=200, deadline=None)
@given(dims=st.lists(_dims(), min_size=1, max_size=3), points=st.integers(1, 40))
def test_grid_size_is_the_number_of_configurations_sampled(dims, points):
    space = SearchSpace({f"p{i}": d for i, d in enumerate(dims)})
    size = grid_size(space, points)
    columns = GridSampler(points).sample(space, size, RNG)
    assert len(columns["p0"]) == size
