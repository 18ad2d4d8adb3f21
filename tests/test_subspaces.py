"""A list of subspaces as one conditional space: scikit-learn's list-of-dicts
``param_distributions``, estimator objects as choices, and an estimator task's list under
``space:``."""

from __future__ import annotations

import dataclasses
import json
import textwrap

import numpy as np
import pytest
from scipy.stats import loguniform, randint, uniform
from sklearn.datasets import make_circles
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from orchestrator import Choice, Float, SweepSearchCV, evaluate_test, load_config, run_config, tune
from orchestrator.config.loader import parse_config
from orchestrator.errors import ConfigError
from orchestrator.execution.serial import SerialExecutor
from orchestrator.search.samplers.registry import DEFAULT_SAMPLER
from orchestrator.sklearn.estimator_tasks import EstimatorTask
from orchestrator.sklearn.search_cv import cv_results, search_subspaces
from workers.estimator import EstimatorObjective

SVM_DICTS = [
    {"kernel": ["rbf"], "C": loguniform(1e-2, 1e2), "gamma": loguniform(1e-3, 1)},
    {"kernel": ["poly"], "C": loguniform(1e-2, 1e2), "degree": randint(2, 5)},
    {"kernel": ["linear"], "C": uniform(0, 1)},
]


def sweep(mapping, n, tmp_path, sampler="random", rounds=1):
    """One sweep over the mapping's space; the configurations each call got, in the
    subspaces' names."""
    seen = []

    def objective(config):
        seen.append(mapping.to_user(config))
        return float(len(seen))

    result = tune(
        objective,
        mapping.space,
        mode="max",
        rounds=rounds,
        samples_per_round=n,
        seed=0,
        sampler=sampler,
        run_dir=tmp_path / "run",
        executor=SerialExecutor(objective, param_names=list(mapping.space)),
    )
    return result, seen


# -- the mapping -------------------------------------------------------------------------
def test_one_value_per_dict_selects_the_dict_and_equal_ranges_are_shared():
    mapping = search_subspaces(SVM_DICTS)
    space = mapping.space
    assert mapping.selector == "kernel" and not mapping.hidden
    assert space["kernel"] == Choice(["rbf", "poly", "linear"]) and not space["kernel"].when
    # the same C in the rbf and poly dicts is one dimension; linear's differs
    assert space["C_s0"].when == (("kernel", ("rbf", "poly")),)
    assert space["C_s2"].when == (("kernel", ("linear",)),)
    assert space["gamma"].when == (("kernel", ("rbf",)),)
    assert space["degree"].when == (("kernel", ("poly",)),)
    assert mapping.names == {
        "kernel": "kernel",
        "C_s0": "C",
        "C_s2": "C",
        "gamma": "gamma",
        "degree": "degree",
    }
    assert mapping.to_user({"kernel": "linear", "C_s2": 0.5}) == {"kernel": "linear", "C": 0.5}


def test_without_such_a_value_a_hidden_selector_picks_the_dict_under_a_free_name():
    dicts = [
        {"subspace": [1, 2], "C": uniform(0, 1)},
        {"subspace": [3], "C": uniform(0, 1), "tol": [1e-3, 1e-4]},
        {},  # the estimator's defaults
    ]
    mapping = search_subspaces(dicts)
    assert mapping.hidden and mapping.selector == "subspace_"
    space = mapping.space
    assert space["subspace_"] == Choice([0, 1, 2])
    assert space["C"].when == (("subspace_", (0, 1)),)
    assert space["subspace_s0"].when == (("subspace_", (0,)),)
    assert mapping.names["subspace_"] is None and mapping.names["subspace_s1"] == "subspace"
    assert mapping.to_user({"subspace_": 2}) == {}
    assert mapping.to_user({"subspace_": 1, "subspace_s1": 3, "C": 0.1, "tol": 1e-3}) == {
        "subspace": 3,
        "C": 0.1,
        "tol": 1e-3,
    }


def test_a_condition_inside_a_dict_names_its_own_parameters():
    dicts = [
        {"kind": ["a"], "x": Choice([1, 2]), "y": Float(0, 1, when={"x": 2})},
        {"kind": ["b"], "x": Choice([5, 6]), "z": Float(0, 1, when={"kind": "b"})},
    ]
    space = search_subspaces(dicts).space
    assert space["y"].when == (("kind", ("a",)), ("x_s0", (2,)))
    assert space["z"].when == (("kind", ("b",)),)  # always true in its own dict
    with pytest.raises(ValueError, match=r"param_distributions\[1\]: parameter 'z': `when: {kind"):
        search_subspaces([dicts[0], {**dicts[1], "z": Float(0, 1, when={"kind": "a"})}])


