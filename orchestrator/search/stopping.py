"""When a sweep stops: rounds spent, ranges converged, or no improvement.

Pure functions over the sweep's state, so the rule is the same in every execution mode.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.checks import MAX_ROUNDS, whole_number
from orchestrator.search.space import Choice, Int, SearchSpace, relative_width
from orchestrator.search.trials import is_better


@dataclass(frozen=True)
class StopRule:
    """``rounds``: at most this many rounds. ``tolerance``: every numeric range narrower than
    this fraction of its first width means converged. ``patience``: stop after this many
    rounds without a better score (None: never)."""

    rounds: int
    tolerance: float = 0.02
    patience: int | None = None

    def __post_init__(self) -> None:
        whole_number("rounds", self.rounds, minimum=1, maximum=MAX_ROUNDS)
        if not 0 <= self.tolerance < 1:
            raise ValueError(f"tolerance must be in [0, 1), got {self.tolerance!r}")
        whole_number("patience", self.patience, minimum=1, allow_none=True)


def converged(space: SearchSpace, original: SearchSpace, tolerance: float) -> bool:
    """Whether every numeric range is at most ``tolerance`` of its first width.

    Parameters fixed from the start (``low == high``) do not count. An integer range that
    has narrowed to at most three values counts as converged (rounding outward keeps it
    from shrinking further). Choices never block convergence, nor does a conditional range
    whose condition the current choices can no longer meet; a space without a numeric range
    to narrow never converges.
    """
    reachable = space.reachable()
    numeric = [
        n
        for n, d in original.items()
        if not isinstance(d, Choice) and d.low != d.high and n in reachable
    ]
    if not numeric:
        return False
    for name in numeric:
        dim, first = space[name], original[name]
        assert not isinstance(dim, Choice) and not isinstance(first, Choice)
        width = relative_width(space, original, name)
        assert width is not None
        narrowed = (dim.low, dim.high) != (first.low, first.high)
        if isinstance(dim, Int) and narrowed and dim.high - dim.low <= 2:
            continue
        if width > tolerance:
            return False
    return True


def rounds_without_improvement(best_per_round: Sequence[float | None], mode: str) -> int:
    """How many of the latest rounds did not beat the best score of the rounds before them."""
    best: float | None = None
    since = 0
    for score in best_per_round:
        if is_better(score, best, mode):
            best, since = score, 0
        else:
            since += 1
    return since


def stop_reason(
    rule: StopRule,
    *,
    rounds_done: int,
    next_space: SearchSpace,
    original: SearchSpace,
    best_per_round: Sequence[float | None],
    mode: str,
) -> str | None:
    """Why the sweep stops after ``rounds_done`` rounds, or None to go on."""
    if rounds_done >= rule.rounds:
        return f"ran all {rule.rounds} rounds"
    if converged(next_space, original, rule.tolerance):
        return (
            f"ranges converged (every numeric range within {rule.tolerance:g} of its first width)"
        )
    if rule.patience is not None:
        stale = rounds_without_improvement(best_per_round, mode)
        if stale >= rule.patience:
            return f"no improvement for {stale} rounds (patience {rule.patience})"
    return None
