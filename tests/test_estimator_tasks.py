"""Estimator tasks from configs: validation errors, leakage, the sealed test set."""

import json
import os
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv
import pyarrow.parquet as pq
import pytest

from orchestrator import SealedTestError, evaluate_test, load_config, run_config, sealed_record
from orchestrator.errors import ConfigError
from tests.recording import all_calls, calls, seen_rows

SVC_WINE = textwrap.dedent("""\
    objective:
      estimator: sklearn.svm.SVC
      params: {kernel: rbf}
      preprocessing: [standard_scaler]
      scoring: accuracy
      dataset: wine
      split: {test: 0.2, cv: 3}
    mode: max
    space:
      C:     {type: float, low: 1e-2, high: 1e3, log: true}
      gamma: {type: float, low: 1e-4, high: 1e1, log: true}
    rounds: 3
    samples_per_round: 8
""")


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "sklearn.svm.SVC",
            "sklearn.svm.SVCC",
            r"unknown estimator 'sklearn.svm.SVCC': sklearn.svm has no 'SVCC'; "
            r"did you mean 'sklearn.svm.SVC'",
        ),
        (
            "sklearn.svm.SVC",
            "sklearn.nosuch.SVC",
            r"objective.estimator: cannot import 'sklearn.nosuch'",
        ),
        (
            "gamma: {type",
            "gama: {type",
            r"space\.gama: SVC does not accept a parameter 'gama'; did you mean 'gamma'",
        ),
        (
            "{kernel: rbf}",
            "{kernal: rbf}",
            r"objective\.params\.kernal: SVC does not accept a parameter 'kernal'; "
            r"did you mean 'kernel'",
        ),
        (
            "scoring: accuracy",
            "scoring: acuracy",
            r"objective\.scoring: unknown scoring 'acuracy'; did you mean 'accuracy'",
        ),
        (
            "dataset: wine",
            "dataset: {path: nowhere.csv, target: y}",
            r"objective\.dataset\.path: no such file 'nowhere.csv'",
        ),
        ("mode: max", "mode: min", r"mode: estimator tasks maximise their scoring"),
        (
            "[standard_scaler]",
            "[standard_scalar]",
            r"preprocessing\[0\]: unknown preprocessing 'standard_scalar'; "
            r"did you mean 'standard_scaler'",
        ),
        (
            "split: {test: 0.2, cv: 3}",
            "split: {test: 0.2, folds: 3}",
            r"objective\.split: unknown key 'folds'",
        ),
        ("  estimator: sklearn.svm.SVC\n", "", r"objective: missing key 'estimator'"),
    ],
)
def test_config_errors(tmp_path, old, new, message):
    text = SVC_WINE.replace(old, new)
    assert text != SVC_WINE
    with pytest.raises(ConfigError, match=message):
        config = load_config(write(tmp_path, text))
        config.objective.prepare(0)  # a missing file is found when the data is loaded


@pytest.mark.parametrize(
    "budget, message",
    [
        ("budget: {min: 5, max: 50}\n", r"budget\.param: an estimator task needs the parameter"),
        (
            "budget: {min: 5, max: 50, param: max_itr}\n",
            r"budget\.param\.max_itr: SVC does not accept .*did you mean 'max_iter'",
        ),
        ("budget: {min: 0.1, max: 1.0, param: rows}\n", None),
    ],
)
def test_budget_parameter_checks(tmp_path, budget, message):
    path = write(tmp_path, SVC_WINE + budget)
    if message is None:
        assert load_config(path).budget.param == "rows"
    else:
        with pytest.raises(ConfigError, match=message):
            load_config(path)


def test_budget_param_is_only_for_estimator_tasks(tmp_path):
    text = (
        'objective: "a:b"\nmode: min\nspace: {x: {type: float, low: 0, high: 1}}\n'
        "budget: {min: 1, max: 9, param: epochs}\n"
    )
    with pytest.raises(ConfigError, match="only estimator tasks name a budget parameter"):
        load_config(write(tmp_path, text))


