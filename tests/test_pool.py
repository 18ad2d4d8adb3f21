"""Worker pools: actors kept between sweeps, each sweep with its own objective."""

import pytest

from orchestrator import Choice, ConfigError, ExecutionError, Float, WorkerPool, tune
from tests.objectives import DiesOnce, LoadsNowhere, hangs_above, pid_bowl, pid_line, shifted_bowl

SPACE = {"x": Float(0.0, 1.0), "lr": Float(1e-5, 1e-1, log=True), "act": Choice(["a", "b"])}
COLS = ["round", "trial_id", "config_id", "x", "lr", "act", "score", "status"]

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def plain(ray_cluster, tmp_path_factory):
    """A sweep without a pool (run first: a running pool holds both CPUs)."""
    return tune(
        pid_bowl,
        SPACE,
        mode="min",
        rounds=3,
        samples_per_round=16,
        seed=4,
        workers=2,
        run_dir=tmp_path_factory.mktemp("plain") / "run",
    )


@pytest.fixture(scope="module")
def pool(plain):
    with WorkerPool(workers=2) as pool:
        yield pool


def pids(result):
    return set(result.table.column("pid").to_pylist())


def test_sweeps_on_a_pool_reuse_its_workers_and_match_a_sweep_without_one(plain, pool, tmp_path):
    first = tune(
        pid_bowl,
        SPACE,
        mode="min",
        rounds=3,
        samples_per_round=16,
        seed=4,
        pool=pool,
        run_dir=tmp_path / "first",
    )
    other = tune(
        pid_line,
        {"x": Float(0.0, 1.0)},
        mode="min",
        rounds=2,
        samples_per_round=16,
        seed=1,
        pool=pool,
        run_dir=tmp_path / "other",
    )
    assert first.table.select(COLS).equals(plain.table.select(COLS))
    assert first.best_config == plain.best_config
    # the second objective really ran (its own scores), on the same two processes
    assert other.table.column("score").to_pylist() == [
        -x for x in other.table.column("x").to_pylist()
    ]
    assert pids(first) == pids(other) and len(pids(first)) == 2
    assert not pids(plain) & pids(first)  # a sweep without the pool starts its own workers
    assert pool.workers == 2


def test_a_sweep_may_use_fewer_workers_than_the_pool(pool, tmp_path):
    result = tune(
        pid_bowl,
        SPACE,
        mode="min",
        rounds=1,
        samples_per_round=8,
        seed=2,
        pool=pool,
        workers=1,
        run_dir=tmp_path / "run",
    )
    assert len(pids(result)) == 1 and result.table.num_rows == 8


def test_a_worker_stuck_in_a_stopped_sweep_is_replaced_in_the_pool(pool, tmp_path):
    before = list(pool._actors)
    polls = iter(range(1000))  # stop at the runner's second poll: every worker mid-trial
    with pytest.raises(Exception, match="stopped on request"):
        tune(
            hangs_above,
            {"x": Float(0.9, 1.0)},
            mode="min",
            rounds=1,
            samples_per_round=8,
            pool=pool,
            run_dir=tmp_path / "stopped",
            should_stop=lambda: next(polls) >= 2,
        )
    after = list(pool._actors)
    assert len(after) == 2 and not set(before) & set(after)  # both were mid-trial
    result = tune(
        shifted_bowl,
        SPACE,
        mode="min",
        rounds=2,
        samples_per_round=8,
        seed=3,
        pool=pool,
        run_dir=tmp_path / "next",
    )
    assert result.table.num_rows == 16 and set(result.table.column("status").to_pylist()) == {"ok"}


def test_a_worker_that_dies_is_replaced_inside_the_pool(plain, pool, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    before = list(pool._actors)
    result = tune(
        DiesOnce(markers),
        SPACE,
        mode="min",
        rounds=3,
        samples_per_round=16,
        seed=4,
        pool=pool,
        run_dir=tmp_path / "dies",
    )
    assert len(list(markers.iterdir())) > 0  # workers really died
    assert result.table.select(COLS).equals(plain.table.select(COLS))
    assert result.best_config == plain.best_config
    after = list(pool._actors)
    assert len(after) == 2 and set(before) != set(after)  # the replacements stay in the pool
    again = tune(
        pid_bowl,
        SPACE,
        mode="min",
        rounds=1,
        samples_per_round=8,
        seed=5,
        pool=pool,
        run_dir=tmp_path / "again",
    )
    assert again.table.num_rows == 8 and len(pids(again)) == 2


def test_a_pool_worker_that_died_between_sweeps_is_started_afresh(pool, tmp_path):
    import ray

    dead = pool._actors[0]
    ray.kill(dead, no_restart=True)
    result = tune(
        pid_bowl,
        SPACE,
        mode="min",
        rounds=1,
        samples_per_round=8,
        seed=6,
        pool=pool,
        run_dir=tmp_path / "run",
    )
    assert result.table.num_rows == 8 and len(pids(result)) == 2
    assert dead not in pool._actors and pool.workers == 2


def test_an_objective_that_cannot_load_leaves_the_pool_usable(pool, tmp_path):
    with pytest.raises(ExecutionError, match="could not be loaded on a worker.*cannot be loaded"):
        tune(
            LoadsNowhere(),
            {"x": Float(0.0, 1.0)},
            mode="min",
            rounds=1,
            samples_per_round=4,
            pool=pool,
            run_dir=tmp_path / "bad",
        )
    result = tune(
        shifted_bowl,
        SPACE,
        mode="min",
        rounds=1,
        samples_per_round=8,
        seed=3,
        pool=pool,
        run_dir=tmp_path / "good",
    )
    assert result.table.num_rows == 8


def test_pool_misuse_gives_clear_errors(pool, tmp_path):
    with pytest.raises(ExecutionError, match="pool has 2 workers"):
        tune(
            shifted_bowl,
            SPACE,
            mode="min",
            rounds=1,
            samples_per_round=4,
            pool=pool,
            workers=3,
            run_dir=tmp_path / "a",
        )
    with pytest.raises(ConfigError, match="on the WorkerPool"):
        tune(
            shifted_bowl,
            SPACE,
            mode="min",
            rounds=1,
            samples_per_round=4,
            pool=pool,
            worker_resources={"num_cpus": 1},
            run_dir=tmp_path / "b",
        )
    with pytest.raises(ExecutionError, match="not running"):
        tune(
            shifted_bowl,
            SPACE,
            mode="min",
            rounds=1,
            samples_per_round=4,
            pool=WorkerPool(workers=1),
            run_dir=tmp_path / "c",
        )
    actors, _ = pool.acquire(None)  # a sweep holds the pool: a second one is refused
    try:
        with pytest.raises(ExecutionError, match="running another sweep"):
            tune(
                shifted_bowl,
                SPACE,
                mode="min",
                rounds=1,
                samples_per_round=4,
                pool=pool,
                run_dir=tmp_path / "d",
            )
    finally:
        pool.release(actors, [False] * len(actors))
    with pytest.raises(ValueError, match="workers: must be >= 1, got 0"):
        WorkerPool(workers=0)
