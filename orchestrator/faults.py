"""Fault injection for the reliability tests: crash this process at a named point.

Set ``SWEEP_CRASH_AT=<point>:<n>`` and the process ends abruptly (``os._exit``, like
``kill -9``: no cleanup, no flush) the n-th time it reaches ``<point>``. Points:

- ``write``: inside an atomic write, after the temporary file is written and before the
  rename (a crash during a write);
- ``round``: right after a round's file is committed (a crash between rounds);
- ``partial``: right after a partial commit inside a round (a crash mid-round);
- ``refit``: in the sealed test evaluation, before the final refit (a crash after tuning).

Unset (the normal case), a crash point costs one dictionary lookup.
"""

from __future__ import annotations

import os

_ENV = "SWEEP_CRASH_AT"
_hits: dict[str, int] = {}


def crash_point(name: str) -> None:
    spec = os.environ.get(_ENV)
    if not spec:
        return
    point, _, count = spec.partition(":")
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(count or 1):
        os._exit(137)
