"""Samplers: the configurations of a round, drawn inside the current ranges.

``base`` is the contract every sampler keeps (``sample(space, n, rng, history=None)``, the
:class:`~orchestrator.search.samplers.base.Guide` a history-aware sampler is given, the
round's seeded generator); ``uniform`` and ``grid`` ignore the history; ``guided`` picks
among random candidates with the Gaussian-process model in ``gp``; ``registry`` names them
(``make_sampler``) and draws a round (``sample_round``). Part of ``search/``: the same
imports are allowed, and no sampler imports the registry.
"""
