"""The guided sampler: surrogate-picked points inside the box (no Ray)."""

import numpy as np
import pyarrow as pa
import pytest

from orchestrator import Choice, Float, Int, SearchSpace
from orchestrator.search.samplers.base import Guide, round_generator
from orchestrator.search.samplers.gp import posterior_draws
from orchestrator.search.samplers.guided import GuidedSampler
from orchestrator.search.samplers.registry import make_sampler, sample_round
from orchestrator.search.samplers.uniform import RandomSampler
from orchestrator.search.trials import encode_column

SPACE = SearchSpace({"x": Float(0.0, 1.0), "y": Float(1e-4, 1.0, log=True)})


def bowl(c):
    return (c["x"] - 0.3) ** 2 + (np.log10(c["y"]) + 2) ** 2 / 16


def history(space, configs, scores, budgets=None):
    cols = {
        "trial_id": pa.array(range(len(scores)), type=pa.int64()),
        "status": pa.array(["ok"] * len(scores)),
        "score": pa.array(scores, type=pa.float64()),
        "budget": pa.array(budgets or [None] * len(scores), type=pa.float64()),
    }
    for name, dim in space.items():
        cols[name] = encode_column(dim, [c[name] for c in configs])
    return pa.table(cols)


def random_history(space, f, n, seed=0):
    cols = RandomSampler().sample(space, n, np.random.default_rng(seed))
    configs = [dict(zip(cols, row)) for row in zip(*cols.values())]
    return history(space, configs, [f(c) for c in configs]), configs


def rows(columns):
    return [dict(zip(columns, row)) for row in zip(*columns.values())]


def test_it_is_the_default_and_uniform_without_history():
    assert make_sampler("guided").name == "guided"
    plain = sample_round(SPACE, 20, seed=4, round_index=0, sampler="random")
    assert sample_round(SPACE, 20, seed=4, round_index=0, sampler="guided") == plain
    few, _ = random_history(SPACE, bowl, 3)  # fewer than min_trials ok trials
    guided = sample_round(
        SPACE, 20, seed=4, round_index=0, sampler="guided", guide=Guide(few, SPACE, "min")
    )
    assert guided == plain


def test_picks_beat_uniform_draws_in_the_same_box_and_stay_inside_it():
    h, _ = random_history(SPACE, bowl, 40)
    box = SearchSpace({"x": Float(0.1, 0.7), "y": Float(1e-3, 1e-1, log=True)})
    guided, uniform = [], []
    for r in range(5):
        g = GuidedSampler().sample_guided(box, 20, round_generator(7, r), Guide(h, SPACE, "min"))
        u = RandomSampler().sample(box, 20, round_generator(7, r))
        guided += [bowl(c) for c in rows(g)]
        uniform += [bowl(c) for c in rows(u)]
        assert all(0.1 <= x <= 0.7 for x in g["x"]) and all(1e-3 <= y <= 1e-1 for y in g["y"])
        assert len(set(zip(g["x"], g["y"]))) == 20  # twenty distinct points, not one repeated
    assert np.median(guided) < 0.5 * np.median(uniform)


def test_same_inputs_same_configurations_and_mode_max_mirrors_min():
    h, configs = random_history(SPACE, bowl, 30)
    negated = history(SPACE, configs, [-bowl(c) for c in configs])
    a = GuidedSampler().sample_guided(SPACE, 12, round_generator(1, 2), Guide(h, SPACE, "min"))
    b = GuidedSampler().sample_guided(SPACE, 12, round_generator(1, 2), Guide(h, SPACE, "min"))
    c = GuidedSampler().sample_guided(
        SPACE, 12, round_generator(1, 2), Guide(negated, SPACE, "max")
    )
    assert a == b == c


def test_integers_and_choices_stay_valid_and_the_better_choice_wins():
    space = SearchSpace(
        {
            "n": Int(1, 64, log=True),
            "act": Choice(["relu", "tanh", "sigmoid"]),
            "x": Float(0.0, 1.0),
        }
    )

    def f(c):
        return (np.log2(c["n"]) - 4) ** 2 / 36 + (c["x"] - 0.5) ** 2 + (c["act"] != "tanh")

    h, _ = random_history(space, f, 45, seed=2)
    g = GuidedSampler().sample_guided(space, 30, round_generator(0, 1), Guide(h, space, "min"))
    assert all(isinstance(n, int) and 1 <= n <= 64 for n in g["n"])
    assert set(g["act"]) <= {"relu", "tanh", "sigmoid"}
    assert g["act"].count("tanh") >= 20


