"""Warm start: begin a sweep from another run's final ranges.

``sweep run CONFIG --warm-start RUN_DIR`` (the same model on new data, say): every parameter
the other run had - with the same kind (float, int, choice) - starts from that run's final
range; the others keep the config's range, with a warning. The run records where its ranges
came from (``warm_start`` in its config, and ``warm_start`` decisions in round 0's ranges).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import TYPE_CHECKING, Any

from orchestrator.data.tune_result import TuneResult
from orchestrator.redact import redact_uri
from orchestrator.search.narrowing import Decision
from orchestrator.search.space import Choice, SearchSpace

if TYPE_CHECKING:
    from orchestrator.config.loader import SweepConfig


class WarmStartWarning(UserWarning):
    """A parameter of the config was not in the run it warm-starts from."""


def warm_start(config: SweepConfig, run_dir: str | os.PathLike) -> SweepConfig:
    """``config`` with the space taken from the final ranges of the run in ``run_dir``."""
    other = TuneResult.load(run_dir)
    where = redact_uri(str(other.run_dir))  # recorded in the run and its ranges: no secrets
    final = other.final_space
    dims, taken = {}, []
    for name, dim in config.space.items():
        theirs = final[name] if name in final else None
        if theirs is None or theirs.kind != dim.kind or theirs.log != dim.log:
            why = "is not in" if theirs is None else "has another kind or scale in"
            warnings.warn(
                f"warm start: parameter {name!r} {why} {where}; it keeps the "
                f"config's range {dim.describe()}",
                WarmStartWarning,
                stacklevel=2,
            )
            dims[name] = dim
            continue
        if isinstance(dim, Choice) and isinstance(theirs, Choice):
            dims[name] = dim.with_values(
                [v for v in theirs.values if v in dim.values] or dim.values
            )
        elif not isinstance(dim, Choice) and not isinstance(theirs, Choice):
            dims[name] = dim.with_bounds(theirs.low, theirs.high)
        taken.append(name)
    record = {"run": where, "parameters": taken}
    return dataclasses.replace(config, space=SearchSpace.narrowed(dims), warm_start=record)


def warm_decisions(record: dict[str, Any] | None, space: SearchSpace) -> tuple[Decision, ...]:
    """Round 0's decisions of a warm-started run."""
    if not record:
        return ()
    taken = set(record.get("parameters", []))
    return tuple(
        Decision(n, "warm_start", f"final range of {redact_uri(record['run'])}")
        if n in taken
        else Decision(n, "initial", "the configured range (not in the warm-start run)")
        for n in space
    )
