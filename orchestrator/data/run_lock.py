"""One coordinator per run: the ``.lock`` file in the run folder.

The lock records who took it: host, pid, the process's start (boot id and start time, where
the system tells) and a random token drawn for this acquisition. A lock is stale - and taken
over with a :class:`StoreWarning` - when it is unreadable, or was taken on this host by a
process that is gone: its pid is not running, runs a process that started later (the pid was
reused), or is our own pid while the token is not one this process drew (a restarted
container whose coordinator was pid 1 too). A lock taken on another host is never judged.

Taking the lock is atomic on a local or shared filesystem: the record is written to a
temporary file and hard-linked to ``.lock`` (exactly one link succeeds). Taking over a stale
lock goes through a marker, ``.lock.takeover-<digest of the stale lock>``, claimed the same
way: of several processes that find the same stale lock at once, only the one that claims the
marker replaces the lock; the others then find the new owner alive and are refused. A marker
left by a taker that died is itself stale and taken over the same way. Object stores and
other pyarrow filesystems have no exclusive create: there the lock is advisory.

Releasing removes the lock only if it is still ours (host, pid and token).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import socket
import time
import warnings
from pathlib import Path
from typing import Any

from orchestrator.data.filesystem import (
    Location,
    StoreWarning,
    atomic_write,
    create_temporary,
    fsync_dir,
)
from orchestrator.errors import StoreError

_held: set[str] = set()  # tokens of the locks this process took and still holds
_ATTEMPTS = 5


def acquire_lock(lock: Location, folder: Any) -> str:
    """Take the lock for this process and return its token (for :func:`release_lock`).

    Raises :class:`StoreError` if a live process (or one on another host) holds it.
    """
    token = secrets.token_hex(8)
    record = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "since": time.time(),
        "started": _process_start(os.getpid()),
        "token": token,
    }
    _held.add(token)
    try:
        holder = _claim(lock, json.dumps(record))
    except BaseException:
        _held.discard(token)
        raise
    if holder is None:
        return token
    _held.discard(token)
    raise StoreError(
        f"{folder} is in use by another sweep (pid {holder.get('pid')} on host "
        f"{holder.get('host')}); wait for it to finish, or stop it first. If that process "
        f"is really gone, remove {lock}"
    )


def release_lock(lock: Location, token: str | None = None) -> None:
    """Remove the lock if this process holds it (``token``: the one acquisition's)."""
    owner = _record(_read(lock))
    mine = {token} if token is not None else set(_held)
    if (
        owner is not None
        and owner.get("host") == socket.gethostname()
        and owner.get("pid") == os.getpid()
        and owner.get("token") in mine
    ):
        lock.remove()
    if token is not None:
        _held.discard(token)


# -- claiming a file atomically ----------------------------------------------------------------
def _claim(path: Location, text: str) -> dict[str, Any] | None:
    """Make ``path`` hold ``text`` if it is absent or stale (None), else the live holder's
    record. Of several processes claiming the same stale file at once, exactly one wins."""
    for _ in range(_ATTEMPTS):
        if _create_exclusive(path, text):
            return None
        raw = _read(path)
        if raw is None:  # released meanwhile
            continue
        owner = _record(raw)
        why = _stale_because(owner)
        if why is None:
            return owner
        marker = path.sibling(f"{path.name}.takeover-{hashlib.sha256(raw).hexdigest()[:16]}")
        holder = _claim(marker, text)  # one process per stale content gets past here
        if holder is not None:
            return holder  # another process is taking it over right now
        try:
            if _read(path) != raw:  # taken over (or released) before we claimed the marker
                continue
            warnings.warn(f"taking over the lock of {path} ({why})", StoreWarning, stacklevel=2)
            _replace(path, text)
            return None
        finally:
            marker.remove()
    raise StoreError(f"could not take the lock {path}: it kept changing; try again")


def _create_exclusive(path: Location, text: str) -> bool:
    """Create ``path`` holding ``text`` unless it exists; never visible half-written locally."""
    if not path.local:  # no exclusive create: checked, then written (advisory)
        if path.exists():
            return False
        path.write_atomic(lambda fh: fh.write(text), binary=False)
        return True
    target = Path(path.path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temporary(target)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(tmp, target)  # atomic, fails if the lock exists
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links: exclusive create
            return _create_exclusive_in_place(target, text)
    finally:
        Path(tmp).unlink(missing_ok=True)
    fsync_dir(target.parent)
    return True


def _create_exclusive_in_place(target: Path, text: str) -> bool:
    try:
        fd = os.open(target, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    return True


def _replace(path: Location, text: str) -> None:
    if path.local:
        atomic_write(Path(path.path), lambda fh: fh.write(text), binary=False)
    else:
        path.write_atomic(lambda fh: fh.write(text), binary=False)


def _read(path: Location) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError:
        return None if not path.exists() else b""


def _record(raw: bytes | None) -> dict[str, Any] | None:
    try:
        owner = json.loads(raw) if raw else None
    except ValueError:
        return None
    return owner if isinstance(owner, dict) and "pid" in owner else None


# -- is the owner gone? ------------------------------------------------------------------------
def _stale_because(owner: dict[str, Any] | None) -> str | None:
    """Why a lock's owner is gone, or None if it may be alive."""
    if owner is None:
        return "unreadable"
    if owner.get("host") != socket.gethostname():
        return None  # another host: cannot tell
    try:
        pid = int(owner["pid"])
    except (TypeError, ValueError):
        return "unreadable"
    if pid == os.getpid():
        if owner.get("token") in _held:
            return None
        return f"left by an earlier process with pid {pid}, which is gone"
    if not _alive(pid):
        return f"left by process {pid}, which is gone"
    started, now = owner.get("started"), _process_start(pid)
    if started and now and started != now:
        return f"left by process {pid}, which is gone (that pid now runs another process)"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return False
    return True


def _process_start(pid: int) -> str | None:
    """When process ``pid`` started (boot id and start time), where the system tells."""
    try:
        boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # the name, in parentheses, may hold spaces
    return f"{boot}/{fields[19]}" if len(fields) > 19 else None
