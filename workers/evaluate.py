"""Pure evaluation: run an objective on a shard of configurations, return an Arrow batch.

No Ray here, so the rules of what makes a row ``ok``, ``failed`` or ``invalid`` are tested
without a cluster and are the same wherever the objective runs.

- ``ok``: the objective returned a finite number (or a dict whose ``score`` is one).
- ``failed``: the objective raised; ``error`` holds ``"TypeName: message"``.
- ``invalid``: it returned NaN, an infinity, a non-number, or a dict without a usable
  ``score``; ``error`` says which.

Extra entries of a dict return become metric columns (numbers as float64, anything else as
text). A metric whose name clashes with a reserved column or a hyperparameter, or starts
with ``metric_``, is stored as ``metric_<name>``, so two metrics never share a column.
"""

from __future__ import annotations

import math
import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

import numpy as np
import pyarrow as pa

from .state import CONTINUED_COLUMN, STATE_COLUMN, decode_state, encode_state, persistable

__all__ = ["CONTINUED_COLUMN", "STATE_COLUMN", "persistable"]  # re-exported: the row contract

STATUS_OK = "ok"
STATUS_FAILED = "failed"
STATUS_INVALID = "invalid"
STATUS_TIMEOUT = "timeout"
STATUSES = (STATUS_OK, STATUS_FAILED, STATUS_INVALID, STATUS_TIMEOUT)

#: Columns every result batch carries, in order (metric columns follow them).
RESULT_SCHEMA = pa.schema(
    [
        ("trial_id", pa.int64()),
        ("shard", pa.int32()),
        ("worker", pa.string()),
        ("status", pa.string()),
        ("score", pa.float64()),
        ("error", pa.string()),
        ("started_at", pa.timestamp("us", tz="UTC")),
        ("duration_s", pa.float64()),
    ]
)

#: The prefix of a metric stored under another name (see :func:`metric_column_name`).
METRIC_PREFIX = "metric_"

#: Column names an objective's metrics may not take (the coordinator adds the others).
RESERVED_COLUMNS = frozenset(
    [
        "sweep_id",
        "round",
        "config_id",
        "rung",
        "budget",
        CONTINUED_COLUMN,
        STATE_COLUMN,
        *RESULT_SCHEMA.names,
    ]
)

_MAX_ERROR_CHARS = 2000


