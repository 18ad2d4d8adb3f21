"""The run directory: trial rows as Parquet, ranges as Parquet, metadata as JSON.

Layout::

    RUN_DIR/
      run.json                   metadata: id, resolved config, seed, versions, state, best
      config.json                the same as first written (a fallback if run.json is damaged)
      trials/round-00000.parquet one file per finished round (load all with pyarrow.dataset)
      trials/_partial/round-N/   evaluations of a running round, committed every few seconds
      trials/_states/round-N/    training states of a running round's promotable
                                 configurations (bytes or .npz, never pickles), so a resumed
                                 round continues them; removed as they stop being needed
      ranges.parquet             the ranges of every round, with each decision and reason
      .lock                      who runs the sweep: host, pid, start, token (see run_lock)

Every file is written atomically: on a local or shared disk to a hidden temporary file in
the same folder, flushed and fsync'ed, then renamed over the target, and the folder fsync'ed
(other filesystems: see :mod:`orchestrator.data.filesystem`; replacing a file never loses both
versions on any of them). A reader never sees half a file; hidden (``.``) and ``_`` entries
are ignored by pyarrow's dataset discovery. Files get the mode the umask gives. A torn or
truncated file (a disk that lied) is skipped with a :class:`StoreWarning` naming it; resume
re-runs what it held. Storage that cannot be reached is a :class:`StoreError` naming the
location (never the credentials in its URI). Nothing is pickled.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from orchestrator.data.filesystem import Location, StoreWarning, atomic_write, safe_text
from orchestrator.data.run_lock import acquire_lock, release_lock
from orchestrator.data.trials import concat_trials, conform, unified_schema
from orchestrator.errors import StoreError, first_line
from orchestrator.faults import crash_point
from workers.evaluate import persistable

__all__ = ["RunStore", "StoreWarning", "acquire_lock", "atomic_write", "reaching", "release_lock"]

METADATA_FILE = "run.json"
CONFIG_FILE = "config.json"  # the run's first record, never rewritten
TRIALS_DIR = "trials"
PARTIAL_DIR = "_partial"  # '_' keeps it out of pyarrow's dataset discovery
STATES_DIR = "_states"
RANGES_FILE = "ranges.parquet"
WORK_KEY = b"sweep.work"  # partial commits: the fingerprint of the round's work they belong to
LOCK_FILE = ".lock"

#: run.json's ``state`` once every round is done: ``finished``, or ``tuned`` while a sealed
#: test set is still to be evaluated (then ``finished``).
STATE_FINISHED = "finished"
STATE_TUNED = "tuned"
DONE_STATES = (STATE_FINISHED, STATE_TUNED)


def _read_parquet(loc: Location) -> pa.Table | None:
    """A Parquet file's table, or None (with a warning naming it) if it is torn or unreadable."""
    try:
        return loc.read_parquet()
    except (OSError, pa.ArrowException) as exc:
        warnings.warn(
            f"skipping unreadable file {loc} ({exc}); resume re-runs what it held",
            StoreWarning,
            stacklevel=3,
        )
        return None


def _read_schema(loc: Location) -> pa.Schema | None:
    try:
        return loc.read_parquet_schema()
    except (OSError, pa.ArrowException):
        return None


def _write_parquet(loc: Location, table: pa.Table) -> None:
    loc.write_atomic(lambda fh: pq.write_table(table, fh, compression="zstd"))


@contextmanager
def reaching(
    location: str | os.PathLike | Location, failing: str = "cannot reach run storage"
) -> Iterator[None]:
    """Turn storage that cannot be reached (no server at the endpoint, no such bucket, a URI
    pyarrow rejects, no permission) into one :class:`StoreError` line: ``failing``, the
    location without any credentials its URI carries, and the cause."""
    try:
        yield
    except (OSError, ValueError, pa.ArrowException) as exc:
        cause = safe_text(location, first_line(exc))
        raise StoreError(f"{failing} {safe_text(location)}: {cause}") from None


