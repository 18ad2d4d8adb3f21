"""Replacing a committed file on a filesystem whose move is delete-then-rename (like HDFS):
a crash at any step leaves the old or the new version readable, never neither."""

import pyarrow as pa
import pyarrow.fs as pafs
import pytest

from orchestrator.data.filesystem import Location
from orchestrator.data.run_store import RunStore


class Crash(BaseException):
    """The process died here (nothing after it runs: not even cleanup)."""


class DeleteThenRename(pafs.FileSystemHandler):
    """A local folder behind a filesystem whose move deletes an existing target first, as
    pyarrow's HDFS does; ``crash_at=k`` dies at the k-th step that changes something."""

    def __init__(self, root, crash_at=None):
        self.base = pafs.SubTreeFileSystem(str(root), pafs.LocalFileSystem())
        self.crash_at, self.steps, self.dead = crash_at, 0, False

    def step(self):
        if self.dead:
            raise Crash("already dead")
        self.steps += 1
        if self.steps == self.crash_at:
            self.dead = True
            raise Crash(f"crash at step {self.steps}")

    # changes
    def move(self, src, dest):
        self.step()
        if self.base.get_file_info(dest).type == pafs.FileType.File:
            self.base.delete_file(dest)
            self.step()  # the moment HDFS has neither file under the target's name
        self.base.move(src, dest)

    def delete_file(self, path):
        self.step()
        self.base.delete_file(path)

    def open_output_stream(self, path, metadata):
        self.step()
        return self.base.open_output_stream(path, metadata=metadata)

    def open_append_stream(self, path, metadata):
        self.step()
        return self.base.open_append_stream(path, metadata=metadata)

    def create_dir(self, path, recursive):
        self.step()
        self.base.create_dir(path, recursive=recursive)

    def delete_dir(self, path):
        self.step()
        self.base.delete_dir(path)

    def delete_dir_contents(self, path, missing_dir_ok=False):
        self.step()
        self.base.delete_dir_contents(path, missing_dir_ok=missing_dir_ok)

    def delete_root_dir_contents(self):
        self.step()
        self.base.delete_root_dir_contents()

    def copy_file(self, src, dest):
        self.step()
        self.base.copy_file(src, dest)

    # queries
    def get_type_name(self):
        return "delete-then-rename"

    def get_file_info(self, paths):
        if self.dead:
            raise Crash("already dead")
        return self.base.get_file_info(paths)

    def get_file_info_selector(self, selector):
        if self.dead:
            raise Crash("already dead")
        return self.base.get_file_info(selector)

    def open_input_stream(self, path):
        return self.base.open_input_stream(path)

    def open_input_file(self, path):
        return self.base.open_input_file(path)

    def normalize_path(self, path):
        return self.base.normalize_path(path)

    def __eq__(self, other):
        return self is other

    def __ne__(self, other):
        return self is not other


def run_at(root, crash_at=None):
    return Location(pafs.PyFileSystem(DeleteThenRename(root, crash_at)), "run")


def scores(value):
    return pa.table(
        {
            "round": pa.array([0, 0], pa.int32()),
            "trial_id": pa.array([0, 1]),
            "score": pa.array([value, value]),
        }
    )


REPLACEMENTS = {
    "run.json": (
        lambda store, v: store.write_metadata({"v": v}),
        lambda store: store.metadata()["v"],
    ),
    "a round file": (
        lambda store, v: store.write_round(0, scores(float(v))),
        lambda store: store.load_rounds()[0].column("score")[0].as_py(),
    ),
    "ranges.parquet": (
        lambda store, v: store.write_ranges(scores(float(v))),
        lambda store: store.load_ranges().column("score")[0].as_py(),
    ),
}


@pytest.mark.parametrize("what", list(REPLACEMENTS))
def test_a_crash_at_any_step_of_a_replacement_leaves_the_old_or_the_new_version(tmp_path, what):
    write, read = REPLACEMENTS[what]
    crashed_at = []
    for k in range(1, 30):
        root = tmp_path / f"crash-{k}"
        root.mkdir()
        write(RunStore.create(run_at(root), {"v": 0}), 1)  # config.json keeps v=0
        try:
            write(RunStore(run_at(root, crash_at=k)), 2)
        except Crash:
            crashed_at.append(k)
        else:
            break  # the replacement has fewer than k steps: every step was tried
        after = RunStore.open(run_at(root))
        assert read(after) in (1, 2), f"crash at step {k}"
        write(after, 3)  # the next write recovers
        assert read(RunStore.open(run_at(root))) == 3
    assert len(crashed_at) >= 3  # the crash points were reached
