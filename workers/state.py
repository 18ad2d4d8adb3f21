"""Training states handed from rung to rung: a promoted configuration continues, not restarts.

An objective that takes a third parameter, ``state`` (``objective(config, budget, state)``),
gets ``None`` at a configuration's first rung and, once promoted, what it returned at the
rung below: ``{"score": ..., "state": ...}``. ``budget`` is always the total to reach, not
the increment. A state is ``bytes`` (serialise it yourself: ``torch.save`` into a
``BytesIO``, say) or a dict of names to numpy arrays and numbers; it travels as bytes,
``.npz`` for the dict (numpy's format, no pickle: object arrays are refused).

No Ray here; the coordinator keeps the states between rungs (see ``loop.round_work``).
"""

from __future__ import annotations

import inspect
import io
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

#: The column a result batch carries states in; the coordinator takes it off before storing.
STATE_COLUMN = "__state__"
#: Whether an evaluation started from the state of the rung below (False: from scratch).
CONTINUED_COLUMN = "continued"

# What follows the first byte: the user's bytes, an .npz, or bytes kept in memory only.
_RAW, _ARRAYS, _MEMORY = b"B", b"N", b"M"
_KEY = "k_"  # before each name in an .npz, so no name clashes with np.savez's own arguments


class MemoryOnly(bytes):
    """A state that is never written to storage (an estimator task's fitted models, which
    only pickle can serialise): it is handed from rung to rung in memory, and a resumed
    run restarts what it held."""


def persistable(data: bytes) -> bool:
    """Whether an encoded state may be written to the run's storage."""
    return data[:1] != _MEMORY


def takes_state(objective: Callable[..., Any]) -> bool:
    """Whether ``objective`` continues training: a parameter named ``state``, or a third
    positional parameter (``objective(config, budget, state)``)."""
    try:
        params = list(inspect.signature(objective).parameters.values())
    except (TypeError, ValueError):  # no signature to read (a builtin): the plain protocol
        return False
    if any(p.name == "state" and p.kind != p.VAR_KEYWORD for p in params):
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    return len(positional) >= 3


def encode_state(value: Any) -> bytes:
    """A state as bytes; ``TypeError`` saying what is allowed for anything else."""
    if isinstance(value, MemoryOnly):
        return _MEMORY + bytes(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _RAW + bytes(value)
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        arrays = {}
        for key, item in value.items():
            try:
                array = np.asarray(item)
            except Exception:  # ragged lists, objects numpy cannot read
                array = np.asarray(None)
            if array.dtype.hasobject:
                raise TypeError(
                    f"state[{key!r}] is a {type(item).__name__} numpy cannot store without "
                    "pickle; a state dict holds arrays, numbers and lists of them (or return "
                    "the state as bytes)"
                )
            arrays[key] = array
        buffer = io.BytesIO()
        save: Any = np.savez  # (object arrays were refused above: nothing is pickled)
        save(buffer, **{_KEY + k: v for k, v in arrays.items()})  # any name, even "file"
        return _ARRAYS + buffer.getvalue()
    raise TypeError(
        f"state must be bytes or a dict of numpy arrays and numbers, got {type(value).__name__}"
    )


def decode_state(data: bytes) -> Any:
    """The inverse of :func:`encode_state` (a dict's numbers come back as Python numbers)."""
    kind, body = data[:1], data[1:]
    if kind == _RAW:
        return body
    if kind == _MEMORY:
        return MemoryOnly(body)
    if kind == _ARRAYS:
        with np.load(io.BytesIO(body), allow_pickle=False) as arrays:
            return {
                k[len(_KEY) :]: arrays[k].item() if arrays[k].ndim == 0 else arrays[k]
                for k in arrays
            }
    raise ValueError("not a state written by sweep")


__all__ = [
    "CONTINUED_COLUMN",
    "STATE_COLUMN",
    "MemoryOnly",
    "decode_state",
    "encode_state",
    "persistable",
    "takes_state",
]
