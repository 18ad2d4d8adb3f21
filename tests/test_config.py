import textwrap

import pytest

from orchestrator import EliteBox, NoNarrowing
from orchestrator.config.loader import load_config, parse_config, resolve_objective
from orchestrator.errors import ConfigError, ObjectiveImportError

GOOD = textwrap.dedent("""\
    name: quadratic
    objective: "tests.objectives:shifted_bowl"
    mode: min
    space:
      lr:      {type: float, low: 1e-5, high: 1e-1, log: true}
      layers:  {type: int, low: 1, high: 4}
      act:     {type: choice, values: [relu, tanh]}
    rounds: 6
    samples_per_round: 64
    seed: 0
    workers: 2
    storage: runs
""")


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_good_config_with_scientific_notation(tmp_path):
    config = load_config(write(tmp_path, GOOD))
    lr = config.space["lr"]
    assert (lr.low, lr.high, lr.log) == (1e-5, 1e-1, True)
    assert config.rounds == 6 and config.samples_per_round == 64 and config.workers == 2
    assert isinstance(config.narrowing, EliteBox)
    assert config.load_objective().__name__ == "shifted_bowl"


def test_defaults_fill_what_is_left_out(tmp_path):
    config = load_config(
        write(
            tmp_path,
            'objective: "a:b"\nmode: max\nspace: {x: {type: float, low: 0, high: 1}}\n',
            "my run.yaml",
        )
    )
    assert config.name == "my-run"
    assert (config.rounds, config.samples_per_round, config.seed, config.workers) == (
        8,
        32,
        0,
        None,
    )
    assert config.sampler == "auto" and config.patience is None


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.replace("mode: min\n", ""), r"missing required key 'mode'"),
        (
            lambda t: t.replace('objective: "tests.objectives:shifted_bowl"\n', ""),
            r"missing required key 'objective'",
        ),
        (
            lambda t: t.replace("low: 1e-5, high: 1e-1", "low: 1e-1, high: 1e-5"),
            r"space\.lr: parameter 'lr'.*low=0\.1, high=1e-05",
        ),
        (
            lambda t: t.replace("type: int", "type: integer"),
            r"space\.layers\.type: unknown parameter type 'integer'; did you mean 'int'",
        ),
        (
            lambda t: t.replace("rounds: 6", "roudns: 6"),
            r"unknown key 'roudns'; did you mean 'rounds'",
        ),
        (
            lambda t: t.replace("mode: min", "mode: minimize"),
            r"mode: expected 'min' or 'max', got 'minimize'",
        ),
        (lambda t: t.replace("rounds: 6", "rounds: 0"), r"rounds: must be >= 1"),
        (
            lambda t: t.replace("rounds: 6", "rounds: six"),
            r"rounds: expected a whole number, got 'six'",
        ),
        (lambda t: t.replace("workers: 2", "workers: 0"), r"workers: must be >= 1"),
        (
            lambda t: t.replace("values: [relu, tanh]", "values: []"),
            r"space\.act: parameter 'act': `values` is empty",
        ),
        (lambda t: t + "sampler: grid2\n", r"sampler: unknown sampler 'grid2'"),
        (
            lambda t: t + "narrowing: {elite_fraction: 2}\n",
            r"narrowing: elite_fraction must be in \(0, 1\)",
        ),
        (lambda t: t + "narrowing: {elite_fractoin: 0.2}\n", r"did you mean 'elite_fraction'"),
        (
            lambda t: t.replace('"tests.objectives:shifted_bowl"', "shifted_bowl"),
            r"objective: expected an import path 'module:function'",
        ),
        (lambda t: "space: [1, 2\n", r"not valid YAML \(line"),
        (lambda t: "", r"the file is empty"),
        (lambda t: "- 1\n- 2\n", r"a config must be a mapping"),
    ],
)
def test_bad_configs_give_one_clear_message(tmp_path, change, message):
    path = write(tmp_path, change(GOOD))
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path)
    assert str(info.value).startswith(str(path))
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(tmp_path / "nope.yaml")


def test_narrowing_settings_and_none():
    base = {
        "objective": "a:b",
        "mode": "min",
        "space": {"x": {"type": "float", "low": 0, "high": 1}},
    }
    rule = parse_config(
        {**base, "narrowing": {"elite_fraction": 0.3, "shrink": [0.4, 0.6]}}
    ).narrowing
    assert rule == EliteBox(elite_fraction=0.3, shrink=(0.4, 0.6))
    assert isinstance(parse_config({**base, "narrowing": "none"}).narrowing, NoNarrowing)


