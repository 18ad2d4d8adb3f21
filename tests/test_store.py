import json

import pyarrow as pa
import pyarrow.dataset as ds
import pytest

from orchestrator.errors import StoreError
from orchestrator.store import RunStore, atomic_write


def table(round_index, n=3, extra=None):
    cols = {"round": pa.array([round_index] * n, pa.int32()), "trial_id": pa.array(range(n), pa.int64()),
            "score": pa.array([0.5] * n)}
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
    assert names == [".round-00001.parquet.abc.tmp", "round-00000.parquet"]
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
    with pytest.raises(StoreError, match="cannot read"):
        RunStore.open(tmp_path / "run")
