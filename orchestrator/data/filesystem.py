"""Where a run lives: a local folder, or any filesystem pyarrow supports (``s3://``,
``gs://``, ``hdfs://``, ...), behind one small interface the run store uses for all its I/O.

What each guarantees when a file is written or replaced (a reader, and a crash at any point,
always leave the old version or the new one readable, never neither):

- **local disk / shared filesystem (NFS...)**: temporary file in the same folder, flush,
  fsync, rename over the target (atomic), fsync the folder; a crash loses at most the write
  in progress and may leave a hidden ``.NAME.*.tmp`` file, which is ignored.
- **object stores (S3, GCS)**: one PUT per file; an object appears whole or not at all, so
  files are written in place (there is no rename, and no fsync to do).
- **other pyarrow filesystems (HDFS, ...)**: a move there may not replace a file atomically
  (HDFS deletes the target, then renames), so a file is never moved onto another. The new
  version goes to a temporary file; the committed one is moved aside to ``.NAME.previous``;
  the new one is moved to ``NAME``; then ``.NAME.previous`` is deleted. A crash between two
  moves leaves ``.NAME.previous`` only, and every read here (and listing) falls back to it;
  the next write of that file cleans up. Durability is the filesystem's own (no fsync).

Files get the mode the umask gives (``0o666 & ~umask``), as any other new file would.

A URI may carry pyarrow's options, e.g.
``s3://bucket/runs?endpoint_override=127.0.0.1:9000&scheme=http&region=us-east-1``;
credentials come from the usual environment (``AWS_ACCESS_KEY_ID``, ...).
"""

from __future__ import annotations

import builtins
import fnmatch
import io
import os
import posixpath
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from orchestrator.faults import crash_point
from orchestrator.redact import credential_values, redact_uri

_DIRECT_PUT = ("s3", "gcs")  # object stores: a PUT is atomic
_ATOMIC_MOVE = ("local",)  # a move replaces the target atomically (rename(2))
_PREVIOUS = ".previous"  # the committed version, kept aside while it is being replaced
_T = TypeVar("_T")


class StoreWarning(UserWarning):
    """A run folder had a damaged file that was skipped, or a stale lock was taken over."""


def fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # not every platform opens folders
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def create_temporary(path: Path) -> tuple[int, str]:
    """A new hidden temporary file next to ``path``, with the mode the umask gives.

    (``tempfile.mkstemp`` would make it 0600, and that mode survives the rename: other users
    of a shared filesystem could not read the results.)
    """
    for _ in range(100):
        tmp = str(path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {path}")


def atomic_write(path: Path, write: Callable[[Any], None], *, binary: bool = True) -> None:
    """Write ``path`` through ``write(fileobj)`` so that it appears whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = create_temporary(path)
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
    fsync_dir(path.parent)


def is_uri(location: str | os.PathLike) -> bool:
    text = str(location)
    scheme = urlsplit(text).scheme
    return bool(scheme) and len(scheme) > 1 and scheme != "file"


def safe_text(location: str | os.PathLike | Location, message: str | None = None) -> str:
    """``location`` (or ``message`` about it) without the credentials a URI may carry."""
    text = str(location)
    if not is_uri(text):
        return text if message is None else message
    if message is None:
        return redact_uri(text)
    for secret in credential_values(text):
        if len(secret) >= 4:  # (shorter: no real credential, and "***" would mangle words)
            message = message.replace(secret, "***")
    return redact_uri(message)


class Location:
    """A folder or file on a local disk or a pyarrow filesystem."""

    def __init__(self, fs: pafs.FileSystem | None, path: str, query: str = "", scheme: str = ""):
        self.fs = fs  # None: the local disk (with fsync'ed atomic writes)
        self.path = path
        self._query = query
        self._scheme = scheme

    @classmethod
    def of(cls, location: str | os.PathLike | Location) -> Location:
        if isinstance(location, Location):
            return location
        text = str(location)
        if not is_uri(text):
            return cls(None, str(Path(text.removeprefix("file://"))))
        fs, path = pafs.FileSystem.from_uri(text)
        parts = urlsplit(text)
        return cls(fs, path, parts.query, parts.scheme)

    @property
    def local(self) -> bool:
        return self.fs is None

    @property
    def remote(self) -> Any:
        """The pyarrow filesystem of a location that is not a local path."""
        if self.fs is None:
            raise ValueError(f"{self.path} is a local path, not on a pyarrow filesystem")
        return self.fs

    def __str__(self) -> str:
        if self.local:
            return self.path
        query = f"?{self._query}" if self._query else ""
        return f"{self._scheme}://{self.path}{query}"

    def child(self, *parts: str) -> Location:
        join = os.path.join if self.local else posixpath.join
        return Location(self.fs, join(self.path, *parts), self._query, self._scheme)

    def sibling(self, name: str) -> Location:
        """Another file in the same folder."""
        folder = os.path.dirname(self.path) if self.local else posixpath.dirname(self.path)
        return Location(self.fs, folder, self._query, self._scheme).child(name)

    @property
    def name(self) -> str:
        return posixpath.basename(self.path.rstrip("/")) if not self.local else Path(self.path).name

    def as_path(self) -> Path | str:
        """A ``pathlib.Path`` for local locations, else the URI text."""
        return Path(self.path) if self.local else str(self)

    # -- how this filesystem replaces a file ----------------------------------------------
    @property
    def _keeps_previous(self) -> bool:
        """Whether replacing a file here keeps the old version aside until the new one is in
        place: on filesystems whose move cannot overwrite atomically (HDFS deletes the
        target, then renames), so that a crash in between leaves one of the two readable."""
        return not self.local and self.remote.type_name not in _DIRECT_PUT + _ATOMIC_MOVE

    def _previous(self) -> Location:
        """Where the committed version waits while it is being replaced (hidden)."""
        return self.sibling(f".{self.name}{_PREVIOUS}")

    def _read(self, read: Callable[[str], _T]) -> _T:
        try:
            return read(self.path)
        except OSError:
            if not self._keeps_previous:
                raise
        try:  # being replaced, or a crash came between: the version kept aside
            return read(self._previous().path)
        except OSError:
            return read(self.path)  # replaced meanwhile

    # -- queries -------------------------------------------------------------------------
    def _info(self) -> pafs.FileInfo:
        return self.remote.get_file_info(self.path)

    def exists(self) -> bool:
        if self.local:
            return os.path.exists(self.path)
        return self._info().type != pafs.FileType.NotFound or self._previous_is_file()

    def _previous_is_file(self) -> bool:
        return self._keeps_previous and self._previous()._info().type == pafs.FileType.File

    def is_dir(self) -> bool:
        if self.local:
            return os.path.isdir(self.path)
        info = self._info()
        if info.type == pafs.FileType.Directory:
            return True
        # object stores have no folders: a prefix with objects under it counts as one
        return info.type == pafs.FileType.NotFound and bool(self.list())

    def is_file(self) -> bool:
        if self.local:
            return os.path.isfile(self.path)
        return self._info().type == pafs.FileType.File or self._previous_is_file()

    def list(self, pattern: str = "*") -> list[Location]:
        """Files directly in this folder whose names match ``pattern``, sorted (on a
        filesystem that keeps old versions aside, a file being replaced counts)."""
        if self.local:
            folder = Path(self.path)
            return (
                [Location(None, str(p)) for p in sorted(folder.glob(pattern)) if p.is_file()]
                if folder.is_dir()
                else []
            )
        try:
            infos = self.remote.get_file_info(pafs.FileSelector(self.path, allow_not_found=True))
        except OSError:
            return []
        names = {i.base_name for i in infos if i.type == pafs.FileType.File}
        if self._keeps_previous:
            names |= {
                n[1 : -len(_PREVIOUS)]
                for n in names
                if n.startswith(".") and n.endswith(_PREVIOUS) and len(n) > len(_PREVIOUS) + 1
            }
        return [self.child(n) for n in sorted(names) if fnmatch.fnmatch(n, pattern)]

    def folders(self) -> builtins.list[Location]:
        """Folders directly in this one (hidden and ``_`` ones left out), sorted by name."""
        if self.local:
            folder = Path(self.path)
            if not folder.is_dir():
                return []
            names = [p.name for p in folder.iterdir() if p.is_dir()]
        else:
            try:
                infos = self.remote.get_file_info(
                    pafs.FileSelector(self.path, allow_not_found=True)
                )
            except OSError:
                return []
            names = [i.base_name for i in infos if i.type == pafs.FileType.Directory]
        return [self.child(n) for n in sorted(names) if not n.startswith((".", "_"))]

    def tree(self, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, int]]:
        """Every file under this folder, by its path relative to it (``/``-separated), with
        its size and modification time in ns: one listing, no file opened. Hidden files are
        left out (a committed version kept aside while it is replaced counts under its own
        name), and so are folders named in ``skip``."""
        found: dict[str, tuple[int, int]] = {}
        if self.local:
            root = self.path
            for folder, dirs, files in os.walk(root):
                dirs[:] = [d for d in dirs if d not in skip and not d.startswith(".")]
                rel = os.path.relpath(folder, root)
                for name in files:
                    try:
                        st = os.stat(os.path.join(folder, name))
                    except OSError:  # replaced or removed meanwhile
                        continue
                    key = name if rel == "." else f"{rel.replace(os.sep, '/')}/{name}"
                    found[key] = (st.st_size, st.st_mtime_ns)
        else:
            try:
                infos = self.remote.get_file_info(
                    pafs.FileSelector(self.path, recursive=True, allow_not_found=True)
                )
            except OSError:
                return {}
            prefix = self.path.rstrip("/") + "/"
            for info in infos:
                if info.type != pafs.FileType.File or not info.path.startswith(prefix):
                    continue
                key = info.path[len(prefix) :]
                if any(part in skip for part in key.split("/")[:-1]):
                    continue
                found[key] = (int(info.size or 0), int(info.mtime_ns or 0))
        out: dict[str, tuple[int, int]] = {}
        for key, stamp in found.items():
            folder, _, name = key.rpartition("/")
            if not name.startswith("."):
                out[key] = stamp
            elif name.endswith(_PREVIOUS) and len(name) > len(_PREVIOUS) + 1:
                kept = (folder + "/" if folder else "") + name[1 : -len(_PREVIOUS)]
                out.setdefault(kept, stamp)  # the new version (if there) wins
            if any(part.startswith(".") for part in key.split("/")[:-1]):
                out.pop(key, None)
        return out

    # -- reading -------------------------------------------------------------------------
    def read_bytes(self) -> bytes:
        if self.local:
            return Path(self.path).read_bytes()

        def read(path: str) -> bytes:
            with self.remote.open_input_stream(path) as fh:
                return fh.read()

        return self._read(read)

    def read_text(self) -> str:
        return self.read_bytes().decode()

    def read_parquet(self, columns: builtins.list[str] | None = None) -> pa.Table:
        """The Parquet file's table (only ``columns``, if given: the others are not read)."""
        if self.local:
            return pq.read_table(self.path, columns=columns)
        return self._read(lambda path: pq.read_table(path, columns=columns, filesystem=self.fs))

    def read_parquet_metadata(self) -> pq.FileMetaData:
        """The Parquet file's footer: its schema and row count, without reading any data."""
        if self.local:
            return pq.read_metadata(self.path)

        def read(path: str) -> pq.FileMetaData:
            with self.remote.open_input_file(path) as fh:
                return pq.read_metadata(fh)

        return self._read(read)

    def read_parquet_schema(self) -> pa.Schema:
        if self.local:
            return pq.read_schema(self.path)

        def read(path: str) -> pa.Schema:
            with self.remote.open_input_file(path) as fh:
                return pq.read_schema(fh)

        return self._read(read)

    # -- writing -------------------------------------------------------------------------
    def makedirs(self) -> None:
        if self.local:
            os.makedirs(self.path, exist_ok=True)
        elif self.remote.type_name not in _DIRECT_PUT:
            self.remote.create_dir(self.path, recursive=True)

    def write_atomic(self, write: Callable[[Any], None], *, binary: bool = True) -> None:
        """Write through ``write(fileobj)`` so that the file appears whole or not at all, and
        a committed version is never lost (see the module's docstring for each filesystem)."""
        if self.local:
            atomic_write(Path(self.path), write, binary=binary)
            return
        buffer = io.BytesIO() if binary else io.StringIO()
        write(buffer)
        data = buffer.getvalue()
        data = data if isinstance(data, bytes) else data.encode()
        if self.remote.type_name in _DIRECT_PUT:
            with self.remote.open_output_stream(self.path) as fh:
                fh.write(data)
            return
        self.remote.create_dir(posixpath.dirname(self.path), recursive=True)
        tmp = self.sibling(f".{self.name}.{secrets.token_hex(4)}.tmp")
        with self.remote.open_output_stream(tmp.path) as fh:
            fh.write(data)
        crash_point("write")
        if not self._keeps_previous:
            self.remote.move(tmp.path, self.path)
            return
        previous = self._previous()
        if self._info().type == pafs.FileType.File:  # keep the committed version aside
            if previous._info().type == pafs.FileType.File:
                self.remote.delete_file(previous.path)  # older than the committed one
            self.remote.move(self.path, previous.path)  # nothing at the target: a plain rename
        self.remote.move(tmp.path, self.path)  # nothing at the target: a plain rename
        if previous._info().type == pafs.FileType.File:
            self.remote.delete_file(previous.path)

    def remove(self) -> None:
        if self.local:
            Path(self.path).unlink(missing_ok=True)
            return
        for loc in (self, self._previous()) if self._keeps_previous else (self,):
            if loc._info().type != pafs.FileType.NotFound:
                self.remote.delete_file(loc.path)

    def remove_tree(self) -> None:
        if self.local:
            import shutil

            shutil.rmtree(self.path, ignore_errors=True)
            return
        try:
            self.remote.delete_dir(self.path)
        except (OSError, FileNotFoundError):
            for item in self.list():
                item.remove()
