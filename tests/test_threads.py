"""Rounds are sampled on a thread of their own, beside the caller's code.

Python's warning filters are one global state, and ``warnings.catch_warnings`` swaps it for
the whole process: entered on the planning thread, it can undo, on leaving, a
``catch_warnings`` the caller's thread entered meanwhile (CI lost a ``pytest.warns`` that
way). So none of this project's sampling code touches that state (scikit-learn's input
checks inside the model's fit still do, briefly), and it must still raise no warning of its
own, even under an "error" filter. And the planning thread ends with the sweep: nothing of
it runs on (importing modules, calling a user's sampler) once ``tune`` has returned or
raised.
"""

import threading
import time
import warnings

import numpy as np
import pytest

from orchestrator import Float, SearchSpace, tune
from orchestrator.errors import SweepInterrupted
from orchestrator.execution.serial import SerialExecutor
from orchestrator.search.samplers.gp import posterior_draws
from orchestrator.search.samplers.uniform import SobolSampler


@pytest.fixture
def entries(monkeypatch):
    """Who entered ``warnings.catch_warnings``: (calling module, on the main thread)."""
    seen: list[tuple[str, bool]] = []
    original = warnings.catch_warnings

    class Recording(original):
        def __enter__(self):
            import sys

            caller = sys._getframe(1).f_globals.get("__name__", "")
            seen.append((caller, threading.current_thread() is threading.main_thread()))
            return super().__enter__()

    monkeypatch.setattr(warnings, "catch_warnings", Recording)
    return seen


def plane(c):
    return (c["x"] - 0.3) ** 2 + 0.1 * c["y"]


