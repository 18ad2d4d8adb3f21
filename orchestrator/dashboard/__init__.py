"""``sweep dashboard``: a live local web app over running and finished sweeps.

Owns where the dashboard's numbers come from (``source``: the runs it was given, each read
through its :class:`~orchestrator.data.run_store.RunStore` file by file, only the columns a
view needs, cached per file and re-read only when a file changed), what each view sends
(``views``: aggregated or sampled on the server, so a run of a million trials stays
responsive), the web server (``server``: aiohttp, local by default, a token when bound
elsewhere, read-only) and the page itself (``static/``: HTML, JS and CSS; plotly.js is served
from the installed ``plotly`` package, nothing is fetched from the internet).

May import: ``data/`` (the run store and the trial table), ``search/`` (the space, ranking,
Pareto fronts, importance), :mod:`orchestrator.errors`, :mod:`orchestrator.redact` and the
worker's row contract (``workers.evaluate``). Never ``loop/``, ``execution/``, ``sklearn/``,
``config/``, ``cli/`` or Ray; it never writes into a run folder.
"""