def test_rows_budget_uses_a_fixed_fraction_of_training_rows():
    from workers.estimator import EstimatorObjective

    objective = EstimatorObjective(None, None, budget_param="rows")
    train = np.arange(100, 200)
    some = objective.train_rows(train, 0.25, fold=0)
    assert len(some) == 25 and set(some) <= set(train)
    assert np.array_equal(some, objective.train_rows(train, 0.25, fold=0))
    assert np.array_equal(objective.train_rows(train, None, fold=0), train)


def test_missing_target_column(tmp_path):
    pcsv.write_csv(pa.table({"a": [1.0, 2.0], "y": [0, 1]}), tmp_path / "d.csv")
    text = SVC_WINE.replace(
        "dataset: wine", f"dataset: {{path: {tmp_path / 'd.csv'}, target: label}}"
    )
    with pytest.raises(ConfigError, match=r"dataset\.target: d\.csv has no column 'label'"):
        load_config(write(tmp_path, text)).objective.prepare(0)


def test_mode_defaults_to_max_for_estimator_tasks(tmp_path):
    assert load_config(write(tmp_path, SVC_WINE.replace("mode: max\n", ""))).mode == "max"


# -- leakage and the sealed test set, on the session's Ray -------------------------------
def recording_config(
    tmp_path, log_dir, test=0.25, validation_or_cv="cv: 3", rounds=3, samples=10, extra=""
):
    rng = np.random.default_rng(0)
    n = 120
    y = rng.integers(0, 2, n)
    feats = rng.normal(size=(n, 3)) + y[:, None]
    cols = {
        "row_id": np.arange(n, dtype=float),
        **{f"f{i}": feats[:, i] for i in range(3)},
        "label": y,
    }
    pq.write_table(pa.table(cols), tmp_path / "data.parquet")
    return write(
        tmp_path,
        textwrap.dedent(f"""\
        objective:
          estimator: tests.recording.RecordingClassifier
          params: {{log_dir: "{log_dir}"}}
          scoring: accuracy
          dataset: {{path: "{tmp_path / "data.parquet"}", target: label}}
          split: {{test: {test}, {validation_or_cv}}}
        space:
          shrink: {{type: float, low: 0.0, high: 0.5}}
        rounds: {rounds}
        samples_per_round: {samples}
        workers: 2
        seed: 7
    """)
        + extra,
    )


def roles(run_dir):
    """split.parquet as {role: set of rows} and {fold: set of rows}."""
    by_role, by_fold = {}, {}
    for r in pq.read_table(run_dir / "split.parquet").to_pylist():
        by_role.setdefault(r["role"], set()).add(r["row"])
        if r["fold"] is not None:
            by_fold.setdefault(r["fold"], set()).add(r["row"])
    return by_role, by_fold


