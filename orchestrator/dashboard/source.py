"""Where the dashboard's numbers come from: the runs it was given, read through their
:class:`~orchestrator.data.run_store.RunStore`.

A run is read file by file - ``trials/round-*.parquet`` (committed rounds) and
``trials/_partial/round-N/part-*.parquet`` (the running rounds' partial commits) - and only
the columns a view asks for, each cached per file together with the file's size and
modification time. One listing of the run folder (:meth:`RunStore.listing`, at most once a
second) says what changed; a view re-reads only new or changed files. Nothing is written.

Rows of a running round's partial commits are the workers' raw results: status, score,
metrics, worker, times, error - but not the configuration (the round's plan is not stored
until the round is committed). They show up with ``pending`` true and a null ``trial_id``
and parameters; views that need the configuration use the committed rows only.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from orchestrator.data.filesystem import Location, safe_text
from orchestrator.data.run_store import (
    CONFIG_FILE,
    METADATA_FILE,
    PARTIAL_DIR,
    RANGES_FILE,
    TRIALS_DIR,
    RunStore,
)
from orchestrator.data.trials import trial_schema, unified_schema
from orchestrator.errors import StoreError
from orchestrator.redact import redact_record
from orchestrator.search.fidelity import Budget
from orchestrator.search.pareto import Objectives, resolve
from orchestrator.search.space import SearchSpace
from orchestrator.search.specs import parse_space

_T = TypeVar("_T")
PENDING = "pending"  # the column the dashboard adds: true for a running round's rows
LISTING_TTL_S = 1.0  # a run folder is listed at most this often
RESCAN_TTL_S = 5.0  # a storage folder is searched for new runs at most this often
DERIVED_ENTRIES = 48  # results of views kept per run (each for one version of the run)


class StaleListing(StoreError):
    """A file the folder's listing named is gone (a running round's partial commits go when
    the round is committed): whatever was read from that listing is read again from a new
    one (:meth:`RunData.consistent`)."""


@dataclass(frozen=True)
class Snapshot:
    """What a run folder holds at one moment: its files with their stamps, the committed
    rounds and the partial commits of the rounds still running."""

    files: dict[str, tuple[int, int]]
    rounds: tuple[tuple[int, str], ...]  # (round, path of its file), by round
    partials: tuple[tuple[int, str], ...]  # (round, path of one commit), by round and order
    version: str  # changes whenever any of them changes

    @property
    def running_rounds(self) -> list[int]:
        return sorted({r for r, _ in self.partials})


def _round_of(name: str) -> int | None:
    """``round-00012.parquet`` or ``round-00012`` -> 12."""
    stem = name.split(".")[0]
    if not stem.startswith("round-"):
        return None
    try:
        return int(stem[len("round-") :])
    except ValueError:
        return None


def snapshot_of(files: dict[str, tuple[int, int]]) -> Snapshot:
    rounds: dict[int, str] = {}
    partials: list[tuple[int, str]] = []
    for path in files:
        parts = path.split("/")
        if parts[0] != TRIALS_DIR or not parts[-1].endswith(".parquet"):
            continue
        if len(parts) == 2:
            r = _round_of(parts[1])
            if r is not None:
                rounds[r] = path
        elif len(parts) == 4 and parts[1] == PARTIAL_DIR and parts[3].startswith("part-"):
            r = _round_of(parts[2])
            if r is not None:
                partials.append((r, path))
    running = sorted((r, p) for r, p in partials if r not in rounds)  # a committed round's
    digest = hashlib.sha1()  # partial commits are leftovers (removed right after the commit)
    for path in sorted(files):
        if (
            path in (METADATA_FILE, RANGES_FILE)
            or path in rounds.values()
            or (any(path == p for _, p in running))
        ):
            digest.update(f"{path}:{files[path][0]}:{files[path][1]};".encode())
    return Snapshot(
        files=files,
        rounds=tuple(sorted(rounds.items())),
        partials=tuple(running),
        version=digest.hexdigest()[:16],
    )


@dataclass
class _FileCache:
    stamp: tuple[int, int]
    columns: dict[str, pa.ChunkedArray]


@dataclass(frozen=True)
class Plan:
    """What a run's config says about reading its trials."""

    space: SearchSpace
    mode: str
    objectives: Objectives | None
    weights: dict[str, float] | None
    budget: Budget | None


