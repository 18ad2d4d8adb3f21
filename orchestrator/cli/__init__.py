"""The ``sweep`` command: argument parsing, the commands, and what they print.

Owns the commands (``commands``: run, resume, continue, show, validate, evaluate-test,
report), the Ray Jobs commands (``jobs_commands``), exit codes and tables (``text``), live
progress (``progress``), the review between rounds (``review``) and the HTML report
(``report``). ``python -m orchestrator.cli`` runs the command.

May import: everything above it (the public entry points first: :mod:`orchestrator.api`,
:mod:`orchestrator.runs`, :mod:`orchestrator.config`); nothing imports ``cli/``.
"""

from orchestrator.cli.commands import main

__all__ = ["main"]
