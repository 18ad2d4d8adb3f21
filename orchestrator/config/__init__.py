"""Config files: YAML in, a checked plan out.

Owns the strict YAML loader (``safe_yaml``: plain data only; keys given twice and aliases
refused), the config's parsing and checks (``loader``: :class:`SweepConfig`,
``load_config``, ``parse_config``), its run-environment sections (``sections``: edits, warm
start, worker resources, storage), starting from another run's final ranges
(``warm_start``), and resolving ``"module:function"`` objectives (``objectives``). Every
problem is one :class:`~orchestrator.errors.ConfigError` line.

May import: ``search/`` (the space's and narrowing rule's plain-data forms), ``data/``
(storage schemes, an earlier run's result), ``sklearn/`` (estimator tasks),
:mod:`orchestrator.checks`, :mod:`orchestrator.errors`, :mod:`orchestrator.redact`. Never
``loop/``, ``execution/``, ``cli/`` or Ray.
"""

from orchestrator.config.loader import SweepConfig, load_config, parse_config, resolve_objective

__all__ = ["SweepConfig", "load_config", "parse_config", "resolve_objective"]
