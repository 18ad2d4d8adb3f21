import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workers.evaluate import (
    RESERVED_COLUMNS,
    RESULT_SCHEMA,
    batch_from_bytes,
    batch_to_bytes,
    evaluate_shard,
)


def run(objective, configs, taken=RESERVED_COLUMNS):
    batch = evaluate_shard(
        objective,
        shard_id=3,
        trial_ids=list(range(10, 10 + len(configs))),
        configs=configs,
        worker="w1",
        taken_names=taken,
    )
    return batch.to_pylist()


@pytest.mark.parametrize(
    "returned, status, score, error",
    [
        (0.5, "ok", 0.5, None),
        (2, "ok", 2.0, None),
        (np.float32(1.5), "ok", 1.5, None),
        ({"score": 0.25, "acc": 0.9}, "ok", 0.25, None),
        (float("nan"), "invalid", None, "score is nan"),
        (math.inf, "invalid", None, "score is inf"),
        ("0.5", "invalid", None, "score must be a finite number, got str"),
        (None, "invalid", None, "got NoneType"),
        (True, "invalid", None, "got bool"),
        ({"loss": 1.0}, "invalid", None, "dict result has no 'score' key (keys: loss)"),
        ({"score": float("nan")}, "invalid", None, "score is nan"),
    ],
)
def test_return_values_are_classified(returned, status, score, error):
    (row,) = run(lambda c: returned, [{"x": 1}])
    assert row["status"] == status
    assert row["score"] == score
    if error is None:
        assert row["error"] is None
    else:
        assert error in row["error"]


def test_exceptions_become_failed_rows_and_the_shard_goes_on():
    def objective(c):
        if c["x"] == 1:
            raise ZeroDivisionError("boom")
        return c["x"]

    rows = run(objective, [{"x": 0}, {"x": 1}, {"x": 2}])
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert rows[1]["error"] == "ZeroDivisionError: boom"
    assert [r["trial_id"] for r in rows] == [10, 11, 12]
    assert all(r["shard"] == 3 and r["worker"] == "w1" for r in rows)
    assert all(r["duration_s"] >= 0 for r in rows)


def test_metrics_become_columns_and_clashing_names_are_prefixed():
    results = [{"score": 1.0, "acc": 0.5, "status": 7, "x": 3}, {"score": 2.0, "note": "hi"}, 0.5]
    it = iter(results)
    batch = evaluate_shard(
        lambda c: next(it),
        shard_id=0,
        trial_ids=[0, 1, 2],
        configs=[{}, {}, {}],
        worker="w",
        taken_names=RESERVED_COLUMNS | {"x"},
    )
    assert batch.schema.names[: len(RESULT_SCHEMA)] == RESULT_SCHEMA.names
    rows = batch.to_pylist()
    assert [r["acc"] for r in rows] == [0.5, None, None]
    assert rows[0]["metric_status"] == 7.0 and rows[0]["metric_x"] == 3.0
    assert rows[1]["note"] == "hi"
    assert [r["status"] for r in rows] == ["ok", "ok", "ok"]


def test_long_error_messages_are_truncated():
    (row,) = run(lambda c: (_ for _ in ()).throw(RuntimeError("x" * 10_000)), [{}])
    assert row["status"] == "failed" and len(row["error"]) <= 2000


def test_result_batches_survive_the_trip_from_worker_to_coordinator():
    def objective(c):
        if c["x"] == 1:
            raise ValueError("bad x: é")
        return {"score": c["x"] / 2, "tag": f"t{c['x']}"} if c["x"] else {"score": 0.0}

    configs = [{"x": i} for i in range(4)]
    batch = evaluate_shard(
        objective,
        shard_id=7,
        trial_ids=[5, 6, 7, 2**40],
        configs=configs,
        worker="wörker",
        taken_names=RESERVED_COLUMNS,
    )
    batch.validate(full=True)
    back = batch_from_bytes(batch_to_bytes(batch))
    assert back.equals(batch) and back.schema == batch.schema
    rows = back.to_pylist()
    assert [r["trial_id"] for r in rows] == [5, 6, 7, 2**40]
    assert [r["score"] for r in rows] == [0.0, None, 1.0, 1.5]
    assert [r["tag"] for r in rows] == [None, None, "t2", "t3"]
    assert rows[1]["error"] == "ValueError: bad x: é" and rows[0]["error"] is None
    assert back.column("score").null_count == 1 and back.column("error").null_count == 3
    assert {r["worker"] for r in rows} == {"wörker"}


