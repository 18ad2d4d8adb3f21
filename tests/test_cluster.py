"""Sweeps on a real Ray cluster (a head on 127.0.0.1 that this test starts and stops),
submitted through the Jobs API with `sweep submit`."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from orchestrator import TuneResult

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`ray start --head --block` in its own process group; the group is ended afterwards."""
    dashboard = free_port()
    ports = {
        "--port": free_port(),
        "--dashboard-port": dashboard,
        "--ray-client-server-port": free_port(),
        "--dashboard-agent-listen-port": free_port(),
        "--dashboard-agent-grpc-port": free_port(),
        "--runtime-env-agent-port": free_port(),
        "--metrics-export-port": free_port(),
        "--node-manager-port": free_port(),
        "--object-manager-port": free_port(),
    }
    cmd = [
        str(BIN / "ray"),
        "start",
        "--head",
        "--block",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        "--num-cpus=2",
        "--disable-usage-stats",
        f"--temp-dir={tmp_path_factory.mktemp('ray')}",
    ]
    cmd += [f"{k}={v}" for k, v in ports.items()]
    # As on a real cluster, the `python` on the head's PATH is the one Ray is installed in.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    head = subprocess.Popen(
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    address = f"http://127.0.0.1:{dashboard}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert head.poll() is None, "ray start exited"
            try:
                socket.create_connection(("127.0.0.1", dashboard), timeout=1).close()
                if sweep("jobs", "--address", address).returncode == 0:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the Ray head did not come up"
            time.sleep(0.5)
        yield address
    finally:
        # `ray start --block` stops its own processes on SIGTERM in about 2 s; the same
        # signal sent to the whole group at once left it waiting past 20 s. Whatever of the
        # group is left after that is killed.
        head.terminate()
        try:
            head.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(head.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        head.wait()


def sweep(*args, timeout=300, cwd=ROOT):
    return subprocess.run(
        [str(BIN / "sweep"), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "RAY_ADDRESS": ""},
    )


def test_submit_wait_logs_and_results(cluster, tmp_path):
    run_dir = tmp_path / "quad"
    proc = sweep(
        "submit", "configs/quadratic.yaml", "--address", cluster, "--run-dir", run_dir, "--wait"
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    job = proc.stdout.split("submitted job ")[1].split()[0]
    assert "round 1/10" in proc.stdout and f"job {job}: SUCCEEDED" in proc.stdout
    result = TuneResult.load(run_dir)
    assert result.table.num_rows == result.rounds_run * 32 and result.best_score < 0.05
    logs = sweep("logs", job, "--address", cluster)
    assert logs.returncode == 0 and "round 1/10" in logs.stdout
    status = sweep("status", job, "--address", cluster)
    assert "SUCCEEDED" in status.stdout
    listing = sweep("jobs", "--address", cluster)
    assert job in listing.stdout and str(run_dir) in listing.stdout


def test_stop_leaves_a_resumable_store(cluster, tmp_path):
    (tmp_path / "slow.yaml").write_text(
        'objective: "slow_objective:score"\nmode: min\nrounds: 40\nsamples_per_round: 20\n'
        "space: {x: {type: float, low: 0, high: 1}}\n"
    )
    (tmp_path / "slow_objective.py").write_text(
        "import time\n\ndef score(c):\n    time.sleep(0.05)\n    return (c['x'] - 0.3) ** 2\n"
    )
    run_dir = tmp_path / "runs" / "slow"
    proc = sweep("submit", "slow.yaml", "--address", cluster, "--run-dir", run_dir, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.split("submitted job ")[1].split()[0]
    deadline = time.monotonic() + 120
    while not (run_dir / "trials" / "round-00001.parquet").exists():
        assert time.monotonic() < deadline
        time.sleep(0.2)
    assert sweep("stop", job, "--address", cluster).returncode == 0
    while "RUNNING" in sweep("status", job, "--address", cluster).stdout:
        assert time.monotonic() < deadline + 60
        time.sleep(0.5)
    meta = json.loads((run_dir / "run.json").read_text())
    assert meta["state"] == "interrupted"
    done = TuneResult.load(run_dir).rounds_run
    assert 1 <= done < 40
    marks = ["trial_id", "worker", "shard", "started_at"]
    committed = TuneResult.load(run_dir).table.select(marks).to_pylist()
    resumed = sweep("resume", run_dir, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    result = TuneResult.load(run_dir)
    assert result.rounds_run > done
    assert result.table.column("trial_id").to_pylist() == list(range(result.rounds_run * 20))
    # what was committed on the cluster was not run again, and every row's score is its own
    assert result.table.select(marks).slice(0, len(committed)).to_pylist() == committed
    for row in result.table.to_pylist():
        assert row["score"] == pytest.approx((row["x"] - 0.3) ** 2, rel=1e-12, abs=1e-15)


def test_submit_refuses_a_config_outside_the_working_dir(cluster, tmp_path):
    (tmp_path / "c.yaml").write_text(
        "objective: 'a:b'\nmode: min\nspace: {x: {type: float, low: 0, high: 1}}\n"
    )
    proc = sweep("submit", tmp_path / "c.yaml", "--address", cluster)
    assert proc.returncode == 2 and "is outside the working directory" in proc.stderr


def test_a_working_dir_too_large_to_ship_is_refused_before_sending(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "objective: 'a:b'\nmode: min\nspace: {x: {type: float, low: 0, high: 1}}\n"
    )
    with open(tmp_path / "data.bin", "wb") as fh:  # sparse: large, but costs no disk
        fh.truncate(101 * 2**20)
    proc = sweep("submit", "c.yaml", "--address", "http://127.0.0.1:9", cwd=tmp_path)
    assert proc.returncode == 2 and "would ship 101 MiB (limit 100 MiB)" in proc.stderr
    proc = sweep(
        "submit", "c.yaml", "--address", "http://127.0.0.1:9", "--exclude", "*.bin", cwd=tmp_path
    )
    assert (
        proc.returncode == 1
        and "cannot reach the Ray Jobs API at http://127.0.0.1:9" in proc.stderr
    )
