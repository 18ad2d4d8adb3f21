"""The scaling benchmark's arithmetic holds on hand-made numbers (fast: no Ray, no Optuna)."""

import math
import statistics

import pytest
from benchlib import scale


def test_utilization_and_efficiency_of_a_hand_made_schedule():
    # two workers: one busy 0-4 s, the other 0-1 s then 2-3 s; the call took 5 s
    intervals = [(10.0, 14.0), (10.0, 11.0), (12.0, 13.0)]
    stats = scale.schedule_stats(intervals, workers=2, wall_s=5.0)
    assert stats["busy_s"] == pytest.approx(6.0)
    assert stats["span_s"] == pytest.approx(4.0)
    assert stats["longest_s"] == pytest.approx(4.0)
    # busy / W = 3 s, but the 4 s evaluation alone needs 4 s: the bound is 4 s
    assert stats["lower_bound_s"] == pytest.approx(4.0)
    assert stats["efficiency"] == pytest.approx(1.0)
    assert stats["utilization_span"] == pytest.approx(6.0 / (2 * 4.0))
    assert stats["utilization_call"] == pytest.approx(6.0 / (2 * 5.0))
    assert stats["peak_concurrent"] == 2


def test_the_bound_is_busy_over_workers_when_no_evaluation_dominates():
    intervals = [(0.0, 1.0), (1.0, 2.0), (0.0, 1.0), (1.5, 2.5)]  # 4 s busy on 2 workers
    stats = scale.schedule_stats(intervals, workers=2, wall_s=2.5)
    assert stats["lower_bound_s"] == pytest.approx(2.0)
    assert stats["efficiency"] == pytest.approx(2.0 / 2.5)
    assert stats["utilization_call"] == stats["utilization_span"] == pytest.approx(4.0 / 5.0)
    # one ends at 1.0 as another starts: never three at once
    assert stats["peak_concurrent"] == 2


def test_no_evaluations_give_no_ratios():
    stats = scale.schedule_stats([], workers=4, wall_s=1.0)
    assert stats["busy_s"] == 0 and stats["peak_concurrent"] == 0
    assert stats["efficiency"] is None and stats["utilization_span"] is None


def test_fifo_and_rounds_schedules():
    durations = [3.0, 1.0, 1.0, 1.0, 2.0]
    fifo = scale.fifo_intervals(durations, workers=2)
    assert fifo == [(0.0, 3.0), (0.0, 1.0), (1.0, 2.0), (2.0, 3.0), (3.0, 5.0)]
    # rounds of 2 with a barrier: [3, 1] ends at 3, [1, 1] at 4, [2] at 6
    rounds = scale.round_intervals(durations, workers=2, per_round=2)
    assert rounds == [(0.0, 3.0), (0.0, 1.0), (3.0, 4.0), (3.0, 4.0), (4.0, 6.0)]
    assert scale.schedule_stats(fifo, 2, 5.0)["efficiency"] == pytest.approx(4.0 / 5.0)
    run = scale.make_run("fifo", 2, 5, fifo, 5.0, simulated=True)
    assert (run.evals_done, run.lower_bound_s, run.utilization_call) == (5, 4.0, 0.8)


def test_the_duration_is_a_deterministic_lognormal_of_the_configuration():
    assert scale.duration_s(0.25, 0.5) == scale.duration_s(0.25, 0.5)
    assert scale.duration_s(0.25, 0.5) != scale.duration_s(0.5, 0.25)
    # sigma 0: exactly the median; otherwise median * exp(sigma * z), the same z
    assert scale.duration_s(0.1, 0.9, median=0.3, sigma=0.0) == pytest.approx(0.3)
    z = math.log(scale.duration_s(0.1, 0.9, median=1.0, sigma=1.0))
    assert scale.duration_s(0.1, 0.9, median=0.2, sigma=2.0) == pytest.approx(0.2 * math.exp(2 * z))
    draws = scale.draw_durations(4000, seed=0)
    assert draws == scale.draw_durations(4000, seed=0)
    assert statistics.median(draws) == pytest.approx(0.2, rel=0.1)
    logs = [math.log(d / 0.2) for d in draws]
    assert statistics.stdev(logs) == pytest.approx(1.0, rel=0.1)


def test_the_objective_scores_and_times_one_evaluation():
    objective = scale.SleepObjective(median=0.001, sigma=0.0)
    value, start, end = objective.timed({"x": 0.3, "y": 0.2})
    assert value == pytest.approx(0.25)
    assert end - start >= 0.001
    assert objective({"x": 0.3, "y": 0.7}) == 0.0


def test_targets_and_the_wall_ratio():
    def run(tool, workers, wall, efficiency):
        r = scale.make_run(tool, workers, 1, [(0.0, 1.0)], wall)
        r.efficiency = efficiency
        return r

    runs = [run("sweep", 16, 11.0, 0.9), run("optuna", 16, 10.0, 0.95), run("sweep", 64, 5.0, 0.5)]
    assert scale.wall_ratio(runs, 16) == pytest.approx(1.1)
    assert scale.wall_ratio(runs, 64) is None
    verdicts = {t.name: t.verdict for t in scale.evaluate_targets(runs)}
    assert verdicts == {
        "sweep efficiency at W = 16": "met",
        "sweep efficiency at W = 64": "NOT met",
        "sweep wall / Optuna wall at W = 16": "met",
        "sweep wall / Optuna wall at W = 64": "not measured",
    }
    # a failed run (no evaluations) gives no ratio
    broken = scale.make_run("optuna", 64, 10, [], 1.0, note="FAILED: boom")
    assert scale.failed(broken) and scale.wall_ratio([*runs, broken], 64) is None
    runs[0].facts["workers_start_s"] = 1.0
    text = scale.format_runs(runs, 16, scale.parse_args(["--quick"]))
    assert "sweep wall / optuna wall: 1.10x" in text and "workers: 1.00x" in text
    assert "optuna (TPE)" in text and "0.950" in text


def test_the_command_line():
    args = scale.parse_args(["--quick"])
    assert (args.evals, args.workers, args.tools, args.sweep) == (
        128,
        [4, 16],
        ["sweep", "optuna"],
        {},
    )
    args = scale.parse_args(["--fifo", "--tools", "--workers", "64"])
    assert (args.evals, args.workers, args.tools) == (640, [64], [])
    assert scale.overlap_value("auto") == "auto" and scale.overlap_value("2") == 2
    assert scale.sweep_option("narrowing=none") == ("narrowing", "none")
    assert scale.sweep_option("patience=3") == ("patience", 3)
    with pytest.raises(SystemExit):  # sweep needs whole rounds
        scale.parse_args(["--evals", "100", "--tools", "sweep"])
    with pytest.raises(SystemExit):  # a keyword tune() does not take is refused up front
        scale.parse_args(["--tools", "sweep", "--sweep-option", "no_such_option=1"])


def test_overlapped_rounds_lie_between_barriers_and_fifo():
    durations = scale.draw_durations(96, seed=3)
    fifo = scale.fifo_intervals(durations, 8)
    rounds = scale.round_intervals(durations, 8, 16)
    # no overlap: a barrier after every round; overlap past the last round: plain FIFO
    assert scale.overlap_intervals(durations, 8, 16, 0) == rounds
    assert scale.overlap_intervals(durations, 8, 16, 5) == fifo

    def makespan(intervals):
        return max(end for _, end in intervals)

    one = scale.overlap_intervals(durations, 8, 16, 1)
    assert sorted(e - s for s, e in one) == pytest.approx(sorted(durations))
    assert makespan(fifo) <= makespan(one) <= makespan(rounds)
