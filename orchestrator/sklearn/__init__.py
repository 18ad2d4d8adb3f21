"""scikit-learn: estimator tasks, their data, the sealed test, and ``SweepSearchCV``.

Owns estimator tasks (a config's estimator, metric and CV turned into an objective),
datasets, the train/validation/test split and its fingerprint, the sealed test evaluation
(the only code that ever reads test rows, once per run), and ``SweepSearchCV`` (a
scikit-learn search estimator over :func:`orchestrator.api.tune`).

May import: ``search/``, ``data/``, the public entry points (:mod:`orchestrator.api`),
``workers.estimator``, the worker's row contract (:mod:`workers.evaluate`: column names),
scikit-learn, :mod:`orchestrator.errors`, :mod:`orchestrator.checks`,
:mod:`orchestrator.faults`. Never ``execution/``, ``cli/`` or Ray.
"""
