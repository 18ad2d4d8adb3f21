import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from orchestrator.errors import ConfigError
from orchestrator.sklearn.datasets import load_dataset
from orchestrator.sklearn.splits import SplitSpec, make_split


def test_holdout_split_is_disjoint_complete_stratified_and_seeded():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    a = make_split(y, SplitSpec(test=0.2, validation=0.25), seed=3, classification=True)
    b = make_split(y, SplitSpec(test=0.2, validation=0.25), seed=3, classification=True)
    c = make_split(y, SplitSpec(test=0.2, validation=0.25), seed=4, classification=True)
    assert np.array_equal(a.test_rows, b.test_rows) and not np.array_equal(a.test_rows, c.test_rows)
    assert np.array_equal(a.tune_rows, b.tune_rows)
    assert all(np.array_equal(x, y) for fa, fb in zip(a.folds, b.folds) for x, y in zip(fa, fb))
    assert not np.array_equal(a.folds[0][1], c.folds[0][1])  # another seed, other validation rows
    assert not set(a.test_rows) & set(a.tune_rows)
    assert sorted([*a.test_rows, *a.tune_rows]) == list(range(100))
    assert np.bincount(y[a.test_rows]).tolist() == [10, 6, 4]  # stratified
    ((train, val),) = a.folds
    assert len(val) == 20 and not set(train) & set(val) and len(train) + len(val) == 80


def test_cv_folds_partition_the_tuning_rows():
    y = np.arange(60) % 2
    split = make_split(y, SplitSpec(test=0.25, cv=4), seed=0, classification=True)
    vals = np.concatenate([val for _, val in split.folds])
    assert sorted(vals.tolist()) == list(range(45)) and len(split.folds) == 4


def test_no_test_split():
    split = make_split(
        np.zeros(10), SplitSpec(test=0.0, validation=0.3), seed=0, classification=False
    )
    assert len(split.test_rows) == 0 and len(split.tune_rows) == 10


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"test": 1.5}, r"split\.test: must be in \[0, 1\)"),
        ({"cv": 1}, r"split\.cv: must be >= 2, got 1"),
        ({"cv": 3, "validation": 0.2}, "either 'validation'.*or 'cv'"),
        ({"tset": 0.2}, "unknown key 'tset'"),
        ({"test": "a lot"}, "expected a fraction"),
    ],
)
def test_split_spec_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        SplitSpec.parse(spec)


def test_builtin_datasets_load():
    for name, rows in [
        ("iris", 150),
        ("wine", 178),
        ("breast_cancer", 569),
        ("digits", 1797),
        ("diabetes", 442),
    ]:
        data = load_dataset(name)
        assert data.n_rows == rows and data.X.dtype == float and len(data.y) == rows


def test_file_datasets_and_their_errors(tmp_path):
    table = pa.table(
        {"a": [1.0, 2.0, 3.0], "b": [1, 0, 1], "label": ["x", "y", "x"], "name": ["p", "q", "r"]}
    )
    pcsv.write_csv(table, tmp_path / "d.csv")
    data = load_dataset(
        {"path": str(tmp_path / "d.csv"), "target": "label", "features": ["a", "b"]}
    )
    assert data.X.tolist() == [[1.0, 1.0], [2.0, 0.0], [3.0, 1.0]] and data.y.tolist() == [
        "x",
        "y",
        "x",
    ]
    with pytest.raises(ConfigError, match=r"feature column 'name' is string, not numeric"):
        load_dataset({"path": str(tmp_path / "d.csv"), "target": "label"})
    with pytest.raises(
        ConfigError, match=r"dataset\.target: d\.csv has no column 'lable'; did you mean 'label'"
    ):
        load_dataset({"path": str(tmp_path / "d.csv"), "target": "lable"})
    with pytest.raises(ConfigError, match=r"dataset\.path: no such file"):
        load_dataset({"path": str(tmp_path / "missing.parquet"), "target": "label"})
    with pytest.raises(ConfigError, match="unknown dataset 'wines'; did you mean 'wine'"):
        load_dataset("wines")


@pytest.mark.parametrize(
    "columns, spec, message",
    [
        ({"label": [0, 1]}, {}, r"only the target column 'label'; add feature columns"),
        ({"label": [0, 1], "a": [1.0, 2.0]}, {"features": []}, r"features: an empty list"),
        (
            {"label": [0, 1], "a": [1.0, 2.0]},
            {"features": "a"},
            r"features: expected a list of column names",
        ),
        (
            {"label": [0, 1], "a": [1.0, 2.0]},
            {"features": ["a", "label"]},
            r"features: 'label' is the target",
        ),
        (
            {"label": [0, 1], "a": [1.0, 2.0]},
            {"features": ["a", "a"]},
            r"features: 'a' is listed twice",
        ),
        (
            {"label": pa.array([], pa.int64()), "a": pa.array([], pa.float64())},
            {},
            r"d\.parquet has no rows",
        ),
    ],
)
def test_file_datasets_need_features_and_rows(tmp_path, columns, spec, message):
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), tmp_path / "d.parquet")
    with pytest.raises(ConfigError, match=message):
        load_dataset({"path": str(tmp_path / "d.parquet"), "target": "label", **spec})
