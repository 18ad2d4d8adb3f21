"""The run store's files: their permissions and the lock that keeps one coordinator per run."""

import json
import os
import socket
import stat
import subprocess
import sys
import threading

import pyarrow as pa
import pytest

from orchestrator.data.run_store import RunStore, StoreWarning, atomic_write
from orchestrator.errors import StoreError


def table(round_index, n=3):
    return pa.table(
        {
            "round": pa.array([round_index] * n, pa.int32()),
            "trial_id": pa.array(range(n), pa.int64()),
            "score": pa.array([0.5] * n),
        }
    )


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def umask():
    """Set a umask for one test, then put the old one back."""
    old = os.umask(0o022)
    os.umask(old)
    yield os.umask
    os.umask(old)


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_run_files_get_the_mode_the_umask_gives(tmp_path, umask, mask):
    umask(mask)
    store = RunStore.create(tmp_path / "run", {"name": "t"})
    store.write_round(0, table(0))
    store.write_partial(1, 0, table(1))
    store.write_ranges(table(0))
    temporary = {}

    def note_mode(fh):
        temporary["mode"] = stat.S_IMODE(os.fstat(fh.fileno()).st_mode)
        fh.write(b"{}")

    atomic_write(tmp_path / "run" / "test.json", note_mode)
    with store.locked():
        lock_mode = mode(tmp_path / "run" / ".lock")
    want = 0o666 & ~mask
    files = [
        "run.json",
        "config.json",
        "trials/round-00000.parquet",
        "ranges.parquet",
        "trials/_partial/round-00001/part-000000.parquet",
        "test.json",
    ]
    assert {f: oct(mode(tmp_path / "run" / f)) for f in files} == {f: oct(want) for f in files}
    assert (oct(temporary["mode"]), oct(lock_mode)) == (oct(want), oct(want))


# -- the lock ---------------------------------------------------------------------------------


def dead_pid():
    """The pid of a process that has ended."""
    proc = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(proc.stdout)


def stale_lock(folder, pid, **extra):
    (folder / ".lock").write_text(json.dumps({"host": socket.gethostname(), "pid": pid, **extra}))


def contend(folder, rounds, barrier, results):
    """One of several processes that all try to take the same stale lock, ``rounds`` times."""
    import warnings

    from orchestrator.data.filesystem import Location
    from orchestrator.data.run_store import acquire_lock
    from orchestrator.errors import StoreError

    warnings.simplefilter("ignore")
    try:
        for r in range(rounds):
            barrier.wait()  # the parent has written a stale lock
            try:
                acquire_lock(Location.of(os.path.join(folder, ".lock")), folder)
                results.put((r, os.getpid(), "won"))
            except StoreError as exc:
                results.put((r, os.getpid(), f"refused: {exc}"))
            barrier.wait()  # every process has tried (the winner keeps the lock: it is alive)
    except threading.BrokenBarrierError:  # the test failed and let everyone go
        return


def test_several_processes_taking_over_one_stale_lock_at_once_give_one_owner(tmp_path):
    import multiprocessing

    processes, rounds = 6, 4
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(processes + 1), ctx.Queue()
    workers = [
        ctx.Process(target=contend, args=(str(tmp_path), rounds, barrier, results))
        for _ in range(processes)
    ]
    for w in workers:
        w.start()
    try:
        winners = []
        for _ in range(rounds):
            stale_lock(tmp_path, dead_pid())
            barrier.wait(timeout=120)
            barrier.wait(timeout=120)
            outcomes = [results.get(timeout=60) for _ in range(processes)]
            won = [pid for _, pid, what in outcomes if what == "won"]
            refused = [what for _, _, what in outcomes if what != "won"]
            winners.append(len(won))
            owner = json.loads((tmp_path / ".lock").read_text())["pid"]
            assert won == [owner], outcomes
            assert all("is in use by another sweep (pid" in what for what in refused), refused
            assert [p.name for p in tmp_path.iterdir()] == [".lock"]  # no marker left behind
        assert winners == [1] * rounds
    finally:
        barrier.abort()
        for w in workers:
            w.join(timeout=60)
            if w.is_alive():
                w.kill()


def test_a_lock_with_our_pid_not_taken_by_this_process_is_taken_over(tmp_path):
    store = RunStore.create(tmp_path / "run", {})
    # a restarted container: the dead coordinator had the pid we have now
    stale_lock(tmp_path / "run", os.getpid())
    with pytest.warns(StoreWarning, match="taking over the lock"):
        with store.locked():
            assert json.loads((tmp_path / "run" / ".lock").read_text())["pid"] == os.getpid()
            with pytest.raises(StoreError, match=rf"in use by another sweep \(pid {os.getpid()}"):
                with RunStore.open(tmp_path / "run").locked():
                    pass
    assert not (tmp_path / "run" / ".lock").exists()


def test_a_live_pid_that_started_after_the_lock_was_taken_does_not_hold_it(tmp_path):
    store = RunStore.create(tmp_path / "run", {})
    taker = (
        "import sys; from orchestrator.data.filesystem import Location; "
        "from orchestrator.data.run_store import acquire_lock; "
        "acquire_lock(Location.of(sys.argv[1]), 'run')"
    )
    subprocess.run([sys.executable, "-c", taker, str(tmp_path / "run" / ".lock")], check=True)
    record = json.loads((tmp_path / "run" / ".lock").read_text())
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as other:
        try:  # the dead taker's pid now belongs to another, live process
            stale_lock(
                tmp_path / "run",
                other.pid,
                **{k: v for k, v in record.items() if k not in ("host", "pid")},
            )
            with pytest.warns(StoreWarning, match="taking over the lock"):
                with store.locked():
                    pass
        finally:
            other.kill()


def test_release_leaves_a_lock_that_is_not_ours(tmp_path):
    store = RunStore.create(tmp_path / "run", {})
    lock = tmp_path / "run" / ".lock"
    with store.locked():
        record = json.loads(lock.read_text())
        lock.write_text(json.dumps({**record, "host": "elsewhere"}))  # same pid, other host
    assert json.loads(lock.read_text())["host"] == "elsewhere"
    lock.unlink()
    with store.locked():
        record = json.loads(lock.read_text())
        lock.write_text(json.dumps({**record, "token": "someone-else"}))  # same host and pid
    assert json.loads(lock.read_text()).get("token") == "someone-else"


def test_store_errors_name_a_uri_without_its_credentials():
    from orchestrator.data.filesystem import safe_text

    uri = "s3://AKID:s3cr3t@bucket/runs?region=x&secret_key=SK123&session_token=TOK9"
    assert safe_text(uri) == "s3://bucket/runs?region=x"  # as redact_uri shows every location
    assert safe_text(uri, "denied for s3cr3t/SK123/TOK9") == "denied for ***/***/***"
    assert safe_text("runs/r1") == "runs/r1"