def test_a_large_round_guides_only_its_first_part():
    h, _ = random_history(SPACE, bowl, 30)
    sampler = GuidedSampler(candidates=64, max_guided=16)
    out = sampler.sample_guided(SPACE, 500, round_generator(0, 1), Guide(h, SPACE, "min"))
    assert len(out["x"]) == 500
    head = np.median([bowl(c) for c in rows(out)[:16]])
    tail = np.median([bowl(c) for c in rows(out)[16:]])
    assert head < tail


def test_with_budgets_the_picks_follow_the_full_budget_not_the_cheap_ones():
    # Cheap budgets (1) point to x = 0.8, the full budget (27) to x = 0.2.
    space = SearchSpace({"x": Float(0.0, 1.0)})
    rng = np.random.default_rng(0)
    configs, scores, budgets = [], [], []
    for budget, centre, n in ((1, 0.8, 40), (27, 0.2, 12)):
        for x in rng.random(n):
            configs.append({"x": float(x)})
            scores.append((x - centre) ** 2)
            budgets.append(float(budget))
    h = history(space, configs, scores, budgets)
    g = GuidedSampler().sample_guided(
        space, 10, round_generator(0, 3), Guide(h, space, "min", budgets=(1.0, 27.0))
    )
    assert np.median(g["x"]) < 0.4


@pytest.mark.parametrize("kwargs", [{"candidates": 1}, {"max_guided": 0}, {"min_trials": True}])
def test_settings_are_validated(kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        GuidedSampler(**kwargs)


def test_equal_scores_and_a_fixed_parameter_do_not_break_it():
    space = SearchSpace({"x": Float(0.0, 1.0), "k": Int(3, 3)})
    h, _ = random_history(space, lambda c: 1.0, 12)
    g = GuidedSampler().sample_guided(space, 8, round_generator(0, 1), Guide(h, space, "min"))
    assert len(g["x"]) == 8 and set(g["k"]) == {3} and all(0 <= x <= 1 for x in g["x"])


def test_auto_is_guided_except_with_budgets_and_the_run_records_which(tmp_path):
    import json

    from orchestrator import tune
    from orchestrator.execution.serial import SerialExecutor
    from orchestrator.search.samplers.registry import resolve_sampler

    assert resolve_sampler("auto", None) == "guided"
    assert resolve_sampler("auto", object()) == "random"
    assert resolve_sampler("sobol", object()) == "sobol"
    space = {"x": Float(0.0, 1.0)}

    def plain(c):
        return c["x"]

    def budgeted(c, b):
        return c["x"]

    for name, objective, budget in (("one", plain, None), ("mf", budgeted, (1, 9))):
        tune(
            objective,
            space,
            mode="min",
            rounds=2,
            samples_per_round=9,
            budget=budget,
            executor=SerialExecutor(objective, param_names=["x"]),
            run_dir=tmp_path / name,
        )
    recorded = {
        n: json.loads((tmp_path / n / "run.json").read_text())["config"]["sampler"]
        for n in ("one", "mf")
    }
    assert recorded == {"one": "guided", "mf": "random"}


def test_thompson_draws_are_of_the_function_not_of_new_noisy_scores():
    # A trend plus noise of std 0.5: where the data are dense, the function is known to
    # about +-0.1, while new noisy scores would still scatter by 0.5. Drawing the latter
    # would rank candidates by noise on rugged objectives.
    rng = np.random.default_rng(0)
    x = rng.random((200, 1))
    y = np.sin(6 * x[:, 0]) + 0.5 * rng.standard_normal(200)
    xc = np.linspace(0.1, 0.9, 30)[:, None]
    draws = posterior_draws(x, y, xc, 300, np.random.default_rng(1), restarts=0)
    assert draws.shape == (30, 300)
    assert np.mean(draws.std(axis=1)) < 0.25
    assert np.corrcoef(draws.mean(axis=1), np.sin(6 * xc[:, 0]))[0, 1] > 0.9