def batch_to_bytes(batch: pa.RecordBatch) -> bytes:
    """A result batch as Arrow IPC stream bytes, the form shards travel back in: Arrow's own
    format, decoded by :func:`batch_from_bytes`, whatever Ray does with Arrow objects."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


def batch_from_bytes(data: bytes) -> pa.RecordBatch:
    """The inverse of :func:`batch_to_bytes` (one batch per stream)."""
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_next_batch()


class BindsData(Protocol):
    """An objective that needs shared data (a dataset's arrays, say): the worker calls
    ``bind(data)`` once and evaluates configurations with the callable it returns."""

    def bind(self, data: Any) -> Callable[..., Any]: ...


#: What a sweep evaluates: a callable, or an object bound to shared data first.
Objective = Callable[..., Any] | BindsData


def bind_data(objective: Objective, data: Any) -> Callable[..., Any]:
    """The callable to run: ``objective.bind(data)`` when shared data is given."""
    if data is None:
        return cast(Callable[..., Any], objective)  # a call that fails is that trial's row
    bind = getattr(objective, "bind", None)
    if not callable(bind):
        raise TypeError(
            f"shared data was given, but the objective {objective!r} has no bind(data) method"
        )
    return bind(data)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def safe_text(value: Any, limit: int = 200) -> str:
    """``repr(value)``, shortened; never raises (an object's own ``__repr__`` may)."""
    try:
        text = repr(value)
    except Exception as exc:
        text = f"<{type(value).__name__} whose repr() raised {type(exc).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _score_of(result: Any) -> tuple[str, float | None, str | None, Mapping[str, Any] | None]:
    """Classify one objective return value: (status, score, error, metrics); never raises.

    The objective's value runs its own code here (``__float__``, a Mapping's methods), so
    whatever that raises makes the row ``invalid`` rather than failing the shard.
    """
    try:
        return _classify(result)
    except Exception as exc:
        return (
            STATUS_INVALID,
            None,
            f"the result could not be read ({type(exc).__name__} from {type(result).__name__})",
            None,
        )


def _classify(result: Any) -> tuple[str, float | None, str | None, Mapping[str, Any] | None]:
    metrics = None
    if isinstance(result, Mapping):
        if "score" not in result:
            keys = ", ".join(sorted(map(str, result))) or "none"
            return STATUS_INVALID, None, f"dict result has no 'score' key (keys: {keys})", None
        metrics = {k: v for k, v in dict(result).items() if k != "score"}
        result = result["score"]
    if getattr(result, "ndim", None) == 0 and hasattr(result, "item"):  # a 0-d numpy array
        result = result.item()
    if not _is_number(result):
        return (
            STATUS_INVALID,
            None,
            f"score must be a finite number, got {type(result).__name__}: {safe_text(result)}",
            metrics,
        )
    try:
        score = float(result)
    except OverflowError:
        return STATUS_INVALID, None, "score is too large for a float (above ~1.8e308)", metrics
    except (TypeError, ValueError, ArithmeticError) as exc:
        return (
            STATUS_INVALID,
            None,
            f"score must be a finite number, got "
            f"{type(result).__name__} whose float() raised {type(exc).__name__}",
            metrics,
        )
    if not math.isfinite(score):
        return STATUS_INVALID, None, f"score is {score!r}", metrics
    return STATUS_OK, score, None, metrics


def _error_text(exc: BaseException) -> str:
    try:
        message = str(exc)
    except Exception as inner:
        message = f"<str() of the error raised {type(inner).__name__}>"
    text = f"{type(exc).__name__}: {message}"
    return text if len(text) <= _MAX_ERROR_CHARS else text[: _MAX_ERROR_CHARS - 3] + "..."


def error_batch(
    trial_ids: Sequence[int], status: str, error: str, *, shard_id: int, worker: str
) -> pa.RecordBatch:
    """Rows for evaluations that produced no result of their own (worker died, timed out)."""
    n = len(trial_ids)
    return _result_batch(
        trial_ids,
        shard_id,
        worker,
        [status] * n,
        [None] * n,
        [error] * n,
        [int(time.time() * 1e6)] * n,
        [None] * n,
    )


# Arrays are assembled from numpy buffers, not with ``pa.array``: the first ``pa.array`` call
# in a process imports pandas (pyarrow's pandas shim), which cost every worker about 0.2 s
# on its first shard, while the shards queued behind it waited.
def _validity(valid: np.ndarray) -> pa.Buffer | None:
    return None if valid.all() else pa.py_buffer(np.packbits(valid, bitorder="little"))


def _numbers(values: Sequence[Any], dtype: Any, arrow_type: pa.DataType) -> pa.Array:
    """An Arrow array of numbers; ``None`` entries become nulls."""
    valid = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    data = np.array(
        [0 if v is None else v for v in values] if not valid.all() else values, dtype=dtype
    ).reshape(len(values))
    return pa.Array.from_buffers(
        arrow_type,
        len(values),
        [_validity(valid), pa.py_buffer(data)],
        null_count=int(len(values) - valid.sum()),
    )


def _strings(values: Sequence[str | None]) -> pa.Array:
    """An Arrow string array; ``None`` entries become nulls."""
    n = len(values)
    valid = np.fromiter((v is not None for v in values), dtype=bool, count=n)
    encoded = [b"" if v is None else v.encode("utf-8", "replace") for v in values]
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.fromiter(map(len, encoded), dtype=np.int64, count=n), out=offsets[1:])
    if offsets[-1] >= 2**31:
        raise ValueError("a shard's text column holds 2 GiB or more; use smaller shards")
    offsets = offsets.astype(np.int32)
    return pa.Array.from_buffers(
        pa.string(),
        n,
        [_validity(valid), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))],
        null_count=int(n - valid.sum()),
    )


def _result_batch(
    trial_ids: Sequence[int],
    shard_id: int,
    worker: str,
    statuses: Sequence[str],
    scores: Sequence[float | None],
    errors: Sequence[str | None],
    started_us: Sequence[int],
    durations: Sequence[float | None],
    extra: Sequence[tuple[pa.Field, pa.Array]] = (),
) -> pa.RecordBatch:
    n = len(trial_ids)
    arrays = [
        _numbers(trial_ids, np.int64, pa.int64()),
        _numbers([shard_id] * n, np.int32, pa.int32()),
        _strings([worker] * n),
        _strings(statuses),
        _numbers(scores, np.float64, pa.float64()),
        _strings(errors),
        _numbers(started_us, np.int64, pa.timestamp("us", tz="UTC")),
        _numbers(durations, np.float64, pa.float64()),
    ]
    fields = list(RESULT_SCHEMA)
    for field, array in extra:
        fields.append(field)
        arrays.append(array)
    return pa.RecordBatch.from_arrays(arrays, schema=pa.schema(fields))


def metric_column_name(key: str, taken: frozenset[str]) -> str:
    """The column a metric is stored in: its own name, unless that name is taken (a reserved
    column or a hyperparameter) or itself starts with ``metric_``; then ``metric_<name>``.

    Different metric names never share a column: names kept as they are never start with
    ``metric_``, prefixed ones always do. Parameter names may not start with ``metric_``
    (:class:`~orchestrator.search.space.SearchSpace` refuses them), so no prefixed name is taken;
    the loop only guards against a caller whose ``taken`` holds such names.
    """
    key = _text(key)
    if key not in taken and not key.startswith(METRIC_PREFIX):
        return key
    name = METRIC_PREFIX + key
    while name in taken:
        name = METRIC_PREFIX + name
    return name