def test_every_dict_is_drawn_and_each_candidate_gets_exactly_its_parameters(tmp_path):
    mapping = search_subspaces(SVM_DICTS)
    result, seen = sweep(mapping, 30, tmp_path)
    keys = {frozenset(d) for d in SVM_DICTS}
    assert {frozenset(c) for c in seen} == keys  # every dict drawn, nothing else
    for config in seen:
        spec = next(d for d in SVM_DICTS if d["kernel"] == [config["kernel"]])
        assert set(config) == set(spec)
        assert spec["C"].support()[0] <= config["C"] <= spec["C"].support()[1]
    results = cv_results(result, mapping, 1)
    assert results["params"] == seen  # the table reads back to what the calls got
    assert not any(k.startswith("param_subspace") or k == "param_C_s0" for k in results)
    for i, config in enumerate(seen):
        assert results["param_gamma"].mask[i] == (config["kernel"] != "rbf")
        assert results["param_degree"].mask[i] == (config["kernel"] != "poly")
        assert not results["param_C"].mask[i] and results["param_C"][i] == config["C"]
    assert results["param_degree"].dtype.kind == "i" and results["param_C"].dtype.kind == "f"


@pytest.mark.parametrize("sampler", ["random", DEFAULT_SAMPLER])
def test_dicts_of_lists_are_drawn_without_replacement_over_the_union_of_their_grids(
    tmp_path, sampler
):
    dicts = [
        {"kernel": ["rbf"], "C": [1, 10], "gamma": [0.1, 1]},
        {"kernel": ["poly"], "degree": [2, 3]},
        {"kernel": ["sigmoid", "linear"]},
    ]
    grid = list(ParameterGrid(dicts))
    assert len(grid) == 8
    _, seen = sweep(search_subspaces(dicts), 8, tmp_path, sampler=sampler)
    assert sorted(map(repr, map(sorted, map(dict.items, seen)))) == sorted(
        map(repr, map(sorted, map(dict.items, grid)))
    )


def test_estimators_as_choices_are_stored_by_name_and_given_back_as_clones():
    lr, lr2, svc = LogisticRegression(), LogisticRegression(C=2), SVC()
    dicts = [
        {"clf": [lr, lr2], "clf__C": loguniform(1e-2, 1e2)},
        {"clf": [svc, "passthrough"], "clf__C": loguniform(1e-2, 1e2)},
    ]
    mapping = search_subspaces(dicts)
    assert mapping.hidden  # two values in each dict: no value picks the dict
    assert mapping.space["clf_s0"].values == ("LogisticRegression", "LogisticRegression_2")
    assert mapping.space["clf_s1"].values == ("SVC", "passthrough")
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    objective = EstimatorObjective(pipe, None, names=mapping.names, given=mapping.given)
    config = {mapping.selector: 0, "clf_s0": "LogisticRegression_2", "clf__C": 0.5}
    model = objective.make_estimator(config)
    step = model.named_steps["clf"]
    assert type(step) is LogisticRegression and step.C == 0.5 and step is not lr2
    assert lr2.C == 2  # the listed object itself is never changed
    assert mapping.to_user(config) == {"clf": lr2, "clf__C": 0.5}
    passthrough = objective.make_estimator({mapping.selector: 1, "clf_s1": "passthrough"})
    assert passthrough.named_steps["clf"] == "passthrough"


# -- SweepSearchCV, end to end -----------------------------------------------------------
@pytest.fixture(scope="module")
def circles():
    return make_circles(n_samples=120, noise=0.1, factor=0.4, random_state=0)


@pytest.mark.ray
def test_a_search_over_estimator_objects_refits_the_winning_class(ray_cluster, circles, tmp_path):
    import joblib

    X, y = circles  # a linear model cannot separate circles; an RBF SVC can
    lr, svc = LogisticRegression(), SVC()
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    search = SweepSearchCV(
        pipe, {"clf": [lr, svc]}, rounds=1, samples_per_round=4, cv=3, random_state=0
    ).fit(X, y)
    assert [type(p["clf"]) for p in search.cv_results_["params"]].count(SVC) == 2
    assert isinstance(search.best_params_["clf"], SVC) and search.best_params_["clf"] is svc
    assert type(search.best_estimator_.named_steps["clf"]) is SVC
    assert search.best_estimator_.named_steps["clf"] is not svc  # a clone was fitted
    assert not hasattr(svc, "support_") and not hasattr(lr, "coef_")
    assert search.best_score_ > 0.9 > search.cv_results_["mean_test_score"].min()
    joblib.dump(search, tmp_path / "search.joblib")
    loaded = joblib.load(tmp_path / "search.joblib")
    assert isinstance(loaded.best_params_["clf"], SVC)
    assert (loaded.predict(X) == search.predict(X)).all()


