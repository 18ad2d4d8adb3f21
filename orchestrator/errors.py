"""The project's exceptions: one flat, documented hierarchy.

Everything the orchestrator raises on purpose derives from :class:`SweepError`, so
callers (and the CLI) can catch one type. Foreign errors from Ray are translated into
these at the execution boundary.
"""

from __future__ import annotations


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