def test_an_empty_shard_gives_an_empty_batch_with_the_schema():
    batch = evaluate_shard(lambda c: 0.0, shard_id=0, trial_ids=[], configs=[], worker="w")
    assert batch.num_rows == 0 and batch.schema.equals(RESULT_SCHEMA)


def test_a_worker_builds_its_results_without_importing_pandas():
    # pyarrow's pa.array imports pandas on first use (about 0.2 s); a worker's first shard
    # paid that while the shards queued behind it waited.
    code = (
        "import sys\n"
        "from workers.evaluate import batch_to_bytes, evaluate_shard\n"
        "b = evaluate_shard(lambda c: {'score': 1.0, 'm': 'x'}, shard_id=0, trial_ids=[0, 1],"
        " configs=[{}, {}], worker='w')\n"
        "batch_to_bytes(b)\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parent.parent,
        check=True,
    )
    assert out.stdout.strip() == "False"


def test_an_error_text_that_is_not_valid_unicode_still_becomes_a_failed_row():
    # A lone surrogate (as from os.fsdecode of a bad file name) cannot be encoded as UTF-8.
    (row,) = run(lambda c: (_ for _ in ()).throw(OSError("cannot open \udcff.csv")), [{}])
    assert row["status"] == "failed" and row["error"] == "OSError: cannot open ?.csv"


class _BadStr(Exception):
    def __str__(self):
        raise RuntimeError("cannot describe myself")


class _BadFloat:
    def __float__(self):
        raise ValueError("no float here")


class _BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr either")


@pytest.mark.parametrize(
    "outcome, status, error",
    [
        (lambda: 10**400, "invalid", "score is too large for a float"),
        (lambda: -(10**400), "invalid", "score is too large for a float"),
        (lambda: {"score": 10**400}, "invalid", "score is too large for a float"),
        (lambda: {"score": 1.0, "big": 10**400}, "ok", None),
        (lambda: {"score": 1.0, "odd": _BadFloat()}, "ok", None),
        (lambda: {"score": 1.0, object(): 2.0}, "ok", None),
        (lambda: _BadFloat(), "invalid", "score must be a finite number"),
        (
            lambda: _BadRepr(),
            "invalid",
            "got _BadRepr: <_BadRepr whose repr() raised RuntimeError>",
        ),
        (lambda: (_ for _ in ()).throw(_BadStr()), "failed", "_BadStr: <str() of the error raised"),
    ],
)
def test_any_return_value_or_exception_becomes_exactly_one_row(outcome, status, error):
    """Whatever an objective returns or raises, the shard goes on: one row per configuration."""
    rows = run(lambda c: outcome() if c["x"] == 1 else 0.5, [{"x": 0}, {"x": 1}, {"x": 2}])
    assert [r["trial_id"] for r in rows] == [10, 11, 12]
    assert rows[0]["status"] == rows[2]["status"] == "ok"
    assert rows[1]["status"] == status, rows[1]
    if error is not None:
        assert error in rows[1]["error"]
    else:
        assert rows[1]["score"] == 1.0


def test_a_huge_metric_is_kept_as_text_not_lost():
    (row,) = run(lambda c: {"score": 1.0, "big": 10**400}, [{"x": 1}])
    assert row["status"] == "ok" and row["big"].startswith("1000")


def test_metric_keys_that_print_alike_keep_both_values():
    (row,) = run(lambda c: {"score": 1.0, 1: 10.0, "1": 20.0}, [{"x": 1}])
    assert sorted(v for k, v in row.items() if k in ("1", "metric_1")) == [10.0, 20.0]