@pytest.mark.ray
def test_a_list_of_dicts_with_an_estimator_each_in_scikit_learns_form(ray_cluster, circles):
    X, y = circles
    pipe = Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())])
    dicts = [
        {"clf": [LogisticRegression()], "clf__C": loguniform(1e-2, 1e2)},
        {"clf": [SVC()], "clf__C": loguniform(1e-1, 1e2), "clf__gamma": loguniform(1e-2, 10)},
    ]
    search = SweepSearchCV(pipe, dicts, rounds=2, samples_per_round=6, cv=3, random_state=1)
    search.fit(X, y)
    results = search.cv_results_
    classes = [type(p["clf"]) for p in results["params"]]
    assert set(classes) == {LogisticRegression, SVC}
    for i, params in enumerate(results["params"]):
        svm = isinstance(params["clf"], SVC)
        assert set(params) == ({"clf", "clf__C", "clf__gamma"} if svm else {"clf", "clf__C"})
        assert results["param_clf__gamma"].mask[i] == (not svm)
    assert {k for k in results if k.startswith("param_")} == {
        "param_clf",
        "param_clf__C",
        "param_clf__gamma",
    }
    best = search.best_estimator_.named_steps["clf"]
    assert type(best) is type(search.best_params_["clf"]) is SVC
    assert best.C == search.best_params_["clf__C"]
    assert best.gamma == search.best_params_["clf__gamma"]


# -- an estimator task's list of subspaces -------------------------------------------------
TASK = textwrap.dedent("""\
    objective:
      preprocessing: [standard_scaler]
      scoring: accuracy
      dataset: iris
      split: {test: 0.2, cv: 3}
    space:
      - estimator: sklearn.linear_model.LogisticRegression
        C: {type: float, low: 1e-2, high: 1e2, log: true}
      - estimator: sklearn.svm.SVC
        C: {type: float, low: 1e-2, high: 1e2, log: true}
        gamma: {type: float, low: 1e-3, high: 1.0, log: true}
      - estimator: {type: choice, values: [sklearn.neighbors.KNeighborsClassifier]}
        n_neighbors: {type: int, low: 1, high: 15}
    rounds: 2
    samples_per_round: 6
""")


