"""Fuzzed bad input: the config loader and the evaluation of objective return values.

Whatever arrives, a config either becomes a valid SweepConfig or is refused with a
ConfigError of one line - never another exception - and an objective's return value becomes
exactly one row with a known status.
"""

import json
import math

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.config.loader import _TOP_KEYS, SweepConfig, load_config, parse_config
from orchestrator.errors import ConfigError

FUZZ = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(10**30), 10**30)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "min",
            "max",
            "grid",
            "random",
            "sobol",
            "auto",
            "elite_box",
            "none",
            "float",
            "int",
            "choice",
            "x",
            "a:b",
            "iris",
            "wine",
            "CPU",
            "",
            "sklearn.svm.SVC",
            "metric_x",
            "score",
            1e-5,
            10**23,
            -1,
            0,
        ]
    )
)
KEYS = (
    st.sampled_from(
        [
            "x",
            "y",
            "type",
            "low",
            "high",
            "log",
            "values",
            "round",
            "bounds",
            "freeze",
            "release",
            "run",
            "parameters",
            "rule",
            "min",
            "max",
            "param",
            "resources",
            "num_cpus",
            "num_gpus",
            "memory",
            "path",
            "target",
            "estimator",
            "dataset",
            "split",
            "test",
            "cv",
            "metric_x",
            "score",
        ]
    )
    | st.text(max_size=8)
    | st.integers(-3, 3)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=4),
    max_leaves=12,
)

SPACE = {"x": {"type": "float", "low": 0, "high": 1}, "k": {"type": "choice", "values": ["a", "b"]}}
BASE = {"objective": "a:b", "mode": "min", "space": SPACE}


def accepted_or_one_line(call):
    """The config is valid (and storable), or refused by a one-line ConfigError."""
    try:
        config = call()
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).strip(), repr(str(exc))
        return None
    assert isinstance(config, SweepConfig)
    stored = json.loads(json.dumps(config.to_dict(), default=str))  # what run.json keeps
    assert parse_config(stored, default_name=config.name) == config  # resume reads it back
    return config


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(_TOP_KEYS), VALUES, min_size=1, max_size=3))
def test_any_value_for_any_key(changes):
    accepted_or_one_line(lambda: parse_config({**BASE, **changes}))


@FUZZ
@given(name=st.sampled_from(["x", "k", "new"]), spec=VALUES)
def test_any_parameter_spec(name, spec):
    accepted_or_one_line(lambda: parse_config({**BASE, "space": {**SPACE, name: spec}}))


@FUZZ
@given(data=VALUES)
def test_any_data_as_a_config(data):
    accepted_or_one_line(lambda: parse_config(data))


@FUZZ
@given(
    changes=st.dictionaries(
        st.sampled_from(["estimator", "dataset", "params", "preprocessing", "scoring", "split"]),
        VALUES,
        max_size=3,
    )
)
def test_any_estimator_task(changes):
    task = {"estimator": "sklearn.svm.SVC", "dataset": "iris", **changes}
    accepted_or_one_line(
        lambda: parse_config(
            {"objective": task, "space": {"C": {"type": "float", "low": 0.1, "high": 1}}}
        )
    )


@FUZZ
@given(data=st.binary(max_size=300))
def test_any_bytes_as_a_config_file(tmp_path_factory, data):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_bytes(data)
    accepted_or_one_line(lambda: load_config(path))


@FUZZ
@given(
    changes=st.dictionaries(st.sampled_from(_TOP_KEYS), VALUES, max_size=3),
    cut=st.integers(0, 400),
    junk=st.text(max_size=6),
)
def test_any_yaml_text_as_a_config_file(tmp_path_factory, changes, cut, junk):
    text = yaml.safe_dump({**BASE, **changes}, allow_unicode=True)
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_text(text[:cut] + junk + text[cut:], encoding="utf-8")
    accepted_or_one_line(lambda: load_config(path))


# -- what an objective returns ---------------------------------------------------------
class _Raising:
    """A value whose conversions raise: __float__, __str__, __index__, __bool__, __format__
    (its repr works, so hypothesis can report an example holding it)."""

    def _boom(self, *args):
        raise RuntimeError("conversion refused")

    __float__ = __str__ = __index__ = __bool__ = __format__ = _boom

    def __repr__(self):
        return "_Raising()"


class _FloatLike:
    """Not a number type, but float() works (a framework's scalar)."""

    def __float__(self):
        return 0.5


LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(-(10**400), 10**400)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8)
    | st.binary(max_size=8)
    | st.just(_Raising())
    | st.just(_FloatLike())
    | st.sampled_from([math.nan, math.inf, -math.inf, 10**309, -(10**309)])
)
RETURNS = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(
            st.sampled_from(["score", "acc", "x", "metric_x", "status", "error", "trial_id"])
            | st.text(max_size=5),
            inner,
            max_size=4,
        )
    ),
    max_leaves=10,
)


class _Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("no message either")


class _Raise:
    """Makes the objective raise ``error`` instead of returning."""

    def __init__(self, error):
        self.error = error

    def __repr__(self):
        return f"_Raise({type(self.error).__name__})"


RAISES = st.sampled_from(
    [
        ValueError("bad"),
        _Unprintable(),
        SystemExit(3),
        ZeroDivisionError(),
        OverflowError("x" * 5000),
    ]
).map(_Raise)


def _objective(outcomes):
    it = iter(outcomes)

    def objective(config):
        outcome = next(it)
        if isinstance(outcome, _Raise):
            raise outcome.error
        return outcome

    return objective


@FUZZ
@given(returns=st.lists(RETURNS | RAISES, min_size=1, max_size=4))
def test_any_objective_return_value_is_one_row(returns):
    from workers.evaluate import RESERVED_COLUMNS, evaluate_shard

    batch = evaluate_shard(
        _objective(returns),
        shard_id=0,
        trial_ids=list(range(len(returns))),
        configs=[{"x": 0.5}] * len(returns),
        worker="w",
        taken_names=RESERVED_COLUMNS | {"x"},
    )
    rows = batch.to_pylist()
    assert [r["trial_id"] for r in rows] == list(range(len(returns)))
    assert all(r["status"] in ("ok", "invalid", "failed") for r in rows)
    assert all(r["score"] is None or math.isfinite(r["score"]) for r in rows)
    assert len(set(batch.schema.names)) == len(batch.schema.names)