def check_storage(storage: str | os.PathLike) -> None:
    """Fail now, in one :class:`StoreError` line, if run folders could not be made under
    ``storage``: a local path that is a file, or storage that cannot be reached (no server,
    refused credentials, no such bucket). Writes nothing."""
    with reaching(storage):
        loc = Location.of(storage)
        if loc.local:
            if loc.exists() and not loc.is_dir():
                raise StoreError(f"storage {loc}: is a file, not a folder; give a folder path")
            return
        loc.exists()  # one request: the endpoint answers and takes the credentials
        bucket = loc.path.strip("/").split("/")[0]
        if (
            loc.remote.type_name in ("s3", "gcs")
            and bucket
            and loc.remote.get_file_info(bucket).type == pafs.FileType.NotFound
        ):
            raise StoreError(
                f"storage {safe_text(loc)}: no such bucket {bucket!r}; create it "
                "first, or check the name"
            )


def _holds_run(loc: Location) -> bool:
    return loc.child(METADATA_FILE).exists() or loc.child(CONFIG_FILE).exists()


class RunStore:
    """Reads and writes one run folder (local path or URI). Use :meth:`create` or :meth:`open`.

    ``run_dir`` is a ``pathlib.Path`` for local runs and the URI text otherwise.
    """

    def __init__(self, run_dir: str | os.PathLike | Location) -> None:
        self.loc = Location.of(run_dir)
        self.run_dir = self.loc.as_path()

    def file(self, name: str) -> Location:
        """A file of the run (e.g. ``split.parquet``, ``test.json``)."""
        return self.loc.child(name)

    # -- creating and opening ------------------------------------------------------------
    @classmethod
    def holds_run(cls, run_dir: str | os.PathLike | Location) -> bool:
        with reaching(run_dir, "cannot open run folder"):
            return _holds_run(Location.of(run_dir))

    @classmethod
    def create(cls, run_dir: str | os.PathLike, metadata: dict[str, Any]) -> RunStore:
        """Start a new run in ``run_dir`` (which must not hold a run already)."""
        with reaching(run_dir, "cannot create run folder"):
            store = cls(run_dir)
            shown = safe_text(store.run_dir)
            if _holds_run(store.loc):
                raise StoreError(
                    f"{shown} already holds a sweep run; choose another --run-dir, or "
                    f"continue it with: sweep resume {shown}"
                )
            if store.loc.is_file():
                raise StoreError(f"{shown} exists and is not a folder")
            store.loc.child(TRIALS_DIR).makedirs()
            text = json.dumps(
                metadata, indent=2, default=str
            )  # key order kept: space order matters
            store.file(CONFIG_FILE).write_atomic(lambda fh: fh.write(text), binary=False)
            store.write_metadata(metadata)
        return store

    @classmethod
    def open(cls, run_dir: str | os.PathLike) -> RunStore:
        """Open an existing run; a clear :class:`StoreError` if it is not one."""
        with reaching(run_dir, "cannot open run folder"):
            store = cls(run_dir)
            shown = safe_text(store.run_dir)
            if not store.loc.is_dir():
                raise StoreError(f"run folder {shown} does not exist")
            if not any(store.file(f).is_file() for f in (METADATA_FILE, CONFIG_FILE)):
                raise StoreError(
                    f"{shown} is not a sweep run (no {METADATA_FILE}); "
                    "pass the folder that `sweep run` printed"
                )
        store.metadata()  # fail now if unreadable
        return store

    # -- metadata ------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """run.json; if it is damaged, the run's first record (config.json) with a warning."""
        path = self.file(METADATA_FILE)
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            first = self.file(CONFIG_FILE)
            try:
                meta = json.loads(first.read_text())
            except (OSError, ValueError):
                cause = safe_text(path, first_line(exc))
                raise StoreError(
                    f"cannot read {safe_text(path)} ({cause}) nor {safe_text(first)}"
                ) from None
            warnings.warn(
                f"{path} is unreadable ({exc}); using {first}", StoreWarning, stacklevel=2
            )
            return meta

    def write_metadata(self, metadata: dict[str, Any]) -> None:
        text = json.dumps(metadata, indent=2, default=str)  # key order kept: space order matters
        self.file(METADATA_FILE).write_atomic(lambda fh: fh.write(text), binary=False)

    def update_metadata(self, **changes: Any) -> dict[str, Any]:
        metadata = {**self.metadata(), **changes}
        self.write_metadata(metadata)
        return metadata

    # -- trials --------------------------------------------------------------------------
    def round_path(self, round_index: int) -> Path | str:
        return self._round_loc(round_index).as_path()

    def _round_loc(self, round_index: int) -> Location:
        return self.loc.child(TRIALS_DIR, f"round-{round_index:05d}.parquet")

    def write_round(self, round_index: int, table: pa.Table) -> Path | str:
        """Commit a whole round (then its partial commits are no longer needed).

        Every round file shares one schema, so any Parquet reader sees every column: when a
        round brings a new metric column (or changes one's type), the earlier files are
        rewritten with the wider schema first.
        """
        target = self._round_loc(round_index)
        others = [f for f in self._round_files() if f.path != target.path]
        old = _read_schema(others[0]) if others else None
        schema = unified_schema([s for s in (old, table.schema) if s is not None])
        if old is not None and not schema.equals(old):
            for loc in others:
                earlier = _read_parquet(loc)
                if earlier is not None:
                    _write_parquet(loc, conform(earlier, schema))
        _write_parquet(target, conform(table, schema))
        self.clear_partials(round_index)
        self.clear_states(round_index)
        crash_point("round")
        return target.as_path()

    def first_missing_round(self) -> int:
        """The index of the first round without a committed file (the one to run next)."""
        names = {loc.name for loc in self._round_files()}
        r = 0
        while f"round-{r:05d}.parquet" in names:
            r += 1
        return r

    def has_rounds(self) -> bool:
        """Whether any round was committed (without reading it)."""
        return bool(self._round_files())

    def _round_files(self) -> list[Location]:
        return self.loc.child(TRIALS_DIR).list("round-*.parquet")

    def load_rounds(self) -> dict[int, pa.Table]:
        """The committed rounds by index; torn files are skipped with a warning."""
        rounds = {}
        for loc in self._round_files():
            table = _read_parquet(loc)
            if table is not None:
                rounds[int(loc.name.split("-")[1].split(".")[0])] = table
        return rounds

    def load_trials(self) -> pa.Table | None:
        """Every committed trial row as one table (None if no round was committed)."""
        rounds = self.load_rounds()
        if not rounds:
            return None
        table = concat_trials(list(rounds.values()))
        return table.sort_by([("round", "ascending"), ("trial_id", "ascending")])

    # -- partial commits inside a round --------------------------------------------------
    def _partial_dir(self, round_index: int) -> Location:
        return self.loc.child(TRIALS_DIR, PARTIAL_DIR, f"round-{round_index:05d}")

    def write_partial(
        self, round_index: int, seq: int, table: pa.Table, work: str | None = None
    ) -> None:
        """Commit finished evaluations of a running round (raw result rows); ``work`` is the
        fingerprint of the round's work they belong to (kept in the file's metadata)."""
        if work is not None:
            table = table.replace_schema_metadata(
                {**(table.schema.metadata or {}), WORK_KEY: work.encode()}
            )
        loc = self._partial_dir(round_index).child(f"part-{seq:06d}.parquet")
        loc.write_atomic(lambda fh: pq.write_table(table, fh))
        crash_point("partial")

    def load_partials(self, round_index: int) -> list[pa.Table]:
        """A running round's partial commits, in the order they were written."""
        files = self._partial_dir(round_index).list("part-*.parquet")
        return [t for t in map(_read_parquet, files) if t is not None]

    def has_partials(self, round_index: int) -> bool:
        """Whether a round that is not committed has committed evaluations."""
        return self.partial_count(round_index) > 0

    def partial_rows(self, round_index: int) -> int:
        """Evaluations in a round's readable partial commits."""
        return sum(t.num_rows for t in self.load_partials(round_index))

    def partial_count(self, round_index: int) -> int:
        """How many partial files a round has (readable or not): the next one's number."""
        return len(self._partial_dir(round_index).list("part-*.parquet"))

    def clear_partials(self, round_index: int) -> None:
        folder = self._partial_dir(round_index)
        if folder.exists() or not folder.local:
            folder.remove_tree()

    # -- training states of a running round ---------------------------------------------
    def _states_dir(self, round_index: int) -> Location:
        return self.loc.child(TRIALS_DIR, STATES_DIR, f"round-{round_index:05d}")

    def _state_loc(self, round_index: int, work: str, key: int) -> Location:
        return self._states_dir(round_index).child(f"{work[:16]}-{key:08d}.state")

    def write_state(self, round_index: int, work: str, key: int, data: bytes) -> None:
        """Keep the state evaluation ``key`` of the round's work (fingerprint ``work``)
        returned; written before the partial commit that holds its row."""
        self._state_loc(round_index, work, key).write_atomic(lambda fh: fh.write(data))

    def load_states(self, round_index: int, work: str) -> dict[int, bytes]:
        """The kept states of the round's work by evaluation key (unreadable ones skipped:
        their configurations restart). Only states a sweep may store are taken: a file that
        claims to hold one kept in memory only (a pickle) is ignored, never loaded."""
        states = {}
        for loc in self._states_dir(round_index).list(f"{work[:16]}-*.state"):
            try:
                data = loc.read_bytes()
                key = int(loc.name.split("-")[1].split(".")[0])
            except (OSError, ValueError):
                continue
            if persistable(data):
                states[key] = data
        return states

    def remove_states(self, round_index: int, work: str, keys: Iterable[int]) -> None:
        """Drop states no evaluation will continue from."""
        for key in keys:
            self._state_loc(round_index, work, key).remove()

    def clear_states(self, round_index: int) -> None:
        folder = self._states_dir(round_index)
        if folder.exists() or not folder.local:
            folder.remove_tree()

    # -- ranges --------------------------------------------------------------------------
    def write_ranges(self, table: pa.Table) -> None:
        self.file(RANGES_FILE).write_atomic(lambda fh: pq.write_table(table, fh))

    def load_ranges(self) -> pa.Table | None:
        loc = self.file(RANGES_FILE)
        return _read_parquet(loc) if loc.exists() else None

    # -- reading a run as it runs (sweep dashboard) --------------------------------------
    def listing(self) -> dict[str, tuple[int, int]]:
        """The run's files by path relative to the run folder (``run.json``,
        ``ranges.parquet``, ``trials/round-00000.parquet``,
        ``trials/_partial/round-00001/part-000000.parquet``, ...) with each one's size and
        modification time in ns: one listing, no file read, nothing written. Training states
        and hidden files are left out."""
        with reaching(self.loc, "cannot list run folder"):
            return self.loc.tree(skip=(STATES_DIR,))

    def read_file(self, relative: str, columns: list[str] | None = None) -> pa.Table | None:
        """A Parquet file of the run (a path :meth:`listing` gave), only ``columns`` read
        (columns the file has: see :meth:`file_metadata`); None if it is gone since (a
        running round's partial commits go once the round is committed), and None with a
        :class:`StoreWarning` if it is torn."""
        loc = self.loc.child(*relative.split("/"))
        try:
            return loc.read_parquet(columns)
        except (OSError, pa.ArrowException) as exc:
            if not loc.exists():
                return None
            warnings.warn(
                f"skipping unreadable file {safe_text(loc)} ({safe_text(loc, str(exc))})",
                StoreWarning,
                stacklevel=2,
            )
            return None

    def has_file(self, relative: str) -> bool:
        """Whether a file :meth:`listing` gave is still there."""
        return self.loc.child(*relative.split("/")).exists()

    def file_metadata(self, relative: str) -> Any:
        """A Parquet file's footer (``pyarrow.parquet.FileMetaData``: schema, row count), or
        None if it is torn or unreadable."""
        try:
            return self.loc.child(*relative.split("/")).read_parquet_metadata()
        except (OSError, pa.ArrowException):
            return None

    # -- one coordinator per run ---------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[RunStore]:
        """Hold the run's lock (fails fast if another live coordinator holds it)."""
        token = acquire_lock(self.file(LOCK_FILE), self.run_dir)
        try:
            yield self
        finally:
            release_lock(self.file(LOCK_FILE), token)
