"""The round loop: sample -> evaluate -> commit -> decide, until a stop rule says done.

Owns the coordinator (the loop, its per-round state as one frozen value, resume by
replaying the store), the work of a round (configurations, budgets and promotions, rows
matched back to their work) and shard sizing. It hands rounds' work to an executor's
dispatch (several rounds at once when they overlap; the Ray executor lives in
``execution/``, which imports this package, never the other way).

May import: ``search/``, ``data/``, :mod:`orchestrator.errors`, :mod:`orchestrator.checks`,
and the worker's row contract (``workers.evaluate``). Never ``execution/``, ``sklearn/``,
``cli/`` or Ray.
"""
