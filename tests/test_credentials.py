"""Credentials in a location (``s3://KEY:SECRET@bucket/...``, ``?secret_key=...``) are never
written to a run's files, printed, shown in the report, or sent to a cluster."""

import io
import json
from types import SimpleNamespace

import pyarrow.fs as pafs
import pytest

from orchestrator import Choice, Float, tune
from orchestrator.cli.commands import main
from orchestrator.cli.progress import JsonReporter, PlainReporter
from orchestrator.config.loader import parse_config
from orchestrator.data.run_store import RunStore
from orchestrator.errors import ConfigError
from orchestrator.execution.serial import SerialExecutor
from tests.objectives import shifted_bowl
from tests.test_storage_s3 import credentials, s3  # noqa: F401 - moto on 127.0.0.1

KEY, SECRET, TOKEN = "AKIDSWEEPTEST", "SwEePsEcReT0123", "SwEePtOkEn4567"
SPACE = {"x": Float(0.0, 1.0), "lr": Float(1e-5, 1e-1, log=True), "act": Choice(["a", "b"])}
ADDRESS = f"http://admin:{SECRET}@127.0.0.1:8265"


def leaked(text: str) -> list[str]:
    return [s for s in (KEY, SECRET, TOKEN) if s in text]


def config_with_storage(storage: str):
    return parse_config(
        {
            "name": "cred",
            "objective": "tests.objectives:shifted_bowl",
            "mode": "min",
            "rounds": 2,
            "samples_per_round": 4,
            "space": {"x": {"type": "float", "low": 0, "high": 1}},
            "storage": storage,
            "warm_start": {"run": f"s3://{KEY}:{SECRET}@sweeps/old", "parameters": []},
        }
    )


def run_files(uri: str) -> dict[str, str]:
    """run.json and config.json of the run at ``uri``, as text."""
    fs, path = pafs.FileSystem.from_uri(uri)
    texts = {}
    for name in ("run.json", "config.json"):
        with fs.open_input_stream(f"{path}/{name}") as fh:
            texts[name] = fh.read().decode()
    return texts


def test_run_json_and_config_json_of_an_s3_run_hold_no_credentials(s3):  # noqa: F811 - fixture
    config = config_with_storage(f"s3://{KEY}:{SECRET}@sweeps/creds?{s3}")
    result = tune(
        shifted_bowl,
        SPACE,
        mode="min",
        rounds=2,
        samples_per_round=4,
        storage=config.storage,
        name="cred",
        config_record=config.to_dict(),
        address=ADDRESS,
        executor=SerialExecutor(shifted_bowl, param_names=list(SPACE)),
    )
    assert not leaked(str(result.run_dir))
    files = run_files(str(result.run_dir))
    assert not leaked(files["run.json"] + files["config.json"]), files
    meta = json.loads(files["run.json"])
    assert meta["config"]["storage"] == f"s3://sweeps/creds?{s3}"  # still a usable location
    assert meta["address"] == "http://127.0.0.1:8265"


def test_a_run_dir_with_credentials_is_recorded_without_them(s3):  # noqa: F811 - fixture
    uri = f"s3://{KEY}:{SECRET}@sweeps/creds/given?{s3}"
    result = tune(
        shifted_bowl,
        SPACE,
        mode="min",
        rounds=2,
        samples_per_round=4,
        run_dir=uri,
        executor=SerialExecutor(shifted_bowl, param_names=list(SPACE)),
    )
    assert result.best_config is not None
    files = run_files(f"s3://sweeps/creds/given?{s3}")
    assert not leaked(files["run.json"] + files["config.json"]), files


@pytest.mark.parametrize("reporter", [PlainReporter, JsonReporter])
def test_progress_output_shows_no_credentials(reporter):
    stream = io.StringIO()
    out = reporter(stream=stream)
    config = config_with_storage("runs")
    run_dir = (
        f"s3://{KEY}:{SECRET}@sweeps/r?region=us-east-1&access_key={KEY}"
        f"&secret_key={SECRET}&session_token={TOKEN}"
    )
    out.start(config, run_dir)
    out.stopped(run_dir)
    outcome = SimpleNamespace(
        result=SimpleNamespace(
            run_dir=run_dir,
            stop_reason="rounds",
            best_config=None,
            best_score=None,
            best_trial_id=None,
            rounds_run=1,
        ),
        test=None,
        sealed=False,
    )
    out.finish(outcome)
    text = stream.getvalue()
    assert "s3://sweeps/r?region=us-east-1" in text and not leaked(text), text


