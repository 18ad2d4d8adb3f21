"""The run directory: trial rows as Parquet, ranges as Parquet, metadata as JSON.

Layout::

    RUN_DIR/
      run.json                   metadata: id, resolved config, seed, versions, state, best
      trials/round-00000.parquet one file per round (load all with pyarrow.dataset)
      ranges.parquet             the ranges of every round, with each decision and reason

Every file is written atomically: to a hidden temporary file in the same folder, flushed and
fsync'ed, then renamed over the target, and the folder fsync'ed. A reader never sees half a
file, and hidden files (``.``-prefixed) are ignored by pyarrow's dataset discovery.
Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from .errors import StoreError

METADATA_FILE = "run.json"
TRIALS_DIR = "trials"
RANGES_FILE = "ranges.parquet"


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
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


class RunStore:
    """Reads and writes one run directory. Use :meth:`create` or :meth:`open`."""

    def __init__(self, run_dir: str | os.PathLike) -> None:
        self.run_dir = Path(run_dir)

    # -- creating and opening ------------------------------------------------------------
    @classmethod
    def create(cls, run_dir: str | os.PathLike, metadata: dict[str, Any]) -> "RunStore":
        """Start a new run in ``run_dir`` (which must not hold a run already)."""
        store = cls(run_dir)
        if (store.run_dir / METADATA_FILE).exists():
            raise StoreError(
                f"{store.run_dir} already holds a sweep run; choose another --run-dir "
                "(or remove that folder)"
            )
        if store.run_dir.exists() and not store.run_dir.is_dir():
            raise StoreError(f"{store.run_dir} exists and is not a folder")
        try:
            (store.run_dir / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create run folder {store.run_dir}: {exc.strerror}") from None
        store.write_metadata(metadata)
        return store

    @classmethod
    def open(cls, run_dir: str | os.PathLike) -> "RunStore":
        """Open an existing run; a clear :class:`StoreError` if it is not one."""
        store = cls(run_dir)
        if not store.run_dir.is_dir():
            raise StoreError(f"run folder {store.run_dir} does not exist")
        if not (store.run_dir / METADATA_FILE).is_file():
            raise StoreError(
                f"{store.run_dir} is not a sweep run (no {METADATA_FILE}); "
                "pass the folder that `sweep run` printed"
            )
        store.metadata()  # fail now if unreadable
        return store

    # -- metadata ------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        path = self.run_dir / METADATA_FILE
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read {path}: {exc}") from None

    def write_metadata(self, metadata: dict[str, Any]) -> None:
        text = json.dumps(metadata, indent=2, sort_keys=True, default=str)
        atomic_write(self.run_dir / METADATA_FILE, lambda fh: fh.write(text), binary=False)

    def update_metadata(self, **changes: Any) -> dict[str, Any]:
        metadata = {**self.metadata(), **changes}
        self.write_metadata(metadata)
        return metadata

    # -- trials --------------------------------------------------------------------------
    def round_path(self, round_index: int) -> Path:
        return self.run_dir / TRIALS_DIR / f"round-{round_index:05d}.parquet"

    def write_round(self, round_index: int, table: pa.Table) -> Path:
        path = self.round_path(round_index)
        atomic_write(path, lambda fh: pq.write_table(table, fh, compression="zstd"))
        return path

    def load_trials(self) -> pa.Table | None:
        """Every committed trial row as one table (None if no round was committed)."""
        folder = self.run_dir / TRIALS_DIR
        files = sorted(folder.glob("round-*.parquet")) if folder.is_dir() else []
        if not files:
            return None
        try:
            schemas = [pq.read_schema(f) for f in files]
            schema = pa.unify_schemas(schemas, promote_options="permissive")
            table = ds.dataset([str(f) for f in files], schema=schema, format="parquet").to_table()
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(f"cannot read the trials of {self.run_dir}: {exc}") from None
        return table.sort_by([("round", "ascending"), ("trial_id", "ascending")])

    # -- ranges --------------------------------------------------------------------------
    def write_ranges(self, table: pa.Table) -> None:
        atomic_write(self.run_dir / RANGES_FILE, lambda fh: pq.write_table(table, fh))

    def load_ranges(self) -> pa.Table | None:
        path = self.run_dir / RANGES_FILE
        if not path.exists():
            return None
        try:
            return pq.read_table(path)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(f"cannot read {path}: {exc}") from None
