"""Every bad-input case of docs/errors.md: one clear line, exit status 2, nothing written."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPACE = "space: {x: {type: float, low: 0, high: 1}}\n"

CONFIG_CASES = {
    "missing key": ('objective: "math:sqrt"\n' + SPACE, "config: missing required key 'mode'"),
    "unknown key": (
        'objective: "math:sqrt"\nmode: min\nroudns: 3\n' + SPACE,
        "config: unknown key 'roudns'; did you mean 'rounds'?",
    ),
    "wrong type": (
        'objective: "math:sqrt"\nmode: min\nrounds: six\n' + SPACE,
        "rounds: expected a whole number, got 'six'",
    ),
    "bound not a number": (
        'objective: "math:sqrt"\nmode: min\nspace: {x: {type: float, low: zero, high: 1}}\n',
        "space.x: parameter 'x': `low` must be a number, got 'zero' (str)",
    ),
    "low > high": (
        'objective: "math:sqrt"\nmode: min\nspace: {x: {type: float, low: 2, high: 1}}\n',
        "space.x: parameter 'x': `low` must be smaller than or equal to `high` (low=2, high=1)",
    ),
    "log range with low <= 0": (
        'objective: "math:sqrt"\nmode: min\n'
        "space: {lr: {type: float, low: 0, high: 1, log: true}}\n",
        "space.lr: parameter 'lr': a log range needs `low` > 0 (low=0, high=1)",
    ),
    "empty choices": (
        'objective: "math:sqrt"\nmode: min\nspace: {act: {type: choice, values: []}}\n',
        "space.act: parameter 'act': `values` is empty",
    ),
    "unknown parameter type": (
        'objective: "math:sqrt"\nmode: min\nspace: {x: {type: real, low: 0, high: 1}}\n',
        "space.x.type: unknown parameter type 'real'",
    ),
    "reserved parameter name": (
        'objective: "math:sqrt"\nmode: min\nspace: {score: {type: float, low: 0, high: 1}}\n',
        "space: parameter name 'score' is taken by a column of the trial table",
    ),
    "unknown objective import path": (
        'objective: "no_such_pkg.mod:f"\nmode: min\n' + SPACE,
        "objective: cannot import module 'no_such_pkg.mod'",
    ),
    "objective not callable": (
        'objective: "math:pi"\nmode: min\n' + SPACE,
        "objective: 'math:pi' is not callable",
    ),
    "invalid mode": (
        'objective: "math:sqrt"\nmode: minimise\n' + SPACE,
        "mode: expected 'min' or 'max', got 'minimise'",
    ),
    "not YAML": ("space: [1, 2\n", "not valid YAML (line"),
    "duplicate key": (
        'objective: "math:sqrt"\nmode: min\nmode: max\n' + SPACE,
        "not valid YAML (line 3, column 1): duplicate key 'mode' (first at line 2); keep one",
    ),
    "YAML alias": (
        'objective: "math:sqrt"\nmode: min\nname: &n a\nstorage: *n\n' + SPACE,
        "not valid YAML (line 4, column 10): YAML aliases (*name) are not accepted",
    ),
    "too many samples": (
        'objective: "math:sqrt"\nmode: min\nsamples_per_round: 100000000000000000000000\n' + SPACE,
        "samples_per_round: must be <= 10000000 (a round's most samples), got 10",
    ),
    "huge grid": (
        'objective: "math:sqrt"\nmode: min\nsampler: grid\ngrid_points: 1000000000\n' + SPACE,
        "grid_points: must be <= 10000000 (a round's most samples), got 1000000000",
    ),
    "warm_start not a record": (
        'objective: "math:sqrt"\nmode: min\nwarm_start: [1, 2]\n' + SPACE,
        "warm_start: expected a mapping {run: RUN_DIR, parameters: [names]}",
    ),
    "edit of an unknown parameter": (
        'objective: "math:sqrt"\nmode: min\nedits: [{round: 1, freeze: {y: 1}}]\n' + SPACE,
        "edits[0]: unknown parameter 'y'; the space has x",
    ),
    "Ray's own resource name": (
        'objective: "math:sqrt"\nmode: min\nworker_resources: {resources: {CPU: 2}}\n' + SPACE,
        "worker_resources.resources: 'CPU' is set with num_cpus, not inside resources",
    ),
    "negative custom resource": (
        'objective: "math:sqrt"\nmode: min\nworker_resources: {resources: {fpga: -1}}\n' + SPACE,
        "worker_resources.resources.fpga: must be >= 0, got -1",
    ),
    "parameter named like a metric column": (
        'objective: "math:sqrt"\nmode: min\nspace: {metric_x: {type: float, low: 0, high: 1}}\n',
        "space: parameter name 'metric_x' starts with 'metric_'",
    ),
    "unknown sampler": (
        'objective: "math:sqrt"\nmode: min\nsampler: gided\n' + SPACE,
        "sampler: unknown sampler 'gided'; did you mean 'guided'?",
    ),
}


def sweep(*args, cwd):
    exe = Path(sys.executable).with_name("sweep")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "orchestrator.cli"]
    return subprocess.run(
        cmd + [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


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


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "missing.yaml"], "missing.yaml: no such config file"),
        (["validate", "missing.yaml"], "missing.yaml: no such config file"),
        (["show", "no_such_run"], "run folder no_such_run does not exist"),
        (["resume", "no_such_run"], "run folder no_such_run does not exist"),
        (["show", "."], ". is not a sweep run (no run.json)"),
        (["resume", "."], ". is not a sweep run (no run.json)"),
    ],
)
def test_cli_cases(tmp_path, args, message):
    proc = sweep(*args, cwd=tmp_path)
    assert proc.returncode == 2 and message in proc.stderr
    assert proc.stderr.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_a_config_that_is_not_utf8(tmp_path):
    (tmp_path / "c.yaml").write_bytes(
        b'objective: "math:sqrt"\nmode: min\nname: caf\xe9\n' + SPACE.encode()
    )
    proc = sweep("validate", "c.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr == (
        "sweep: error: c.yaml: not UTF-8 text (line 3, column 10); save it as UTF-8\n"
    )


def test_a_data_file_holding_only_the_target(tmp_path):
    (tmp_path / "d.csv").write_text("label\n0\n1\n0\n1\n")
    (tmp_path / "c.yaml").write_text(
        "objective: {estimator: sklearn.linear_model.LogisticRegression, "
        "dataset: {path: d.csv, target: label}}\nspace: {C: {type: float, low: 0.1, high: 1}}\n"
    )
    proc = sweep("validate", "c.yaml", cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr == (
        "sweep: error: c.yaml: objective.dataset: d.csv holds only the target column 'label'; "
        "add feature columns\n"
    )