def load(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    return load_config(path)


def test_a_list_of_subspaces_is_one_conditional_space_and_reads_back(tmp_path):
    config = load(tmp_path, TASK)
    space, task = config.space, config.objective
    assert list(space) == ["estimator", "C", "gamma", "n_neighbors"]
    assert space["C"].when == (
        ("estimator", ("sklearn.linear_model.LogisticRegression", "sklearn.svm.SVC")),
    )
    assert task.estimator == "sklearn.linear_model.LogisticRegression"  # the first, by default
    assert len(task.subspaces) == 3
    again = parse_config(json.loads(json.dumps(config.to_dict())))  # as run.json holds it
    assert again.space == space and again.objective == task
    stored = config.to_dict()
    stored["space"]["C"]["high"] = 1e3
    with pytest.raises(ConfigError, match="space: not the space that objective.subspaces makes"):
        parse_config(stored)
    objective = task.make_objective()
    model = objective.make_estimator({"estimator": "sklearn.svm.SVC", "C": 3.0, "gamma": 0.1})
    step = model.named_steps["model"]
    assert type(step) is SVC and (step.C, step.gamma) == (3.0, 0.1)
    assert step is not objective.given["estimator"]['"sklearn.svm.SVC"']  # a clone


def test_a_promotion_restarts_when_the_configuration_chooses_the_class(tmp_path):
    text = textwrap.dedent("""\
        objective: {preprocessing: [standard_scaler], dataset: iris}
        space:
          - estimator: sklearn.neural_network.MLPClassifier
            alpha: {type: float, low: 1e-5, high: 1e-1, log: true}
          - estimator: sklearn.linear_model.SGDClassifier
            alpha: {type: float, low: 1e-6, high: 1e-2, log: true}
        budget: {min: 10, max: 90, param: max_iter}
    """)
    task = load(tmp_path, text).objective
    assert task.make_objective("max_iter").continuation() is None
    # the MLP alone would continue its training from the rung below
    alone = dataclasses.replace(task, subspaces=())
    assert alone.make_objective("max_iter").continuation() == "increment"


@pytest.mark.parametrize(
    "old, new, message",
    [
        (
            "    gamma: {type: float",
            "    gama: {type: float",
            r"c\.yaml: space\[1\]\.gama: SVC does not accept a parameter 'gama'; "
            r"did you mean 'gamma'",
        ),
        (
            "    n_neighbors:",
            "    C:",
            r"space\[2\]\.C: KNeighborsClassifier does not accept a parameter 'C'",
        ),
        (
            "estimator: sklearn.svm.SVC",
            "estimator: sklearn.svm.SVCC",
            r"space\[1\]\.estimator: unknown estimator 'sklearn.svm.SVCC'",
        ),
        (
            "values: [sklearn.neighbors.KNeighborsClassifier]",
            "values: [sklearn.neighbors.KNeighborsClassifier, os.system]",
            r"space\[2\]\.estimator\.values\[1\]: 'os.system' is not a scikit-learn-compatible",
        ),
        (
            "estimator: sklearn.svm.SVC",
            "estimator: sklearn.svm.SVR",
            r"space: the estimators mix classifiers .* and others \(sklearn.svm.SVR\)",
        ),
        (
            "    C: {type: float, low: 1e-2, high: 1e2, log: true}\n  - estimator: sklearn.svm",
            "    C: {type: float, low: 1e-2, high: 1e2, log: true, when: {gamma: 1}}\n"
            "  - estimator: sklearn.svm",
            r"space\[0\]: parameter 'C': `when` names 'gamma', which is not a parameter",
        ),
        (
            "  - estimator: sklearn.linear_model.LogisticRegression\n",
            "  - \n",
            r"objective: missing key 'estimator' \(the estimator of the subspaces that name "
            r"none, as space\[0\] does\)",
        ),
    ],
)
def test_a_bad_subspace_is_one_line_that_says_where(tmp_path, old, new, message):
    assert old in TASK
    with pytest.raises(ConfigError, match=message) as caught:
        load(tmp_path, TASK.replace(old, new, 1))
    assert "\n" not in str(caught.value)


def test_a_list_of_subspaces_needs_an_estimator_task(tmp_path):
    text = "objective: tests.objectives:shifted_bowl\nmode: min\nspace:\n  - x: {type: int}\n"
    # it said only "space: expected a mapping"; now it says what to use instead
    with pytest.raises(ConfigError, match="a list of subspaces is for estimator tasks.*`when`"):
        load(tmp_path, text)


def test_a_budget_parameter_must_suit_every_estimator(tmp_path):
    text = TASK + "budget: {min: 10, max: 100, param: max_iter}\n"
    with pytest.raises(ConfigError, match="budget.param.max_iter: KNeighborsClassifier does not"):
        load(tmp_path, text)


@pytest.mark.ray
def test_the_pipeline_subspaces_config_runs_and_its_sealed_test_refits_the_best_class(
    ray_cluster, tmp_path
):
    config = load_config("configs/pipeline_subspaces.yaml")
    config = dataclasses.replace(config, rounds=2, samples_per_round=6, workers=2)
    outcome = run_config(config, run_dir=tmp_path / "run", evaluate_test_set=False)
    table = outcome.result.table
    assert set(table.column("status").to_pylist()) == {"ok"}
    params = {
        "sklearn.linear_model.LogisticRegression": {"C_s0"},
        "sklearn.svm.SVC": {"C_s1", "gamma"},
        "sklearn.ensemble.HistGradientBoostingClassifier": {"learning_rate", "max_leaf_nodes"},
    }
    tuned = [name for name in config.space if name != "estimator"]
    for row in table.to_pylist():  # each trial holds exactly its class's parameters
        assert {k for k in tuned if row[k] is not None} == params[row["estimator"]]
    assert len(set(table.column("estimator").to_pylist())) >= 2
    record = evaluate_test(tmp_path / "run")  # from run.json alone: the task read back
    best = outcome.result.best_config
    assert record["config"] == best and 0.8 < record["score"] <= 1.0
    task = EstimatorTask.parse(
        json.loads((tmp_path / "run" / "run.json").read_text())["config"]["objective"]
    )
    model = task.prepare(config.seed).objective.make_estimator(best)
    assert type(model.named_steps["model"]).__name__ == best["estimator"].rpartition(".")[2]
    assert np.isfinite(outcome.result.best_score)
