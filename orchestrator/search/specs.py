"""The search space and the narrowing rule as plain data: the form a config and ``run.json``
hold (``{type: float, low: .., high: .., log: ..}``), read with one clear
:class:`~orchestrator.errors.ConfigError` line per problem and written back exactly."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from orchestrator.checks import check_keys, suggest, where_of
from orchestrator.errors import ConfigError
from orchestrator.search.narrowing import EliteBox, NarrowingRule, NoNarrowing
from orchestrator.search.space import Choice, Condition, Dimension, Float, Int, SearchSpace

# -- the space ------------------------------------------------------------------------
_NUMERIC_KEYS = ("type", "low", "high", "log", "hard_low", "hard_high", "when")
_CHOICE_KEYS = ("type", "values", "when")
_TYPES = ("float", "int", "choice")


def parse_dimension(name: str, spec: Any, where: str = "space") -> Dimension:
    """One parameter's spec (``{type: float, low: .., high: ..}``) -> a dimension."""
    here = where_of(where, name)
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{here}: expected a mapping like {{type: float, low: 0.1, high: 1}}, got {spec!r}"
        )
    if "type" not in spec:
        raise ConfigError(f"{here}: missing key 'type' (one of: {', '.join(_TYPES)})")
    kind = spec["type"]
    if kind not in _TYPES:
        raise ConfigError(f"{here}.type: unknown parameter type {kind!r}{suggest(kind, _TYPES)}")
    try:
        if kind == "choice":
            check_keys(here, spec, _CHOICE_KEYS)
            if "values" not in spec:
                raise ConfigError(f"{here}: missing key 'values' (the list of choices)")
            return Choice(spec["values"], name=name, when=spec.get("when"))
        check_keys(here, spec, _NUMERIC_KEYS)
        for key in ("low", "high"):
            if key not in spec:
                raise ConfigError(f"{here}: missing key {key!r}")
        cls = Float if kind == "float" else Int
        return cls(
            spec["low"],
            spec["high"],
            log=spec.get("log", False),
            hard_low=spec.get("hard_low"),
            hard_high=spec.get("hard_high"),
            name=name,
            when=spec.get("when"),
        )
    except ConfigError:
        raise
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"{here}: {exc}") from None


def parse_space(spec: Any, where: str = "space", *, check_values: bool = True) -> SearchSpace:
    if not isinstance(spec, Mapping) or not spec:
        raise ConfigError(f"{where}: expected a mapping of parameter names to specs, got {spec!r}")
    dims = {str(name): parse_dimension(str(name), s, where) for name, s in spec.items()}
    try:
        return SearchSpace(dims, check_values=check_values)
    except ValueError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def dimension_to_dict(dim: Dimension) -> dict[str, Any]:
    out: dict[str, Any]
    if isinstance(dim, Choice):
        out = {"type": "choice", "values": list(dim.values)}
    else:
        out = {"type": dim.kind, "low": dim.low, "high": dim.high, "log": dim.log}
        for key in ("hard_low", "hard_high"):
            if getattr(dim, key) is not None:
                out[key] = getattr(dim, key)
    if dim.when:
        out["when"] = when_to_dict(dim.when)
    return out


def when_to_dict(when: Condition) -> dict[str, Any]:
    """A condition as written in a config: one value alone, several (or a list value) as a
    list, so reading it back gives the same condition."""
    return {
        parent: values[0] if len(values) == 1 and not isinstance(values[0], list) else list(values)
        for parent, values in when
    }


def space_to_dict(space: SearchSpace) -> dict[str, dict[str, Any]]:
    """The inverse of :func:`parse_space` (used for run metadata)."""
    return {name: dimension_to_dict(dim) for name, dim in space.items()}


# -- narrowing ---------------------------------------------------------------------------
_RULE_FIELDS = tuple(f.name for f in dataclasses.fields(EliteBox))


def parse_narrowing(spec: Any, where: str = "narrowing") -> NarrowingRule:
    if spec is None or spec == "elite_box":
        return EliteBox()
    if spec == "none":
        return NoNarrowing()
    if isinstance(spec, str):
        raise ConfigError(f"{where}: unknown rule {spec!r}{suggest(spec, ('elite_box', 'none'))}")
    if not isinstance(spec, Mapping):
        raise ConfigError(f"{where}: expected 'elite_box', 'none' or a mapping, got {spec!r}")
    check_keys(where, spec, ("rule", *_RULE_FIELDS))
    rule = spec.get("rule", "elite_box")
    if rule == "none":
        if len(spec) > 1:
            raise ConfigError(f"{where}: rule 'none' takes no settings")
        return NoNarrowing()
    if rule != "elite_box":
        raise ConfigError(f"{where}.rule: unknown rule {rule!r}; expected 'elite_box' or 'none'")
    settings = {k: v for k, v in spec.items() if k != "rule"}
    if isinstance(settings.get("shrink"), list):
        settings["shrink"] = tuple(settings["shrink"])
    try:
        return EliteBox(**settings)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def narrowing_to_dict(rule: NarrowingRule) -> Any:
    if isinstance(rule, NoNarrowing):
        return "none"
    if isinstance(rule, EliteBox):
        return {"rule": "elite_box", **{k: getattr(rule, k) for k in _RULE_FIELDS}}
    return repr(rule)


__all__ = [
    "dimension_to_dict",
    "narrowing_to_dict",
    "parse_dimension",
    "parse_narrowing",
    "parse_space",
    "space_to_dict",
    "when_to_dict",
]
