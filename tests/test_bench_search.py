"""scripts/bench_search.py keeps working (a tiny run; Optuna is not needed for these methods)."""

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def load_bench():
    spec = importlib.util.spec_from_file_location(
        "bench_search", ROOT / "scripts" / "bench_search.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_search"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_method_spends_the_same_budget_and_the_summary_reads_it(tmp_path, capsys):
    bench = load_bench()
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
    task = bench.TASKS["branin"]
    for r in runs:
        assert 0 < len(r["losses"]) <= task.budget
        assert all(math.isfinite(x) and x >= task.f_star - 1e-6 for x in r["losses"])
        assert bench.branin(r["config"]) == min(r["losses"])  # the reported best is the best seen
    (summary,) = data["summaries"]
    for method, entry in summary["methods"].items():
        finals = [min(r["losses"]) - task.f_star for r in runs if r["method"] == method]
        assert entry["median"] == np.median(finals)
    printed = capsys.readouterr().out
    assert "| sweep (default) |" in printed and "RandomizedSearchCV" in printed
    assert "reaches random search's final median" in printed


def test_best_so_far_holds_the_last_value_after_an_early_stop():
    bench = load_bench()
    assert list(bench.best_so_far([3.0, 1.0, 2.0], 5)) == [3.0, 1.0, 1.0, 1.0, 1.0]


def test_the_outside_task_floor_is_what_its_range_allows():
    bench = load_bench()
    edge = {"lr": 1e-2, "wd": 1e-4, "dropout": 0.3}  # the best point inside the declared ranges
    assert bench.outside(edge) == bench.TASKS["outside"].floor
    assert bench.outside({"lr": 0.1, "wd": 1e-4, "dropout": 0.3}) == 0.0
