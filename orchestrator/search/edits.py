"""Hand-made changes to a round's ranges: bounds replaced, parameters frozen or released.

An :class:`Edit` is data (kept in the run's config, so a resume replays it); the functions
here are pure: :func:`apply_edit` returns the proposal with the edit applied,
and :func:`check_edit_values` and :func:`check_edit` refuse an edit that does not fit (one
clear line, nothing changed). ``sweep continue`` itself (reading ``--set`` values, running
more rounds) is :func:`orchestrator.runs.extend` and :mod:`orchestrator.cli.commands`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchestrator.errors import ConfigError
from orchestrator.search.narrowing import Decision, Held, Proposal
from orchestrator.search.space import Choice, Dimension, SearchSpace, encode_choice, fixed_at


@dataclass(frozen=True)
class Edit:
    """Hand-made changes to the ranges of round ``round``."""

    round: int
    bounds: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)  # (low, high); None keeps
    freeze: Mapping[str, Any] = field(default_factory=dict)
    release: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "round": self.round,
            "bounds": {k: list(v) for k, v in self.bounds.items()},
            "freeze": dict(self.freeze),
            "release": list(self.release),
        }

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> Edit:
        return cls(
            int(spec["round"]),
            {k: tuple(v) for k, v in spec.get("bounds", {}).items()},
            dict(spec.get("freeze", {})),
            tuple(spec.get("release", ())),
        )


def apply_edit(edit: Edit | None, proposal: Proposal, held: Held) -> tuple[Proposal, Held]:
    """The proposal with the edit applied (and every held parameter kept fixed), and what is
    held after it; nothing given is changed."""
    frozen: dict[str, Any] = dict(held.values)
    saved: dict[str, Dimension] = dict(held.ranges)
    dims: dict[str, Dimension] = dict(proposal.space.items())
    decisions = {d.parameter: d for d in proposal.decisions}
    if edit is not None:
        for name in edit.release:
            dims[name] = saved.pop(name, dims[name])
            frozen.pop(name, None)
            decisions[name] = Decision(
                name, "manual", f"released by hand to {dims[name].describe()}"
            )
        for name, (low, high) in edit.bounds.items():
            dim = dims[name]
            assert not isinstance(dim, Choice), "check_edit refuses bounds for a choice"
            dims[name] = dim.with_bounds(
                dim.low if low is None else low, dim.high if high is None else high
            )
            decisions[name] = Decision(
                name, "manual", f"set by hand: {dim.describe()} -> {dims[name].describe()}"
            )
        for name, value in edit.freeze.items():
            saved.setdefault(name, dims[name])
            frozen[name] = value
            decisions[name] = Decision(name, "manual", f"frozen by hand at {value!r}")
    for name, value in frozen.items():  # what is frozen stays fixed, whatever narrowing said
        dims[name] = fixed_at(saved.get(name, dims[name]), value)
    return (
        Proposal(SearchSpace.narrowed(dims), tuple(decisions[n] for n in dims if n in decisions)),
        Held(frozen, saved),
    )


def check_edit_values(edit: Edit, original: SearchSpace) -> None:
    """What can be checked before the run: every name is a parameter of ``original``, bounds
    are for numbers, and every value given fits the parameter's kind, scale and hard limits.

    A config's ``edits`` are checked with this when it is parsed; :func:`check_edit` adds
    what depends on the ranges of the round the edit applies to.
    """
    _check_names(edit, original, "the space")
    for name, (low, high) in edit.bounds.items():
        dim = original[name]
        if isinstance(dim, Choice):
            raise ConfigError(f"bounds: {name!r} is a choice; freeze it at one value instead")
        given = [v for v in (low, high) if v is not None]
        try:
            if len(given) == 2:
                dim.with_bounds(low, high)
            for value in given:
                dim.with_bounds(value, value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"bounds: {exc}") from None
    _check_freeze(edit, original)


def _check_names(edit: Edit, space: SearchSpace, owner: str) -> None:
    for name in [*edit.bounds, *edit.freeze, *edit.release]:
        if name not in space:
            raise ConfigError(f"unknown parameter {name!r}; {owner} has {', '.join(space)}")


def _check_freeze(edit: Edit, original: SearchSpace) -> None:
    for name, value in edit.freeze.items():
        dim = original[name]
        if isinstance(dim, Choice):
            try:
                known = encode_choice(value) in {encode_choice(v) for v in dim.values}
            except ValueError:
                known = False
            if not known:
                raise ConfigError(f"--set {name}={value!r}: not one of {list(dim.values)}")
            continue
        try:
            dim.with_bounds(value, value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"--set {name}={value!r}: {exc}") from None


def _check_reachable(edit: Edit, space: SearchSpace) -> None:
    """Refuse setting a conditional parameter whose condition the ranges (with the edit's
    own choices frozen) can no longer meet: the value would never be used."""
    if not space.conditional:
        return
    dims = dict(space.items())
    for name, value in edit.freeze.items():
        if isinstance(dims[name], Choice):
            dims[name] = fixed_at(dims[name], value)
    reachable = SearchSpace.narrowed(dims).reachable()
    for name in [*edit.bounds, *edit.freeze]:
        if name not in reachable:
            condition = space[name].condition()
            raise ConfigError(
                f"--set {name}: {name!r} is used only when {condition}, which the ranges no "
                "longer allow; set that first, or leave it"
            )


def check_edit(edit: Edit, space: SearchSpace, original: SearchSpace) -> None:
    """Refuse an edit that does not fit the run (one clear line, nothing changed)."""
    _check_names(edit, space, "the run")
    for name, (low, high) in edit.bounds.items():
        dim = space[name]
        if isinstance(dim, Choice):
            raise ConfigError(
                f"--set {name}.low/high: {name!r} is a choice; use --set {name}=VALUE"
            )
        try:
            dim.with_bounds(dim.low if low is None else low, dim.high if high is None else high)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"--set {name}: {exc}") from None
    _check_freeze(edit, original)
    _check_reachable(edit, space)
    for name in edit.release:
        dim = space[name]
        single = dim.values if isinstance(dim, Choice) else {dim.low, dim.high}
        if len(single) != 1:
            raise ConfigError(f"--release {name}: {name!r} is not frozen ({dim.describe()})")


__all__ = ["Edit", "apply_edit", "check_edit", "check_edit_values"]
