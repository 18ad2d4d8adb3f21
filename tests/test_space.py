import math

import pytest

from orchestrator import Choice, Float, Int, SearchSpace
from orchestrator.errors import ConfigError
from orchestrator.search.specs import parse_space


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Float(3.0, 1.0, name="lr"), r"parameter 'lr'.*low.*high.*low=3\.0, high=1\.0"),
        (
            lambda: Float(0.0, 1.0, log=True, name="lr"),
            r"parameter 'lr': a log range needs `low` > 0",
        ),
        (lambda: Float(-1.0, 1.0, log=True, name="lr"), r"low=-1\.0"),
        (
            lambda: Float("a", 1.0, name="lr"),  # type: ignore[arg-type]  # wrong on purpose
            r"parameter 'lr': `low` must be a number, got 'a'",
        ),
        (lambda: Float(0.0, math.inf, name="wd"), r"parameter 'wd': `high` must be finite"),
        (lambda: Float(0.1, 1.0, hard_low=0.5, name="p"), r"hard_low.*<= `low`.*hard_low=0\.5"),
        (lambda: Float(0.1, 1.0, hard_high=0.5, name="p"), r"hard_high.*>= `high`"),
        (
            lambda: Float(0.1, 1.0, log="yes", name="p"),  # type: ignore[arg-type]  # wrong on purpose
            r"`log` must be true or false",
        ),
        (lambda: Int(1.5, 4, name="layers"), r"parameter 'layers': `low` must be a whole number"),
        (lambda: Int(5, 4, name="layers"), r"parameter 'layers'.*low=5, high=4"),
        (lambda: Int(True, 4, name="layers"), r"must be a number, got True"),
        (lambda: Choice([], name="act"), r"parameter 'act': `values` is empty"),
        (lambda: Choice(["relu", "relu"], name="act"), r"parameter 'act': duplicate choice 'relu'"),
        (lambda: Choice("relu", name="act"), r"`values` must be a list"),
        (lambda: Choice([object()], name="act"), r"not a plain YAML/JSON value"),
    ],
)
def test_invalid_dimensions_name_the_parameter_and_values(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_unnamed_dimension_error_still_quotes_values():
    with pytest.raises(ValueError, match=r"float parameter: `low`.*\(low=3, high=1\)"):
        Float(3, 1)


def test_space_binds_names_and_keeps_order():
    space = SearchSpace({"b": Float(0, 1), "a": Choice(["x", "y"])})
    assert space.names == ("b", "a")
    assert space["b"].name == "b"
    assert space == SearchSpace({"b": Float(0, 1), "a": Choice(["x", "y"])})


@pytest.mark.parametrize(
    "params, message",
    [
        ({}, "empty"),
        ({"not valid": Float(0, 1)}, "must be an identifier"),
        ({"x": (0, 1)}, "expected Float, Int or Choice"),
    ],
)
def test_invalid_spaces(params, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace(params)


def test_scaled_bounds_are_log10_for_log_ranges():
    assert Float(1e-4, 1e-1, log=True).scaled_bounds == pytest.approx((-4, -1))
    assert Float(2, 5).scaled_bounds == (2, 5)
    # an integer v owns the cell [v, v + 1)
    assert Int(1, 4).scaled_bounds == (1, 5)


def test_int_bounds_from_scaled_round_outward():
    dim = Int(0, 10)
    assert dim.bounds_from_scaled(2.2, 5.7) == (2, 5)
    assert dim.bounds_from_scaled(2.0, 3.0) == (2, 2)
    assert Int(1, 100, log=True).bounds_from_scaled(-3, 0.0) == (1, 1)


def test_log_limits_are_implicitly_positive():
    lo, hi = Float(1e-3, 1, log=True).scaled_limits
    assert lo == -math.inf and hi == math.inf  # any value > 0 is reachable in log10 space
    assert Int(1, 8, log=True).scaled_limits[0] == 0.0  # log integers stay >= 1


def test_parse_space_wraps_errors_with_location():
    with pytest.raises(ConfigError, match=r"space\.lr: parameter 'lr'.*low=0\.1, high=0\.01"):
        parse_space({"lr": {"type": "float", "low": 0.1, "high": 0.01}})
    with pytest.raises(ConfigError, match=r"space\.act: missing key 'values'"):
        parse_space({"act": {"type": "choice"}})
    with pytest.raises(
        ConfigError, match=r"space\.x\.type: unknown parameter type 'flaot'; did you mean 'float'"
    ):
        parse_space({"x": {"type": "flaot", "low": 0, "high": 1}})
    with pytest.raises(ConfigError, match=r"space\.x: unknown key 'hihg'; did you mean 'high'"):
        parse_space({"x": {"type": "float", "low": 0, "hihg": 1, "high": 2}})
