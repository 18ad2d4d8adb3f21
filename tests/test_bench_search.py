"""The search benchmark keeps working (a tiny run; Optuna is not needed for these methods)."""

import json
import math

import numpy as np
from benchlib import problems
from benchlib import search as bench


def test_every_method_spends_the_same_budget_and_the_summary_reads_it(tmp_path, capsys):
    out = tmp_path / "search.json"
    assert (
        bench.main(
            [
                "--tasks",
                "branin",
                "--methods",
                "sweep",
                "random",
                "rscv",
                "--seeds",
                "2",
                "--jobs",
                "1",
                "--json",
                str(out),
            ]
        )
        == 0
    )
    data = json.loads(out.read_text())
    runs = data["runs"]
    assert {(r["method"], r["seed"]) for r in runs} == {
        (m, s) for m in ("sweep", "random", "rscv") for s in (0, 1)
    }
    task = problems.SEARCH_TASKS["branin"]
    for r in runs:
        assert 0 < len(r["losses"]) <= task.budget
        assert all(math.isfinite(x) and x >= task.f_star - 1e-6 for x in r["losses"])
        # the reported best is the best seen
        assert problems.branin(r["config"]) == min(r["losses"])
    (summary,) = data["summaries"]
    for method, entry in summary["methods"].items():
        finals = [min(r["losses"]) - task.f_star for r in runs if r["method"] == method]
        assert entry["median"] == np.median(finals)
    printed = capsys.readouterr().out
    assert "| sweep (default) |" in printed and "RandomizedSearchCV" in printed
    assert "reaches random search's final median" in printed


def test_best_so_far_holds_the_last_value_after_an_early_stop():
    assert list(bench.best_so_far([3.0, 1.0, 2.0], 5)) == [3.0, 1.0, 1.0, 1.0, 1.0]


def test_the_outside_task_floor_is_what_its_range_allows():
    edge = {"lr": 1e-2, "wd": 1e-4, "dropout": 0.3}  # the best point inside the declared ranges
    assert problems.outside(edge) == problems.SEARCH_TASKS["outside"].floor
    assert problems.outside({"lr": 0.1, "wd": 1e-4, "dropout": 0.3}) == 0.0
