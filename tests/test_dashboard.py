"""`sweep dashboard`: the API against the store (numbers as TuneResult.load finds them,
filters, sorting and paging, a running round's partial commits, the token rule, read-only),
a 1,000,000-trial run's endpoints (timed, printed), and the page in a real headless Chromium
driven over the DevTools protocol while a sweep runs: no console error, no request leaving
127.0.0.1, the numbers of the store, a table that filters, new rows without a reload, a
screenshot of every view (into the test's tmp_path)."""

from __future__ import annotations

import asyncio
import gzip
import json
import math
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from make_big_run import make_big_run

from orchestrator import Choice, Float, Int, tune
from orchestrator.dashboard import views
from orchestrator.dashboard.server import DashboardServer, needs_token, plotly_js, resolve_token
from orchestrator.data.run_store import RunStore
from orchestrator.data.tune_result import TuneResult
from orchestrator.errors import ConfigError
from orchestrator.execution.serial import SerialExecutor
from orchestrator.search.pareto import Objectives, front_rows, pareto_ranks
from tests.cdp import CDP, Chromium, chromium_or_skip
from workers.multi_objective import MultiObjective

B = "<i>b</i>"  # a choice whose value is markup: shown as text everywhere, plots included
SPACE: dict[str, Float | Int | Choice] = {
    "x": Float(0.0, 1.0),
    "lr": Float(1e-5, 1e-1, log=True),
    "act": Choice(["a", B]),
    "depth": Int(1, 5, when={"act": B}),
}
HOSTILE = "<img src=x onerror=window.__pwned=1> x too large"


def bowl(config: dict[str, Any], delay: float = 0.0) -> dict[str, Any]:
    """A bowl in x and log lr; x > 0.85 raises an error whose text is HTML (never rendered)."""
    if delay:
        time.sleep(delay)
    if config["x"] > 0.85:
        raise ValueError(HOSTILE)
    loss = (config["x"] - 0.3) ** 2 + ((math.log10(config["lr"]) + 3) / 4) ** 2
    loss += 0.02 * (config["act"] == "a") + 0.01 * config.get("depth", 0)
    return {"score": loss, "x_seen": config["x"]}


PAGE_OPEN = threading.Event()  # the live sweep's later trials wait for the page to be open
_calls = iter(range(10**9))


def gated_bowl(config: dict[str, Any]) -> dict[str, Any]:
    """bowl, 20 ms a trial; from the 30th trial on it waits until the page is open, so the
    page always sees the sweep running, however slowly the browser starts."""
    if next(_calls) >= 30:
        PAGE_OPEN.wait(timeout=60)
    return bowl(config, delay=0.02)


def two_goals(config: dict[str, Any]) -> dict[str, Any]:
    size = 10 ** (2 * config["x"]) * (1 + config.get("depth", 0))
    return {"loss": (config["x"] - 1.0) ** 2 + 0.1 / size + abs(math.log10(config["lr"]) + 3)}


def two_goals_sized(config: dict[str, Any]) -> dict[str, Any]:
    out = two_goals(config)
    out["size"] = 10 ** (2 * config["x"]) * (1 + config.get("depth", 0))
    return out


