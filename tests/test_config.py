import textwrap

import pytest

from orchestrator import EliteBox, NoNarrowing
from orchestrator.config import load_config, parse_config, resolve_objective
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
    config = load_config(write(tmp_path, 'objective: "a:b"\nmode: max\nspace: {x: {type: float, low: 0, high: 1}}\n', "my run.yaml"))
    assert config.name == "my-run"
    assert (config.rounds, config.samples_per_round, config.seed, config.workers) == (8, 32, 0, None)
    assert config.sampler == "auto" and config.patience is None


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace("mode: min\n", ""), r"missing required key 'mode'"),
    (lambda t: t.replace('objective: "tests.objectives:shifted_bowl"\n', ""), r"missing required key 'objective'"),
    (lambda t: t.replace("low: 1e-5, high: 1e-1", "low: 1e-1, high: 1e-5"), r"space\.lr: parameter 'lr'.*low=0\.1, high=1e-05"),
    (lambda t: t.replace("type: int", "type: integer"), r"space\.layers\.type: unknown parameter type 'integer'; did you mean 'int'"),
    (lambda t: t.replace("rounds: 6", "roudns: 6"), r"unknown key 'roudns'; did you mean 'rounds'"),
    (lambda t: t.replace("mode: min", "mode: minimize"), r"mode: expected 'min' or 'max', got 'minimize'"),
    (lambda t: t.replace("rounds: 6", "rounds: 0"), r"rounds: must be >= 1"),
    (lambda t: t.replace("rounds: 6", "rounds: six"), r"rounds: expected a whole number, got 'six'"),
    (lambda t: t.replace("workers: 2", "workers: 0"), r"workers: must be >= 1"),
    (lambda t: t.replace("values: [relu, tanh]", "values: []"), r"space\.act: parameter 'act': `values` is empty"),
    (lambda t: t + "sampler: grid2\n", r"sampler: unknown sampler 'grid2'"),
    (lambda t: t + "narrowing: {elite_fraction: 2}\n", r"narrowing: elite_fraction must be in \(0, 1\)"),
    (lambda t: t + "narrowing: {elite_fractoin: 0.2}\n", r"did you mean 'elite_fraction'"),
    (lambda t: t.replace('"tests.objectives:shifted_bowl"', "shifted_bowl"), r"objective: expected an import path 'module:function'"),
    (lambda t: "space: [1, 2\n", r"not valid YAML \(line"),
    (lambda t: "", r"the file is empty"),
    (lambda t: "- 1\n- 2\n", r"a config must be a mapping"),
])
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
    base = {"objective": "a:b", "mode": "min", "space": {"x": {"type": "float", "low": 0, "high": 1}}}
    rule = parse_config({**base, "narrowing": {"elite_fraction": 0.3, "shrink": [0.4, 0.6]}}).narrowing
    assert rule == EliteBox(elite_fraction=0.3, shrink=(0.4, 0.6))
    assert isinstance(parse_config({**base, "narrowing": "none"}).narrowing, NoNarrowing)


def test_yaml_is_read_safely(tmp_path):
    path = write(tmp_path, GOOD + "extra: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(path)


@pytest.mark.parametrize("path, message", [
    ("no_such_module_xyz:f", "cannot import module 'no_such_module_xyz'"),
    ("tests.objectives:shifted_bowel", "has no attribute 'shifted_bowel'; did you mean 'shifted_bowl'"),
    ("tests.objectives:OPT_X", "is not callable"),
    ("tests.objectives", "expected an import path"),
])
def test_objective_import_errors(path, message):
    with pytest.raises(ObjectiveImportError, match=message):
        resolve_objective(path)


def test_to_dict_round_trips():
    config = parse_config({"objective": "a:b", "mode": "min",
                           "space": {"x": {"type": "float", "low": 0.1, "high": 1, "log": True, "hard_low": 0.01}}})
    again = parse_config(config.to_dict())
    assert again == config


@pytest.mark.parametrize("settings, message", [
    ("{min_elite: 2.5}", "min_elite must be a whole number >= 1, got 2.5"),
    ("{margin: .nan}", "margin must be a finite number"),
    ("{shrink: 0.5}", r"shrink must be a pair \[min, max\]"),
])
def test_narrowing_settings_are_checked_up_front(tmp_path, settings, message):
    path = write(tmp_path, GOOD + f"narrowing: {settings}\n")
    with pytest.raises(ConfigError, match=message):
        load_config(path)
