"""Sweeps on a Ray cluster through Ray's Jobs API (``ray.job_submission``).

``submit`` ships the config's folder (the working directory, with sensible excludes) and
this project's own packages to the cluster and runs ``sweep run CONFIG --address auto`` there
as a Ray job; ``status``, ``logs``, ``stop`` and ``sweeps`` follow it. Errors from Ray are
translated into :class:`~orchestrator.errors.ExecutionError` with one clear line.

Authentication: with Ray's token authentication (the default of local clusters since Ray
2.60), the client needs the cluster's token - in ``~/.ray/auth_token``, in the file named by
``RAY_AUTH_TOKEN_PATH``, or in ``RAY_AUTH_TOKEN`` - and token mode, which ``connect`` turns
on when a token is there. Authentication is never switched off.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, ExecutionError, first_line

#: Never shipped with a job: environments, VCS data, caches, run folders.
DEFAULT_EXCLUDES = (".venv", "venv", ".git", "__pycache__", "*.pyc", ".pytest_cache",
                    ".hypothesis", "runs", "*.egg-info", ".mypy_cache", ".ruff_cache")
MAX_SHIP_BYTES = 100 * 2**20  # Ray's own limit for a working_dir package is larger; keep jobs lean
METADATA_KEY = "sweep"


def _token_available() -> bool:
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    return bool(os.environ.get("RAY_AUTH_TOKEN")) or Path(path).is_file()


def connect(address: str | None) -> Any:
    """A ``JobSubmissionClient`` for ``address`` (default: ``RAY_ADDRESS``)."""
    address = address or os.environ.get("RAY_ADDRESS")
    if not address:
        raise ConfigError("no cluster address: pass --address http://HEAD:8265 or set RAY_ADDRESS")
    if "://" not in address:
        address = f"http://{address}"
    if _token_available():
        os.environ.setdefault("RAY_AUTH_MODE", "token")
    from ray.job_submission import JobSubmissionClient

    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # ConnectionError, AuthenticationError, RuntimeError, ...
        text = first_line(exc)
        hint = ""
        if "auth" in text.lower() or "token" in text.lower():
            hint = "; give the cluster's token in RAY_AUTH_TOKEN or ~/.ray/auth_token"
        raise ExecutionError(f"cannot reach the Ray Jobs API at {address}: {text}{hint}") from None


def _excluded(rel: str, patterns: tuple[str, ...]) -> bool:
    parts = rel.split("/")
    return any(fnmatch.fnmatch(part, p) for p in patterns for part in parts)


def shipped_size(root: Path, excludes: tuple[str, ...]) -> int:
    """Bytes that ``submit`` would upload from ``root``."""
    total = 0
    for folder, dirs, files in os.walk(root):
        rel_folder = os.path.relpath(folder, root)
        dirs[:] = [d for d in dirs if not _excluded(os.path.normpath(os.path.join(rel_folder, d)), excludes)]
        for name in files:
            rel = os.path.normpath(os.path.join(rel_folder, name))
            if not _excluded(rel, excludes):
                try:
                    total += os.path.getsize(os.path.join(folder, name))
                except OSError:
                    pass
    return total


def _package_dirs() -> list[str]:
    import orchestrator
    import workers

    return [str(Path(orchestrator.__file__).parent), str(Path(workers.__file__).parent)]


@dataclass(frozen=True)
class Submission:
    job_id: str
    run_dir: str
    address: str


def submit(
    config: str | os.PathLike,
    *,
    address: str | None,
    run_dir: str,
    working_dir: str | os.PathLike = ".",
    excludes: tuple[str, ...] = (),
    extra_args: tuple[str, ...] = (),
) -> Submission:
    """Submit ``sweep run CONFIG`` as a Ray job; return its id and run folder."""
    root = Path(working_dir).resolve()
    config_path = Path(config).resolve()
    if not config_path.is_file():
        raise ConfigError(f"{config}: no such config file")
    try:
        rel = config_path.relative_to(root)
    except ValueError:
        raise ConfigError(
            f"{config} is outside the working directory {root}, which is what gets shipped; "
            "run sweep submit from the folder that holds the config (or pass --working-dir)"
        ) from None
    patterns = DEFAULT_EXCLUDES + tuple(excludes)
    size = shipped_size(root, patterns)
    if size > MAX_SHIP_BYTES:
        raise ConfigError(
            f"the working directory {root} would ship {size / 2**20:.0f} MiB (limit "
            f"{MAX_SHIP_BYTES / 2**20:.0f} MiB); exclude data with --exclude PATTERN or use a "
            "smaller --working-dir"
        )
    client = connect(address)
    command = ["python", "-m", "orchestrator.cli", "run", str(rel), "--address", "auto",
               "--run-dir", run_dir, *extra_args]
    runtime_env = {"working_dir": str(root), "excludes": list(patterns),
                   "py_modules": _package_dirs()}
    try:
        job_id = client.submit_job(entrypoint=shlex.join(command), runtime_env=runtime_env,
                                   metadata={METADATA_KEY: config_path.stem, "run_dir": run_dir})
    except Exception as exc:
        raise ExecutionError(f"the cluster refused the job: {first_line(exc)}") from None
    return Submission(job_id, run_dir, client.get_address())


def _call(client: Any, method: str, job_id: str) -> Any:
    try:
        return getattr(client, method)(job_id)
    except RuntimeError as exc:
        raise ExecutionError(f"job {job_id}: {first_line(exc)}") from None


def status(job_id: str, address: str | None) -> tuple[str, str]:
    """The job's state (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) and message."""
    info = _call(connect(address), "get_job_info", job_id)
    return str(info.status.value if hasattr(info.status, "value") else info.status), info.message or ""


def logs(job_id: str, address: str | None, *, follow: bool = False) -> Iterator[str]:
    """The job's output so far; with ``follow``, keep streaming until the job ends."""
    client = connect(address)
    if not follow:
        yield _call(client, "get_job_logs", job_id)
        return
    shown = 0
    while True:  # poll rather than the async tail: plain, and it works in any event loop
        text = _call(client, "get_job_logs", job_id)
        if len(text) > shown:
            yield text[shown:]
            shown = len(text)
        if _call(client, "get_job_status", job_id).is_terminal():
            text = _call(client, "get_job_logs", job_id)
            if len(text) > shown:
                yield text[shown:]
            return
        time.sleep(0.5)


def stop(job_id: str, address: str | None) -> bool:
    """Ask the job to stop (the sweep commits what finished and can be resumed)."""
    return bool(_call(connect(address), "stop_job", job_id))


def sweeps(address: str | None) -> list[dict[str, Any]]:
    """The sweeps submitted to the cluster, newest first."""
    try:
        jobs = connect(address).list_jobs()
    except RuntimeError as exc:
        raise ExecutionError(f"cannot list jobs: {first_line(exc)}") from None
    out = [
        {"job_id": j.submission_id, "status": str(getattr(j.status, "value", j.status)),
         "sweep": (j.metadata or {}).get(METADATA_KEY), "run_dir": (j.metadata or {}).get("run_dir"),
         "start_time": j.start_time}
        for j in jobs if (j.metadata or {}).get(METADATA_KEY)
    ]
    return sorted(out, key=lambda j: j["start_time"] or 0, reverse=True)
