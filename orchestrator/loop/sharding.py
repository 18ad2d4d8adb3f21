"""How many configurations travel in one shard.

Cheap trials must not drown in per-call overhead (big shards); expensive trials must keep
every worker busy to the end of the round (small shards, pulled as workers free up). The
sizer starts with single-configuration shards, learns the cost of a trial from the results,
then sizes shards to about ``target_seconds`` of work - but never more than an even share
of what is left, so the round's tail is spread over all workers.
"""

from __future__ import annotations

import math

from orchestrator.checks import whole_number


class ShardSizer:
    """Pure shard-size policy; the executor calls ``next_size`` and ``observe``."""

    def __init__(
        self,
        workers: int,
        *,
        inflight: int = 2,
        target_seconds: float = 0.25,
        overhead_per_trial_s: float = 5e-6,
    ) -> None:
        whole_number("workers", workers, minimum=1)
        self.workers = workers
        self.inflight = inflight
        self.target_seconds = target_seconds
        self.overhead_per_trial_s = overhead_per_trial_s
        self._trials = 0
        self._seconds = 0.0

    @property
    def seconds_per_trial(self) -> float | None:
        """The mean cost of a trial seen so far (None before any result)."""
        if not self._trials:
            return None
        return self._seconds / self._trials + self.overhead_per_trial_s

    def observe(self, trials: int, seconds: float) -> None:
        """Record that ``trials`` configurations took ``seconds`` of objective time."""
        self._trials += trials
        self._seconds += max(0.0, seconds)

    def next_size(self, remaining: int) -> int:
        """The size of the next shard when ``remaining`` configurations are unsent."""
        if remaining <= 0:
            return 0
        fair = math.ceil(remaining / (self.workers * self.inflight))
        per_trial = self.seconds_per_trial
        wanted = 1 if per_trial is None else int(self.target_seconds / per_trial)
        return max(1, min(wanted, fair))
