"""`sweep run --review` driven through a pseudo-terminal: edit via a fake $EDITOR, accept,
quit, then resume."""

import os
import select
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from orchestrator import TuneResult

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """\
objective: "tests.objectives:shifted_bowl"
mode: min
space:
  x:   {type: float, low: 0, high: 1}
  lr:  {type: float, low: 1e-5, high: 1e-1, log: true}
  act: {type: choice, values: [a, b]}
rounds: 5
samples_per_round: 10
workers: 2
seed: 2
"""
EDITOR = """\
import os, sys, yaml
path = sys.argv[1]
data = yaml.safe_load(open(path))
x = data["x"]
x["high"] = x["low"] + (x["high"] - x["low"]) / 2   # halve x's proposed range
chosen = data["act"]["values"][-1]                   # freeze act to one of the proposed two
data["act"] = {"values": [chosen]}
open(path, "w").write(yaml.safe_dump(data))
open(os.environ["CHOSEN_FILE"], "w").write(chosen)
"""


class Terminal:
    """The controlling side of a pseudo-terminal: expect text, consume up to it."""

    def __init__(self, fd, proc):
        self.fd, self.proc, self.buffer = fd, proc, b""

    def expect(self, text, timeout=120):
        deadline = time.monotonic() + timeout
        while text.encode() not in self.buffer:
            assert time.monotonic() < deadline, self.buffer.decode(errors="replace")[-2000:]
            ready, _, _ = select.select([self.fd], [], [], 0.5)
            if ready:
                try:
                    self.buffer += os.read(self.fd, 65536)
                except OSError:
                    break
            elif self.proc.poll() is not None:
                break
        before, _, self.buffer = self.buffer.partition(text.encode())
        return before.decode(errors="replace") + text


@pytest.mark.e2e
def test_review_edit_accept_quit_then_resume(tmp_path):
    (tmp_path / "c.yaml").write_text(CONFIG)
    (tmp_path / "editor.py").write_text(EDITOR)
    run = tmp_path / "run"
    controller, terminal = os.openpty()
    env = {
        **os.environ,
        "EDITOR": f"{sys.executable} {tmp_path / 'editor.py'}",
        "CHOSEN_FILE": str(tmp_path / "act.chosen"),
    }  # the editor notes what it froze
    exe = Path(sys.executable).with_name("sweep")
    proc = subprocess.Popen(
        [str(exe), "run", str(tmp_path / "c.yaml"), "--review", "--run-dir", str(run)],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    os.close(terminal)
    term = Terminal(controller, proc)
    try:
        out = term.expect("[Enter] accept")
        assert "review before round 2" in out and "proposed" in out
        os.write(controller, b"e\n")  # edit through the fake editor
        out = term.expect("review before round 3")
        assert "applied:" in out
        term.expect("[Enter] accept")
        os.write(controller, b"\n")  # accept
        out = term.expect("[Enter] accept")
        assert "review before round 4" in out
        os.write(controller, b"q\n")  # stop; resumable
        proc.wait(timeout=60)
    finally:
        os.close(controller)
        if proc.poll() is None:
            proc.kill()
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
    assert proc.returncode == 130
    ranges = pq.read_table(run / "ranges.parquet").to_pylist()
    manual = {(r["round"], r["parameter"]) for r in ranges if r["action"] == "manual"}
    assert {(1, "x"), (1, "act")} <= manual
    resumed = subprocess.run(
        [str(exe), "resume", str(run)], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    result = TuneResult.load(run)
    assert result.rounds_run == 5 and result.table.num_rows == 50
    (x1,) = [r for r in ranges if r["round"] == 1 and r["parameter"] == "x"]
    rows = [r for r in result.table.to_pylist() if r["round"] == 1]
    assert all(x1["low"] <= r["x"] <= x1["high"] for r in rows)  # the edited range was used
    chosen = (tmp_path / "act.chosen").read_text()
    assert all(r["act"] == chosen for r in result.table.to_pylist() if r["round"] >= 1)
