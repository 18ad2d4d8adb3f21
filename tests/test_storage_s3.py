"""Runs stored through pyarrow.fs on a real S3 endpoint: moto's server on 127.0.0.1."""

import subprocess
import sys
from pathlib import Path

import pyarrow.fs as pafs
import pytest

from orchestrator import Choice, Float, SweepInterrupted, TuneResult, tune
from orchestrator.execution.serial import SerialExecutor
from tests.objectives import shifted_bowl

SPACE = {"x": Float(0.0, 1.0), "lr": Float(1e-5, 1e-1, log=True), "act": Choice(["a", "b"])}
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@pytest.fixture(scope="module")
def s3():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"{host}:{port}"
    fs = pafs.S3FileSystem(
        endpoint_override=endpoint,
        scheme="http",
        access_key="test",
        secret_key="test",
        region="us-east-1",
        allow_bucket_creation=True,
    )
    fs.create_dir("sweeps")
    try:
        yield f"endpoint_override={endpoint}&scheme=http&region=us-east-1"
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def credentials(monkeypatch):
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)


def run(run_dir, **kwargs):
    return tune(
        shifted_bowl,
        SPACE,
        mode="min",
        rounds=4,
        samples_per_round=12,
        seed=5,
        run_dir=run_dir,
        executor=SerialExecutor(shifted_bowl, param_names=list(SPACE)),
        **kwargs,
    )


def test_write_reload_and_resume_on_s3(s3, tmp_path):
    reference = run(tmp_path / "local")
    uri = f"s3://sweeps/runs/r1?{s3}"
    stop_after = {"rounds": 0}

    def note_round(round_index, done, total, not_ok):
        stop_after["rounds"] = round_index

    with pytest.raises(SweepInterrupted):
        run(uri, on_progress=note_round, should_stop=lambda: stop_after["rounds"] >= 2)
    partial = TuneResult.load(uri)
    assert partial.rounds_run == 3 and partial.run_dir == uri  # round 3 finished, then stop
    resumed = run(uri, resume=True)
    ran = ["trial_id", "worker", "shard", "started_at"]  # who ran each row, and when
    before = partial.table.select(ran)
    assert before.num_rows == 36
    assert resumed.table.slice(0, 36).select(ran).equals(before)  # committed rows not re-run
    cols = ["round", "trial_id", "x", "lr", "act", "score", "status"]
    assert resumed.table.select(cols).equals(reference.table.select(cols))
    assert resumed.ranges.equals(reference.ranges)
    loaded = TuneResult.load(uri)
    assert loaded.table.select(cols).equals(reference.table.select(cols))
    assert loaded.best_config == reference.best_config


def test_the_cli_reads_an_s3_run(s3, tmp_path):
    uri = f"s3://sweeps/runs/r2?{s3}"
    run(uri)
    exe = Path(sys.executable).with_name("sweep")
    proc = subprocess.run([str(exe), "show", uri, "--top", "2"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "top 2 trials:" in proc.stdout and "ranges per round:" in proc.stdout
    again = subprocess.run(
        [str(exe), "run", "configs/quadratic.yaml", "--run-dir", uri],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert again.returncode == 2 and "already holds a sweep run" in again.stderr


def closed_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_storage_that_cannot_be_reached_is_one_clean_store_error(tmp_path):
    from orchestrator.api import new_run_dir
    from orchestrator.data.run_store import RunStore
    from orchestrator.errors import StoreError

    options = f"endpoint_override=127.0.0.1:{closed_port()}&scheme=http&region=us-east-1"
    uri = f"s3://AKIDSECRETID:s3cr3tvalue@sweeps/runs/r9?{options}"
    attempts = {
        "create": lambda: RunStore.create(uri, {}),
        "open": lambda: RunStore.open(uri),
        "new run folder": lambda: new_run_dir(uri.replace("/r9", ""), "q"),
    }
    for what, attempt in attempts.items():
        with pytest.raises(StoreError) as caught:
            attempt()
        message = str(caught.value)
        assert "\n" not in message, what
        assert "sweeps/runs" in message and "connect" in message.lower(), (what, message)
        assert "s3cr3tvalue" not in message and "AKIDSECRETID" not in message, (what, message)


def test_a_bucket_that_does_not_exist_is_one_clean_store_error(s3):
    from orchestrator.data.run_store import RunStore
    from orchestrator.errors import StoreError

    with pytest.raises(StoreError, match=r"s3://no-such-bucket/runs/r1.*: .*") as caught:
        RunStore.create(f"s3://no-such-bucket/runs/r1?{s3}", {})
    assert "\n" not in str(caught.value)


def test_validate_reports_storage_it_cannot_write_to(s3, tmp_path):
    """sweep validate checks the storage too: one line, exit 2, before any run is tried."""
    exe = Path(sys.executable).with_name("sweep")
    base = (
        'objective: "tests.objectives:shifted_bowl"\nmode: min\n'
        "space: {x: {type: float, low: 0, high: 1}}\n"
    )
    root = Path(__file__).resolve().parent.parent
    cases = {
        "s3://K:SECRETX@sweeps/r?endpoint_override=127.0.0.1:9&scheme=http&region=us-east-1": (
            "cannot reach run storage s3://sweeps/r?endpoint_override=127.0.0.1:9"
        ),
        f"s3://no-such-bucket/runs?{s3}": "no such bucket 'no-such-bucket'",
        str(tmp_path / "a-file"): "is a file, not a folder",
    }
    (tmp_path / "a-file").write_text("x")
    for storage, message in cases.items():
        (tmp_path / "c.yaml").write_text(base + f'storage: "{storage}"\n')
        proc = subprocess.run(
            [str(exe), "validate", str(tmp_path / "c.yaml")],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert proc.returncode == 2, (storage, proc.stdout, proc.stderr)
        assert message in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert "SECRETX" not in proc.stderr
    (tmp_path / "c.yaml").write_text(base + f'storage: "s3://sweeps/runs?{s3}"\n')
    proc = subprocess.run(
        [str(exe), "validate", str(tmp_path / "c.yaml")],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
