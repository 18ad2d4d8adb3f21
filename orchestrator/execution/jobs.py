"""Sweeps on a Ray cluster through Ray's Jobs API (``ray.job_submission``).

``submit`` ships the config's folder (the working directory, with sensible excludes) and
this project's own packages to the cluster and runs ``sweep run CONFIG --address auto`` there
as a Ray job; ``status``, ``logs``, ``stop`` and ``sweeps`` follow it. Errors from Ray are
translated into :class:`~orchestrator.errors.ExecutionError` with one clear line.

What is shipped: the working directory as Ray's packager sees it - links are followed, as
Ray does - without :data:`DEFAULT_EXCLUDES` and :data:`SECRET_EXCLUDES`. A link that leaves the
folder (or points at an excluded one, such as ``.aws``) is refused before anything is sent,
and so is a run folder whose URI carries credentials: the entrypoint and the job's metadata
are readable by anyone who can list the cluster's jobs, so the cluster takes its storage
credentials from its own environment (``AWS_ACCESS_KEY_ID``, ...).

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

from orchestrator.errors import ConfigError, ExecutionError, first_line
from orchestrator.redact import has_credentials, redact_uri

#: Never shipped with a job: environments, VCS data, caches, run folders.
DEFAULT_EXCLUDES = (
    ".venv",
    "venv",
    ".git",
    "__pycache__",
    "*.pyc",
    ".pytest_cache",
    ".hypothesis",
    "runs",
    "*.egg-info",
    ".mypy_cache",
    ".ruff_cache",
)
#: Never shipped either: files and folders that commonly hold secrets.
SECRET_EXCLUDES = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".aws",
    ".ssh",
    ".gnupg",
    ".kube",
    ".docker",
    ".netrc",
    ".pgpass",
    ".pypirc",
    ".git-credentials",
    ".ray",
)
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
    """Whether ``rel`` (a path relative to the shipped folder) matches a pattern: by any of
    its parts (``*.pem``, ``.aws``) or as a whole (``data/big.bin``)."""
    parts = rel.split("/")
    return any(fnmatch.fnmatch(part, p) for p in patterns for part in parts) or any(
        fnmatch.fnmatch(rel, p.rstrip("/")) for p in patterns
    )


def shipped_files(root: Path, excludes: tuple[str, ...]) -> list[tuple[str, int]]:
    """``(path relative to root, bytes)`` of every file ``submit`` would upload from ``root``.

    Links are followed as Ray's working-dir packager follows them (it walks with
    ``Path.is_dir``/``iterdir`` and zips what a link points to), so a linked folder counts
    with everything in it. A :class:`ConfigError` names a link that leaves ``root``, loops
    back to a folder above it, or points at an excluded path (``secrets -> .aws``): Ray
    checks its excludes against the link's own name and would ship the target.
    """
    root = Path(root).resolve()
    found: list[tuple[str, int]] = []

    def visit(folder: Path, rel_folder: str, above: frozenset[Path]) -> None:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            rel = f"{rel_folder}/{entry.name}" if rel_folder else entry.name
            if _excluded(rel, excludes):
                continue
            path = Path(entry.path)
            if entry.is_symlink():
                _check_link(root, rel, path, excludes)
            try:
                if entry.is_dir():  # follows links, as Ray does
                    real = path.resolve()
                    if real in above:
                        raise ConfigError(
                            f"{rel} in {root} is a link back to {real}, a folder above it (Ray "
                            f"would follow it forever); remove the link or --exclude {rel}"
                        )
                    visit(path, rel, above | {real})
                elif entry.is_file():
                    found.append((rel, entry.stat().st_size))
            except FileNotFoundError:  # a broken link: Ray skips it too
                continue

    visit(root, "", frozenset({root}))
    return found


def _check_link(root: Path, rel: str, path: Path, excludes: tuple[str, ...]) -> None:
    target = path.resolve()
    if not target.exists():
        return  # broken: nothing to ship
    if not target.is_relative_to(root):
        raise ConfigError(
            f"{rel} in {root} is a link to {target}, outside the folder that gets shipped; "
            f"Ray would ship what it points to: remove the link, --exclude {rel}, or copy "
            "what the job needs into the folder"
        )
    inside = target.relative_to(root).as_posix()
    if inside != "." and _excluded(inside, excludes):
        raise ConfigError(
            f"{rel} in {root} is a link to {inside}, which is excluded from shipping (Ray "
            f"would ship it through the link); remove the link or --exclude {rel}"
        )


def shipped_size(root: Path, excludes: tuple[str, ...]) -> int:
    """Bytes that ``submit`` would upload from ``root`` (see :func:`shipped_files`)."""
    return sum(size for _, size in shipped_files(root, excludes))


def refuse_credentials(what: str, location: str | os.PathLike | None) -> None:
    """A :class:`ConfigError` if ``location`` carries credentials that would be sent along."""
    if location is None or not has_credentials(str(location)):
        return
    raise ConfigError(
        f"{what} {redact_uri(str(location))} carries credentials (user:secret@ or a key, "
        "secret or token option), which would travel in the job's command line and metadata "
        "for anyone who can list the cluster's jobs; give the cluster its credentials through "
        "its environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or "
        "the cloud's own) and pass the location without them"
    )


def _package_dirs() -> list[str]:
    """The folders of the two packages a job ships (``orchestrator/`` is two levels above
    this file: importing the package itself from here would point upward)."""
    import workers

    return [str(Path(__file__).parent.parent), str(Path(workers.__file__).parent)]


@dataclass(frozen=True)
class Submission:
    job_id: str
    run_dir: str
    address: str


@dataclass(frozen=True)
class JobRequest:
    """What :func:`submit` sends to the Jobs API: nothing in it carries a secret."""

    entrypoint: str
    runtime_env: dict[str, Any]
    metadata: dict[str, str]


def job_request(
    config: str | os.PathLike,
    *,
    run_dir: str,
    working_dir: str | os.PathLike = ".",
    excludes: tuple[str, ...] = (),
    extra_args: tuple[str, ...] = (),
) -> JobRequest:
    """The job that runs ``sweep run CONFIG`` on the cluster, checked before anything is sent:
    the config lies in the shipped folder, no link leaves it, it is not too large, and no
    location carries credentials."""
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
    refuse_credentials("the run folder", run_dir)
    for arg in extra_args:
        refuse_credentials("the argument", arg)
    patterns = DEFAULT_EXCLUDES + SECRET_EXCLUDES + tuple(excludes)
    size = shipped_size(root, patterns)
    if size > MAX_SHIP_BYTES:
        raise ConfigError(
            f"the working directory {root} would ship {size / 2**20:.0f} MiB (limit "
            f"{MAX_SHIP_BYTES / 2**20:.0f} MiB); exclude data with --exclude PATTERN or use a "
            "smaller --working-dir"
        )
    command = [
        "python",
        "-m",
        "orchestrator.cli",
        "run",
        str(rel),
        "--address",
        "auto",
        "--run-dir",
        run_dir,
        *extra_args,
    ]
    runtime_env = {
        "working_dir": str(root),
        "excludes": list(patterns),
        "py_modules": _package_dirs(),
    }
    return JobRequest(
        shlex.join(command), runtime_env, {METADATA_KEY: config_path.stem, "run_dir": run_dir}
    )


def submit(
    config: str | os.PathLike,
    *,
    address: str | None,
    run_dir: str,
    working_dir: str | os.PathLike = ".",
    excludes: tuple[str, ...] = (),
    extra_args: tuple[str, ...] = (),
) -> Submission:
    """Submit ``sweep run CONFIG`` as a Ray job (see :func:`job_request`); return its id and
    run folder."""
    request = job_request(
        config, run_dir=run_dir, working_dir=working_dir, excludes=excludes, extra_args=extra_args
    )
    client = connect(address)
    try:
        job_id = client.submit_job(
            entrypoint=request.entrypoint,
            runtime_env=request.runtime_env,
            metadata=request.metadata,
        )
    except Exception as exc:
        raise ExecutionError(f"the cluster refused the job: {first_line(exc)}") from None
    return Submission(job_id, run_dir, redact_uri(client.get_address()))


def _call(client: Any, method: str, job_id: str) -> Any:
    try:
        return getattr(client, method)(job_id)
    except RuntimeError as exc:
        raise ExecutionError(f"job {job_id}: {first_line(exc)}") from None


def status(job_id: str, address: str | None) -> tuple[str, str]:
    """The job's state (PENDING, RUNNING, SUCCEEDED, FAILED, STOPPED) and message."""
    info = _call(connect(address), "get_job_info", job_id)
    return str(
        info.status.value if hasattr(info.status, "value") else info.status
    ), info.message or ""


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
        {
            "job_id": j.submission_id,
            "status": str(getattr(j.status, "value", j.status)),
            "sweep": (j.metadata or {}).get(METADATA_KEY),
            "run_dir": redact_uri((j.metadata or {}).get("run_dir")),  # older jobs recorded secrets
            "start_time": j.start_time,
        }
        for j in jobs
        if (j.metadata or {}).get(METADATA_KEY)
    ]
    return sorted(out, key=lambda j: j["start_time"] or 0, reverse=True)