def _tune(objective: Any, run_dir: Path, **kwargs: Any) -> TuneResult:
    names = kwargs.get("objectives")
    evaluated = MultiObjective(objective, names) if names else objective
    defaults = {"mode": "min", "rounds": 3, "samples_per_round": 24, "seed": 0}
    settings: dict[str, Any] = {**defaults, "sampler": "random", **kwargs}
    return tune(
        objective,
        SPACE,
        run_dir=run_dir,
        executor=SerialExecutor(evaluated, param_names=list(SPACE), shard_size=4),
        **settings,
    )


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A storage folder with three runs: finished, several objectives, a sealed test."""
    root = tmp_path_factory.mktemp("dash") / "runs"
    _tune(bowl, root / "finished")
    _tune(
        two_goals_sized,
        root / "pareto",
        objectives=["loss", "size"],
        mode=["min", "min"],
        rounds=2,
        samples_per_round=20,
    )
    shutil.copytree(root / "finished", root / "tested")
    RunStore.open(root / "tested").update_metadata(
        name="tested",
        test={
            "score": 0.9123,
            "scoring": "accuracy",
            "validation_score": 0.95,
            "trial_id": 3,
            "config": {"x": 0.3},
            "evaluated_at": "2026-01-02T00:00:00+00:00",
            "n_test_rows": 36,
        },
    )
    return root


@pytest.fixture(scope="module")
def server(storage: Path):
    with DashboardServer([str(storage)], port=0, poll_s=0.5) as srv:
        yield srv


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    """(status, headers, body) of a GET - never through a proxy, never redirected."""

    class _NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirect())
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with opener.open(request, timeout=120) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def api(server: DashboardServer, path: str, **params: Any) -> Any:
    query = urllib.parse.urlencode(params, doseq=True)
    status, _, body = fetch(server.url + path.lstrip("/") + (f"?{query}" if query else ""))
    assert status == 200, body[:500]
    return json.loads(body)


def statuses(result: TuneResult) -> dict[str, int]:
    values = result.table.column("status").to_pylist()
    return {s: values.count(s) for s in set(values)}


# -- the API against the store ------------------------------------------------------------
def test_the_numbers_are_those_tune_result_finds(server, storage):
    result = TuneResult.load(storage / "finished")
    summary = api(server, "/api/run/finished/summary")
    assert summary["trials"] == result.table.num_rows
    assert summary["counts"]["committed"] == statuses(result)
    assert summary["counts"]["running"] == {}
    assert summary["best"]["trial_id"] == result.best_trial_id
    assert summary["best"]["score"] == result.best_score
    assert summary["best"]["config"] == result.best_config
    assert summary["rounds"] == [0, 1, 2] and summary["state"] == "finished"
    assert any(HOSTILE in e["error"] for e in summary["errors"])  # as data; escaped on the page

    progress = api(server, "/api/run/finished/progress")
    assert progress["best"] == result.best_score
    assert progress["evaluations"] == result.table.num_rows
    steps = progress["steps"]["score"]
    assert steps == sorted(steps, reverse=True) and steps[-1] == result.best_score
    assert result.best_trial_id in progress["steps"]["trial"]

    ranges = api(server, "/api/run/finished/ranges")
    keys = ("round", "sampled", "parameter", "low", "high", "action", "reason")
    assert [{k: r[k] for k in keys} for r in ranges["rows"]] == [
        {k: r[k] for k in keys} for r in result.ranges.to_pylist()
    ]

    top = api(server, "/api/run/finished/parallel", k=10)
    assert top["trial"] == result.top(10).column("trial_id").to_pylist()
    assert top["values"]["depth"] == result.top(10).column("depth").to_pylist()  # null: inactive

    shares = api(server, "/api/run/finished/importance")["shares"]
    assert shares == pytest.approx(result.importance())

    scatter = api(server, "/api/run/finished/scatter")
    assert scatter["ok"] == statuses(result)["ok"] == scatter["shown"]
    assert result.best_trial_id in [t for t, top in zip(scatter["trial"], scatter["top"]) if top]

    workers = api(server, "/api/run/finished/workers")
    assert workers["mode"] == "bars" and workers["workers"] == ["local"]
    assert sum(w["trials"] for w in workers["stats"]) == result.table.num_rows
    assert len(workers["bars"]["start"]) == result.table.num_rows
    busy = float(np.sum(result.table.column("duration_s").to_numpy()))
    assert workers["stats"][0]["busy_s"] == pytest.approx(busy)


def test_several_objectives_show_the_front_tune_result_finds(server, storage):
    result = TuneResult.load(storage / "pareto")
    front = api(server, "/api/run/pareto/pareto")
    assert front["names"] == ["loss", "size"]
    assert front["front"]["trial"] == result.pareto_front().column("trial_id").to_pylist()
    assert front["picked"] == result.best_trial_id
    assert api(server, "/api/run/pareto/summary")["best"]["trial_id"] == result.best_trial_id
    status, _, body = fetch(server.url + "api/run/finished/pareto")
    assert status == 400 and b"one objective" in body


def test_the_fast_front_is_the_exact_one(storage, monkeypatch):
    rng = np.random.default_rng(1)
    for k in (2, 3):
        for n in (1, 7, 300, 1200):
            values = np.round(rng.normal(size=(n, k)), 1)  # ties and duplicates
            expected = np.flatnonzero(pareto_ranks(values) == 0)
            assert views.fast_front(values, block=64).tolist() == expected.tolist()
    table = TuneResult.load(storage / "pareto").table
    objectives = Objectives(("loss", "size"), ("min", "min"))
    monkeypatch.setattr(views, "EXACT_FRONT", 3)  # the large-run path on a small run
    assert views.front_of(table, objectives).tolist() == front_rows(table, objectives).tolist()


def test_the_table_filters_sorts_and_pages_on_the_server(server, storage):
    result = TuneResult.load(storage / "finished")
    table = result.table
    n = table.num_rows
    columns = [c["name"] for c in api(server, "/api/run/finished/trials")["columns"]]
    assert columns[:4] == ["round", "trial_id", "status", "score"]
    assert {"x", "lr", "act", "depth", "x_seen", "worker", "error"} <= set(columns)
    at = columns.index

    page = api(server, "/api/run/finished/trials")  # default: most recent first
    started = [r[at("started_at")] for r in page["rows"]]
    assert page["total"] == page["matched"] == n and started == sorted(started, reverse=True)

    seen: list[int] = []
    for offset in range(0, n, 7):
        page = api(
            server, "/api/run/finished/trials", sort="score", order="asc", limit=7, offset=offset
        )
        seen += [r[at("trial_id")] for r in page["rows"]]
    assert sorted(seen) == table.column("trial_id").to_pylist()  # every row once
    ok = sorted(
        (s, t)
        for s, t in zip(table.column("score").to_pylist(), table.column("trial_id").to_pylist())
        if s is not None
    )
    assert seen[: len(ok)] == [t for _, t in ok]  # by score, nulls last

    failed = api(server, "/api/run/finished/trials", status="failed", limit=500)
    assert failed["matched"] == statuses(result)["failed"] == len(failed["rows"]) > 0
    assert all(r[at("status")] == "failed" and HOSTILE in r[at("error")] for r in failed["rows"])
    assert api(server, "/api/run/finished/trials", q="TOO LARGE")["matched"] == failed["matched"]

    x = np.array(table.column("x").to_pylist())
    assert api(server, "/api/run/finished/trials", where="x > 0.5")["matched"] == int(
        (x > 0.5).sum()
    )
    inactive = table.column("depth").null_count
    assert api(server, "/api/run/finished/trials", where="depth = null")["matched"] == inactive
    both = api(server, "/api/run/finished/trials", where=[f"act = {B}", "depth >= 3"], round=2)
    expected = sum(
        1
        for a, d, r in zip(*(table.column(c).to_pylist() for c in ("act", "depth", "round")))
        if a == B and d is not None and d >= 3 and r == 2
    )
    assert both["matched"] == expected
    assert api(server, "/api/run/finished/trials", limit=10**6)["limit"] == 500

    for bad, says in (
        ({"where": "x ! 1"}, b"expected COLUMN OP VALUE"),
        ({"where": "nope = 1"}, b"no column 'nope'"),
        ({"where": "x = big"}, b"not one"),
        ({"sort": "nope"}, b"no column 'nope'"),
        ({"status": "weird"}, b"not one of"),
    ):
        status, _, body = fetch(
            server.url + "api/run/finished/trials?" + urllib.parse.urlencode(bad)
        )
        assert status == 400 and says in body, body


def test_a_running_rounds_partial_commits_show_up_and_change_the_version(tmp_path):
    run = make_big_run(tmp_path / "live", trials=2000, rounds=4, workers=4, running=True)
    with DashboardServer([str(run)], port=0, poll_s=0.5) as srv:
        before = api(srv, "/api/run/live/version")
        assert before["state"] == "running" and before["running"] == [3]
        assert before["pending"] == 250 and before["trials"] == 1500 + 250
        page = api(srv, "/api/run/live/trials", round=3, limit=500)
        assert page["matched"] == 250 and all(page["pending"])
        at = [c["name"] for c in page["columns"]].index
        assert all(r[at("trial_id")] is None and r[at("x")] is None for r in page["rows"])
        assert all(r[at("score")] is not None for r in page["rows"] if r[at("status")] == "ok")
        summary = api(srv, "/api/run/live/summary")
        assert sum(summary["counts"]["running"].values()) == 250 and summary["running"] == [3]

        store = RunStore(run)
        more = store.read_file("trials/_partial/round-00003/part-000000.parquet")
        assert more is not None
        store.write_partial(3, 5, more.slice(0, 10), work="synthetic")
        time.sleep(1.1)  # the folder is listed at most once a second
        after = api(srv, "/api/run/live/version")
        assert after["version"] != before["version"] and after["trials"] == before["trials"] + 10
        assert api(srv, "/api/run/live/progress")["evaluations"] == after["trials"]
        assert api(srv, "/api/run/live/workers")["trials"] == after["trials"]


def test_runs_on_s3_are_read_through_their_pyarrow_filesystem(tmp_path, monkeypatch):
    import pyarrow.fs as pafs
    from moto.server import ThreadedMotoServer

    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(key, "test")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    moto.start()
    try:
        host, port = moto.get_host_and_port()
        options = f"endpoint_override={host}:{port}&scheme=http&region=us-east-1"
        s3 = pafs.S3FileSystem(
            endpoint_override=f"{host}:{port}",
            scheme="http",
            access_key="test",
            secret_key="test",
            region="us-east-1",
            allow_bucket_creation=True,
        )
        s3.create_dir("sweeps")
        keys = "AKIAEXAMPLEKEY:SECRETEXAMPLE123@"  # credentials in the URI: never shown
        uri = f"s3://{keys}sweeps/runs/big?{options}"
        make_big_run(uri, trials=2000, rounds=4, workers=4, running=True)
        with DashboardServer([f"s3://{keys}sweeps/runs?{options}"], port=0) as srv:
            (listed,) = api(srv, "/api/runs")  # found in the storage folder
            assert listed["key"] == "big" and listed["trials"] == 1500 + 250
            version = api(srv, "/api/run/big/version")
            assert version["running"] == [3] and version["pending"] == 250
            summary = api(srv, "/api/run/big/summary")
            assert summary["best"]["trial_id"] == TuneResult.load(uri).best_trial_id
            assert api(srv, "/api/run/big/trials", round=3)["matched"] == 250
            for path in ("api/runs", "api/run/big/summary", "api/run/big/version"):
                assert b"SECRETEXAMPLE123" not in fetch(srv.url + path)[2]
    finally:
        moto.stop()


def test_the_listing_sees_committed_files_only(tmp_path):
    from orchestrator.data.filesystem import Location

    for name, text in (
        ("run.json", "{}"),
        ("trials/round-00000.parquet", "x"),
        ("trials/.round-00001.parquet.previous", "yy"),  # being replaced: counts as it
        ("trials/round-00002.parquet", "zzz"),
        ("trials/.round-00002.parquet.previous", "z"),  # the new version is there: it wins
        ("trials/.round-00003.parquet.1a2b.tmp", "half"),  # a write in progress: not yet
        ("trials/_states/round-00004/k.state", "s"),
        (".hidden/run.json", "{}"),
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    tree = Location.of(tmp_path).tree(skip=("_states",))
    assert {k: v[0] for k, v in tree.items()} == {
        "run.json": 2,
        "trials/round-00000.parquet": 1,
        "trials/round-00001.parquet": 2,
        "trials/round-00002.parquet": 3,
    }


def test_a_token_is_required_anywhere_but_on_the_loopback_address():
    for host in ("127.0.0.1", "localhost", "::1", "[::1]"):
        assert not needs_token(host) and resolve_token(host, None) == (None, False)
    for host in ("0.0.0.0", "10.0.0.5", "head-node", "::"):
        token, made = resolve_token(host, None)
        assert needs_token(host) and made and token is not None and len(token) >= 32
    assert resolve_token("0.0.0.0", "given-token-123") == ("given-token-123", False)
    assert resolve_token("127.0.0.1", "given-token-123") == ("given-token-123", False)
    for bad in ("", "short", "has space in it"):
        with pytest.raises(ConfigError, match="--token"):
            resolve_token("0.0.0.0", bad)


def test_with_a_token_every_request_needs_it(storage):
    token = "test-token-0123456789"
    # The rule is tested on 127.0.0.1: a token given is required as if bound elsewhere.
    with DashboardServer([str(storage)], port=0, token=token) as srv:
        for path in ("", "run/finished", "api/runs", "api/run/finished/summary", "static/app.js"):
            assert fetch(srv.url + path)[0] == 401, path
            assert fetch(srv.url + path, {"X-Sweep-Token": "wrong-token-000"})[0] == 401
        status, headers, _ = fetch(srv.url + f"run/finished?token={token}")
        assert status == 303 and headers["Location"] == "/run/finished"  # dropped from the URL
        cookie = headers["Set-Cookie"]
        assert f"sweep_token_{srv.port}={token}" in cookie
        assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
        jar = {"Cookie": cookie.split(";")[0]}
        assert fetch(srv.url + "api/runs", jar)[0] == 200
        assert fetch(srv.url + "api/runs", {"X-Sweep-Token": token})[0] == 200
        assert fetch(srv.url + "api/runs", {"Authorization": f"Bearer {token}"})[0] == 200
        assert fetch(srv.url + "api/runs", {"Host": "evil.example"} | jar)[0] == 200


def test_without_a_token_only_loopback_names_are_answered(server):
    assert fetch(server.url + "api/runs", {"Host": "evil.example"})[0] == 403  # DNS rebinding
    assert fetch(server.url + "api/runs", {"Host": "evil.example:80"})[0] == 403
    assert fetch(server.url + "api/runs", {"Host": f"localhost:{server.port}"})[0] == 200
    assert fetch(server.url + "api/runs", {"Host": f"[::1]:{server.port}"})[0] == 200


def test_the_page_and_its_assets_come_from_this_server_only(server):
    status, headers, body = fetch(server.url)
    assert status == 200 and b"/static/plotly.min.js" in body
    csp = headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "connect-src 'self'" in csp and "unsafe-eval" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    for name in ("app.js", "style.css"):
        status, _, text = fetch(server.url + f"static/{name}")
        assert status == 200 and not re.search(rb"https?://", text), name
    assert not re.search(rb"https?://", body)
    status, headers, data = fetch(server.url + "static/plotly.min.js", {"Accept-Encoding": "gzip"})
    assert status == 200 and headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(data) == plotly_js().read_bytes()
    assert fetch(server.url + "static/secret.txt")[0] == 404
    assert fetch(server.url + "static/..%2f..%2fserver.py")[0] == 404
    assert fetch(server.url + "api/run/nope/summary")[0] == 404


def test_the_dashboard_never_writes_into_a_run(server, storage):
    def tree() -> dict[str, tuple[int, int]]:
        return {
            str(p.relative_to(storage)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in storage.rglob("*")
        }

    before = tree()
    for key in ("finished", "pareto", "tested"):
        for view in ("version", "summary", "progress", "ranges", "scatter", "parallel"):
            api(server, f"/api/run/{key}/{view}")
        api(server, f"/api/run/{key}/importance")
        api(server, f"/api/run/{key}/workers")
        api(server, f"/api/run/{key}/trials", sort="x", where="x > 0.1")
    api(server, "/api/compare", runs="finished,pareto")
    assert api(server, "/api/runs")[0]["key"] == "finished"
    assert tree() == before


def test_the_sweep_command_serves_and_says_what_is_wrong(storage, tmp_path):
    exe = Path(sys.executable).with_name("sweep")
    proc = subprocess.run(
        [str(exe), "dashboard", str(tmp_path / "nothing-here")], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "no such folder" in proc.stderr
    with subprocess.Popen(
        [str(exe), "dashboard", str(storage / "finished"), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as served:
        try:
            line = served.stdout.readline() if served.stdout else ""
            url = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
            assert url, line
            status, _, body = fetch(url.group(1) + "api/runs")
            assert status == 200 and json.loads(body)[0]["key"] == "finished"
        finally:
            served.terminate()
            served.wait(timeout=30)
    assert served.returncode == 0


# -- a million trials ---------------------------------------------------------------------
@pytest.fixture(scope="module")
def big_run(tmp_path_factory: pytest.TempPathFactory) -> Path | str:
    began = time.perf_counter()
    path = make_big_run(tmp_path_factory.mktemp("big") / "big", trials=1_000_000)
    print(f"\n1,000,000-trial run written in {time.perf_counter() - began:.1f} s")
    return path


def test_a_million_trials_answer_quickly_and_small(big_run):
    meta = RunStore.open(big_run).metadata()
    with DashboardServer([str(big_run)], port=0) as srv:
        times = {}
        for round_ in ("cold", "warm"):
            for view in (
                "version",
                "summary",
                "progress",
                "ranges",
                "scatter",
                "parallel",
                "importance",
                "workers",
                "trials",
                "trials?sort=score&order=asc&status=ok&where=x%3C0.4",
            ):
                began = time.perf_counter()
                status, _, body = fetch(srv.url + f"api/run/big/{view}")
                times[(round_, view)] = (time.perf_counter() - began, len(body))
                assert status == 200, body[:300]
                assert len(body) < 1_000_000, view  # aggregated or sampled, never the table
                if view == "summary" and round_ == "cold":
                    summary = json.loads(body)
        lines = [
            f"{v:<55} {times[('cold', v)][0]:6.2f} s  {times[('warm', v)][0]:6.3f} s  "
            f"{times[('cold', v)][1] / 1000:7.1f} kB"
            for v in dict.fromkeys(k[1] for k in times)
        ]
        print("\n1,000,000 trials, endpoint    cold      warm      size\n" + "\n".join(lines))
        assert summary["trials"] == 1_000_000
        assert summary["best"]["trial_id"] == meta["best"]["trial_id"]
        assert summary["best"]["score"] == meta["best"]["score"]
        assert max(t for t, _ in times.values()) < 120  # a sanity bound only: shared machine


# -- the page, in a real browser ----------------------------------------------------------
@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):
    executable = chromium_or_skip()
    chromium = Chromium(executable, tmp_path_factory.mktemp("chromium")).launch()
    try:
        yield chromium
    finally:
        chromium.close()


TALL = 7000  # the tab's height: every page of these tests fits, so screenshots never resize it
SECTIONS_SHOWN = ("summary", "progress", "ranges", "scatter", "parallel", "importance")


def _only_local(requests: list[str], url: str) -> list[str]:
    return [r for r in requests if not r.startswith((url, "data:", "blob:", "about:"))]


def q(selector: str) -> str:
    """JS: the first element matching ``selector``."""
    return f"document.querySelector({json.dumps(selector)})"


def texts(selector: str) -> str:
    """JS: the text of every element matching ``selector``."""
    return f"[...document.querySelectorAll({json.dumps(selector)})].map(e => e.textContent)"


def count(selector: str) -> str:
    return f"document.querySelectorAll({json.dumps(selector)}).length"


def value_of(field: str) -> str:
    """JS: the raw value a figure on the page shows (its data-value)."""
    return f"JSON.parse({q(f'[data-field={field}]')}.dataset.value)"


INFO = q("[data-field=table-info]")


async def choose(page: Any, selector: str, value: str) -> None:
    """Set a select's or an input's value as a person would, and say it changed."""
    await page.eval(
        f"(() => {{ const e = {q(selector)}; e.value = {json.dumps(value)}; "
        "e.dispatchEvent(new Event('change')); })()"
    )


def test_the_page_follows_a_running_sweep(browser, storage, tmp_path, monkeypatch):
    monkeypatch.setenv("SWEEP_COMMIT_EVERY_S", "0.2")
    live = storage / "live"
    failure: list[BaseException] = []

    def run() -> None:
        try:
            _tune(gated_bowl, live, rounds=4, samples_per_round=24)
        except BaseException as exc:  # reported below
            failure.append(exc)

    sweep = threading.Thread(target=run, daemon=True)
    sweep.start()
    deadline = time.monotonic() + 60
    while not list((live / "trials").glob("_partial/round-*/part-*.parquet")):
        assert time.monotonic() < deadline and not failure, failure
        time.sleep(0.05)
    shots = tmp_path / "screenshots"
    shots.mkdir()

    async def scenario(srv: DashboardServer) -> None:
        async with CDP(browser) as cdp:
            page = await cdp.page(height=TALL)
            await page.goto(srv.url + "run/live")
            await page.wait_for("window.__sweepReady === true")
            load_id = await page.eval("window.__sweepLoadId")
            first_total = int(await page.eval(f"{INFO}.dataset.total"))
            PAGE_OPEN.set()
            sweep.join(timeout=120)
            assert not sweep.is_alive() and not failure, failure
            result = TuneResult.load(live)
            n = result.table.num_rows
            assert first_total < n  # the page was opened while the sweep ran
            await page.wait_for(
                f"{q('[data-field=state]')}.textContent === 'finished' && "
                f"{INFO}.dataset.total === '{n}'",
                timeout=30,
            )
            assert await page.eval("window.__sweepLoadId") == load_id  # no reload: it updated
            assert await page.eval("window.__sweepRefreshes") > 1

            assert await page.eval(value_of("trials")) == n
            assert await page.eval(value_of("best-score")) == result.best_score
            assert await page.eval(value_of("best-trial")) == result.best_trial_id
            assert await page.eval(value_of("ok")) == statuses(result)["ok"]
            importance = f"{q('#importance .note')}.textContent"
            await page.wait_for(f"{importance}.includes('of {statuses(result)['ok']} committed')")
            assert "refitted shortly" not in await page.eval(importance)  # caught up
            best_plotted = await page.eval(f"JSON.parse({q('#progress .note')}.dataset.best)")
            assert best_plotted == result.best_score
            for section in (*SECTIONS_SHOWN, "workers", "trials"):
                assert await page.eval(f"{q(f'#{section} .body')}.childElementCount > 0")
            assert await page.eval(count("#scatter .js-plotly-plot")) == len(SPACE)

            failed = statuses(result)["failed"]
            await choose(page, "#trials select[name=status]", "failed")
            await page.wait_for(f"{INFO}.dataset.matched === '{failed}'")
            assert await page.eval(texts("#trial-table tbody td.status-failed")) == [
                "failed"
            ] * min(failed, 50)
            errors = await page.eval(texts("#trial-table td.err"))
            assert errors and all(HOSTILE in e for e in errors)  # shown as text, not as HTML
            assert await page.eval(count("#main img")) == 0
            assert await page.eval("window.__pwned === undefined")
            assert B in await page.eval(texts("#scatter svg text"))  # a tick label, as text
            assert await page.eval(count("#main svg tspan[style*=italic]")) == 0

            await choose(page, "#trials select[name=status]", "")
            await page.wait_for(f"{INFO}.dataset.matched === '{n}'")
            await page.eval(f"{q('#trial-table th[data-column=score]')}.click()")
            arrow = q("#trial-table th[data-column=score] .arrow")
            await page.wait_for(f"{arrow}.textContent.includes('\u25b2')")
            first = await page.eval(f"{q('#trial-table tbody tr td:nth-child(2)')}.textContent")
            assert first == str(result.best_trial_id)
            await choose(page, "#trials input[name=where]", f"x < 0.5, act = {B}")
            x, act = (result.table.column(c).to_pylist() for c in ("x", "act"))
            want = sum(1 for a, b in zip(x, act) if a < 0.5 and b == B)
            await page.wait_for(f"{INFO}.dataset.matched === '{want}'")
            assert B in await page.eval(texts("#trial-table td"))  # the choice, as text

            stems: dict[str, str | None] = {"run-live": None}
            stems |= {f"run-live-{s}": f"#{s}" for s in (*SECTIONS_SHOWN, "workers", "trials")}
            await page.screenshots(stems, shots)

            await page.goto(srv.url + "run/pareto")
            await page.wait_for("window.__sweepReady === true")
            assert await page.eval(count("#pareto .js-plotly-plot")) == 1
            await page.screenshots({"run-pareto": "#pareto"}, shots)

            await page.goto(srv.url + "run/tested")
            await page.wait_for("window.__sweepReady === true")
            assert await page.eval(value_of("test-score")) == 0.9123
            await page.screenshots({"run-test": "#test"}, shots)

            await page.goto(srv.url + "compare?runs=live,finished")
            await page.wait_for("window.__sweepReady === true")
            assert await page.eval(count("#compare-table tbody tr")) == 2
            assert await page.eval(f"{q('#compare-curves .js-plotly-plot')}.data.length") == 2
            await page.screenshots({"compare": None}, shots)

            await page.goto(srv.url)
            await page.wait_for("window.__sweepReady === true")
            listed = await page.eval(
                "[...document.querySelectorAll('#runs tbody tr')].map(r => r.dataset.key)"
            )
            assert sorted(listed) == ["finished", "live", "pareto", "tested"]
            await page.screenshots({"runs": None}, shots)

            assert page.errors == []
            assert _only_local(page.requests, srv.url) == []
            assert any("/api/run/live/version" in r for r in page.requests)

    try:
        with DashboardServer([str(storage)], port=0, poll_s=0.5) as srv:
            asyncio.run(scenario(srv))
    finally:
        PAGE_OPEN.set()  # (a failure above must not leave the sweep waiting)
        sweep.join(timeout=60)
    taken = sorted(p.name for p in shots.iterdir())
    assert len(taken) == 13 and all((shots / t).stat().st_size > 5000 for t in taken)
    print(f"\nscreenshots: {shots}")


def test_a_million_trials_load_in_the_browser(browser, big_run, tmp_path):
    """First load of a 1,000,000-trial run's page, every view drawn, served by the sweep
    command: from its start, and from the moment it listens (nothing read yet)."""
    numbers: dict[str, float] = {}

    async def scenario() -> None:
        async with CDP(browser) as cdp:
            page = await cdp.page(height=TALL)
            exe = Path(sys.executable).with_name("sweep")
            began = time.perf_counter()
            with subprocess.Popen(
                [str(exe), "dashboard", str(big_run), "--port", "0"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            ) as served:
                try:
                    line = served.stdout.readline() if served.stdout else ""
                    listening = time.perf_counter()
                    found = re.search(r"at (http://127\.0\.0\.1:\d+/)", line)
                    assert found, line
                    await page.goto(found.group(1) + "run/big")
                    await page.wait_for("window.__sweepReady === true", timeout=120)
                    done = time.perf_counter()
                    numbers["the command, until it listens"] = listening - began
                    numbers["first load, server started"] = done - listening
                    numbers["  as the page measures it"] = await page.eval("__sweepReadyAt") / 1e3
                    numbers["first load, with the server's start"] = done - began
                    assert await page.eval(value_of("trials")) == 1_000_000
                    await page.screenshots({"big": None}, tmp_path)
                    assert page.errors == []
                    assert _only_local(page.requests, found.group(1)) == []
                finally:
                    served.terminate()
                    served.wait(timeout=30)

    asyncio.run(scenario())
    print("\n1,000,000 trials, first load of the run page (every view drawn):")
    for label, seconds in numbers.items():
        print(f"  {label:<38} {seconds:6.2f} s")
    assert max(numbers.values()) < 180  # a sanity bound only


def test_a_bad_number_in_a_query_is_a_400_not_a_crash(server):
    status, _, body = fetch(server.url + "api/run/finished/parallel?k=abc")
    assert status == 400, body[:300]


def test_the_token_redirect_never_leaves_this_server(storage):
    token = "test-token-0123456789"
    with DashboardServer([str(storage)], port=0, token=token) as srv:
        for path in ("/evil.example/", "\\evil.example/"):
            status, headers, _ = fetch(srv.url + path + f"?token={token}")
            assert status == 303
            location = headers["Location"]
            assert location.startswith("/") and not location.startswith(("//", "/\\")), location


def with_accuracy(config: dict[str, Any]) -> dict[str, Any]:
    return {"score": (config["x"] - 0.3) ** 2, "acc": 1 - config["x"]}


def test_a_round_committed_between_two_reads_of_a_view_is_read_afresh(tmp_path, monkeypatch):
    # The table view reads the run twice (the rows that match, then the page's columns) from
    # one listing of the folder. A round committed in between removes its partial commits:
    # the columns other views had cached still held their rows, the ones read now did not,
    # and the page's row numbers pointed past the table (a 500) or at other rows.
    from orchestrator.errors import SweepInterrupted

    monkeypatch.setenv("SWEEP_COMMIT_EVERY_S", "0")
    run_dir = tmp_path / "live"
    parts = run_dir / "trials" / "_partial" / "round-00001"
    space = {"x": Float(0.0, 1.0)}
    settings: dict[str, Any] = {
        "mode": "min",
        "rounds": 2,
        "samples_per_round": 8,
        "sampler": "random",
        "run_dir": run_dir,
        "executor": SerialExecutor(with_accuracy, param_names=["x"], shard_size=2),
    }
    with pytest.raises(SweepInterrupted):  # stopped with 3 partial commits of round 1
        tune(
            with_accuracy,
            space,
            should_stop=lambda: len(list(parts.glob("part-*"))) >= 3,
            **settings,
        )
    with DashboardServer([str(run_dir)], port=0, poll_s=0.5) as srv:
        assert api(srv, "/api/run/live/version")["pending"] == 6
        api(srv, "/api/run/live/summary")  # the page's other views: their columns cached
        api(srv, "/api/run/live/workers")
        data = srv.catalog.get("live")
        assert data is not None
        data._listed_at = time.monotonic() + 3600  # this listing stays (as within its second)
        result = tune(with_accuracy, space, resume=True, **settings)  # commits round 1
        assert not list(parts.glob("part-*"))
        scores = dict(zip(*(result.table.column(c).to_pylist() for c in ("trial_id", "score"))))
        for params in ({}, {"sort": "acc", "order": "asc", "status": "ok"}):
            page = api(srv, "/api/run/live/trials", limit=100, **params)
            at = [c["name"] for c in page["columns"]].index
            assert page["matched"] == 16 and len(page["rows"]) == 16, params
            assert not any(page["pending"])
            assert {r[at("trial_id")]: r[at("score")] for r in page["rows"]} == scores
        assert api(srv, "/api/run/live/version")["trials"] == 16


def test_a_run_that_keeps_changing_while_read_is_one_clear_answer(storage):
    from orchestrator.dashboard.source import RunData, StaleListing

    run_dir = next(p for p in sorted(storage.iterdir()) if (p / "run.json").exists())
    run = RunData("r", str(run_dir))
    listings = []

    def view(snap):
        listings.append(snap)
        raise StaleListing("a file went")

    with pytest.raises(StaleListing, match="the run changed 4 times while it was read"):
        run.consistent(view)
    assert len(listings) == 4
