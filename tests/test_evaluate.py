import math

import numpy as np
import pytest

from workers.evaluate import RESERVED_COLUMNS, RESULT_SCHEMA, evaluate_shard


def run(objective, configs, taken=RESERVED_COLUMNS):
    batch = evaluate_shard(objective, shard_id=3, trial_ids=list(range(10, 10 + len(configs))),
                           configs=configs, worker="w1", taken_names=taken)
    return batch.to_pylist()


@pytest.mark.parametrize("returned, status, score, error", [
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
])
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
    batch = evaluate_shard(lambda c: next(it), shard_id=0, trial_ids=[0, 1, 2],
                           configs=[{}, {}, {}], worker="w", taken_names=RESERVED_COLUMNS | {"x"})
    assert batch.schema.names[: len(RESULT_SCHEMA)] == RESULT_SCHEMA.names
    rows = batch.to_pylist()
    assert [r["acc"] for r in rows] == [0.5, None, None]
    assert rows[0]["metric_status"] == 7.0 and rows[0]["metric_x"] == 3.0
    assert rows[1]["note"] == "hi"
    assert [r["status"] for r in rows] == ["ok", "ok", "ok"]


def test_long_error_messages_are_truncated():
    (row,) = run(lambda c: (_ for _ in ()).throw(RuntimeError("x" * 10_000)), [{}])
    assert row["status"] == "failed" and len(row["error"]) <= 2000
