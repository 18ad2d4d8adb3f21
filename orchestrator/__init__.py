"""sweep: distributed coarse-to-fine hyperparameter sweeps on Ray.

>>> from orchestrator import tune, Float, Int, Choice
>>> result = tune(objective, {"lr": Float(1e-5, 1e-1, log=True)}, mode="max")  # doctest: +SKIP

Only :mod:`orchestrator.execution` (and :mod:`workers.actor`, which it runs) talk to Ray;
everything that decides something is pure and importable without a cluster.
"""

from .config import SweepConfig, load_config, parse_config, resolve_objective
from .coordinator import RoundReport, SweepPlan, run_sweep, tune
from .errors import (
    ConfigError,
    ExecutionError,
    ObjectiveImportError,
    StoreError,
    SweepError,
)
from .narrowing import Decision, EliteBox, NarrowingContext, NarrowingRule, NoNarrowing, Proposal
from .result import TuneResult
from .sampling import RandomSampler, Sampler, SobolSampler
from .space import Choice, Float, Int, SearchSpace
from .stopping import StopRule

__version__ = "0.1.0"

__all__ = [
    "Choice",
    "ConfigError",
    "Decision",
    "EliteBox",
    "ExecutionError",
    "Float",
    "Int",
    "NarrowingContext",
    "NarrowingRule",
    "NoNarrowing",
    "ObjectiveImportError",
    "Proposal",
    "RandomSampler",
    "RoundReport",
    "Sampler",
    "SearchSpace",
    "SobolSampler",
    "StopRule",
    "StoreError",
    "SweepConfig",
    "SweepError",
    "SweepPlan",
    "TuneResult",
    "load_config",
    "parse_config",
    "resolve_objective",
    "run_sweep",
    "tune",
]
