import json

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from orchestrator.data.run_store import RunStore, StoreWarning, atomic_write
from orchestrator.errors import StoreError


def table(round_index, n=3, extra=None):
    cols = {
        "round": pa.array([round_index] * n, pa.int32()),
        "trial_id": pa.array(range(n), pa.int64()),
        "score": pa.array([0.5] * n),
    }
    if extra:
        cols[extra] = pa.array([1.0] * n)
    return pa.table(cols)


def test_create_write_and_reload(tmp_path):
    store = RunStore.create(tmp_path / "run", {"name": "t"})
    store.write_round(0, table(0))
    store.write_round(1, table(1, extra="acc"))  # a metric that appears later
    loaded = RunStore.open(tmp_path / "run").load_trials()
    assert loaded.num_rows == 6
    assert loaded.column("acc").to_pylist() == [None] * 3 + [1.0] * 3
    assert json.loads((tmp_path / "run" / "run.json").read_text())["name"] == "t"


def test_no_temporary_files_are_left_and_datasets_ignore_hidden_ones(tmp_path):
    store = RunStore.create(tmp_path / "run", {})
    store.write_round(0, table(0))
    (tmp_path / "run" / "trials" / ".round-00001.parquet.abc.tmp").write_bytes(b"half a file")
    names = sorted(p.name for p in (tmp_path / "run" / "trials").iterdir())
    assert names == [".round-00001.parquet.abc.tmp", "round-00000.parquet"]  # nothing else
    assert ds.dataset(tmp_path / "run" / "trials").to_table().num_rows == 3
    assert store.load_trials().num_rows == 3


def test_a_failed_write_leaves_the_old_file(tmp_path):
    target = tmp_path / "f.txt"
    target.write_text("old")

    def explode(fh):
        fh.write("new, half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, explode, binary=False)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


def test_refuses_to_overwrite_a_run_and_rejects_non_runs(tmp_path):
    RunStore.create(tmp_path / "run", {})
    with pytest.raises(StoreError, match="already holds a sweep run"):
        RunStore.create(tmp_path / "run", {})
    with pytest.raises(StoreError, match="does not exist"):
        RunStore.open(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(StoreError, match="is not a sweep run"):
        RunStore.open(tmp_path / "empty")
    (tmp_path / "run" / "run.json").write_text("{not json")
    with pytest.warns(StoreWarning, match="run.json is unreadable"):
        assert RunStore.open(tmp_path / "run").metadata() == {}  # config.json's copy
    (tmp_path / "run" / "config.json").write_text("")
    with pytest.raises(StoreError, match="cannot read"):
        RunStore.open(tmp_path / "run")


def test_torn_round_files_are_skipped_with_a_warning(tmp_path):
    store = RunStore.create(tmp_path / "run", {})
    store.write_round(0, table(0))
    store.write_round(1, table(1))
    path = store.round_path(1)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])  # a torn write
    with pytest.warns(StoreWarning, match=r"skipping unreadable file .*round-00001\.parquet"):
        loaded = store.load_trials()
    assert loaded.column("round").to_pylist() == [0, 0, 0]


def test_partial_commits_load_in_order_and_clear_with_the_round(tmp_path):
    store = RunStore.create(tmp_path / "run", {})
    store.write_partial(2, 0, table(2, n=1))
    store.write_partial(2, 1, table(2, n=2))
    assert [t.num_rows for t in store.load_partials(2)] == [1, 2]
    assert ds.dataset(tmp_path / "run" / "trials").count_rows() == 0  # hidden from readers
    store.write_round(2, table(2))
    assert store.load_partials(2) == []


def test_lock_refuses_a_live_owner_and_takes_over_a_dead_one(tmp_path):
    import os
    import subprocess
    import sys

    store = RunStore.create(tmp_path / "run", {})
    with store.locked():
        with pytest.raises(StoreError, match=rf"in use by another sweep \(pid {os.getpid()}"):
            with RunStore.open(tmp_path / "run").locked():
                pass
    assert not (tmp_path / "run" / ".lock").exists()
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    import json
    import socket

    (tmp_path / "run" / ".lock").write_text(
        json.dumps({"host": socket.gethostname(), "pid": int(dead)})
    )
    with pytest.warns(StoreWarning, match=f"left by process {dead}, which is gone"):
        with store.locked():
            assert json.loads((tmp_path / "run" / ".lock").read_text())["pid"] == os.getpid()


def test_every_round_file_shares_one_schema_for_any_parquet_reader(tmp_path):
    import duckdb

    store = RunStore.create(tmp_path / "run", {})
    store.write_round(0, table(0))
    late = table(1, extra="acc")
    store.write_round(1, late)
    drift = table(2).append_column("acc", pa.array(["n/a"] * 3))  # number before, text now
    store.write_round(2, drift)
    dataset = ds.dataset(tmp_path / "run" / "trials").to_table()
    assert dataset.schema.field("acc").type == pa.string()
    from collections import Counter

    assert Counter(dataset.column("acc").to_pylist()) == {"1": 3, "n/a": 3, None: 3}
    got = duckdb.sql(f"select count(acc) from '{tmp_path}/run/trials/*.parquet'").fetchall()[0][0]
    assert got == 6
