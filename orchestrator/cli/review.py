"""`sweep run --review`: after each round, the analyst accepts, edits or stops.

The proposed next ranges are shown beside the current ones with each decision and its
reason. Enter accepts; ``e`` opens the proposed ranges as YAML in ``$EDITOR`` (bounds may be
changed; ``low == high`` or a single choice freezes a parameter); ``q`` stops the sweep,
which stays resumable. Needs a terminal.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from typing import Any, TextIO

import yaml

from orchestrator.errors import ConfigError
from orchestrator.search.edits import Edit, check_edit
from orchestrator.search.space import Choice, SearchSpace


def _row(name: str, current: Any, proposed: Any, decision: Any) -> str:
    action = decision.action if decision else "keep"
    reason = decision.reason if decision else ""
    return f"  {name:<14} {current.describe():<26} {proposed.describe():<26} {action:<8} {reason}"


def _as_yaml(space: SearchSpace) -> str:
    data = {
        n: ({"values": list(d.values)} if isinstance(d, Choice) else {"low": d.low, "high": d.high})
        for n, d in space.items()
    }
    return (
        "# Edit the ranges of the next round; low == high (or one value) freezes a parameter.\n"
        + yaml.safe_dump(data, sort_keys=False)
    )


def edit_from_yaml(text: str, proposed: SearchSpace, round_index: int) -> Edit | None:
    """The edit that turns ``proposed`` into the ranges written in ``text`` (None: no change)."""
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"the edited ranges are not valid YAML: {exc}") from None
    if not isinstance(data, dict) or set(data) - set(proposed):
        unknown = sorted(set(data) - set(proposed)) if isinstance(data, dict) else data
        raise ConfigError(f"the edited ranges name unknown parameters: {unknown}")
    bounds, freeze = {}, {}
    for name, spec in data.items():
        dim = proposed[name]
        if isinstance(dim, Choice):
            values = list((spec or {}).get("values", dim.values))
            if values != list(dim.values):
                if len(values) != 1:
                    raise ConfigError(
                        f"{name}: a choice can be frozen to one value, not narrowed to {values}"
                    )
                freeze[name] = values[0]
            continue
        low, high = (spec or {}).get("low", dim.low), (spec or {}).get("high", dim.high)
        if low == high and (low, high) != (dim.low, dim.high):
            freeze[name] = low
        elif (low, high) != (dim.low, dim.high):
            bounds[name] = (low, high)
    if not bounds and not freeze:
        return None
    return Edit(round_index, bounds, freeze)


class TerminalReview:
    """The interactive review (stdin/stdout must be a terminal)."""

    def __init__(self, stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
        self.stdin = stdin or sys.stdin
        self.stdout = stdout or sys.stdout

    def say(self, text: str) -> None:
        print(text, file=self.stdout, flush=True)

    def __call__(self, current: SearchSpace, proposal: Any, round_index: int) -> Any:
        decisions = {d.parameter: d for d in proposal.decisions}
        self.say(f"review before round {round_index + 1}:")
        self.say(f"  {'parameter':<14} {'current':<26} {'proposed':<26} {'action':<8} reason")
        for name in proposal.space:
            self.say(_row(name, current[name], proposal.space[name], decisions.get(name)))
        while True:
            self.say("[Enter] accept   [e] edit in $EDITOR   [q] stop (resumable)")
            answer = self.stdin.readline()
            if answer == "" or answer.strip().lower() == "q":
                return "quit"
            if answer.strip() == "":
                return None
            if answer.strip().lower() == "e":
                try:
                    return self._edit(proposal.space, round_index)
                except ConfigError as exc:
                    self.say(f"not applied: {exc}")

    def _edit(self, proposed: SearchSpace, round_index: int) -> Edit | None:
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as fh:
            fh.write(_as_yaml(proposed))
            path = fh.name
        try:
            subprocess.run([*shlex.split(editor), path], check=False)
            with open(path) as fh:
                edit = edit_from_yaml(fh.read(), proposed, round_index)
        finally:
            os.unlink(path)
        if edit is not None:
            check_edit(edit, proposed, proposed)
            self.say(f"applied: {edit.to_dict()}")
        return edit
