"""Exports: a run's results written into other tools.

Owns the MLflow export (``mlflow``): a run folder read - never written - and turned into
one parent MLflow run per sweep with a nested child run per trial, idempotently, once or
after each committed round of a running sweep. MLflow is an optional dependency
(``pip install 'sweep-orchestrator[mlflow]'``), imported only when an export runs.

May import: ``data/`` (the run store, the trial table, :class:`TuneResult`), ``search/`` (how
parameter values sit in their columns, the space's plain form, budgets),
:mod:`orchestrator.errors`, :mod:`orchestrator.redact`, the worker's row contract
(``workers.evaluate``), and mlflow. Never ``loop/``, ``execution/``, ``sklearn/``, ``cli/``
or Ray.
"""
