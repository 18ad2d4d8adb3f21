"""One contract, every registered sampler: with no history and with one, a round's
configurations are inside the ranges, native Python values, as many as asked (a grid: its
whole grid), and the same for the same seed and history."""

import numpy as np
import pyarrow as pa
import pytest

from orchestrator import Choice, Float, Int, SearchSpace
from orchestrator.search.samplers.base import Guide, round_generator
from orchestrator.search.samplers.grid import GridSampler
from orchestrator.search.samplers.registry import SAMPLERS, make_sampler, sample_round

SPACE = SearchSpace(
    {
        "lr": Float(1e-5, 1e-1, log=True),
        "momentum": Float(0.0, 0.99),
        "layers": Int(1, 4),
        "act": Choice(["relu", "tanh"]),
    }
)
N = 40


def history(n=30, seed=0):
    """Trials of a finished round (the columns a Guide reads)."""
    cols = sample_round(SPACE, n, seed=seed, round_index=0, sampler="random")
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "trial_id": list(range(n)),
            "status": ["ok"] * n,
            "score": rng.normal(size=n).tolist(),
            "budget": [None] * n,
            **cols,
        }
    )


def guide():
    return Guide(history(), SPACE, "min")


def sampler_for(name):
    return GridSampler(2) if name == "grid" else make_sampler(name)


@pytest.mark.parametrize("with_history", [False, True], ids=["first round", "with history"])
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_every_sampler_keeps_the_contract(name, with_history):
    sampler = sampler_for(name)
    seen = guide() if with_history else None

    def draw():
        return sampler.sample(SPACE, N, round_generator(3, 1), seen)

    cols = draw()
    rows = len(cols["lr"])
    assert rows == (2 * 2 * 2 * 2 if name == "grid" else N)
    assert all(len(cols[p]) == rows for p in SPACE)
    assert all(1e-5 <= v <= 1e-1 and type(v) is float for v in cols["lr"])
    assert all(0.0 <= v <= 0.99 and type(v) is float for v in cols["momentum"])
    assert all(1 <= v <= 4 and type(v) is int for v in cols["layers"])
    assert set(cols["act"]) <= {"relu", "tanh"} and all(type(v) is str for v in cols["act"])
    assert draw() == cols  # the same seed and history give the same configurations


def test_a_sampler_written_without_history_still_works():
    class Corners:
        def sample(self, space, n, rng):
            return {
                p: [space[p].low if hasattr(space[p], "low") else space[p].values[0]] * n
                for p in space
            }

    cols = sample_round(SPACE, 5, seed=0, round_index=1, sampler=Corners(), guide=guide())
    assert cols["lr"] == [1e-5] * 5 and cols["act"] == ["relu"] * 5
    with pytest.raises(ValueError, match="has no sample"):
        make_sampler(object())