def test_the_report_shows_no_credentials(tmp_path):
    from orchestrator.cli.report import build_report

    result = tune(
        shifted_bowl,
        SPACE,
        mode="min",
        rounds=2,
        samples_per_round=4,
        run_dir=tmp_path / "run",
        executor=SerialExecutor(shifted_bowl, param_names=list(SPACE)),
    )
    store = RunStore.open(result.run_dir)  # a record written before redaction existed
    meta = store.metadata()
    store.update_metadata(
        address=ADDRESS,
        config={
            **meta["config"],
            "storage": f"s3://{KEY}:{SECRET}@sweeps/runs?secret_key={SECRET}",
        },
    )
    html = build_report(result.run_dir)
    assert "s3://sweeps/runs" in html and not leaked(html)


def test_an_error_naming_a_location_does_not_print_its_credentials(capsys):
    code = main(["show", f"s3://{KEY}:{SECRET}@sweeps/r?no_such_option=1"])
    err = capsys.readouterr().err
    assert code == 2 and "s3://sweeps/r" in err and not leaked(err), err


class FakeJobs:
    """A Jobs API client that records what it would send."""

    def __init__(self, jobs=()):
        self.sent, self.jobs = [], list(jobs)

    def submit_job(self, **kwargs):
        self.sent.append(kwargs)
        return "raysubmit_1"

    def get_address(self):
        return "http://127.0.0.1:8265"

    def list_jobs(self):
        return self.jobs


def small_project(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "objective: 'a:b'\nmode: min\nspace: {x: {type: float, low: 0, high: 1}}\n"
    )
    return tmp_path


def test_submit_refuses_a_run_dir_with_credentials(tmp_path, monkeypatch):
    from orchestrator.execution import jobs

    client = FakeJobs()
    monkeypatch.setattr(jobs, "connect", lambda address: client)
    root = small_project(tmp_path)
    with pytest.raises(ConfigError) as err:
        jobs.submit(
            root / "c.yaml",
            address="http://127.0.0.1:8265",
            working_dir=root,
            run_dir=f"s3://{KEY}:{SECRET}@sweeps/r?region=us-east-1",
        )
    assert not client.sent  # nothing sent
    assert "AWS_ACCESS_KEY_ID" in str(err.value) and not leaked(str(err.value))


def test_the_job_sends_its_run_dir_in_the_command_and_metadata(tmp_path, monkeypatch):
    from orchestrator.execution import jobs

    client = FakeJobs()
    monkeypatch.setattr(jobs, "connect", lambda address: client)
    root = small_project(tmp_path)
    jobs.submit(root / "c.yaml", address="x", working_dir=root, run_dir="s3://sweeps/r")
    (sent,) = client.sent
    assert "--run-dir s3://sweeps/r" in sent["entrypoint"]
    assert sent["metadata"]["run_dir"] == "s3://sweeps/r"


def test_sweep_submit_refuses_credentials_in_storage_with_one_line(tmp_path, monkeypatch, capsys):
    from orchestrator.execution import jobs

    client = FakeJobs()
    monkeypatch.setattr(jobs, "connect", lambda address: client)
    monkeypatch.chdir(small_project(tmp_path))
    for flag in ("--storage", "--run-dir"):
        code = main(
            [
                "submit",
                "c.yaml",
                "--address",
                "http://127.0.0.1:8265",
                flag,
                f"s3://{KEY}:{SECRET}@sweeps/runs",
            ]
        )
        err = capsys.readouterr().err
        assert code == 2 and not client.sent and not leaked(err), err
        assert len(err.strip().splitlines()) == 1 and "AWS_ACCESS_KEY_ID" in err
    with open("c.yaml", "a") as fh:  # the config file itself would be shipped
        fh.write(f"storage: s3://{KEY}:{SECRET}@sweeps/runs\n")
    code = main(["submit", "c.yaml", "--address", "http://127.0.0.1:8265", "--run-dir", "/r"])
    err = capsys.readouterr().err
    assert code == 2 and not client.sent and not leaked(err)
    assert err.startswith("sweep: error: c.yaml: storage s3://sweeps/runs carries credentials")


def test_sweep_jobs_does_not_show_credentials_recorded_by_older_submits(monkeypatch, capsys):
    from orchestrator.execution import jobs

    job = SimpleNamespace(
        submission_id="raysubmit_1",
        status="RUNNING",
        start_time=1,
        metadata={"sweep": "cred", "run_dir": f"s3://{KEY}:{SECRET}@sweeps/r"},
    )
    monkeypatch.setattr(jobs, "connect", lambda address: FakeJobs([job]))
    assert main(["jobs", "--address", "http://127.0.0.1:8265"]) == 0
    out = capsys.readouterr().out
    assert "s3://sweeps/r" in out and not leaked(out), out
