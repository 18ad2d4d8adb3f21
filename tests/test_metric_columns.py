"""Metric columns never clash with parameters, reserved columns or each other."""

from workers.evaluate import RESERVED_COLUMNS, evaluate_shard


def test_a_renamed_metric_never_lands_on_another_metric():
    taken = RESERVED_COLUMNS | {"x"}
    batch = evaluate_shard(
        lambda c: {"score": 1.0, "x": 2.0, "metric_x": 3.0, "status": 4.0},
        shard_id=0,
        trial_ids=[0],
        configs=[{"x": 0.5}],
        worker="w",
        taken_names=taken,
    )
    (row,) = batch.to_pylist()
    assert len(batch.schema.names) == len(set(batch.schema.names))
    assert "x" not in row  # the parameter x is not a metric column
    values = {row[name] for name in batch.schema.names if name.startswith("metric_")}
    assert values == {2.0, 3.0, 4.0}  # every metric kept, none overwritten
