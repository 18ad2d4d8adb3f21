"""End to end: the `sweep` command in a subprocess, as a user runs it."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
QUADRATIC = ROOT / "configs" / "quadratic.yaml"


def sweep(*args, cwd=ROOT, timeout=300):
    exe = Path(sys.executable).with_name("sweep")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "orchestrator.cli"]
    return subprocess.run(
        cmd + [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.e2e
def test_run_then_show_the_synthetic_config(tmp_path):
    run_dir = tmp_path / "quad"
    proc = sweep("run", QUADRATIC, "--workers", "2", "--run-dir", run_dir, "--seed", "5")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "round 1/10" in out and "32/32 done" in out
    assert "best validation score" in out and "act=tanh" in out
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["state"] == "finished" and meta["config"]["seed"] == 5 and meta["workers"] == 2
    assert len(list((run_dir / "trials").glob("round-*.parquet"))) == meta["rounds_run"]

    shown = sweep("show", run_dir, "--top", "3")
    assert shown.returncode == 0, shown.stderr
    assert "top 3 trials:" in shown.stdout and "ranges per round:" in shown.stdout
    assert "shrink" in shown.stdout and "initial" in shown.stdout


@pytest.mark.e2e
def test_an_objective_module_in_the_working_folder_is_found(tmp_path):
    (tmp_path / "my_objectives.py").write_text("def score(c):\n    return (c['x'] - 0.5) ** 2\n")
    (tmp_path / "c.yaml").write_text(
        "objective: 'my_objectives:score'\nmode: min\nrounds: 2\nsamples_per_round: 8\n"
        "space: {x: {type: float, low: 0, high: 1}}\n"
    )
    proc = sweep("run", "c.yaml", "--workers", "1", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "round 2/2" in proc.stdout
    assert list((tmp_path / "runs").glob("c-*/trials/round-00001.parquet"))


BROKEN = {
    "missing_key": (
        "objective: 'a:b'\nspace: {x: {type: float, low: 0, high: 1}}\n",
        "missing required key 'mode'",
    ),
    "low_above_high": (
        "objective: 'a:b'\nmode: min\n"
        "space: {lr: {type: float, low: 1e-1, high: 1e-5, log: true}}\n",
        "space.lr: parameter 'lr': `low` must be smaller than or equal to `high` "
        "(low=0.1, high=1e-05)",
    ),
    "unknown_type": (
        "objective: 'a:b'\nmode: min\nspace: {x: {type: real, low: 0, high: 1}}\n",
        "space.x.type: unknown parameter type 'real'",
    ),
    "unknown_objective": (
        "objective: 'no_such_mod_q:f'\nmode: min\nspace: {x: {type: float, low: 0, high: 1}}\n",
        "cannot import module 'no_such_mod_q'",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_validate_rejects_broken_configs_with_one_message(tmp_path, case):
    text, message = BROKEN[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    proc = sweep("validate", path, cwd=tmp_path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.count("\n") == 1


def test_validate_accepts_the_example_configs():
    for config in sorted((ROOT / "configs").glob("*.yaml")):
        proc = sweep("validate", config)
        assert proc.returncode == 0, proc.stderr
        assert ": ok - " in proc.stdout


def test_run_refuses_bad_input_without_starting_anything(tmp_path):
    proc = sweep("run", tmp_path / "missing.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and "no such config file" in proc.stderr
    proc = sweep("run", QUADRATIC, "--workers", "0", cwd=tmp_path)
    assert proc.returncode == 2 and "--workers: must be >= 1, got 0" in proc.stderr
    proc = sweep("show", tmp_path, cwd=tmp_path)
    assert proc.returncode == 2 and "is not a sweep run" in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was written


def test_long_rounds_report_progress_between_round_lines(capsys):
    from orchestrator.cli.progress import PlainReporter

    progress = PlainReporter(every_s=0.0)
    progress.progress(0, 3, 10, 1)
    progress.progress(
        0, 10, 10, 1
    )  # the round's last report prints nothing: the round line follows
    progress.progress(1, 4, 10, 0)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("  round 1: 3/10 done, 1 not ok")
    assert lines[1].startswith("  round 2: 4/10 done, 0 not ok")
    assert len(lines) == 2


@pytest.mark.e2e
def test_json_events_and_quiet_output(tmp_path):
    import json as _json

    proc = sweep("run", QUADRATIC, "--workers", "2", "--run-dir", tmp_path / "j", "--json")
    assert proc.returncode == 0, proc.stderr
    events = [_json.loads(line) for line in proc.stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "finished"
    rounds = [e for e in events if e["event"] == "round"]
    assert [e["round"] for e in rounds] == list(range(events[-1]["rounds_run"]))
    assert all(e["trials"] == 32 and "next_ranges" in e for e in rounds)
    assert any(e["event"] == "progress" for e in events)
    assert events[-1]["best_config"]["act"] == "tanh"
    quiet = sweep("run", QUADRATIC, "--workers", "2", "--run-dir", tmp_path / "q", "--quiet")
    assert quiet.returncode == 0 and "round 1/" not in quiet.stdout
    assert quiet.stdout.startswith("stopped:") and "best validation score" in quiet.stdout


def test_progress_and_round_lines_count_time_from_the_same_start(capsys, monkeypatch):
    # a round line said 2.7 s (since the workers were up) after a progress line of the same
    # round said 10 s (since the command started): every time printed now counts from the
    # command's start
    import types

    from orchestrator.cli import progress as progress_module

    now = [100.0]
    fake = types.SimpleNamespace(monotonic=lambda: now[0], time=lambda: now[0])
    monkeypatch.setattr(progress_module, "time", fake)
    reporter = progress_module.PlainReporter(every_s=0.0)
    now[0] = 110.0
    reporter.progress(0, 3, 10, 0)
    now[0] = 112.5
    report = types.SimpleNamespace(
        round_index=0,
        rounds=2,
        trials=10,
        statuses={"ok": 10},
        best_score=0.5,
        best_budget=None,
        budgets=(),
        elapsed_s=2.7,
        overlap=0,
        decisions=(),
        next_space={},
        stop_reason=None,
        next_round=1,
        front=None,
    )
    reporter.round(report)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("(at 10 s)")
    assert "(at 12.5 s)" in lines[1] and "2.7" not in lines[1]


@pytest.mark.e2e
def test_ray_keeps_its_log_lines_out_of_the_terminal_unless_asked(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "objective: 'workers.examples:log_quadratic'\nmode: min\nrounds: 1\n"
        "samples_per_round: 4\nspace: {lr: {type: float, low: 1e-4, high: 1e-1, log: true},"
        " momentum: {type: float, low: 0, high: 0.9}, layers: {type: int, low: 1, high: 3},"
        " act: {type: choice, values: [relu, tanh]}}\n"
    )
    quiet = sweep("run", tmp_path / "c.yaml", "--workers", "1", "--run-dir", tmp_path / "q")
    assert quiet.returncode == 0, quiet.stderr
    for noise in ("WARNING", "INFO", "authentication"):
        assert noise not in quiet.stderr and noise not in quiet.stdout
    loud = sweep(
        "run", tmp_path / "c.yaml", "--workers", "1", "--run-dir", tmp_path / "v", "--verbose"
    )
    assert loud.returncode == 0, loud.stderr
    assert "round 1/1" in loud.stdout
