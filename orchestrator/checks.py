"""Checks of single values, said once: every part (configs, ``tune()``'s arguments, the
samplers' and rules' settings) checks a count with :func:`whole_number` and a measure with
:func:`number`, so a problem always reads the same way - one
:class:`~orchestrator.errors.ConfigError` line (a ``ValueError``) naming where the value is,
what was expected and what it got: ``rounds: expected a whole number, got 'six'``,
``split.cv: must be >= 2, got 1``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from orchestrator.errors import ConfigError, did_you_mean

#: Upper limits of the counts a sweep sets (a value past them is a typo, not a plan).
MAX_SAMPLES_PER_ROUND = 10**7
MAX_ROUNDS = 10**7
MAX_WORKERS = 10**5
MAX_OVERLAP = 1000  # rounds running beside the oldest unfinished one


def suggest(key: str, allowed: Any) -> str:
    return did_you_mean(key, allowed, f"; expected one of: {', '.join(allowed)}")


def check_keys(where: str, mapping: Mapping, allowed: tuple[str, ...]) -> None:
    for key in mapping:
        if key not in allowed:
            raise ConfigError(f"{where}: unknown key {key!r}{suggest(key, allowed)}")


def where_of(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def shown(value: Any) -> str:
    """A value for a message: short (a pasted 10**23 is not printed in full)."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def whole_number(
    where: str,
    value: Any,
    *,
    minimum: int | None = None,
    maximum: int | None = None,
    allow_none: bool = False,
    why: str = "",
) -> Any:
    """``value`` if it is a whole number (bools are not) within ``[minimum, maximum]``, else
    a ConfigError; ``why`` explains the maximum; ``allow_none`` lets None through."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected a whole number, got {shown(value)}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}: must be >= {minimum}, got {shown(value)}")
    if maximum is not None and value > maximum:
        raise ConfigError(f"{where}: must be <= {maximum}{why}, got {shown(value)}")
    return value


def overlap_setting(value: Any, where: str = "overlap") -> int | str:
    """``overlap``: ``"auto"`` (None too: chosen from the number of workers) or a whole
    number of rounds >= 0 (0: every round waits for the one before it)."""
    if value is None or value == "auto":
        return "auto"
    if isinstance(value, str):
        raise ConfigError(f"{where}: expected 'auto' or a whole number >= 0, got {shown(value)}")
    return int(whole_number(where, value, minimum=0, maximum=MAX_OVERLAP, why=" (rounds at once)"))


def number(where: str, value: Any, *, finite: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{where}: expected a number, got {shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        number = math.inf
    if finite and not math.isfinite(number):
        raise ConfigError(f"{where}: must be a finite number, got {shown(value)}")
    return number


__all__ = [
    "MAX_OVERLAP",
    "MAX_ROUNDS",
    "MAX_SAMPLES_PER_ROUND",
    "MAX_WORKERS",
    "check_keys",
    "number",
    "overlap_setting",
    "shown",
    "suggest",
    "where_of",
    "whole_number",
]
