"""Fault injection: dead workers, killed coordinators, torn files, hung trials, two
coordinators, signals. Each ends with every configuration committed exactly once and the
same result as a run without the fault."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from orchestrator import Choice, Float, TuneResult, tune
from orchestrator.data.run_store import StoreWarning
from orchestrator.execution.ray_executor import RayExecutor
from orchestrator.execution.serial import SerialExecutor
from tests.objectives import (
    DiesOnce,
    always_dies_above,
    bad_outputs,
    hangs_above,
    shifted_bowl,
    slow_bowl,
)

ROOT = Path(__file__).resolve().parent.parent
SPACE = {"x": Float(0.0, 1.0), "lr": Float(1e-5, 1e-1, log=True), "act": Choice(["a", "b"])}
COLS = ["round", "trial_id", "config_id", "x", "lr", "act", "score", "status"]


def same_run(a, b):
    assert a.table.select(COLS).equals(b.table.select(COLS))
    assert a.ranges.equals(b.ranges)
    assert a.best_config == b.best_config


def one_row_each(result, per_round):
    ids = result.table.column("trial_id").to_pylist()
    assert ids == list(range(len(ids))) and len(ids) == result.rounds_run * per_round


RAN = ["worker", "shard", "started_at"]  # who ran a row, in which shard, when


def committed_rows(run, per_round):
    """Where and when each row committed so far ran, by the trial_id it ends up with.

    Read before a resume: round files hold final trial ids; a running round's partial
    files hold work keys (the configuration's index in its round, without a budget).
    """
    rows = {}
    for path in sorted((run / "trials").glob("round-*.parquet")):
        for r in pq.read_table(path, columns=["trial_id", *RAN]).to_pylist():
            rows[r["trial_id"]] = tuple(r[c] for c in RAN)
    for path in sorted((run / "trials" / "_partial").glob("round-*/part-*.parquet")):
        first = int(path.parent.name.split("-")[1]) * per_round
        for r in pq.read_table(path, columns=["trial_id", *RAN]).to_pylist():
            rows[first + r["trial_id"]] = tuple(r[c] for c in RAN)
    return rows


def not_run_again(result, committed):
    """Rows committed before a crash are kept as they were: same worker, shard and start."""
    after = {
        r["trial_id"]: tuple(r[c] for c in RAN)
        for r in result.table.select(["trial_id", *RAN]).to_pylist()
    }
    changed = {t: (was, after[t]) for t, was in committed.items() if after[t] != was}
    assert not changed, f"committed rows were run again: {list(changed.items())[:3]}"


# -- workers that die ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference(ray_cluster, tmp_path_factory):
    return tune(
        shifted_bowl,
        SPACE,
        mode="min",
        rounds=3,
        samples_per_round=24,
        seed=9,
        workers=2,
        run_dir=tmp_path_factory.mktemp("ref") / "run",
    )


@pytest.mark.ray
def test_os_exit_inside_the_objective_loses_nothing(reference, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    result = tune(
        DiesOnce(markers),
        SPACE,
        mode="min",
        rounds=3,
        samples_per_round=24,
        seed=9,
        workers=2,
        run_dir=tmp_path / "run",
    )
    assert len(list(markers.iterdir())) > 0  # workers really died
    one_row_each(result, 24)
    same_run(result, reference)


class WatchedExecutor(RayExecutor):
    """A RayExecutor that remembers which work keys of which round went to which worker in
    which shard, and every worker it (re)started."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.sent, self.started = [], []
        self._round = None

    def dispatch(self, should_stop=None):
        runner = super().dispatch(should_stop)
        send = runner._send

        def watched_send(worker, tag, items, alone=False):
            self._round = tag
            send(worker, tag, items, alone)

        runner._send = watched_send
        return runner

    def submit(self, index, shard_id, items):
        ref = super().submit(index, shard_id, items)
        self.sent.append((self._round, index, shard_id, [it.key for it in items], ref))
        return ref

    def outstanding(self, worker, round_index):
        """(shard, keys) of a round sent to ``worker`` whose results are not back yet."""
        import ray

        return [
            (s, keys)
            for r, w, s, keys, ref in self.sent
            if r == round_index and w == worker and not ray.wait([ref], timeout=0)[0]
        ]

    def replace_actor(self, index, *, kill=False):
        self.started.append(index)
        return super().replace_actor(index, kill=kill)


@pytest.mark.ray
def test_ray_kill_of_a_worker_mid_round_loses_nothing(reference, tmp_path):
    import ray

    # slow_bowl: shifted_bowl's scores, 30 ms a trial, so a shard is still out when killed
    executor = WatchedExecutor(slow_bowl, param_names=list(SPACE), workers=2)
    at_kill = {}

    def kill_once(round_index, done, total, not_ok):
        held = executor.outstanding(0, 1) if round_index == 1 and not at_kill and done >= 2 else []
        if held:  # kill worker 0 while it holds work
            at_kill.update(done=done, started=len(executor.started), held=held)
            ray.kill(executor._actors[0], no_restart=True)

    result = tune(
        slow_bowl,
        SPACE,
        mode="min",
        rounds=3,
        samples_per_round=24,
        seed=9,
        run_dir=tmp_path / "run",
        executor=executor,
        on_progress=kill_once,
    )
    assert at_kill and at_kill["done"] < 24  # the kill landed mid-round
    assert 0 in executor.started[at_kill["started"] :]  # the killed worker was replaced
    shard_of = {r["trial_id"]: r["shard"] for r in result.table.to_pylist() if r["round"] == 1}
    # configurations w0 held when it was killed came back from a later shard: re-run
    rerun = [key for shard, keys in at_kill["held"] for key in keys if shard_of[24 + key] != shard]
    assert rerun
    one_row_each(result, 24)
    same_run(result, reference)


@pytest.mark.ray
def test_a_configuration_that_always_kills_its_worker_gets_a_failed_row(ray_cluster, tmp_path):
    result = tune(
        always_dies_above,
        {"x": Float(0.0, 1.0)},
        mode="min",
        rounds=1,
        samples_per_round=20,
        seed=1,
        workers=2,
        run_dir=tmp_path / "run",
    )
    rows = result.table.to_pylist()
    assert len(rows) == 20
    killers = [r for r in rows if r["x"] > 0.9]
    died_twice = "worker died while running this configuration (2 times); not retried again"
    assert killers and all(r["status"] == "failed" and r["error"] == died_twice for r in killers)
    assert all(r["status"] == "ok" for r in rows if r["x"] <= 0.9)


@pytest.mark.ray
def test_a_hung_objective_times_out_and_the_round_finishes(ray_cluster, tmp_path):
    started = time.monotonic()
    result = tune(
        hangs_above,
        {"x": Float(0.0, 1.0)},
        mode="min",
        rounds=2,
        samples_per_round=12,
        seed=2,
        workers=2,
        trial_timeout_s=1.0,
        run_dir=tmp_path / "run",
    )
    assert time.monotonic() - started < 40
    rows = result.table.to_pylist()
    hung = [r for r in rows if r["x"] > 0.85]
    assert hung and all(
        r["status"] == "timeout" and "trial_timeout_s=1" in r["error"] for r in hung
    )
    assert len(rows) == 24 and all(r["status"] == "ok" for r in rows if r["x"] <= 0.85)


@pytest.mark.ray
def test_bad_objective_outputs_become_rows_and_the_sweep_goes_on(ray_cluster, tmp_path):
    result = tune(
        bad_outputs,
        {"x": Float(0.0, 1.0)},
        mode="max",
        rounds=1,
        samples_per_round=60,
        seed=0,
        workers=2,
        run_dir=tmp_path / "run",
    )
    by_case = {}
    for r in result.table.to_pylist():
        by_case.setdefault(int(r["x"] * 10), set()).add((r["status"], r["error"]))
    expected = {
        0: ("invalid", "score must be a finite number, got NoneType: None"),
        1: ("invalid", "score must be a finite number, got str: '0.5'"),
        2: ("invalid", "score is nan"),
        3: ("invalid", "score is inf"),
        4: ("invalid", "score must be a finite number, got ndarray"),
        5: ("invalid", "dict result has no 'score' key (keys: loss)"),
        6: ("failed", "_Unpicklable: carries a lock"),
        7: ("failed", "SystemExit: 3"),
    }
    for case, (status, error) in expected.items():
        assert case in by_case
        assert all(s == status and e.startswith(error) for s, e in by_case[case]), by_case[case]
    assert result.best_score is not None and result.best_score >= 0.8


# -- a killed coordinator, resumed ---------------------------------------------------------
CONFIG = """\
objective: "tests.objectives:slow_bowl"
mode: min
space:
  x:   {type: float, low: 0, high: 1}
  lr:  {type: float, low: 1e-5, high: 1e-1, log: true}
  act: {type: choice, values: [a, b]}
rounds: 4
samples_per_round: 30
workers: 2
seed: 4
"""


def sweep(*args, env=None, timeout=240):
    """Run the sweep command in its own process group; clean that group up afterwards."""
    exe = Path(sys.executable).with_name("sweep")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "orchestrator.cli"]
    proc = subprocess.Popen(
        cmd + [str(a) for a in args],
        cwd=ROOT,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        kill_group(proc.pid)
    return proc.returncode, out, err


def kill_group(pgid):
    """End whatever is left of a process group we started (Ray helpers of a killed driver)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@pytest.fixture(scope="module")
def cli_reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("cliref")
    (d / "c.yaml").write_text(CONFIG)
    code, out, err = sweep("run", d / "c.yaml", "--run-dir", d / "run")
    assert code == 0, err
    return TuneResult.load(d / "run"), d / "c.yaml"


@pytest.mark.e2e
@pytest.mark.parametrize(
    "crash_at, committed_at_least",
    [
        ("partial:2", 1),  # mid-round 0: two partial commits
        ("round:2", 60),  # between rounds: rounds 0 and 1 committed
        ("write:3", 0),  # inside the first metadata update: no trial yet
        ("partial:7", 31),  # mid-round 1: round 0 and partial commits of round 1
    ],
)
def test_resume_after_a_crash_equals_an_uninterrupted_run(
    cli_reference, tmp_path, crash_at, committed_at_least
):
    reference, config = cli_reference
    run = tmp_path / "run"
    code, _, _ = sweep(
        "run",
        config,
        "--run-dir",
        run,
        env={"SWEEP_CRASH_AT": crash_at, "SWEEP_COMMIT_EVERY_S": "0.1"},
    )
    assert code == 137  # died at the crash point, like kill -9
    meta = json.loads((run / "run.json").read_text())
    assert meta["state"] == "running"  # nobody had a chance to say otherwise
    committed = committed_rows(run, 30)
    assert len(committed) >= committed_at_least
    code, out, err = sweep("resume", run)
    assert code == 0, err
    assert "resuming" in out and "taking over the lock" in err
    result = TuneResult.load(run)
    one_row_each(result, 30)
    same_run(result, reference)
    not_run_again(result, committed)
    code, out, _ = sweep("resume", run)
    assert code == 0 and "already finished" in out


@pytest.fixture(scope="module")
def overlap_reference(tmp_path_factory):
    d = tmp_path_factory.mktemp("overlapref")
    (d / "c.yaml").write_text(CONFIG + "overlap: 2\n")  # up to three rounds out at once
    code, _, err = sweep("run", d / "c.yaml", "--run-dir", d / "run")
    assert code == 0, err
    return TuneResult.load(d / "run"), d / "c.yaml"


@pytest.mark.e2e
@pytest.mark.parametrize("crash_at", ["round:2", "partial:6"])
def test_a_crash_with_rounds_overlapping_resumes_to_the_uninterrupted_run(
    overlap_reference, tmp_path, crash_at
):
    # round:2 dies right after round 1 is committed, with rounds 2 and 3 already out
    reference, config = overlap_reference
    run = tmp_path / "run"
    env = {"SWEEP_CRASH_AT": crash_at, "SWEEP_COMMIT_EVERY_S": "0.1"}
    code, _, _ = sweep("run", config, "--run-dir", run, env=env)
    assert code == 137
    committed = committed_rows(run, 30)
    assert committed
    code, _, err = sweep("resume", run)
    assert code == 0, err
    result = TuneResult.load(run)
    assert json.loads((run / "run.json").read_text())["overlap"] == 2
    one_row_each(result, 30)
    same_run(result, reference)
    not_run_again(result, committed)


@contextmanager
def running_sweep(config, run, env=None, follow_stderr=False):
    """A `sweep run` in the background (own process group, output captured), cleaned up.

    With ``follow_stderr`` a thread collects stderr lines as they come (``proc.err_lines``);
    then wait for the process with ``proc.wait``, not ``communicate``.
    """
    exe = Path(sys.executable).with_name("sweep")
    proc = subprocess.Popen(
        [str(exe), "run", str(config), "--run-dir", str(run)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL if follow_stderr else subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    reader = None
    if follow_stderr:
        proc.err_lines = []
        reader = threading.Thread(target=lambda: proc.err_lines.extend(proc.stderr), daemon=True)
        reader.start()
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        if reader is None:
            proc.communicate(timeout=60)
        else:
            proc.wait(timeout=60)
            reader.join(timeout=10)
        kill_group(proc.pid)


def wait_for(proc, ready):
    deadline = time.monotonic() + 120
    while not ready():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)


@pytest.mark.e2e
def test_sigkill_mid_round_then_resume(cli_reference, tmp_path):
    reference, config = cli_reference
    run = tmp_path / "run"
    with running_sweep(config, run, env={"SWEEP_COMMIT_EVERY_S": "0.1"}) as proc:
        wait_for(proc, lambda: list((run / "trials").glob("_partial/round-00001/part-*")))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # the kill landed mid-round 1: the sweep was running, round 1 only partly committed
    assert json.loads((run / "run.json").read_text())["state"] == "running"
    assert not (run / "trials" / "round-00001.parquet").exists()
    committed = committed_rows(run, 30)
    assert set(range(30)) < set(committed) and any(t >= 30 for t in committed)
    assert len(committed) < 60
    code, _, err = sweep("resume", run)
    assert code == 0, err
    result = TuneResult.load(run)
    one_row_each(result, 30)
    same_run(result, reference)
    not_run_again(result, committed)


@pytest.mark.e2e
def test_sigint_stops_after_committing_and_says_how_to_resume(cli_reference, tmp_path):
    reference, config = cli_reference
    run = tmp_path / "run"
    with running_sweep(config, run) as proc:
        wait_for(proc, (run / "trials" / "round-00000.parquet").exists)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert f"Resume with: sweep resume {run}" in err
    assert json.loads((run / "run.json").read_text())["state"] == "interrupted"
    code, _, err = sweep("resume", run)
    assert code == 0, err
    same_run(TuneResult.load(run), reference)


@pytest.mark.e2e
def test_sigterm_stops_gracefully_and_a_second_signal_stops_at_once(cli_reference, tmp_path):
    _, config = cli_reference
    run = tmp_path / "run"
    with running_sweep(config, run) as proc:
        wait_for(proc, (run / "trials" / "round-00000.parquet").exists)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and "Resume with: sweep resume" in err
    # Workers that take 60 s to load: a first Ctrl+C is noted, but the sweep can only stop
    # gracefully once they are up; the second stops it at once.
    markers = tmp_path / "markers"
    markers.mkdir()
    slow = tmp_path / "slow.yaml"
    slow.write_text(CONFIG.replace("tests.objectives:slow_bowl", "tests.objectives:loads_slowly"))
    with running_sweep(
        slow, tmp_path / "again", env={"SWEEP_TEST_MARKERS": str(markers)}, follow_stderr=True
    ) as proc:
        wait_for(proc, lambda: any(markers.iterdir()))  # a worker is loading
        proc.send_signal(signal.SIGINT)
        first = time.monotonic()
        wait_for(proc, lambda: any("stopping after committing" in line for line in proc.err_lines))
        time.sleep(2.0)
        assert proc.poll() is None  # the first stop waits for the workers
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=60)
        stopped_after = time.monotonic() - first
    assert proc.returncode == 130
    assert stopped_after < 20  # the workers would have needed 60 s to load
    assert "sweep resume" in "".join(proc.err_lines)


@pytest.mark.e2e
def test_a_second_coordinator_on_the_same_run_is_refused(cli_reference, tmp_path):
    _, config = cli_reference
    run = tmp_path / "run"
    with running_sweep(config, run) as first:
        wait_for(first, (run / ".lock").exists)
        code, _, err = sweep("resume", run)
        assert code == 2 and "is in use by another sweep (pid" in err
        code, _, err = sweep("run", config, "--run-dir", run)
        assert code == 2 and "already holds a sweep run" in err
        first.wait(timeout=120)
    assert first.returncode == 0


# -- damaged files -------------------------------------------------------------------------
def serial_run(tmp_path, name, resume=False):
    return tune(
        shifted_bowl,
        SPACE,
        mode="min",
        rounds=4,
        samples_per_round=10,
        seed=3,
        run_dir=tmp_path / name,
        resume=resume,
        executor=SerialExecutor(shifted_bowl, param_names=list(SPACE)),
    )


def test_a_torn_parquet_file_and_a_stray_temp_file_are_survived(tmp_path):
    reference = serial_run(tmp_path, "ref")
    serial_run(tmp_path, "run")  # the run whose round file is damaged below
    path = tmp_path / "run" / "trials" / "round-00003.parquet"
    path.write_bytes(path.read_bytes()[:100])  # the newest round file, torn
    (tmp_path / "run" / "trials" / ".round-00004.parquet.x1.tmp").write_bytes(b"PAR1 half")
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    (tmp_path / "run" / "run.json").write_text(json.dumps({**meta, "state": "running"}))
    with pytest.warns(StoreWarning, match="round-00003.parquet"):
        assert TuneResult.load(tmp_path / "run").table.num_rows == 30  # still readable
    with pytest.warns(StoreWarning, match="round-00003.parquet"):
        resumed = serial_run(tmp_path, "run", resume=True)
    same_run(resumed, reference)
    assert pq.read_table(path).num_rows == 10


def test_a_damaged_run_json_falls_back_to_the_first_record(tmp_path):
    serial_run(tmp_path, "run")
    (tmp_path / "run" / "run.json").write_text('{"half": ')
    with pytest.warns(StoreWarning, match="run.json is unreadable"):
        assert TuneResult.load(tmp_path / "run").table.num_rows == 40


def test_resume_refuses_other_settings(tmp_path):
    serial_run(tmp_path, "run")
    with pytest.raises(Exception, match="it was started with seed=3, not 4"):
        tune(
            shifted_bowl,
            SPACE,
            mode="min",
            rounds=4,
            samples_per_round=10,
            seed=4,
            run_dir=tmp_path / "run",
            resume=True,
            executor=SerialExecutor(shifted_bowl, param_names=list(SPACE)),
        )
