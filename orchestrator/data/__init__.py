"""The run's data: what a sweep writes and reads back.

Owns the trial table (schema, a round's rows joined from the workers' batches), the ranges
table, :class:`~orchestrator.data.tune_result.TuneResult`, the run store (its layout,
atomic commits, metadata, partial commits) with its lock, and the filesystem layer
(local folders, s3:// and the other pyarrow filesystems, replacing a file without ever
losing both versions).

May import: ``search/`` (the space and how parameter values sit in their columns), pyarrow,
:mod:`orchestrator.errors`, :mod:`orchestrator.faults`, :mod:`orchestrator.redact`, and the
worker's row contract (``workers.evaluate``). Never ``loop/``, ``execution/``, ``sklearn/``,
``cli/`` or Ray.
"""
