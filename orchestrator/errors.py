"""The project's exceptions: one flat, documented hierarchy.

Everything the orchestrator raises on purpose derives from :class:`SweepError`, so
callers (and the CLI) can catch one type. Foreign errors from Ray are translated into
these at the execution boundary.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def did_you_mean(word: object, options: Iterable[object], otherwise: str = "") -> str:
    """``"; did you mean 'x'?"`` for the closest option, else ``otherwise``."""
    match = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f"; did you mean {match[0]!r}?" if match else otherwise


def first_line(error: BaseException | str) -> str:
    """The first line of an error's text (Ray's errors carry pages of detail)."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class SweepError(Exception):
    """Base class of every error the orchestrator raises on purpose."""


class ConfigError(SweepError, ValueError):
    """A sweep config (YAML or keyword arguments) is invalid.

    The message names the offending key and value and says what was expected.
    """


class ObjectiveImportError(ConfigError):
    """An objective import path ``"module:function"`` could not be resolved."""


class StoreError(SweepError):
    """A run directory is missing, unreadable or not a sweep run."""


class ExecutionError(SweepError):
    """Ray could not run the sweep (cannot connect, a worker died, ...)."""


class SweepInterrupted(SweepError):
    """The sweep was stopped on request (Ctrl+C, SIGTERM); what finished is committed."""


class SweepPaused(SweepInterrupted):
    """The sweep stopped at a round boundary it was asked to stop at (not a user's stop)."""
