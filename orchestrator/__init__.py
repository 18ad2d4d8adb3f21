"""sweep: distributed coarse-to-fine hyperparameter sweeps on Ray.

>>> from orchestrator import tune, Float, Int, Choice
>>> result = tune(objective, {"lr": Float(1e-5, 1e-1, log=True)}, mode="max")  # doctest: +SKIP

The parts are subpackages (``search``, ``data``, ``loop``, ``execution``, ``sklearn``,
``config``, ``cli``), each saying in its docstring what it owns and may import. Only
:mod:`orchestrator.execution` (and :mod:`workers.actor`, which it runs) talk to Ray;
everything that decides something is pure and importable without a cluster.
"""

from orchestrator.api import tune
from orchestrator.config.loader import SweepConfig, load_config, parse_config, resolve_objective
from orchestrator.data.run_store import StoreWarning
from orchestrator.data.tune_result import TuneResult
from orchestrator.errors import (
    ConfigError,
    ExecutionError,
    ObjectiveImportError,
    StoreError,
    SweepError,
    SweepInterrupted,
)
from orchestrator.loop.coordinator import RoundReport, SweepPlan, run_sweep
from orchestrator.runs import RunOutcome, extend, run_config
from orchestrator.search.narrowing import (
    Decision,
    EliteBox,
    NarrowingContext,
    NarrowingRule,
    NoNarrowing,
    Proposal,
)
from orchestrator.search.samplers.base import Sampler
from orchestrator.search.samplers.uniform import RandomSampler, SobolSampler
from orchestrator.search.space import Choice, Float, Int, SearchSpace
from orchestrator.search.stopping import StopRule
from orchestrator.sklearn.estimator_tasks import EstimatorTask
from orchestrator.sklearn.sealed_test import SealedTestError, evaluate_test, sealed_record

__version__ = "0.1.0"


def __getattr__(name: str):
    # SweepSearchCV imports scikit-learn, WorkerPool imports Ray; load them when asked for.
    if name == "WorkerPool":
        from orchestrator.execution.ray_executor import WorkerPool

        return WorkerPool
    if name == "SweepSearchCV":
        from orchestrator.sklearn.search_cv import SweepSearchCV

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