@pytest.mark.ray
def test_workers_never_see_a_test_row_and_the_test_is_evaluated_once(ray_cluster, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    config = load_config(recording_config(tmp_path, logs))
    outcome = run_config(config, run_dir=tmp_path / "run", evaluate_test_set=False)
    by_role, by_fold = roles(tmp_path / "run")
    test_rows = by_role["test"]
    assert len(test_rows) == 30 and outcome.result.table.num_rows == 30
    seen = seen_rows(logs)
    assert seen["fit"] and seen["predict"]  # the recorder did record, on the workers
    assert not (seen["fit"] | seen["predict"]) & test_rows
    assert seen["fit"] | seen["predict"] == set(range(120)) - test_rows
    # each scoring fits on the tuning rows outside one fold and predicts exactly that fold,
    # the folds split.parquet records
    tune_rows = by_role["tune"]
    assert sorted(by_fold) == [0, 1, 2] and set().union(*by_fold.values()) == tune_rows
    worker_calls = all_calls(logs)
    assert len(worker_calls) == 30 * 3 * 2
    for (fit, fit_rows, _), (predict, val_rows, _) in zip(worker_calls[::2], worker_calls[1::2]):
        assert (fit, predict) == ("fit", "predict")
        assert set(val_rows) in by_fold.values() and len(val_rows) == len(set(val_rows))
        assert set(fit_rows) == tune_rows - set(val_rows) and len(fit_rows) == len(set(fit_rows))

    # the final evaluation: refit on every tuning row, predict the test rows, once
    assert sealed_record(tmp_path / "run") is None
    run_json = json.loads((tmp_path / "run" / "run.json").read_text())
    assert "test" not in run_json
    refit_log = logs / f"{os.getpid()}.log"  # the refit runs in this process
    assert not refit_log.exists()  # nothing was fitted here during tuning
    record = evaluate_test(tmp_path / "run")
    best = outcome.result.best_config["shrink"]
    assert calls(refit_log) == [
        ("fit", sorted(tune_rows), best),
        ("predict", sorted(test_rows), best),
    ]
    assert record["n_test_rows"] == 30 and record["config"] == outcome.result.best_config
    assert record["n_fit_rows"] == 90
    assert 0.0 <= record["score"] <= 1.0 and record["evaluated_at"]
    assert (
        json.loads((tmp_path / "run" / "run.json").read_text())["test"]["score"] == record["score"]
    )
    with pytest.raises(SealedTestError, match="already evaluated at .*a second look would leak"):
        evaluate_test(tmp_path / "run")
    assert sealed_record(tmp_path / "run") == record


@pytest.mark.ray
def test_run_config_seals_the_test_and_a_run_without_test_says_so(ray_cluster, tmp_path):
    config = load_config(write(tmp_path, SVC_WINE))
    outcome = run_config(config, run_dir=tmp_path / "svc")
    assert outcome.sealed and outcome.test["scoring"] == "accuracy"
    assert outcome.test["n_test_rows"] == 36 and outcome.result.best_score > 0.9
    assert {"split0_score", "split2_score", "score_std"} <= set(outcome.result.table.column_names)
    with pytest.raises(SealedTestError, match="already evaluated"):
        evaluate_test(tmp_path / "svc")

    no_test = load_config(write(tmp_path, SVC_WINE.replace("test: 0.2", "test: 0")))
    outcome = run_config(no_test, run_dir=tmp_path / "open")
    assert not outcome.sealed and outcome.test is None
    with pytest.raises(SealedTestError, match="without a test split"):
        evaluate_test(tmp_path / "open")


@pytest.mark.ray
def test_split_parquet_records_the_train_and_validation_rows_actually_used(ray_cluster, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    config = load_config(
        recording_config(tmp_path, logs, validation_or_cv="validation: 0.25", rounds=1, samples=4)
    )
    run_config(config, run_dir=tmp_path / "run", evaluate_test_set=False)
    by_role, by_fold = roles(tmp_path / "run")
    train, validation, test = by_role["train"], by_role["validation"], by_role["test"]
    assert set(by_role) == {"train", "validation", "test"} and by_fold == {0: validation}
    assert not train & validation and not (train | validation) & test
    assert train | validation | test == set(range(120)) and len(test) == 30
    worker_calls = all_calls(logs)
    assert len(worker_calls) == 4 * 2
    for what, rows, _ in worker_calls:  # every fit on the train rows, every score on validation
        assert sorted(rows) == sorted(train if what == "fit" else validation)
        assert len(rows) == len(set(rows))


@pytest.mark.ray
def test_a_rows_budget_fits_on_that_fraction_of_the_training_rows(ray_cluster, tmp_path):
    logs = tmp_path / "logs"
    logs.mkdir()
    config = load_config(
        recording_config(
            tmp_path,
            logs,
            validation_or_cv="validation: 0.25",
            rounds=2,
            samples=9,
            extra="budget: {min: 0.25, max: 1.0, eta: 3, param: rows}\n",
        )
    )
    outcome = run_config(config, run_dir=tmp_path / "run", evaluate_test_set=False)
    train = roles(tmp_path / "run")[0]["train"]
    trials = outcome.result.table.to_pylist()
    assert {r["budget"] for r in trials} == {0.25, 0.75, 1.0}
    assert all(r["status"] == "ok" for r in trials)
    fits = [(shrink, rows) for what, rows, shrink in all_calls(logs) if what == "fit"]
    assert all(set(rows) <= train and len(rows) == len(set(rows)) for _, rows in fits)
    # one fit per trial, on round(budget * train rows) of them: (shrink, rows) pairs match
    expected = sorted((r["shrink"], round(r["budget"] * len(train))) for r in trials)
    assert sorted((shrink, len(rows)) for shrink, rows in fits) == expected
    assert {len(rows) for _, rows in fits} == {round(b * len(train)) for b in (0.25, 0.75, 1.0)}