def _text(value: Any) -> str:
    """``str(value)``; never raises (a metric's own ``__str__`` may)."""
    try:
        return str(value)
    except Exception:
        return safe_text(value)


def _metric_array(values: list[Any]) -> pa.Array:
    """Numbers as float64 when every value converts; otherwise everything as text (a metric
    too large for a float, or whose ``__float__`` fails, is kept, not lost)."""
    if all(v is None or _is_number(v) or isinstance(v, bool) for v in values):
        try:
            floats = [None if v is None else float(v) for v in values]
        except (OverflowError, TypeError, ValueError, ArithmeticError):
            pass
        else:
            return _numbers(floats, np.float64, pa.float64())
    return _strings([None if v is None else _text(v) for v in values])


def _load_state(data: bytes | None) -> Any:
    """The state to continue from; None (start afresh) when there is none or it is
    unreadable, and the row's ``continued`` says so."""
    if data is None:
        return None
    try:
        return decode_state(data)
    except Exception:
        return None


def _keep_state(result: Any, kept: list[bytes | None]) -> Any:
    """Take the ``state`` out of a dict result (into ``kept[-1]``); the rest is the result.

    A state that cannot be stored raises ``TypeError``: the row fails and says why."""
    if not isinstance(result, Mapping) or "state" not in result:
        return result
    rest = {k: v for k, v in dict(result).items() if k != "state"}
    if result["state"] is not None:
        kept[-1] = encode_state(result["state"])
    return rest


def evaluate_shard(
    objective: Callable[..., Any],
    *,
    shard_id: int,
    trial_ids: Sequence[int],
    configs: Sequence[dict[str, Any]],
    worker: str,
    taken_names: frozenset[str] = RESERVED_COLUMNS,
    budgets: Sequence[float | None] | None = None,
    states: Sequence[bytes | None] | None = None,
) -> pa.RecordBatch:
    """Evaluate ``configs`` one after the other; one row per configuration, in order.

    With ``budgets``, the objective is called as ``objective(config, budget)``. With
    ``states`` too (the objective takes a state, see :mod:`workers.state`), as
    ``objective(config, budget, state)`` - the decoded state of the rung below, or None -
    and the batch gets a ``continued`` column and the returned states (as bytes).
    ``taken_names`` are column names metrics must not use (reserved columns and the
    hyperparameter names); the objective never sees anything but its configuration.
    """
    n = len(configs)
    statuses: list[str] = []
    scores: list[float | None] = []
    errors: list[str | None] = []
    started: list[int] = []
    durations: list[float] = []
    metric_rows: list[tuple[int, Mapping[str, Any]]] = []
    continued: list[bool] = []
    kept: list[bytes | None] = []
    clock, wall = time.perf_counter, time.time
    for i, config in enumerate(configs):
        started.append(int(wall() * 1e6))
        t0 = clock()
        try:
            if states is not None and budgets is not None:
                state = _load_state(states[i])
                continued.append(state is not None)
                kept.append(None)
                result = objective(config, budgets[i], state)
                result = _keep_state(result, kept)
            elif budgets is not None:
                result = objective(config, budgets[i])
            else:
                result = objective(config)
        except (Exception, SystemExit) as exc:  # the objective's failure is data, not a crash
            durations.append(clock() - t0)
            statuses.append(STATUS_FAILED)
            scores.append(None)
            errors.append(_error_text(exc))
            continue
        durations.append(clock() - t0)
        status, score, error, metrics = _score_of(result)
        statuses.append(status)
        scores.append(score)
        errors.append(error)
        if metrics:
            metric_rows.append((i, metrics))

    extra = []
    if metric_rows:
        columns: dict[str, list[Any]] = {}
        for i, metrics in metric_rows:
            used: set[str] = set()  # keys that print alike (1 and "1") keep both values
            for key, value in metrics.items():
                name = metric_column_name(key, taken_names)
                while name in used:
                    name = METRIC_PREFIX + name
                used.add(name)
                columns.setdefault(name, [None] * n)[i] = value
        for name in sorted(columns):
            array = _metric_array(columns[name])
            extra.append((pa.field(name, array.type), array))
    if states is not None and budgets is not None:
        kept = [k if s == STATUS_OK else None for k, s in zip(kept, statuses)]
        extra.append((pa.field(CONTINUED_COLUMN, pa.bool_()), pa.array(continued, pa.bool_())))
        extra.append((pa.field(STATE_COLUMN, pa.binary()), pa.array(kept, pa.binary())))
    return _result_batch(
        trial_ids, shard_id, worker, statuses, scores, errors, started, durations, extra
    )