def test_yaml_is_read_safely(tmp_path):
    path = write(tmp_path, GOOD + "extra: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


@pytest.mark.parametrize(
    "path, message",
    [
        ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
        (
            "tests.objectives:shifted_bowel",
            "has no attribute 'shifted_bowel'; did you mean 'shifted_bowl'",
        ),
        ("tests.objectives:OPT_X", "is not callable"),
        ("tests.objectives", "expected an import path"),
    ],
)
def test_objective_import_errors(path, message):
    with pytest.raises(ObjectiveImportError, match=message):
        resolve_objective(path)


def test_to_dict_round_trips():
    config = parse_config(
        {
            "objective": "a:b",
            "mode": "min",
            "space": {"x": {"type": "float", "low": 0.1, "high": 1, "log": True, "hard_low": 0.01}},
        }
    )
    again = parse_config(config.to_dict())
    assert again == config


@pytest.mark.parametrize(
    "settings, message",
    [
        ("{min_elite: 2.5}", "min_elite: expected a whole number, got 2.5"),
        ("{margin: .nan}", "margin must be a finite number"),
        ("{shrink: 0.5}", r"shrink must be a pair \[min, max\]"),
    ],
)
def test_narrowing_settings_are_checked_up_front(tmp_path, settings, message):
    path = write(tmp_path, GOOD + f"narrowing: {settings}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)


# -- bad input found by review: each one a ConfigError of one line, at parse time ---------
BASE = {
    "objective": "a:b",
    "mode": "min",
    "space": {
        "x": {"type": "float", "low": 0, "high": 1},
        "k": {"type": "choice", "values": ["a", "b"]},
    },
}


def one_line_error(data, message):
    with pytest.raises(ConfigError, match=message) as info:
        parse_config(data)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_a_config_that_is_not_utf8_is_one_clear_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(GOOD.replace("name: quadratic", "name: caf\xe9").encode("latin-1"))
    with pytest.raises(
        ConfigError, match=r"not UTF-8 text \(line 1, column 10\); save it as UTF-8"
    ):
        load_config(path)


def test_a_huge_grid_is_refused_quickly():
    import time

    t0 = time.perf_counter()
    one_line_error(
        {**BASE, "sampler": "grid", "grid_points": 10**9}, r"grid_points: must be <= 10000000"
    )
    # within the limit, the size is computed without building the axes
    one_line_error(
        {**BASE, "sampler": "grid", "grid_points": 10**7}, r"the grid has 20000000 configurations"
    )
    assert time.perf_counter() - t0 < 5  # building the 10**9 grid took minutes before


def test_grid_size_does_not_overflow():
    space = {f"p{i}": {"type": "float", "low": 0, "high": 1} for i in range(5)}
    # 100000**5 = 1e25 wraps around in int64
    one_line_error(
        {**BASE, "space": space, "sampler": "grid", "grid_points": 100000},
        r"the grid has 10000000000000000000000000 configurations",
    )


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "mode: min\nmode: max\n",
            r"\(line 3, column 1\): duplicate key 'mode' \(first at line 2\)",
        ),
        (
            "space:\n  x: {type: float, low: 0, low: 1}\n",
            r"line 3, column 28\): duplicate key 'low' \(first at line 3\)",
        ),
    ],
)
def test_duplicate_yaml_keys_are_refused(tmp_path, text, message):
    path = write(
        tmp_path,
        'objective: "a:b"\n'
        + text
        + ("" if "space" in text else "space: {x: {type: float, low: 0, high: 1}}\n"),
    )
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_yaml_aliases_are_refused(tmp_path):
    bomb = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{c}: &{c} [*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p},*{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi")
    )
    path = write(
        tmp_path,
        'objective: "a:b"\nmode: min\nspace: {x: {type: float, low: 0, high: 1}}\n'
        "warm_start:\n  " + bomb.replace("\n", "\n  "),
    )
    with pytest.raises(ConfigError, match=r"not valid YAML \(line 6, column \d+\): YAML aliases"):
        load_config(path)


@pytest.mark.parametrize(
    "key, value, message",
    [
        (
            "samples_per_round",
            10**23,
            r"samples_per_round: must be <= 10000000 \(a round's most samples\)",
        ),
        ("rounds", 10**8, r"rounds: must be <= 10000000"),
        ("workers", 10**9, r"workers: must be <= 100000"),
        ("trial_timeout_s", float("nan"), r"trial_timeout_s: must be a finite number of seconds"),
        ("trial_timeout_s", float("inf"), r"trial_timeout_s: must be a finite number of seconds"),
    ],
)
def test_counts_have_documented_limits(key, value, message):
    one_line_error({**BASE, key: value}, message)


