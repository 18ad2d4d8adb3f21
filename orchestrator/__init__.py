"""sweep: distributed coarse-to-fine hyperparameter sweeps on Ray.

>>> from orchestrator import tune, Float, Int, Choice
>>> result = tune(objective, {"lr": Float(1e-5, 1e-1, log=True)}, mode="max")  # doctest: +SKIP

Only :mod:`orchestrator.execution` (and :mod:`workers.actor`, which it runs) talk to Ray;
everything that decides something is pure and importable without a cluster.
"""

from .config import SweepConfig, load_config, parse_config, resolve_objective
from .api import tune
from .extend import extend
from .store import StoreWarning
from .coordinator import RoundReport, SweepPlan, run_sweep
from .errors import (
    ConfigError,
    ExecutionError,
    ObjectiveImportError,
    StoreError,
    SweepError,
    SweepInterrupted,
)
from .narrowing import Decision, EliteBox, NarrowingContext, NarrowingRule, NoNarrowing, Proposal
from .result import TuneResult
from .runner import RunOutcome, run_config
from .sealed import SealedTestError, evaluate_test, sealed_record
from .tasks import EstimatorTask
from .sampling import RandomSampler, Sampler, SobolSampler
from .space import Choice, Float, Int, SearchSpace
from .stopping import StopRule

__version__ = "0.1.0"


def __getattr__(name: str):
    # SweepSearchCV imports scikit-learn, WorkerPool imports Ray; load them when asked for.
    if name == "WorkerPool":
        from .execution import WorkerPool

        return WorkerPool
    if name == "SweepSearchCV":
        from .search_cv import SweepSearchCV

        return SweepSearchCV
    raise AttributeError(f"module 'orchestrator' has no attribute {name!r}")


__all__ = [
    "Choice",
    "ConfigError",
    "Decision",
    "EliteBox",
    "EstimatorTask",
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
    "RunOutcome",
    "Sampler",
    "SealedTestError",
    "SearchSpace",
    "SobolSampler",
    "StopRule",
    "StoreWarning",
    "StoreError",
    "SweepConfig",
    "SweepError",
    "SweepInterrupted",
    "SweepPlan",
    "SweepSearchCV",
    "TuneResult",
    "WorkerPool",
    "evaluate_test",
    "extend",
    "load_config",
    "parse_config",
    "resolve_objective",
    "run_config",
    "run_sweep",
    "sealed_record",
    "tune",
]
