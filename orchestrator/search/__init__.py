"""The search: every decision about where to sample next, as pure functions over values.

Owns the space (dimensions, validation, its own plain-data form), reading trial rows
(``trials``), narrowing rules, hand-made edits, stages, stopping, fidelity (budgets and the
promotion rule), importance, and the samplers (``search.samplers``). Nothing here touches
storage, Ray or the clock: a decision is returned as a value (a proposal with its reasons),
so the same inputs always give the same answer.

May import: numpy, scipy, pyarrow (tables in memory, never its filesystems), scikit-learn
(the guided sampler's model, importance's forest), :mod:`orchestrator.errors`,
:mod:`orchestrator.checks`, and the worker's row contract (``workers.evaluate``'s column
names and statuses). Never ``data/``, ``loop/``, ``execution/``, ``sklearn/``, ``cli/``
or Ray.
"""