class RunData:
    """One run, read lazily and cached per file. Safe to use from several threads."""

    def __init__(self, key: str, location: str | Location) -> None:
        self.key = key
        self.store = RunStore(location)
        self.location = safe_text(self.store.loc)
        # Three locks, so that the cheap questions (what changed, how many rows) never wait
        # for a view that is reading columns: the listing and run.json; the files' footers;
        # the columns read (and the results of views).
        self._list_lock = threading.Lock()
        self._footer_lock = threading.Lock()
        self._lock = threading.RLock()
        self._derived_lock = threading.Lock()
        self._snapshot: Snapshot | None = None
        self._listed_at = 0.0
        self._files: dict[str, _FileCache] = {}
        self._footers: dict[str, tuple[tuple[int, int], pa.Schema, int]] = {}
        self._meta: tuple[tuple[int, int] | None, dict[str, Any]] | None = None
        self._ranges: tuple[tuple[int, int], pa.Table | None] | None = None
        self._derived: OrderedDict[Any, tuple[str, Any]] = OrderedDict()

    # -- what the folder holds ------------------------------------------------------------
    def snapshot(self, max_age: float = LISTING_TTL_S) -> Snapshot:
        """The run folder's files (listed again when the last listing is older than
        ``max_age`` seconds)."""
        with self._list_lock:
            now = time.monotonic()
            if self._snapshot is None or max_age <= 0 or now - self._listed_at >= max_age:
                self._snapshot = snapshot_of(self.store.listing())
                self._listed_at = now
                with self._footer_lock:  # files gone (a committed round's partial commits)
                    for path in [p for p in self._footers if p not in self._snapshot.files]:
                        del self._footers[path]
            return self._snapshot

    def meta(self, snap: Snapshot | None = None) -> dict[str, Any]:
        """run.json (or config.json if it is damaged), credentials redacted; re-read only
        when it changed."""
        snap = snap or self.snapshot()
        stamp = snap.files.get(METADATA_FILE) or snap.files.get(CONFIG_FILE)
        with self._list_lock:
            if self._meta is None or self._meta[0] != stamp:
                try:
                    meta = self.store.metadata()
                except StoreError:
                    if self._meta is None:
                        raise
                    meta = self._meta[1]  # being replaced: keep what we had
                self._meta = (stamp, redact_record(meta))
            return self._meta[1]

    def plan(self, snap: Snapshot | None = None) -> Plan:
        meta = self.meta(snap)
        config = meta.get("config") or {}

        def build() -> Plan:
            try:
                space = parse_space(config["space"], check_values=False)
                mode, objectives = resolve(config["mode"], config.get("objectives"))
                weights = (config.get("pick") or {}).get("weights")
                budget = Budget.parse(config.get("budget"))
            except (KeyError, TypeError, ValueError) as exc:
                raise StoreError(
                    f"{self.location}: run.json lacks the run's config ({exc})"
                ) from None
            return Plan(space, mode, objectives, weights, budget)

        key = json.dumps(
            [config.get(k) for k in ("space", "mode", "objectives", "pick", "budget")],
            sort_keys=True,
            default=str,
        )
        return self.derived(("plan",), key, build)

    def ranges(self, snap: Snapshot | None = None) -> pa.Table | None:
        snap = snap or self.snapshot()
        stamp = snap.files.get(RANGES_FILE)
        if stamp is None:
            return None
        with self._lock:
            if self._ranges is None or self._ranges[0] != stamp:
                self._ranges = (stamp, self.store.read_file(RANGES_FILE))
            return self._ranges[1]

    # -- the trial rows -------------------------------------------------------------------
    def _footer(self, path: str, stamp: tuple[int, int]) -> tuple[pa.Schema, int] | None:
        """A file's schema and row count (its Parquet footer, read once per version)."""
        with self._footer_lock:
            known = self._footers.get(path)
        if known is not None and known[0] == stamp:
            return known[1], known[2]
        footer = self.store.file_metadata(path)
        if footer is None:
            self._gone(path)
            return None  # torn: skipped
        schema = footer.schema.to_arrow_schema()
        with self._footer_lock:
            self._footers[path] = (stamp, schema, footer.num_rows)
        return schema, footer.num_rows

    def row_count(self, snap: Snapshot | None = None) -> tuple[int, int]:
        """(committed rows, rows of running rounds' partial commits), from the files'
        footers alone."""
        snap = snap or self.snapshot()
        counts = [0, 0]
        for i, group in enumerate((snap.rounds, snap.partials)):
            for _, path in group:
                footer = self._footer(path, snap.files[path])
                counts[i] += footer[1] if footer is not None else 0
        return counts[0], counts[1]

    def schema(self, snap: Snapshot | None = None) -> pa.Schema:
        """Every column any of the run's files has (one type each), the trial table's own
        columns first; the configured parameters always among them."""
        snap = snap or self.snapshot()
        plan = self.plan(snap)
        schemas = [trial_schema(plan.space)]
        for _, path in snap.rounds + snap.partials:
            footer = self._footer(path, snap.files[path])
            if footer is not None:
                schemas.append(footer[0].remove_metadata())
        return unified_schema(schemas)

    def table(
        self, columns: Sequence[str], snap: Snapshot | None = None, *, committed: bool = False
    ) -> pa.Table:
        """The run's rows - committed rounds in order, then the running rounds' partial
        commits (unless ``committed``) - with just ``columns`` (a column a file lacks is
        null there) and ``pending``. Each file's columns are read once and cached."""
        snap = snap or self.snapshot()
        schema = self.schema(snap)
        wanted = [c for c in dict.fromkeys(columns) if c != PENDING]
        unknown = [c for c in wanted if c not in schema.names]
        if unknown:
            raise KeyError(f"no column {unknown[0]!r} in this run")
        fields = [schema.field(c) for c in wanted]
        parts = []
        with self._lock:
            for path in [p for p in self._files if p not in snap.files]:
                del self._files[path]  # gone: its columns are not needed any more
            groups = [(snap.rounds, False)] + ([] if committed else [(snap.partials, True)])
            for group, pending in groups:
                for round_index, path in group:
                    part = self._read(path, snap.files[path], fields, round_index, pending)
                    if part is not None:
                        parts.append(part)
        out_schema = pa.schema(fields + [pa.field(PENDING, pa.bool_())])
        if not parts:
            return out_schema.empty_table()
        return pa.concat_tables(parts)

    def _read(
        self,
        path: str,
        stamp: tuple[int, int],
        fields: list[pa.Field],
        round_index: int,
        pending: bool,
    ) -> pa.Table | None:
        footer = self._footer(path, stamp)
        if footer is None:
            return None
        schema, n = footer
        cached = self._files.get(path)
        if cached is None or cached.stamp != stamp:
            cached = self._files[path] = _FileCache(stamp, {})
        have = set(schema.names)
        if pending:  # a partial commit's trial_id is the round's work key, not the trial's
            have -= {"trial_id", "round"}
        missing = [f.name for f in fields if f.name in have and f.name not in cached.columns]
        if missing:
            table = self.store.read_file(path, missing)
            if table is None:
                self._gone(path)
                return None  # torn: skipped
            for name in missing:
                cached.columns[name] = pa.chunked_array([table.column(name).combine_chunks()])
        arrays = []
        for f in fields:
            if f.name == "round" and pending:
                arrays.append(pa.chunked_array([pa.array(np.full(n, round_index), f.type)]))
            elif f.name in cached.columns and f.name in have:
                column = cached.columns[f.name]
                if column.type != f.type:
                    column = pc.cast(column, f.type)
                arrays.append(column)
            else:
                arrays.append(pa.chunked_array([pa.nulls(n, f.type)]))
        arrays.append(pa.chunked_array([pa.array(np.full(n, pending), pa.bool_())]))
        return pa.Table.from_arrays(arrays, names=[f.name for f in fields] + [PENDING])

    def _gone(self, path: str) -> None:
        """Raise :class:`StaleListing` if ``path`` (named by a listing) has gone since."""
        try:
            gone = not self.store.has_file(path)
        except OSError:  # a remote store that cannot say: skipped, as a torn file is
            return
        if gone:
            raise StaleListing(f"{path} went while it was read; the run is read again")

    def consistent(self, view: Callable[[Snapshot], _T], attempts: int = 4) -> _T:
        """``view(snapshot)``, all of it read from one listing of the folder: if a file the
        listing named went meanwhile, the folder is listed again and ``view`` starts over
        (a view that read some columns before and some after the file went would mix two
        states of the run; one that caches an answer caches only a whole one)."""
        snap = self.snapshot()
        for _ in range(attempts - 1):
            try:
                return view(snap)
            except StaleListing:
                snap = self.snapshot(max_age=0)
        try:
            return view(snap)
        except StaleListing:
            raise StaleListing(
                f"{self.location}: the run changed {attempts} times while it was read; "
                "the next refresh reads it again"
            ) from None

    # -- results of views, one per version of the run ------------------------------------
    def derived(self, key: Any, version: str, compute: Callable[[], _T]) -> _T:
        """``compute()``'s result, cached under ``key`` until the run's ``version`` (or
        whatever the caller passes) changes."""
        with self._derived_lock:
            hit = self._derived.get(key)
            if hit is not None and hit[0] == version:
                self._derived.move_to_end(key)
                return hit[1]
        value = compute()
        with self._derived_lock:
            self._derived[key] = (version, value)
            self._derived.move_to_end(key)
            while len(self._derived) > DERIVED_ENTRIES:
                self._derived.popitem(last=False)
        return value

    def cached(self, key: Any) -> tuple[str, Any] | None:
        """The last result under ``key`` with the version it was made for (or None)."""
        with self._derived_lock:
            return self._derived.get(key)


