"""Running a multi-objective sweep's objective on a worker.

The objective returns a dict holding every objective by name (``{"val_loss": 0.2,
"latency_ms": 3.1}``, plus any other metrics). :class:`MultiObjective` checks that each is
there and a finite number, and gives the row its ``score``: the objective's own ``score``
if it returned one, else the first objective's value. Every objective stays a column of
the trial table under its own name, which is what the Pareto ranking reads.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any


class MultiObjective:
    """Wraps ``objective`` so a row missing an objective fails with the reason."""

    def __init__(self, objective: Any, names: Sequence[str]) -> None:
        self.objective = objective
        self.names = tuple(names)
        # where the objective's module is imported from on a worker (see objective_import_paths)
        self.__module__ = getattr(objective, "__module__", None) or __name__
        try:
            self.__signature__ = inspect.signature(objective)
        except (TypeError, ValueError):
            pass

    def bind(self, data: Any) -> MultiObjective:
        """The same with the objective's shared data bound (see ``bind_data``)."""
        return MultiObjective(self.objective.bind(data), self.names)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        result = self.objective(*args, **kwargs)
        if not isinstance(result, Mapping):
            raise TypeError(
                f"a multi-objective sweep needs a dict with {', '.join(self.names)}; the "
                f"objective returned {type(result).__name__}"
            )
        missing = [n for n in self.names if n not in result]
        if missing:
            keys = ", ".join(sorted(map(str, result))) or "none"
            raise KeyError(f"the result has no {', '.join(missing)} (keys: {keys})")
        for name in self.names:
            value = result[name]
            if (
                isinstance(value, bool)
                or not isinstance(value, numbers.Real)
                or not math.isfinite(float(value))
            ):
                raise ValueError(f"objective {name!r} must be a finite number, got {value!r}")
        if "score" in result:
            return dict(result)
        return {"score": result[self.names[0]], **result}

    def __repr__(self) -> str:
        return f"MultiObjective({self.objective!r}, {list(self.names)!r})"
