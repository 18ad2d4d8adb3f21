"""The run store's files: their permissions and the lock that keeps one coordinator per run."""

import os
import stat

import pyarrow as pa
import pytest

from orchestrator.store import RunStore, atomic_write


def table(round_index, n=3):
    return pa.table({"round": pa.array([round_index] * n, pa.int32()),
                     "trial_id": pa.array(range(n), pa.int64()), "score": pa.array([0.5] * n)})


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
    files = ["run.json", "config.json", "trials/round-00000.parquet", "ranges.parquet",
             "trials/_partial/round-00001/part-000000.parquet", "test.json"]
    assert {f: oct(mode(tmp_path / "run" / f)) for f in files} == {f: oct(want) for f in files}
    assert (oct(temporary["mode"]), oct(lock_mode)) == (oct(want), oct(want))
