"""A worker node lost mid-round (a spot instance taken back) costs only the work it held, and
a node that joins mid-sweep gets workers.

The scenarios run in their own process, which owns a cluster of several nodes on this
machine (``tests/node_loss_scenario.py``). With 5 workers on 5 CPUs, losing a 2-CPU node
leaves no room for two of them: before the fix the round waited for those two forever.
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.e2e


def run_scenario(run_dir: Path, workers: int, change: str, timeout_s: float = 240.0) -> dict:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.node_loss_scenario", str(run_dir), str(workers), change],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGINT)  # the scenario's own group: it shuts its cluster down
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        pytest.fail(f"the sweep did not finish in {timeout_s:.0f} s ({change} a node)")
    lines = [line for line in out.splitlines() if line.startswith("{")]
    assert proc.returncode == 0 and lines, err[-3000:]
    return json.loads(lines[-1])


def test_a_sweep_that_loses_a_node_it_cannot_replace_finishes_with_one_row_each(tmp_path):
    report = run_scenario(tmp_path / "run", workers=5, change="lose")
    assert report["changed_at"] is not None and report["changed_at"] < report["seconds"]
    assert report["rows"] == report["configs"] == 36  # 3 rounds x 12, none twice, none lost
    assert report["statuses"] == ["ok"] and report["errors"] == []
    assert report["next_end_after_change"] < 60  # progress goes on (0.4 s trials)


def test_a_node_that_joins_mid_sweep_gets_workers(tmp_path):
    report = run_scenario(tmp_path / "run", workers=0, change="join")  # one per CPU
    assert report["changed_at"] is not None and report["changed_at"] < report["seconds"]
    assert report["rows"] == report["configs"] == 144
    assert report["statuses"] == ["ok"]
    # 3 CPUs at the start (w0-w2); the new node's 2 CPUs get two more workers, which run trials
    assert {"w3", "w4"} <= set(report["workers_after_change"])
    assert report["workers"] == ["w0", "w1", "w2", "w3", "w4"]
