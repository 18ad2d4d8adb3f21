"""Extending a finished (or stopped) sweep by more rounds, with hand-made range edits.

``extend(run_dir, rounds=N, ranges={...}, freeze={...}, release=[...])`` and
``sweep continue RUN_DIR --rounds N --set P.low=V --set P.high=V --set P=V --release P``:

- the new rounds continue the run's numbering and seeding (round r samples from
  ``SeedSequence(seed, r)`` as it always would);
- the edits apply to the ranges the run ended with (its final proposal) and are recorded in
  the ranges table as decisions with action ``manual``;
- earlier rows are never touched; the edits are kept in the run's config (``edits``), so a
  later ``sweep resume`` replays them exactly;
- a round the run stopped in the middle of (Ctrl+C, a kill) is first finished as it was
  planned - its committed evaluations belong to its planned configurations and budgets - and
  the edits start with the round after it; ``discard_partial=True`` (``--discard-partial``)
  drops that round's committed evaluations instead, with a warning saying how many, and the
  round is sampled anew with the edits.

Every edit is checked first, like a config; an invalid one changes nothing.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from .errors import ConfigError, StoreError, SweepPaused
from .narrowing import Decision, Proposal
from .safe_yaml import load_yaml
from .space import Choice, Dimension, SearchSpace, _encode_choice, fixed_at


@dataclass(frozen=True)
class Edit:
    """Hand-made changes to the ranges of round ``round``."""

    round: int
    bounds: Mapping[str, tuple[Any, Any]] = field(default_factory=dict)  # (low, high); None keeps
    freeze: Mapping[str, Any] = field(default_factory=dict)
    release: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"round": self.round, "bounds": {k: list(v) for k, v in self.bounds.items()},
                "freeze": dict(self.freeze), "release": list(self.release)}

    @classmethod
    def from_dict(cls, spec: Mapping[str, Any]) -> "Edit":
        return cls(int(spec["round"]), {k: tuple(v) for k, v in spec.get("bounds", {}).items()},
                   dict(spec.get("freeze", {})), tuple(spec.get("release", ())))


def apply_edit(edit: Edit | None, proposal: Proposal, frozen: dict[str, Any],
               saved: dict[str, Dimension]) -> Proposal:
    """The proposal with the edit applied (and every frozen parameter kept fixed)."""
    dims = dict(proposal.space.items())
    decisions = {d.parameter: d for d in proposal.decisions}
    if edit is not None:
        for name in edit.release:
            dims[name] = saved.pop(name, dims[name])
            frozen.pop(name, None)
            decisions[name] = Decision(name, "manual", f"released by hand to {dims[name].describe()}")
        for name, (low, high) in edit.bounds.items():
            dim = dims[name]
            dims[name] = dim.with_bounds(dim.low if low is None else low,
                                         dim.high if high is None else high)
            decisions[name] = Decision(name, "manual", f"set by hand: {dim.describe()} -> "
                                                       f"{dims[name].describe()}")
        for name, value in edit.freeze.items():
            saved.setdefault(name, dims[name])
            frozen[name] = value
            decisions[name] = Decision(name, "manual", f"frozen by hand at {value!r}")
    for name, value in frozen.items():  # what is frozen stays fixed, whatever narrowing said
        dims[name] = fixed_at(saved.get(name, dims[name]), value)
    return Proposal(SearchSpace(dims), tuple(decisions[n] for n in dims if n in decisions))


def parse_sets(sets: Iterable[str], release: Iterable[str]) -> tuple[dict, dict, tuple]:
    """``["lr.low=1e-4", "act=relu"]`` -> bounds and freezes (values read as YAML scalars)."""
    bounds: dict[str, list[Any]] = {}
    freeze: dict[str, Any] = {}
    for text in sets:
        key, sep, raw = text.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {text!r}: expected P.low=V, P.high=V or P=V")
        try:
            value = load_yaml(raw)
        except yaml.YAMLError:
            raise ConfigError(f"--set {text!r}: {raw!r} is not a value") from None
        name, _, side = key.partition(".")
        if side in ("low", "high"):
            bounds.setdefault(name, [None, None])[0 if side == "low" else 1] = value
        elif side:
            raise ConfigError(f"--set {text!r}: only .low and .high can follow a parameter name")
        else:
            freeze[name] = value
    return {k: tuple(v) for k, v in bounds.items()}, freeze, tuple(release)


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
                known = _encode_choice(value) in {_encode_choice(v) for v in dim.values}
            except ValueError:
                known = False
            if not known:
                raise ConfigError(f"--set {name}={value!r}: not one of {list(dim.values)}")
            continue
        try:
            dim.with_bounds(value, value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"--set {name}={value!r}: {exc}") from None


def check_edit(edit: Edit, space: SearchSpace, original: SearchSpace) -> None:
    """Refuse an edit that does not fit the run (one clear line, nothing changed)."""
    _check_names(edit, space, "the run")
    for name, (low, high) in edit.bounds.items():
        dim = space[name]
        if isinstance(dim, Choice):
            raise ConfigError(f"--set {name}.low/high: {name!r} is a choice; use --set {name}=VALUE")
        try:
            dim.with_bounds(dim.low if low is None else low, dim.high if high is None else high)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"--set {name}: {exc}") from None
    _check_freeze(edit, original)
    for name in edit.release:
        dim = space[name]
        single = dim.values if isinstance(dim, Choice) else {dim.low, dim.high}
        if len(single) != 1:
            raise ConfigError(f"--release {name}: {name!r} is not frozen ({dim.describe()})")


def extend(
    run_dir: str | os.PathLike,
    *,
    rounds: int,
    ranges: Mapping[str, tuple[Any, Any]] | None = None,
    freeze: Mapping[str, Any] | None = None,
    release: Iterable[str] = (),
    address: str | None = None,
    discard_partial: bool = False,
    **run_kwargs: Any,
) -> Any:
    """Run ``rounds`` more rounds of the run in ``run_dir``, after the given edits.

    A round left half-done is finished as planned first (or, with ``discard_partial``, its
    committed evaluations are dropped and it is sampled anew); see the module docstring.
    """
    from .config import parse_config
    from .result import TuneResult
    from .runner import run_config
    from .store import RunStore

    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ConfigError(f"--rounds must be a whole number >= 1, got {rounds!r}")
    store = RunStore.open(run_dir)
    meta = store.metadata()
    if meta.get("state") == "running":
        raise StoreError(f"{store.run_dir} is still running (or was killed): resume it first "
                         f"with sweep resume {store.run_dir}")
    if meta.get("selection_round") is not None:
        raise ConfigError(f"{store.run_dir} ended with a full-budget selection round; "
                          "it cannot be continued")
    done = TuneResult.load(store.run_dir)
    edit = Edit(done.rounds_run, dict(ranges or {}), dict(freeze or {}), tuple(release))
    check_edit(edit, done.final_space, done.space or done.final_space)
    half_done = store.first_missing_round()
    if store.has_partials(half_done):
        if discard_partial:
            dropped = store.partial_rows(half_done)
            store.clear_partials(half_done)
            warnings.warn(f"round {half_done} was not finished: discarded {dropped} committed "
                          "evaluation(s) of it; the round is sampled anew with the edits",
                          ContinueWarning, stacklevel=2)
        else:
            warnings.warn(f"round {half_done} was not finished: finishing it as planned before "
                          "the edits, which start with the round after it (discard_partial / "
                          "--discard-partial drops its committed evaluations instead)",
                          ContinueWarning, stacklevel=2)
            planned = parse_config(meta["config"], default_name=str(meta.get("name") or "sweep"))
            try:
                run_config(planned, address=address, run_dir=store.run_dir, resume=True,
                           stop_after_round=half_done, evaluate_test_set=False, **run_kwargs)
            except SweepPaused:
                pass
            meta = store.metadata()
            if meta.get("selection_round") is not None:
                raise ConfigError(f"{store.run_dir} finished with a full-budget selection "
                                  "round; it cannot be continued")
            done = TuneResult.load(store.run_dir)
            edit = Edit(done.rounds_run, edit.bounds, edit.freeze, edit.release)
            check_edit(edit, done.final_space, done.space or done.final_space)
    record = dict(meta["config"])
    record["rounds"] = done.rounds_run + rounds
    record["edits"] = [*record.get("edits", []), edit.to_dict()]
    config = parse_config(record, default_name=str(meta.get("name") or "sweep"))
    store.update_metadata(config=record, state="continuing")
    return run_config(config, address=address, run_dir=store.run_dir, resume=True, **run_kwargs)


class ContinueWarning(UserWarning):
    """What ``sweep continue`` did with a round the run had left half-done."""
