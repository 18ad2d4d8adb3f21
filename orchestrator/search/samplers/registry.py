"""The samplers by name, and the configurations of a round.

``make_sampler("guided")`` (or ``"auto"``, ``"random"``, ``"sobol"``, ``"grid"``) builds a
sampler; :func:`sample_round` draws a round's configurations with the round's own generator.
This registry sits above the samplers (``uniform``, ``grid``, ``guided``), which know only
their contract in ``base``: no sampler imports the registry.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from orchestrator.checks import whole_number
from orchestrator.search.fidelity import Budget
from orchestrator.search.samplers.base import Columns, Guide, Sampler, round_generator
from orchestrator.search.samplers.grid import GridSampler
from orchestrator.search.samplers.guided import GuidedSampler
from orchestrator.search.samplers.uniform import RandomSampler, SobolSampler
from orchestrator.search.space import SearchSpace

#: Sampler names and how to build each. "guided" is random candidates in the box picked by a
#: surrogate; "random" is plain uniform draws; "auto" (the default) is guided, except in
#: multi-fidelity sweeps, where it is random (see :func:`resolve_sampler`).
SAMPLERS: dict[str, Any] = {
    "auto": GuidedSampler,
    "guided": GuidedSampler,
    "random": RandomSampler,
    "sobol": SobolSampler,
    "grid": GridSampler,
}
DEFAULT_SAMPLER = "auto"  # what tune, configs and SweepSearchCV use when none is given


def resolve_sampler(sampler: str | Sampler, budget: Budget | None) -> str | Sampler:
    """``"auto"`` becomes ``"guided"``, or ``"random"`` when the sweep has a budget.

    With budgets, the multi-fidelity benchmark (docs/benchmarks.md) found the guided sampler
    worse than uniform draws in its primary setting, so multi-fidelity sweeps keep uniform
    draws unless ``sampler: guided`` is asked for.
    """
    if isinstance(sampler, str) and sampler == "auto":
        return "random" if budget is not None else "guided"
    return sampler


def make_sampler(sampler: str | Sampler) -> Sampler:
    """A sampler from its name (``"auto"``, ``"guided"``, ``"random"``, ``"sobol"``, ``"grid"``)
    or a sampler object. An object whose ``sample`` takes no ``history`` (a sampler written
    for ``sample(space, n, rng)``) is wrapped so it is called the same way as the others."""
    if not isinstance(sampler, str):
        if not callable(getattr(sampler, "sample", None)):
            raise ValueError(f"sampler {sampler!r} has no sample(space, n, rng, history) method")
        return sampler if _takes_history(sampler.sample) else _Unguided(sampler)
    try:
        return SAMPLERS[sampler]()
    except KeyError:
        raise ValueError(
            f"unknown sampler {sampler!r}; expected one of {sorted(SAMPLERS)}"
        ) from None


def _takes_history(method: Any) -> bool:
    try:
        params = inspect.signature(method).parameters.values()
    except (TypeError, ValueError):  # no signature to read: assume the protocol
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 4 or any(p.kind == p.VAR_POSITIONAL for p in params)


class _Unguided:
    """A sampler written without ``history``, called through the protocol."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        if hasattr(inner, "name"):  # (tune records repr(sampler) for one without a name)
            self.name = inner.name

    def sample(
        self, space: SearchSpace, n: int, rng: np.random.Generator, history: Guide | None = None
    ) -> Columns:
        return self.inner.sample(space, n, rng)


def sample_round(
    space: SearchSpace,
    n: int,
    *,
    seed: int,
    round_index: int,
    sampler: str | Sampler = "random",
    guide: Guide | None = None,
) -> Columns:
    """The configurations of round ``round_index``: deterministic in (seed, round, space) and,
    for a sampler that learns from the trials so far, in ``guide`` (a
    :class:`~orchestrator.search.samplers.base.Guide`: the committed history). Where a
    parameter's condition fails its value is :data:`~orchestrator.search.space.INACTIVE`
    (whatever the sampler drew there)."""
    whole_number("samples_per_round", n, minimum=1)
    chosen = make_sampler(sampler)
    rng = round_generator(seed, round_index)
    columns = chosen.sample(space, n, rng, guide)
    return space.mask(columns) if space.conditional else columns


__all__ = ["DEFAULT_SAMPLER", "SAMPLERS", "make_sampler", "resolve_sampler", "sample_round"]
