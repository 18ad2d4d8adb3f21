"""Overlapping rounds: round k samples in ranges proposed from rounds before k - overlap, so
what a sweep samples and decides depends on the seed and the settings only - never on the
number of workers or the order results arrive in - and a resumed run equals an
uninterrupted one. No Ray here: an in-process executor that hands results back in a
shuffled order stands in for many workers racing."""

from __future__ import annotations

import random
import threading

import pyarrow.compute as pc
import pytest

from orchestrator import Choice, Float, Int, tune
from orchestrator.checks import overlap_setting
from orchestrator.errors import ConfigError, SweepInterrupted
from orchestrator.execution.serial import SerialExecutor
from orchestrator.loop.coordinator import resolve_overlap
from orchestrator.search.samplers.uniform import RandomSampler
from tests.objectives import echo_x_budget, shifted_bowl

SPACE = {
    "x": Float(0.0, 1.0),
    "lr": Float(1e-5, 1e-1, log=True),
    "n": Int(1, 20),
    "act": Choice(["a", "b"]),
}
CONFIG_COLUMNS = ["round", "trial_id", "x", "lr", "n", "act", "score", "status", "budget"]


class ShuffledExecutor(SerialExecutor):
    """Evaluates the open rounds' work in a random order and random shard sizes, so results
    of later rounds often arrive before those of earlier ones (like a busy cluster)."""

    def __init__(self, *args, order_seed: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.rng = random.Random(order_seed)
        self.most_open = 0  # the most rounds that had work out at once

    def dispatch(self, should_stop=None):
        return ShuffledDispatch(self, should_stop)


class ShuffledDispatch:
    def __init__(self, executor, should_stop):
        self.ex, self.should_stop = executor, should_stop
        self.rounds = {}
        self.held = []  # (tag, item) taken from the rounds, evaluated in random order

    def add(self, tag, work, on_batch):
        self.rounds[tag] = (work, on_batch)
        self.ex.most_open = max(self.ex.most_open, len(self.rounds))

    def wait(self, until=None):
        rng = self.ex.rng
        while True:
            for tag, (work, _) in self.rounds.items():
                self.held += [(tag, item) for item in work.take(work.ready_count())]
            rng.shuffle(self.held)
            tag = self.held[0][0]
            size = rng.randint(1, 4)
            items = [item for t, item in self.held if t == tag][:size]
            self.held = [(t, i) for t, i in self.held if not (t == tag and i in items)]
            work, on_batch = self.rounds[tag]
            batch = self.ex.evaluate(items)
            work.record(batch)
            on_batch(batch)
            done = [t for t, (w, _) in self.rounds.items() if w.finished()]
            for t in done:
                del self.rounds[t]
            if self.should_stop is not None and self.should_stop():
                raise SweepInterrupted("stopped on request")
            if done:
                rng.shuffle(done)
                return done
            if until is not None and until():
                return []


def sweep(tmp_path, name, executor, objective=shifted_bowl, space=SPACE, **kwargs):
    kwargs.setdefault("rounds", 7)
    kwargs.setdefault("samples_per_round", 12)
    kwargs.setdefault("sampler", "random")  # fast; the guided sampler has its own test
    return tune(
        objective,
        space,
        mode=kwargs.pop("mode", "min"),
        seed=kwargs.pop("seed", 3),
        run_dir=tmp_path / name,
        executor=executor,
        **kwargs,
    )


def serial(objective=shifted_bowl, space=SPACE):
    return SerialExecutor(objective, param_names=list(space), shard_size=5)


def shuffled(seed, objective=shifted_bowl, space=SPACE):
    return ShuffledExecutor(objective, param_names=list(space), order_seed=seed, shard_size=5)


def configs(result):
    cols = [c for c in CONFIG_COLUMNS if c in result.table.column_names]
    return result.table.select(cols).sort_by("trial_id").to_pylist()


def assert_same_run(a, b):
    assert configs(a) == configs(b)
    assert a.ranges.equals(b.ranges)
    assert a.final_space == b.final_space
    assert a.best_config == b.best_config


@pytest.mark.parametrize("overlap", [1, 2, 4])
def test_any_arrival_order_gives_the_same_configurations_and_ranges(tmp_path, overlap):
    reference = sweep(tmp_path, "in-order", serial(), overlap=overlap)
    for seed in range(3):
        executor = shuffled(seed)
        other = sweep(tmp_path, f"shuffled-{seed}", executor, overlap=overlap)
        assert executor.most_open == min(overlap + 1, 7)  # the rounds really overlapped
        assert_same_run(reference, other)


def test_the_guided_sampler_sees_the_same_history_whatever_has_arrived(tmp_path):
    # its model is fitted on the rounds committed when the round was planned, not on
    # whatever happens to be committed when the round is sampled (e.g. on resume)
    common = dict(overlap=2, sampler="guided", rounds=6)
    reference = sweep(tmp_path, "in-order", serial(), **common)
    assert_same_run(reference, sweep(tmp_path, "shuffled", shuffled(4), **common))
    calls = []
    with pytest.raises(SweepInterrupted):
        sweep(
            tmp_path,
            "stopped",
            shuffled(6),
            should_stop=lambda: len(calls) > 30 or calls.append(1) is not None,
            **common,
        )
    assert_same_run(reference, sweep(tmp_path, "stopped", serial(), resume=True, **common))


def test_any_arrival_order_gives_the_same_multi_fidelity_run(tmp_path):
    space = {"x": Float(0.0, 1.0, hard_low=0.0, hard_high=1.0)}
    common = dict(
        objective=echo_x_budget,
        space=space,
        budget=(1, 9),
        rounds=5,
        samples_per_round=9,
        overlap=1,
    )
    reference = sweep(tmp_path, "in-order", serial(echo_x_budget, space), **common)
    other = sweep(tmp_path, "shuffled", shuffled(5, echo_x_budget, space), **common)
    assert_same_run(reference, other)
    for row in other.table.to_pylist():  # every score is its own configuration's
        assert row["score"] == pytest.approx(1000.0 * row["x"] + row["budget"])


def test_each_round_samples_in_ranges_proposed_from_rounds_before_it_minus_overlap(tmp_path):
    overlap = 2
    result = sweep(tmp_path, "r", shuffled(1), overlap=overlap, rounds=8)
    ranges = result.ranges.to_pylist()
    by_round = {}
    for row in ranges:
        by_round.setdefault(row["round"], {})[row["parameter"]] = row
    # rounds 1..overlap start before any round is committed: the first ranges, held
    for k in range(1, overlap + 1):
        assert {r["action"] for r in by_round[k].values()} == {"hold"}
        assert all("before any round is committed" in r["reason"] for r in by_round[k].values())
        assert [(r["low"], r["high"]) for r in by_round[k].values()] == [
            (r["low"], r["high"]) for r in by_round[0].values()
        ]
    assert any(r["action"] == "shrink" for r in by_round[overlap + 1].values())
    table = result.table
    for k in range(result.rounds_run):
        rows = table.filter(pc.equal(table.column("round"), k)).to_pylist()
        x = by_round[k]["x"]
        assert all(x["low"] <= row["x"] <= x["high"] for row in rows)
    # the ranges the sweep ended with were proposed, never sampled
    last = max(by_round)
    assert last == result.rounds_run and not any(r["sampled"] for r in by_round[last].values())


def test_overlap_changes_what_is_sampled_and_zero_is_one_round_at_a_time(tmp_path):
    runs = {o: sweep(tmp_path, f"o{o}", shuffled(o), overlap=o) for o in (0, 1)}
    first = [r for r in configs(runs[0]) if r["round"] == 0]
    assert first == [r for r in configs(runs[1]) if r["round"] == 0]  # same first round
    assert configs(runs[0]) != configs(runs[1])  # later rounds are planned differently
    executor = shuffled(9)
    sweep(tmp_path, "again", executor, overlap=0)
    assert executor.most_open == 1


@pytest.mark.parametrize("overlap", [1, 3])
@pytest.mark.parametrize("stop_after_batches", [3, 11, 25])
def test_a_stopped_run_resumed_equals_an_uninterrupted_one(tmp_path, overlap, stop_after_batches):
    reference = sweep(tmp_path, "ref", serial(), overlap=overlap)
    polls = []

    def should_stop():  # polled once a batch (and once a round)
        polls.append(1)
        return len(polls) > stop_after_batches

    with pytest.raises(SweepInterrupted):
        sweep(
            tmp_path, "run", shuffled(stop_after_batches), overlap=overlap, should_stop=should_stop
        )
    partial = list((tmp_path / "run" / "trials" / "_partial").glob("round-*/part-*"))
    assert partial, "the stop came after everything was committed: nothing to test"
    resumed = sweep(tmp_path, "run", shuffled(99), overlap=overlap, resume=True)
    assert_same_run(reference, resumed)


def test_the_overlap_is_recorded_and_a_resume_keeps_it(tmp_path):
    import json

    result = sweep(tmp_path, "r", serial(), overlap=2, rounds=3)
    meta = json.loads((result.run_dir / "run.json").read_text())
    assert meta["overlap"] == 2 and meta["config"]["overlap"] == 2
    with pytest.raises(ConfigError, match="overlap"):
        sweep(tmp_path, "r", serial(), overlap=1, rounds=3, resume=True)


def test_auto_overlap_follows_the_workers_and_round_size():
    assert resolve_overlap("auto", 1, 32) == 0
    assert resolve_overlap("auto", 4, 32) == 0  # 8 a worker: the round's end idles little
    assert resolve_overlap("auto", 5, 32) == 1
    assert resolve_overlap("auto", 16, 32) == 1
    assert resolve_overlap("auto", 64, 32) == 3
    assert resolve_overlap("auto", 64, 8) == 15
    assert resolve_overlap(0, 64, 32) == 0 and resolve_overlap(5, 1, 32) == 5


@pytest.mark.parametrize(
    "value, message",
    [("fast", "expected 'auto' or a whole number"), (-1, "must be >= 0"), (1.5, "whole number")],
)
def test_bad_overlap_values_are_clear_errors(tmp_path, value, message):
    with pytest.raises(ConfigError, match=message):
        overlap_setting(value)
    with pytest.raises(ConfigError, match=message):
        sweep(tmp_path, "bad", serial(), overlap=value)
    assert not (tmp_path / "bad").exists()


class WarmingSampler:
    """Uniform draws; records when its model code would be loaded (``warm_up``)."""

    name = "warming"

    def __init__(self):
        self.calls = []

    def warm_up(self):
        self.calls.append(("warm_up", threading.current_thread().name))

    def sample(self, space, n, rng, history=None):
        self.calls.append(("sample", threading.current_thread().name))
        return RandomSampler().sample(space, n, rng)


def test_a_sampler_loads_its_model_once_on_the_planning_thread_after_the_first_rounds(tmp_path):
    sampler = WarmingSampler()
    sweep(tmp_path, "warm", serial(), sampler=sampler, overlap=2, rounds=5)
    kinds = [kind for kind, _ in sampler.calls]
    assert kinds.count("warm_up") == 1
    # behind the sampling of the rounds that start before any data (0, 1, 2), before the rest
    assert kinds.index("warm_up") == 3
    assert all(thread.startswith("sweep-plan") for _, thread in sampler.calls)