@pytest.mark.parametrize(
    "warm, message",
    [
        ([1, 2], r"warm_start: expected a mapping \{run: RUN_DIR, parameters: \[names\]\}"),
        ({"run": "r"}, r"warm_start: missing key 'parameters'"),
        ({"run": 3, "parameters": []}, r"warm_start.run: expected a run folder"),
        (
            {"run": "r", "parameters": "x"},
            r"warm_start.parameters: expected a list of parameter names",
        ),
        ({"run": "r", "parameters": ["y"]}, r"warm_start.parameters: unknown parameter 'y'"),
        ({"run": "r", "parameters": [], "extra": 1}, r"warm_start: unknown key 'extra'"),
    ],
)
def test_warm_start_record_is_checked(warm, message):
    one_line_error({**BASE, "warm_start": warm}, message)
    assert parse_config({**BASE, "warm_start": {"run": "r", "parameters": ["x"]}}).warm_start == {
        "run": "r",
        "parameters": ["x"],
    }


@pytest.mark.parametrize(
    "edits, message",
    [
        (
            [{"round": 1, "freeze": {"y": 0.5}}],
            r"edits\[0\]: unknown parameter 'y'; the space has x, k",
        ),
        ([{"round": 1, "bounds": {"y": [0, 1]}}], r"edits\[0\]: unknown parameter 'y'"),
        ([{"round": 1, "release": ["y"]}], r"edits\[0\]: unknown parameter 'y'"),
        ([{"round": 1, "bounds": {"k": [0, 1]}}], r"edits\[0\]: .*'k' is a choice"),
        ([{"round": 1, "freeze": {"k": "c"}}], r"edits\[0\]: .*not one of \['a', 'b'\]"),
        ([{"round": 1, "bounds": {"x": [2, 1]}}], r"edits\[0\]: .*`low` must be smaller"),
        ([{"round": 1, "bounds": {"x": 5}}], r"edits\[0\].bounds.x: expected a pair \[low, high\]"),
        ([{"round": 1, "bounds": [1]}], r"edits\[0\].bounds: expected a mapping"),
        ([{"round": 0}], r"edits\[0\].round: must be >= 1"),
        ([{"round": "one"}], r"edits\[0\].round: expected a whole number"),
        ([{"bounds": {}}], r"edits\[0\]: missing key 'round'"),
        ([{"round": 1, "frezee": {}}], r"edits\[0\]: unknown key 'frezee'; did you mean 'freeze'"),
        ("abc", r"edits: expected a list of edits"),
    ],
)
def test_edits_are_checked_against_the_space(edits, message):
    one_line_error({**BASE, "edits": edits}, message)


def test_valid_edits_still_parse():
    edits = [
        {"round": 2, "bounds": {"x": [0.2, None]}, "freeze": {"k": "a"}, "release": []},
        {"round": 3, "release": ["k"]},
    ]
    config = parse_config({**BASE, "edits": edits})
    assert [e.round for e in config.edits] == [2, 3] and config.edits[0].bounds == {
        "x": (0.2, None)
    }


@pytest.mark.parametrize(
    "resources, message",
    [
        ({"resources": {"CPU": 1}}, r"worker_resources.resources: 'CPU' is set with num_cpus"),
        ({"resources": {"GPU": 1}}, r"worker_resources.resources: 'GPU' is set with num_gpus"),
        ({"resources": {"memory": 10}}, r"worker_resources.resources: 'memory' is set with memory"),
        ({"resources": {"tpu_slice": -1}}, r"worker_resources.resources.tpu_slice: must be >= 0"),
        (
            {"resources": {"tpu_slice": "two"}},
            r"worker_resources.resources.tpu_slice: expected a number",
        ),
        ({"resources": {"tpu_slice": 0.00001}}, r"worker_resources.resources.tpu_slice: .*0.0001"),
        ({"num_cpus": float("nan")}, r"worker_resources.num_cpus: must be a finite number"),
        ({"memory": float("inf")}, r"worker_resources.memory: must be a finite number"),
        ({"num_gpus": 1.5}, r"worker_resources.num_gpus: more than 1 GPU must be a whole number"),
    ],
)
def test_worker_resources_are_checked_up_front(resources, message):
    one_line_error({**BASE, "worker_resources": resources}, message)


@pytest.mark.parametrize("name", ["metric_x", "metric_"])
def test_parameter_names_may_not_look_like_metric_columns(name):
    one_line_error(
        {**BASE, "space": {name: {"type": "float", "low": 0, "high": 1}}},
        rf"space: parameter name '{name}' starts with 'metric_'",
    )


@pytest.mark.parametrize("storage", ["foo://bucket/runs", "s3x://K:SECRET@bucket/r"])
def test_an_unknown_storage_filesystem_is_refused_when_the_config_is_read(storage):
    base = {
        "objective": "m:f",
        "mode": "min",
        "space": {"x": {"type": "float", "low": 0, "high": 1}},
    }
    with pytest.raises(ConfigError, match="storage: unknown filesystem") as info:
        parse_config({**base, "storage": storage})
    assert "SECRET" not in str(info.value) and "\n" not in str(info.value)
    assert parse_config({**base, "storage": "s3://bucket/runs"}).storage == "s3://bucket/runs"
