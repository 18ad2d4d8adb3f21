"""What `sweep submit` ships: links followed as Ray's packager follows them, links that leave
the folder refused, secret files left behind. No cluster needed: a fake Jobs API client
records what would be sent."""

import os

import pytest

from orchestrator.cli.commands import main
from orchestrator.errors import ConfigError
from orchestrator.execution import jobs

CONFIG = "objective: 'a:b'\nmode: min\nspace: {x: {type: float, low: 0, high: 1}}\n"


class FakeJobs:
    def __init__(self):
        self.sent = []

    def submit_job(self, **kwargs):
        self.sent.append(kwargs)
        return "raysubmit_1"

    def get_address(self):
        return "http://127.0.0.1:8265"


@pytest.fixture
def client(monkeypatch):
    fake = FakeJobs()
    monkeypatch.setattr(jobs, "connect", lambda address: fake)
    return fake


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    root.mkdir()
    (root / "c.yaml").write_text(CONFIG)
    (root / "model.py").write_text("x = 1\n")
    return root


def sparse(path, size):
    with open(path, "wb") as fh:  # large, but costs no disk
        fh.truncate(size)


def submit(root, **kwargs):
    return jobs.submit(root / "c.yaml", address="x", run_dir="/runs/r", working_dir=root, **kwargs)


def test_a_link_to_a_large_file_outside_is_refused_naming_the_link(project, tmp_path, client):
    sparse(tmp_path / "big.bin", 300 * 2**20)
    os.symlink(tmp_path / "big.bin", project / "data.bin")
    with pytest.raises(ConfigError, match=r"^data\.bin in .* is a link to .*big\.bin, outside"):
        submit(project)
    assert not client.sent
    submit(project, excludes=("data.bin",))  # the fix the message names works
    assert len(client.sent) == 1


def test_a_link_to_a_folder_outside_is_refused(project, tmp_path, client):
    home = tmp_path / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = s\n")
    os.symlink(home / ".aws", project / "cloud")
    with pytest.raises(ConfigError, match=r"^cloud in .* is a link to .*\.aws, outside"):
        submit(project)
    assert not client.sent


def test_links_inside_the_folder_count_with_what_they_point_to(project):
    (project / "data").mkdir()
    sparse(project / "data" / "big.bin", 60 * 2**20)
    os.symlink(project / "data", project / "also-data")  # Ray ships it twice
    files = dict(jobs.shipped_files(project, jobs.DEFAULT_EXCLUDES))
    assert files["data/big.bin"] == files["also-data/big.bin"] == 60 * 2**20
    assert jobs.shipped_size(project, jobs.DEFAULT_EXCLUDES) > jobs.MAX_SHIP_BYTES


def test_a_link_into_an_excluded_folder_or_back_up_is_refused(project):
    (project / ".ssh").mkdir()
    (project / ".ssh" / "id_ed25519").write_text("key")
    os.symlink(project / ".ssh", project / "keys")
    patterns = jobs.DEFAULT_EXCLUDES + jobs.SECRET_EXCLUDES
    with pytest.raises(ConfigError, match=r"^keys in .* is a link to \.ssh, which is excluded"):
        jobs.shipped_files(project, patterns)
    os.unlink(project / "keys")
    (project / "sub").mkdir()
    os.symlink(project, project / "sub" / "loop")
    with pytest.raises(ConfigError, match=r"^sub/loop in .* is a link back to"):
        jobs.shipped_files(project, patterns)


def test_secret_files_are_not_shipped(project, client):
    secrets = [
        ".env",
        ".env.local",
        "server.pem",
        "tls.key",
        "id_rsa",
        "id_ed25519.pub",
        ".netrc",
        ".aws/credentials",
        ".ssh/config",
        "sub/.env",
        ".ray/auth_token",
    ]
    for rel in secrets:
        (project / rel).parent.mkdir(parents=True, exist_ok=True)
        (project / rel).write_text("secret")
    (project / "identity.py").write_text("ok = 1\n")  # not a key file
    submit(project)
    (sent,) = client.sent
    patterns = tuple(sent["runtime_env"]["excludes"])  # what Ray will leave out
    shipped = {rel for rel, _ in jobs.shipped_files(project, patterns)}
    assert shipped == {"c.yaml", "model.py", "identity.py"}


def test_sweep_submit_refuses_a_link_outside_with_one_line(
    project, tmp_path, client, monkeypatch, capsys
):
    os.symlink(tmp_path, project / "up")
    monkeypatch.chdir(project)
    code = main(["submit", "c.yaml", "--address", "http://127.0.0.1:8265"])
    err = capsys.readouterr().err
    assert code == 2 and not client.sent
    assert len(err.strip().splitlines()) == 1 and "up in " in err and "--exclude up" in err
