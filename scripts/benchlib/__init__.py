"""The benchmarks' shared library; ``scripts/bench_*.py`` are the commands that run them.

Shared parts, each written once:

- ``problems``: what is tuned - search spaces declared once and translated for every library
  (the product, Optuna, scikit-learn, Ray Tune), the synthetic functions with known optima,
  the scikit-learn tasks, the multi-fidelity problems and the overhead objectives.
- ``methods``: how each method is run - the product's ``tune``, random search, Optuna (TPE,
  random, TPE + Hyperband), ``RandomizedSearchCV``, ``HalvingRandomSearchCV``, Ray tasks,
  Ray Tune, joblib - and the local Ray every benchmark starts.
- ``reporting``: machine facts (versions, CPU, load, commit), medians and number formats,
  Markdown tables, JSON files, progress lines and the argument parser.

One module per benchmark, each with ``main(argv)`` and its docstring as documentation:

- ``search``: search quality at a fixed number of evaluations (``scripts/bench_search.py``).
- ``fidelity``: compute to reach full-budget random search's score with multi-fidelity
  methods (``scripts/bench_fidelity.py``).
- ``overhead``: per-trial overhead against other ways to run trials and the physical
  minimum (``scripts/bench_overhead.py``).

Imports point one way: ``reporting`` needs nothing here, ``problems`` nothing here either,
``methods`` both, and each benchmark any of the three; no benchmark imports another.
"""
