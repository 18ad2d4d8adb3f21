"""Staged tuning: settle the hyperparameters that matter while the others stay fixed.

Two forms, both decided between rounds like narrowing (pure: history and ranges in, ranges
and decisions out):

- explicit ``stages``: a list of ``{params: [...], rounds: N, fixed: {name: value}}``; in a
  stage only ``params`` are tuned, every other parameter is fixed - at its stated value, or
  else at the best value found so far (the middle of its range before any trial). Rounds
  after the last stage tune everything. A parameter tuned again gets back the range it had.
- ``stages: auto`` (or ``{auto: {after: 2, threshold: 0.05}}``): after ``after`` rounds,
  parameters whose importance is below ``threshold`` are frozen at their best value, so the
  following rounds spend their samples on the rest (at least ``keep`` stay tuned).

A fixed parameter is a one-value range (``low == high``, or one choice); every freeze and
release is a decision with its reason in the ranges table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import pyarrow as pa

from orchestrator.checks import whole_number
from orchestrator.errors import ConfigError
from orchestrator.search.narrowing import Decision, Held, Proposal
from orchestrator.search.space import Choice, Dimension, SearchSpace, fixed_at
from orchestrator.search.trials import best_trial, config_at, ranked


@dataclass(frozen=True)
class Stage:
    params: tuple[str, ...]
    rounds: int
    fixed: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AutoStages:
    after: int = 2
    threshold: float = 0.05
    keep: int = 2


#: A sweep's stages: fixed stages in order, automatic stages, or none.
Stages: TypeAlias = tuple[Stage, ...] | AutoStages | None


def parse_stages(spec: Any, space: SearchSpace) -> Stages:
    if spec is None:
        return None
    if spec == "auto":
        return AutoStages()
    if isinstance(spec, Mapping) and set(spec) == {"auto"}:
        opts = spec["auto"] or {}
        unknown = set(opts) - {"after", "threshold", "keep"}
        if unknown:
            raise ConfigError(
                f"stages.auto: unknown key {sorted(unknown, key=repr)[0]!r}; "
                "expected after, threshold, keep"
            )
        auto = AutoStages(**opts)
        if auto.after < 1 or not 0 < auto.threshold < 1 or auto.keep < 1:
            raise ConfigError(
                f"stages.auto: need after >= 1, 0 < threshold < 1, keep >= 1, got {opts}"
            )
        return auto
    if not isinstance(spec, Sequence) or isinstance(spec, str) or not spec:
        raise ConfigError("stages: expected 'auto' or a list of {params: [...], rounds: N}")
    stages = []
    for i, item in enumerate(spec):
        where = f"stages[{i}]"
        if not isinstance(item, Mapping) or "params" not in item or "rounds" not in item:
            raise ConfigError(f"{where}: expected {{params: [names], rounds: N, fixed: {{...}}}}")
        params = tuple(item["params"])
        for name in [*params, *item.get("fixed", {})]:
            if name not in space:
                raise ConfigError(
                    f"{where}: unknown parameter {name!r}; the space has {', '.join(space)}"
                )
        rounds = item["rounds"]
        whole_number(f"{where}.rounds", rounds, minimum=1)
        stages.append(Stage(params, rounds, dict(item.get("fixed", {}))))
    return tuple(stages)


def stages_to_dict(stages: Stages) -> list[dict[str, Any]] | dict[str, Any] | None:
    if stages is None:
        return None
    if isinstance(stages, AutoStages):
        return {"auto": {"after": stages.after, "threshold": stages.threshold, "keep": stages.keep}}
    return [{"params": list(s.params), "rounds": s.rounds, "fixed": dict(s.fixed)} for s in stages]


def _middle(dim: Dimension) -> Any:
    if isinstance(dim, Choice):
        return dim.values[0]
    lo, hi = dim.scaled_bounds
    mid = float(dim.from_scaled((lo + hi) / 2))
    return int(mid) if dim.kind == "int" else mid


def _stage_at(stages: tuple[Stage, ...], round_index: int) -> Stage | None:
    start = 0
    for stage in stages:
        if round_index < start + stage.rounds:
            return stage
        start += stage.rounds
    return None


def apply_stages(
    stages: Stages,
    *,
    round_index: int,
    proposal: Proposal,
    history: pa.Table | None,
    original: SearchSpace,
    mode: str,
    held: Held,
) -> tuple[Proposal, Held]:
    """The ranges of ``round_index`` once stages fix or release parameters, and what is held
    fixed after that (``held`` carries the stages' state from round to round; it is not
    changed: the new state is returned)."""
    if stages is None:
        return proposal, held
    frozen: dict[str, Any] = dict(held.values)
    saved: dict[str, Dimension] = dict(held.ranges)
    best = best_trial(history, original, mode) if history is not None else None
    if isinstance(stages, AutoStages):
        wanted = _auto_freeze(stages, round_index, history, original, frozen, best, mode)
    else:
        stage = _stage_at(stages, round_index)
        wanted = (
            {}
            if stage is None
            else {
                n: (stage.fixed[n], "stated in the stage")
                if n in stage.fixed
                else (
                    (_best_value(history, original, mode, best, n), "best value so far")
                    if best and _best_value(history, original, mode, best, n) is not _NONE
                    else (_middle(original[n]), "middle of its range, no trial yet")
                )
                for n in original
                if n not in stage.params
            }
        )
        wanted = {n: v for n, v in wanted.items() if n not in frozen or frozen[n] != v[0]}
        wanted.update(
            {
                n: (frozen[n], None)
                for n in frozen
                if stage is not None and n not in stage.params and n not in wanted
            }
        )
    return _fix(proposal, wanted, frozen, saved, round_index), Held(frozen, saved)


_NONE = object()  # no trial had the parameter active


def _best_value(
    history: pa.Table | None, original: SearchSpace, mode: str, best: dict[str, Any], name: str
) -> Any:
    """``name``'s value in the best trial, or - a conditional parameter inactive there - in
    the best trial where it was active (``_NONE`` if it never was)."""
    if name in best["config"]:
        return best["config"][name]
    if history is None:
        return _NONE
    column = history.column(name)
    for row in ranked(history, mode):
        if column[int(row)].is_valid:
            return config_at(history, original, int(row))[name]
    return _NONE


def _auto_freeze(
    stages: AutoStages,
    round_index: int,
    history: pa.Table | None,
    original: SearchSpace,
    frozen: dict[str, Any],
    best: dict[str, Any] | None,
    mode: str = "min",
) -> dict[str, tuple[Any, str | None]]:
    keep_frozen: dict[str, tuple[Any, str | None]] = {n: (v, None) for n, v in frozen.items()}
    if round_index != stages.after or history is None or best is None:
        return keep_frozen
    from orchestrator.search.importance import importance

    shares = importance(history, original) or {}
    ranked = sorted(shares, key=lambda n: -shares[n])
    low = [n for n in ranked[stages.keep :] if shares[n] < stages.threshold]
    keep_frozen.update(
        {
            n: (
                value,
                f"importance {shares[n]:.1%} < {stages.threshold:.0%} after {stages.after} rounds",
            )
            for n in low
            if (value := _best_value(history, original, mode, best, n)) is not _NONE
        }
    )
    return keep_frozen


def _fix(
    proposal: Proposal,
    wanted: dict[str, tuple[Any, str | None]],
    frozen: dict[str, Any],
    saved: dict[str, Dimension],
    round_index: int,
) -> Proposal:
    dims = dict(proposal.space.items())
    decisions = {d.parameter: d for d in proposal.decisions}
    for name in list(frozen):
        if name not in wanted:  # tuned again: back to the range it had
            dims[name] = saved.pop(name, dims[name])
            del frozen[name]
            decisions[name] = Decision(name, "release", f"tuned again from round {round_index + 1}")
    for name, (value, reason) in wanted.items():
        if name not in saved:
            saved[name] = dims[name]
        dims[name] = fixed_at(saved[name], value)
        if reason is not None or name not in frozen:
            decisions[name] = Decision(name, "freeze", f"fixed at {value!r}: {reason or 'stage'}")
        frozen[name] = value
    return Proposal(SearchSpace.narrowed(dims), tuple(decisions[n] for n in dims if n in decisions))