@pytest.mark.parametrize("sampler", ["sobol", "guided"])
def test_no_planning_thread_touches_the_warning_filters(entries, sampler, tmp_path):
    space = SearchSpace({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    result = tune(
        plane,
        space,
        mode="min",
        rounds=3,
        samples_per_round=10,  # not a power of two: Sobol's balance warning territory
        sampler=sampler,
        executor=SerialExecutor(plane, param_names=list(space)),
        run_dir=tmp_path / "run",
    )
    assert result.rounds_run == 3
    off_main = [name for name, main in entries if not main and name.startswith("orchestrator")]
    assert off_main == []


def test_sobol_at_any_size_raises_no_warning():
    space = SearchSpace({"x": Float(0.0, 1.0), "y": Float(1e-3, 1.0, log=True)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for n in (1, 3, 10, 16, 33):
            cols = SobolSampler().sample(space, n, np.random.default_rng(n))
            assert len(cols["x"]) == n


def test_sobol_draws_the_same_points_as_scipy_at_that_size():
    from scipy.stats import qmc

    space = SearchSpace({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})
    cols = SobolSampler().sample(space, 10, np.random.default_rng(7))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = qmc.Sobol(d=2, scramble=True, seed=np.random.default_rng(7)).random(10)
    assert np.allclose(np.column_stack([cols["x"], cols["y"]]), expected)


def test_the_model_raises_no_warning_where_scikit_learn_warns():
    """Pure noise drives a length scale to its upper bound; a smooth function stops L-BFGS
    abnormally and drives the noise to its lower bound: scikit-learn's own fit warns of
    each; the model must neither warn nor fail."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    rng = np.random.default_rng(0)
    x = rng.random((30, 2))
    xc = rng.random((50, 2))
    for y in (rng.standard_normal(30), np.sin(3 * x[:, 0]) + x[:, 1]):
        kernel = ConstantKernel(1.0, (1e-2, 1e2)) * Matern(
            [0.3] * 2, (1e-3, 1e2), nu=2.5
        ) + WhiteKernel(1e-3, (1e-8, 1.0))
        plain = GaussianProcessRegressor(
            kernel, normalize_y=True, n_restarts_optimizer=2, random_state=1
        )
        with pytest.warns(UserWarning):  # scikit-learn's ConvergenceWarning: the data do it
            plain.fit(x, y)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            draws = posterior_draws(x, y, xc, 3, np.random.default_rng(1), restarts=2)
        assert draws.shape == (50, 3) and np.isfinite(draws).all()


def planners():
    return [t.name for t in threading.enumerate() if t.name.startswith("sweep-plan")]


class SlowWarmUp:
    """A sampler whose warm-up (run once, on the planning thread) outlasts a short sweep."""

    name = "slow-warm-up"

    def __init__(self):
        self.warmed = threading.Event()

    def warm_up(self):
        time.sleep(1.0)
        self.warmed.set()

    def sample(self, space, n, rng, history=None):
        return {"x": list(rng.random(n))}


class SlowOnceGuided:
    """A sampler that takes a while once it has history (a model's fit), and records calls."""

    name = "slow-guided"

    def __init__(self):
        self.calls = []
        self.slow = threading.Event()  # a slow call has started

    def sample(self, space, n, rng, history=None):
        self.calls.append(threading.current_thread().name)
        if history is not None:
            self.slow.set()
            time.sleep(1.0)
        return {"x": list(rng.random(n))}


def test_the_planning_thread_ends_before_tune_returns(tmp_path):
    def score(c):
        return c["x"]

    sampler = SlowWarmUp()
    tune(
        score,
        SearchSpace({"x": Float(0.0, 1.0)}),
        mode="min",
        rounds=1,
        samples_per_round=4,
        sampler=sampler,
        executor=SerialExecutor(score, param_names=["x"]),
        run_dir=tmp_path / "run",
    )
    assert planners() == []
    assert sampler.warmed.is_set()  # the warm-up that had started was waited for


def test_the_planning_thread_ends_before_a_stopped_sweep_raises(tmp_path):
    def score(c):
        time.sleep(0.2)  # round 1 is still running when the stop is seen
        return c["x"]

    sampler = SlowOnceGuided()
    with pytest.raises(SweepInterrupted):
        tune(
            score,
            SearchSpace({"x": Float(0.0, 1.0)}),
            mode="min",
            rounds=3,
            samples_per_round=4,
            overlap=1,  # round 2 is sampled (from round 0's history) while round 1 runs
            sampler=sampler,
            executor=SerialExecutor(score, param_names=["x"], shard_size=1),
            run_dir=tmp_path / "run",
            should_stop=sampler.slow.is_set,  # stops while round 2 is being sampled
        )
    calls = len(sampler.calls)
    assert planners() == []
    time.sleep(1.2)
    assert len(sampler.calls) == calls  # nothing of the stopped sweep calls it any more


def test_a_second_interrupt_while_the_planner_is_waited_for_loses_no_finished_trial(
    tmp_path, monkeypatch
):
    """The first Ctrl+C stops the sweep; a second one ("stop at once") can land while the
    planning thread is waited for. The rows that finished must be written before that wait,
    not after it (a resume would run them again)."""
    import pyarrow.parquet as pq

    from orchestrator.loop import coordinator

    class SecondInterrupt(coordinator.ThreadPoolExecutor):
        def shutdown(self, wait=True, *, cancel_futures=False):
            super().shutdown(wait=False, cancel_futures=cancel_futures)
            if wait:
                raise KeyboardInterrupt  # arrives while the planning call is waited for

    monkeypatch.setattr(coordinator, "ThreadPoolExecutor", SecondInterrupt)
    monkeypatch.setenv("SWEEP_COMMIT_EVERY_S", "3600")  # finished rows stay buffered
    done = []

    def score(c):
        done.append(c["x"])
        return c["x"]

    with pytest.raises(KeyboardInterrupt):
        tune(
            score,
            SearchSpace({"x": Float(0.0, 1.0)}),
            mode="min",
            rounds=2,
            samples_per_round=8,
            sampler="random",
            executor=SerialExecutor(score, param_names=["x"], shard_size=2),
            run_dir=tmp_path / "run",
            should_stop=lambda: len(done) >= 4,
        )
    parts = sorted((tmp_path / "run" / "trials" / "_partial").glob("round-*/part-*"))
    written = sorted(s for p in parts for s in pq.read_table(p).column("score").to_pylist())
    assert written and written == sorted(done)