class Catalog:
    """The runs the dashboard shows: run folders as given, and the runs in storage folders
    (searched again for new runs at most every few seconds)."""

    def __init__(self, paths: Sequence[str]) -> None:
        if not paths:
            raise StoreError("give at least one run folder or a storage folder holding runs")
        self._lock = threading.Lock()
        self._runs: dict[str, RunData] = {}
        self._by_location: dict[str, str] = {}
        self._roots: list[Location] = []
        self._scanned_at = 0.0
        for path in paths:
            loc = Location.of(path)
            if RunStore.holds_run(loc):
                self._add(loc)
                continue
            shown = safe_text(loc)
            try:
                is_dir = loc.is_dir()
            except (OSError, ValueError, pa.ArrowException) as exc:
                raise StoreError(f"cannot reach {shown}: {safe_text(loc, str(exc))}") from None
            if not is_dir:
                raise StoreError(
                    f"{shown}: no such folder; give a run folder (it holds run.json) or a "
                    "storage folder holding runs"
                )
            self._roots.append(loc)
        self._scan()

    def _add(self, loc: Location) -> None:
        text = str(loc)
        if text in self._by_location:
            return
        base = loc.name or "run"
        key, n = base, 2
        while key in self._runs:
            key, n = f"{base}-{n}", n + 1
        self._runs[key] = RunData(key, loc)
        self._by_location[text] = key

    def _scan(self) -> None:
        for root in self._roots:
            try:
                for folder in root.folders():
                    if str(folder) not in self._by_location and RunStore.holds_run(folder):
                        self._add(folder)
            except (OSError, StoreError):
                continue  # unreachable for now: the runs found so far stay
        self._scanned_at = time.monotonic()

    def runs(self) -> list[RunData]:
        with self._lock:
            if self._roots and time.monotonic() - self._scanned_at >= RESCAN_TTL_S:
                self._scan()
            return list(self._runs.values())

    def get(self, key: str) -> RunData | None:
        with self._lock:
            found = self._runs.get(key)
        if found is None and self._roots:
            self.runs()
            with self._lock:
                found = self._runs.get(key)
        return found
