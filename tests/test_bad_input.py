"""Every bad-input case of docs/errors.md: one clear line, exit status 2, nothing written."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPACE = "space: {x: {type: float, low: 0, high: 1}}\n"

CONFIG_CASES = {
    "missing key": ('objective: "math:sqrt"\n' + SPACE, "config: missing required key 'mode'"),
    "unknown key": ('objective: "math:sqrt"\nmode: min\nroudns: 3\n' + SPACE,
                    "config: unknown key 'roudns'; did you mean 'rounds'?"),
    "wrong type": ('objective: "math:sqrt"\nmode: min\nrounds: six\n' + SPACE,
                   "rounds: expected a whole number, got 'six'"),
    "bound not a number": ('objective: "math:sqrt"\nmode: min\nspace: {x: {type: float, low: zero, high: 1}}\n',
                           "space.x: parameter 'x': `low` must be a number, got 'zero' (str)"),
    "low > high": ('objective: "math:sqrt"\nmode: min\nspace: {x: {type: float, low: 2, high: 1}}\n',
                   "space.x: parameter 'x': `low` must be smaller than or equal to `high` (low=2, high=1)"),
    "log range with low <= 0": ('objective: "math:sqrt"\nmode: min\nspace: {lr: {type: float, low: 0, high: 1, log: true}}\n',
                                "space.lr: parameter 'lr': a log range needs `low` > 0 (low=0, high=1)"),
    "empty choices": ('objective: "math:sqrt"\nmode: min\nspace: {act: {type: choice, values: []}}\n',
                      "space.act: parameter 'act': `values` is empty"),
    "unknown parameter type": ('objective: "math:sqrt"\nmode: min\nspace: {x: {type: real, low: 0, high: 1}}\n',
                               "space.x.type: unknown parameter type 'real'"),
    "reserved parameter name": ('objective: "math:sqrt"\nmode: min\nspace: {score: {type: float, low: 0, high: 1}}\n',
                                "space: parameter name 'score' is taken by a column of the trial table"),
    "unknown objective import path": ('objective: "no_such_pkg.mod:f"\nmode: min\n' + SPACE,
                                      "objective: cannot import module 'no_such_pkg.mod'"),
    "objective not callable": ('objective: "math:pi"\nmode: min\n' + SPACE,
                               "objective: 'math:pi' is not callable"),
    "invalid mode": ('objective: "math:sqrt"\nmode: minimise\n' + SPACE,
                     "mode: expected 'min' or 'max', got 'minimise'"),
    "not YAML": ("space: [1, 2\n", "not valid YAML (line"),
    "unknown sampler": ('objective: "math:sqrt"\nmode: min\nsampler: gided\n' + SPACE,
                        "sampler: unknown sampler 'gided'; did you mean 'guided'?"),
}


def sweep(*args, cwd):
    exe = Path(sys.executable).with_name("sweep")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "orchestrator.cli"]
    return subprocess.run(cmd + [str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_cases(tmp_path, case):
    text, message = CONFIG_CASES[case]
    (tmp_path / "c.yaml").write_text(text)
    for command in ("validate", "run"):
        proc = sweep(command, "c.yaml", cwd=tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("sweep: error: c.yaml: ") and message in proc.stderr
        assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.yaml"]  # nothing written


@pytest.mark.parametrize("args, message", [
    (["run", "missing.yaml"], "missing.yaml: no such config file"),
    (["validate", "missing.yaml"], "missing.yaml: no such config file"),
    (["show", "no_such_run"], "run folder no_such_run does not exist"),
    (["resume", "no_such_run"], "run folder no_such_run does not exist"),
    (["show", "."], ". is not a sweep run (no run.json)"),
    (["resume", "."], ". is not a sweep run (no run.json)"),
])
def test_cli_cases(tmp_path, args, message):
    proc = sweep(*args, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []
