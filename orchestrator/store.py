"""The run directory: trial rows as Parquet, ranges as Parquet, metadata as JSON.

Layout::

    RUN_DIR/
      run.json                   metadata: id, resolved config, seed, versions, state, best
      config.json                the same as first written (a fallback if run.json is damaged)
      trials/round-00000.parquet one file per finished round (load all with pyarrow.dataset)
      trials/_partial/round-N/   evaluations of a running round, committed every few seconds
      ranges.parquet             the ranges of every round, with each decision and reason
      .lock                      host and pid of the coordinator running the sweep

Every file is written atomically: to a hidden temporary file in the same folder, flushed and
fsync'ed, then renamed over the target, and the folder fsync'ed. A reader never sees half a
file; hidden (``.``) and ``_`` entries are ignored by pyarrow's dataset discovery. A torn or
truncated file (a disk that lied) is skipped with a :class:`StoreWarning` naming it; resume
re-runs what it held. Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import StoreError
from .faults import crash_point
from .results import concat_trials, conform, unified_schema

METADATA_FILE = "run.json"
CONFIG_FILE = "config.json"  # the run's first record, never rewritten
TRIALS_DIR = "trials"
PARTIAL_DIR = "_partial"  # '_' keeps it out of pyarrow's dataset discovery
RANGES_FILE = "ranges.parquet"
LOCK_FILE = ".lock"


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not every platform opens folders
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[Any], None], *, binary: bool = True) -> None:
    """Write ``path`` through ``write(fileobj)`` so that it appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb" if binary else "w") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        crash_point("write")
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def _read_parquet(path: Path) -> pa.Table | None:
    """A Parquet file's table, or None (with a warning naming it) if it is torn or unreadable."""
    try:
        return pq.read_table(path)
    except (OSError, pa.ArrowException) as exc:
        warnings.warn(f"skipping unreadable file {path} ({exc}); resume re-runs what it held",
                      StoreWarning, stacklevel=3)
        return None


def _read_schema(path: Path) -> pa.Schema | None:
    try:
        return pq.read_schema(path)
    except (OSError, pa.ArrowException):
        return None


class StoreWarning(UserWarning):
    """A run folder had a damaged file that was skipped."""


class RunStore:
    """Reads and writes one run directory. Use :meth:`create` or :meth:`open`."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)

    # -- creating and opening ------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: str | os.PathLike, metadata: dict[str, Any]) -> "RunStore":
        """Start a new run in ``run_dir`` (which must not hold a run already)."""
        store = cls(run_dir)
        if (store.run_dir / METADATA_FILE).exists() or (store.run_dir / CONFIG_FILE).exists():
            raise StoreError(
                f"{store.run_dir} already holds a sweep run; choose another --run-dir, or "
                f"continue it with: sweep resume {store.run_dir}"
            )
        if store.run_dir.exists() and not store.run_dir.is_dir():
            raise StoreError(f"{store.run_dir} exists and is not a folder")
        try:
            (store.run_dir / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create run folder {store.run_dir}: {exc.strerror}") from None
        text = json.dumps(metadata, indent=2, default=str)  # key order kept: space order matters
        atomic_write(store.run_dir / CONFIG_FILE, lambda fh: fh.write(text), binary=False)
        store.write_metadata(metadata)
        return store

    @classmethod
    def open(cls, run_dir: str | os.PathLike) -> "RunStore":
        """Open an existing run; a clear :class:`StoreError` if it is not one."""
        store = cls(run_dir)
        if not store.run_dir.is_dir():
            raise StoreError(f"run folder {store.run_dir} does not exist")
        if not any((store.run_dir / f).is_file() for f in (METADATA_FILE, CONFIG_FILE)):
            raise StoreError(
                f"{store.run_dir} is not a sweep run (no {METADATA_FILE}); "
                "pass the folder that `sweep run` printed"
            )
        store.metadata()  # fail now if unreadable
        return store

    # -- metadata ------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """run.json; if it is damaged, the run's first record (config.json) with a warning."""
        path = self.run_dir / METADATA_FILE
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            first = self.run_dir / CONFIG_FILE
            try:
                meta = json.loads(first.read_text())
            except (OSError, ValueError):
                raise StoreError(f"cannot read {path} ({exc}) nor {first}") from None
            warnings.warn(f"{path} is unreadable ({exc}); using {first}", StoreWarning,
                          stacklevel=2)
            return meta

    def write_metadata(self, metadata: dict[str, Any]) -> None:
        text = json.dumps(metadata, indent=2, default=str)  # key order kept: space order matters
        atomic_write(self.run_dir / METADATA_FILE, lambda fh: fh.write(text), binary=False)

    def update_metadata(self, **changes: Any) -> dict[str, Any]:
        metadata = {**self.metadata(), **changes}
        self.write_metadata(metadata)
        return metadata

    # -- trials --------------------------------------------------------------------------
    def round_path(self, round_index: int) -> Path:
        return self.run_dir / TRIALS_DIR / f"round-{round_index:05d}.parquet"

    def write_round(self, round_index: int, table: pa.Table) -> Path:
        """Commit a whole round (then its partial commits are no longer needed).

        Every round file shares one schema, so any Parquet reader sees every column: when a
        round brings a new metric column (or changes one's type), the earlier files are
        rewritten with the wider schema first.
        """
        others = [p for p in self._round_files() if p != self.round_path(round_index)]
        old = _read_schema(others[0]) if others else None
        schema = unified_schema([s for s in (old, table.schema) if s is not None])
        if old is not None and not schema.equals(old):
            for path in others:
                earlier = _read_parquet(path)
                if earlier is not None:
                    self._write(path, conform(earlier, schema))
        path = self.round_path(round_index)
        self._write(path, conform(table, schema))
        self.clear_partials(round_index)
        crash_point("round")
        return path

    def _round_files(self) -> list[Path]:
        folder = self.run_dir / TRIALS_DIR
        return sorted(folder.glob("round-*.parquet")) if folder.is_dir() else []

    @staticmethod
    def _write(path: Path, table: pa.Table) -> None:
        atomic_write(path, lambda fh: pq.write_table(table, fh, compression="zstd"))

    def load_rounds(self) -> dict[int, pa.Table]:
        """The committed rounds by index; torn files are skipped with a warning."""
        rounds = {}
        for path in self._round_files():
            table = _read_parquet(path)
            if table is not None:
                rounds[int(path.stem.split("-")[1])] = table
        return rounds

    def load_trials(self) -> pa.Table | None:
        """Every committed trial row as one table (None if no round was committed)."""
        rounds = self.load_rounds()
        if not rounds:
            return None
        table = concat_trials(list(rounds.values()))
        return table.sort_by([("round", "ascending"), ("trial_id", "ascending")])

    # -- partial commits inside a round --------------------------------------------------
    def _partial_dir(self, round_index: int) -> Path:
        return self.run_dir / TRIALS_DIR / PARTIAL_DIR / f"round-{round_index:05d}"

    def write_partial(self, round_index: int, seq: int, table: pa.Table) -> None:
        """Commit finished evaluations of a running round (raw result rows)."""
        path = self._partial_dir(round_index) / f"part-{seq:06d}.parquet"
        atomic_write(path, lambda fh: pq.write_table(table, fh))
        crash_point("partial")

    def load_partials(self, round_index: int) -> list[pa.Table]:
        """A running round's partial commits, in the order they were written."""
        folder = self._partial_dir(round_index)
        paths = sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []
        return [t for t in map(_read_parquet, paths) if t is not None]

    def partial_count(self, round_index: int) -> int:
        """How many partial files a round has (readable or not): the next one's number."""
        folder = self._partial_dir(round_index)
        return len(list(folder.glob("part-*.parquet"))) if folder.is_dir() else 0

    def clear_partials(self, round_index: int) -> None:
        folder = self._partial_dir(round_index)
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)

    # -- ranges --------------------------------------------------------------------------
    def write_ranges(self, table: pa.Table) -> None:
        atomic_write(self.run_dir / RANGES_FILE, lambda fh: pq.write_table(table, fh))

    def load_ranges(self) -> pa.Table | None:
        path = self.run_dir / RANGES_FILE
        return _read_parquet(path) if path.exists() else None

    # -- one coordinator per run ---------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator["RunStore"]:
        """Hold the run's lock (fails fast if another live coordinator holds it)."""
        acquire_lock(self.run_dir / LOCK_FILE)
        try:
            yield self
        finally:
            release_lock(self.run_dir / LOCK_FILE)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def acquire_lock(path: Path) -> None:
    """Create the lock file with this host and pid; take over a lock left by a dead process."""
    record = {"host": socket.gethostname(), "pid": os.getpid(), "since": time.time()}
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            owner = _lock_owner(path)
            if owner is None or (owner.get("host") == record["host"] and not _alive(int(owner["pid"]))):
                what = "unreadable" if owner is None else f"left by process {owner['pid']}, which is gone"
                warnings.warn(f"taking over the lock of {path.parent} ({what})", StoreWarning,
                              stacklevel=3)
                path.unlink(missing_ok=True)
                continue
            raise StoreError(
                f"{path.parent} is in use by another sweep (pid {owner.get('pid')} on host "
                f"{owner.get('host')}); wait for it to finish, or stop it first. If that process "
                f"is really gone, remove {path}"
            ) from None
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh)
            fh.flush()
            os.fsync(fh.fileno())
        return
    raise StoreError(f"could not take the lock {path}")


def _lock_owner(path: Path) -> dict[str, Any] | None:
    try:
        owner = json.loads(path.read_text())
        return owner if isinstance(owner, dict) and "pid" in owner else None
    except (OSError, ValueError):
        return None


def release_lock(path: Path) -> None:
    owner = _lock_owner(path)
    if owner is not None and owner.get("pid") == os.getpid():
        path.unlink(missing_ok=True)
