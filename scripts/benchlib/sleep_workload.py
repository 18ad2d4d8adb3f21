"""The scaling benchmark's workload, in a module of its own: Ray workers import it to run
the objective, so it imports nothing heavier than numpy (each of dozens of simulated
workers pays for its imports at start-up)."""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

MEDIAN_S = 0.2
SIGMA = 1.0
OPTIMUM = (0.3, 0.7)


def duration_s(x: float, y: float, median: float = MEDIAN_S, sigma: float = SIGMA) -> float:
    """How long the configuration ``(x, y)`` sleeps: ``median * exp(sigma * z)``.

    z is a standard normal drawn from a numpy generator seeded by the CRC-32 of ``x`` and
    ``y`` rounded to 9 decimals, so the same configuration always costs the same and every
    tool, whatever it samples, sees the same lognormal distribution.
    """
    seed = zlib.crc32(f"{x:.9f},{y:.9f}".encode())
    z = float(np.random.default_rng(seed).standard_normal())
    return median * math.exp(sigma * z)


def score(x: float, y: float) -> float:
    """The loss: squared distance to :data:`OPTIMUM` (0 there)."""
    return (x - OPTIMUM[0]) ** 2 + (y - OPTIMUM[1]) ** 2


@dataclass(frozen=True)
class SleepObjective:
    """The benchmark's objective: sleeps :func:`duration_s` of the configuration, returns
    :func:`score`.

    A module-level class, so that Ray workers import it (``benchlib.sleep_workload``) rather than
    unpickle a copy, and its settings travel with the instance.
    """

    median: float = MEDIAN_S
    sigma: float = SIGMA

    def timed(self, config: dict[str, Any]) -> tuple[float, float, float]:
        """The score, and the evaluation's start and end (``time.time()``)."""
        start = time.time()
        x, y = float(config["x"]), float(config["y"])
        time.sleep(duration_s(x, y, self.median, self.sigma))
        return score(x, y), start, time.time()

    def __call__(self, config: dict[str, Any]) -> float:
        return self.timed(config)[0]
