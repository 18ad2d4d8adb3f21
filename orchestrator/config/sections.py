"""The config's sections that describe the run around the search: hand-made edits, the
warm-start record, what each worker reserves, and where runs are stored. Each is checked
when the config is read, the way it would fail later (after round 0, or when the first
worker starts), so a bad one is one line at ``sweep validate``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.checks import check_keys, number, shown, whole_number
from orchestrator.errors import ConfigError
from orchestrator.search.edits import Edit, check_edit_values
from orchestrator.search.space import SearchSpace

_EDIT_KEYS = ("round", "bounds", "freeze", "release")


def _edit(where: str, spec: Any, space: SearchSpace) -> Any:

    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping {{round, bounds, freeze, release}}, got {shown(spec)}"
        )
    check_keys(where, spec, _EDIT_KEYS)
    if "round" not in spec:
        raise ConfigError(f"{where}: missing key 'round' (the round the edit applies to)")
    round_index = whole_number(f"{where}.round", spec["round"], minimum=1)
    bounds, freeze, release = (
        spec.get("bounds") or {},
        spec.get("freeze") or {},
        spec.get("release") or [],
    )
    for key, value in (("bounds", bounds), ("freeze", freeze)):
        if not isinstance(value, Mapping):
            raise ConfigError(
                f"{where}.{key}: expected a mapping of parameter names, got {shown(value)}"
            )
    for name, pair in bounds.items():
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ConfigError(
                f"{where}.bounds.{name}: expected a pair [low, high] (null keeps "
                f"a side), got {shown(pair)}"
            )
    if isinstance(release, (str, bytes)) or not isinstance(release, (list, tuple)):
        raise ConfigError(
            f"{where}.release: expected a list of parameter names, got {shown(release)}"
        )
    edit = Edit(
        round_index,
        {str(k): tuple(v) for k, v in bounds.items()},
        {str(k): v for k, v in freeze.items()},
        tuple(str(n) for n in release),
    )
    try:
        check_edit_values(edit, space)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return edit


def parse_edits(spec: Any, space: SearchSpace) -> tuple[Any, ...]:
    """Edits written by ``sweep continue`` / ``--review``: checked against the space now, so a
    bad one is refused here rather than failing the sweep after its first round."""
    if spec is None:
        return ()
    if not isinstance(spec, (list, tuple)):
        raise ConfigError(
            f"edits: expected a list of edits (as `sweep continue` writes them), got {shown(spec)}"
        )
    return tuple(_edit(f"edits[{i}]", e, space) for i, e in enumerate(spec))


_WARM_KEYS = ("run", "parameters")


def parse_warm_start(spec: Any, space: SearchSpace) -> dict[str, Any] | None:
    """The record ``--warm-start`` writes: ``{run: RUN_DIR, parameters: [names]}``."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError(
            "warm_start: expected a mapping {run: RUN_DIR, parameters: [names]} "
            f"(written by sweep run --warm-start), got {shown(spec)}"
        )
    check_keys("warm_start", spec, _WARM_KEYS)
    for key in _WARM_KEYS:
        if key not in spec:
            raise ConfigError(f"warm_start: missing key {key!r}")
    if not isinstance(spec["run"], str) or not spec["run"]:
        raise ConfigError(f"warm_start.run: expected a run folder, got {shown(spec['run'])}")
    names = spec["parameters"]
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(
            f"warm_start.parameters: expected a list of parameter names, got {shown(names)}"
        )
    for name in names:
        if name not in space:
            raise ConfigError(
                f"warm_start.parameters: unknown parameter {name!r}; the space has "
                f"{', '.join(space)}"
            )
    return {"run": spec["run"], "parameters": list(names)}


_RESOURCE_KEYS = ("num_cpus", "num_gpus", "memory", "resources")
#: Names Ray keeps for itself inside ``resources`` (each has its own setting).
_RAY_OWN_RESOURCES = {
    "CPU": "num_cpus",
    "GPU": "num_gpus",
    "memory": "memory",
    "object_store_memory": "nothing (the object store is shared)",
}
_FINEST_FRACTION = 0.0001  # Ray counts resources in units of 1/10000


def _amount(where: str, value: Any) -> float:
    amount = number(where, value, finite=True)
    if amount < 0:
        raise ConfigError(f"{where}: must be >= 0, got {shown(value)}")
    if 0 < amount < _FINEST_FRACTION:
        raise ConfigError(
            f"{where}: Ray counts resources in steps of {_FINEST_FRACTION}, got {value!r}"
        )
    return amount


def parse_worker_resources(spec: Any) -> dict[str, Any] | None:
    """``{num_cpus: 1, num_gpus: 0.25, memory: bytes, resources: {name: amount}}``: checked here
    the way Ray would check them when the first worker starts."""
    if spec is None:
        return None
    if not isinstance(spec, Mapping):
        raise ConfigError(
            f"worker_resources: expected a mapping like {{num_cpus: 1, num_gpus: 0}}, "
            f"got {shown(spec)}"
        )
    check_keys("worker_resources", spec, _RESOURCE_KEYS)
    for key in ("num_cpus", "num_gpus", "memory"):
        if key in spec:
            _amount(f"worker_resources.{key}", spec[key])
    gpus = spec.get("num_gpus")
    if gpus is not None and gpus > 1 and float(gpus) != int(gpus):
        raise ConfigError(
            f"worker_resources.num_gpus: more than 1 GPU must be a whole number, got {gpus!r}"
        )
    if "resources" in spec:
        custom = spec["resources"]
        if not isinstance(custom, Mapping):
            raise ConfigError(
                "worker_resources.resources: expected a mapping of names to amounts, "
                f"got {shown(custom)}"
            )
        for name, amount in custom.items():
            if not isinstance(name, str) or not name:
                raise ConfigError(
                    f"worker_resources.resources: resource names are text, got {shown(name)}"
                )
            if name in _RAY_OWN_RESOURCES:
                raise ConfigError(
                    f"worker_resources.resources: {name!r} is set with "
                    f"{_RAY_OWN_RESOURCES[name]}, not inside resources"
                )
            _amount(f"worker_resources.resources.{name}", amount)
        return {**spec, "resources": dict(custom)}
    return dict(spec)


#: URI schemes pyarrow's filesystem layer opens (a plain path needs none).
STORAGE_SCHEMES = ("s3", "gs", "gcs", "hdfs", "viewfs", "abfs", "abfss", "file")


def check_storage_scheme(storage: str) -> None:
    """An unknown ``scheme://`` is known to fail before anything runs: say so now."""
    from urllib.parse import urlsplit

    from orchestrator.data.filesystem import is_uri
    from orchestrator.redact import redact_uri

    if is_uri(storage):
        scheme = urlsplit(storage).scheme.lower()
        if scheme not in STORAGE_SCHEMES:
            raise ConfigError(
                f"storage: unknown filesystem {scheme!r} in {redact_uri(storage)!r}; use a folder "
                "path or a URI starting with one of: "
                f"{', '.join(s + '://' for s in STORAGE_SCHEMES)}"
            )


__all__ = [
    "STORAGE_SCHEMES",
    "check_storage_scheme",
    "parse_edits",
    "parse_warm_start",
    "parse_worker_resources",
]
