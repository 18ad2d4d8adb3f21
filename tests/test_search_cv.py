"""SweepSearchCV against scikit-learn's RandomizedSearchCV contract."""

import functools

import numpy as np
import pytest
from scipy.stats import loguniform, norm, randint, uniform
from sklearn.base import clone, is_classifier
from sklearn.datasets import load_iris, load_wine
from sklearn.linear_model import Ridge
from sklearn.model_selection import RandomizedSearchCV, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from orchestrator import Choice, Float, Int, SweepSearchCV
from orchestrator.sklearn.search_cv import space_from_distributions

DIST = {
    "clf__C": loguniform(1e-2, 1e3),
    "clf__gamma": loguniform(1e-4, 10),
    "clf__kernel": ["rbf", "sigmoid"],
}


def pipeline():
    return Pipeline([("scale", StandardScaler()), ("clf", SVC())])


def test_param_distributions_convert_to_a_space():
    space = space_from_distributions(
        {
            "a": loguniform(1e-3, 10),
            "b": uniform(2, 3),
            "c": randint(1, 5),
            "d": [1, "x", None],
            "e": np.array([0.1, 0.2]),
            "f": Int(1, 3),
        }
    )
    assert space["a"] == Float(1e-3, 10, log=True, hard_low=1e-3, hard_high=10)
    assert space["b"] == Float(2, 5, hard_low=2, hard_high=5)
    assert space["c"] == Int(1, 4, hard_low=1, hard_high=4)  # randint's high is exclusive
    assert space["d"] == Choice([1, "x", None]) and space["e"] == Choice([0.1, 0.2])
    assert type(space["e"].values[0]) is float and space["f"] == Int(1, 3)


def test_ranges_never_grow_past_a_distributions_support(tmp_path):
    """RandomizedSearchCV never leaves a distribution's support; neither does the sweep,
    even when the best sits on the edge (uniform(0, 1) for a probability stays in [0, 1])."""
    from orchestrator import tune
    from orchestrator.execution.serial import SerialExecutor

    space = space_from_distributions({"p": uniform(0, 1), "k": randint(1, 5)})

    def objective(c):  # best at both upper edges
        return c["p"] + c["k"]

    result = tune(
        objective,
        space,
        mode="max",
        rounds=5,
        samples_per_round=10,
        seed=0,
        run_dir=tmp_path / "run",
        executor=SerialExecutor(objective, param_names=["p", "k"]),
    )
    rows = result.table.to_pylist()
    assert all(0 <= r["p"] <= 1 and 1 <= r["k"] <= 4 for r in rows)
    assert result.final_space["p"].high <= 1 and result.final_space["k"].high <= 4


@pytest.mark.parametrize(
    "dist, message",
    [
        ({"a": norm(0, 1)}, r"parameter 'a': scipy.stats.norm is not supported"),
        ([{"a": [1, 2]}, 3], "or a non-empty list of such dicts"),
        ([], "or a non-empty list of such dicts"),
        ([{"a": [1]}, {"b": norm(0, 1)}], r"param_distributions\[1\]: parameter 'b': scipy"),
        ({"a": 3}, "expected a list, a scipy.stats distribution"),
    ],
)
def test_unsupported_distributions(dist, message):
    with pytest.raises(ValueError, match=message):
        space_from_distributions(dist)


def test_clone_and_get_params_round_trip():
    search = SweepSearchCV(pipeline(), DIST, rounds=3, samples_per_round=5, cv=4, random_state=2)
    params = search.get_params(deep=False)
    again = clone(search)
    assert again.get_params(deep=False).keys() == params.keys()
    assert again.rounds == 3 and again.cv == 4 and again.random_state == 2
    assert "estimator__clf__C" in search.get_params(deep=True)
    assert is_classifier(search) and not is_classifier(SweepSearchCV(Ridge(), {"alpha": [1.0]}))


@pytest.fixture(scope="module")
def fitted(ray_cluster):
    X, y = load_wine(return_X_y=True)
    search = SweepSearchCV(pipeline(), DIST, rounds=3, samples_per_round=8, cv=3, random_state=0)
    return search.fit(X, y), X, y


@pytest.mark.ray
def test_attributes_and_cv_results_match_randomized_search(fitted):
    search, X, y = fitted
    reference = RandomizedSearchCV(pipeline(), DIST, n_iter=4, cv=3, random_state=0).fit(X, y)
    assert set(reference.cv_results_) | {"round"} == set(search.cv_results_)
    for attr in (
        "best_params_",
        "best_score_",
        "best_estimator_",
        "best_index_",
        "n_splits_",
        "refit_time_",
        "scorer_",
        "multimetric_",
        "n_features_in_",
    ):
        assert hasattr(search, attr) and hasattr(reference, attr), attr
    results = search.cv_results_
    n = 3 * 8
    assert all(len(results[k]) == n for k in results if k != "params")
    assert search.n_splits_ == 3
    splits = np.stack([results[f"split{k}_test_score"] for k in range(3)])
    assert np.allclose(splits.mean(axis=0), results["mean_test_score"])
    assert np.allclose(splits.std(axis=0), results["std_test_score"])
    assert results["rank_test_score"][search.best_index_] == 1
    assert search.best_score_ == results["mean_test_score"].max()
    assert search.best_params_ == results["params"][search.best_index_]
    assert results["param_clf__C"][search.best_index_] == search.best_params_["clf__C"]
    assert sorted(set(results["round"])) == [0, 1, 2]
    assert isinstance(results["param_clf__kernel"], np.ma.MaskedArray)


@pytest.mark.ray
def test_predict_score_and_refit_delegate(fitted):
    search, X, y = fitted
    assert search.best_estimator_.get_params()["clf__C"] == search.best_params_["clf__C"]
    assert np.array_equal(search.predict(X), search.best_estimator_.predict(X))
    assert search.score(X, y) == search.best_estimator_.score(X, y)
    assert list(search.classes_) == [0, 1, 2]
    assert search.best_score_ > 0.9


@pytest.mark.ray
def test_same_random_state_same_best_params(ray_cluster):
    X, y = load_iris(return_X_y=True)
    runs = [
        SweepSearchCV(
            SVC(),
            {"C": loguniform(1e-2, 1e2), "gamma": loguniform(1e-3, 1)},
            rounds=2,
            samples_per_round=6,
            cv=3,
            random_state=5,
        ).fit(X, y)
        for _ in range(2)
    ]
    assert runs[0].best_params_ == runs[1].best_params_
    # every configuration tried, and its scores, not just the winner
    assert runs[0].cv_results_["params"] == runs[1].cv_results_["params"]
    assert len(runs[0].cv_results_["params"]) == 12
    for key in ("mean_test_score", "split0_test_score", "split2_test_score", "round"):
        assert np.array_equal(runs[0].cv_results_[key], runs[1].cv_results_[key]), key


@pytest.mark.ray
def test_nested_cross_validation_in_a_pipeline(ray_cluster):
    X, y = load_wine(return_X_y=True)
    search = SweepSearchCV(pipeline(), DIST, rounds=2, samples_per_round=4, cv=2, random_state=0)
    scores = cross_val_score(search, X, y, cv=2)  # stratified outer folds: search is a classifier
    assert scores.shape == (2,) and scores.min() > 0.85


@pytest.mark.ray
def test_regression_search(ray_cluster):
    from sklearn.datasets import load_diabetes

    X, y = load_diabetes(return_X_y=True)
    search = SweepSearchCV(
        Ridge(),
        {"alpha": loguniform(1e-4, 1e3)},
        rounds=2,
        samples_per_round=5,
        scoring="r2",
        cv=3,
        random_state=0,
    ).fit(X, y)
    assert search.best_score_ > 0.3 and search.score(X, y) > 0.3


@pytest.mark.ray
def test_an_estimator_fitted_on_x_alone_is_tuned_without_y(ray_cluster):
    from sklearn.cluster import KMeans

    X, _ = load_iris(return_X_y=True)
    search = SweepSearchCV(
        KMeans(n_init=2, random_state=0),
        {"n_clusters": randint(2, 9)},
        rounds=2,
        samples_per_round=4,
        cv=2,
        random_state=0,
    ).fit(X)
    assert search.cv_results_["mean_test_score"].size == 8
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.best_estimator_.n_clusters == search.best_params_["n_clusters"]


@pytest.mark.ray
def test_every_delegated_method_uses_the_refit_best_estimator_and_result_is_the_sweep(ray_cluster):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.metrics import accuracy_score

    from orchestrator import TuneResult

    X, y = load_wine(return_X_y=True)
    search = SweepSearchCV(
        LinearDiscriminantAnalysis(solver="eigen"),
        {"shrinkage": [0.1, 0.3, 0.6, 0.9]},
        rounds=2,
        samples_per_round=4,
        cv=3,
        random_state=0,
    ).fit(X, y)
    # the refit: the best parameters, fitted on all of (X, y)
    alone = LinearDiscriminantAnalysis(solver="eigen", **search.best_params_).fit(X, y)
    assert search.best_estimator_.get_params()["shrinkage"] == search.best_params_["shrinkage"]
    for method in ("predict", "predict_proba", "decision_function", "transform"):
        got = getattr(search, method)(X)
        assert np.array_equal(got, getattr(search.best_estimator_, method)(X)), method
        assert np.allclose(got, getattr(alone, method)(X)), method
    assert search.transform(X).shape == (len(X), 2)  # 3 classes: 2 discriminant axes
    assert search.score(X, y) == accuracy_score(y, alone.predict(X))
    # result_: the sweep itself, with its trials and ranges per round
    result = search.result_
    assert isinstance(result, TuneResult) and result.rounds_run == 2
    assert result.table.num_rows == 8 == len(search.cv_results_["params"])
    assert result.best_score == search.best_score_ and result.best_config == search.best_params_
    assert sorted(set(result.ranges.column("round").to_pylist())) == [0, 1, 2]
    assert result.table.column("score").to_pylist() == list(search.cv_results_["mean_test_score"])


def test_choices_come_back_as_the_values_given_not_their_text(tmp_path):
    from orchestrator import tune
    from orchestrator.execution.serial import SerialExecutor
    from orchestrator.sklearn.search_cv import cv_results, given_choices

    dist = {"C": [0.1, 1, 10], "weight": [None, "balanced"], "layers": [(8,), (16, 8)]}
    space = space_from_distributions(dist)
    seen = []

    def objective(config):
        seen.append(dict(config))
        return 1.0

    result = tune(
        objective,
        space,
        mode="max",
        rounds=1,
        samples_per_round=12,
        sampler="random",
        run_dir=tmp_path / "run",
        executor=SerialExecutor(objective, param_names=list(space)),
    )
    params = cv_results(result, space, 1, given_choices(dist))["params"]
    assert [{**p, "layers": list(p["layers"])} for p in params] == seen  # row for row
    for p in params:
        assert p["C"] in (0.1, 1, 10) and type(p["C"]) is not str
        assert p["weight"] in (None, "balanced")
        assert p["layers"] in [(8,), (16, 8)] and isinstance(p["layers"], tuple)
    assert {type(p["C"]) for p in params} == {float, int}


def test_the_estimator_gets_the_choices_as_given():
    from sklearn.neural_network import MLPClassifier

    from orchestrator.sklearn.search_cv import given_choices
    from workers.estimator import EstimatorObjective

    dist = {"hidden_layer_sizes": [(8,), (16, 8)], "alpha": [1e-4, 1]}
    objective = EstimatorObjective(MLPClassifier(), None, given=given_choices(dist))
    model = objective.make_estimator({"hidden_layer_sizes": [16, 8], "alpha": 1})
    assert model.hidden_layer_sizes == (16, 8) and model.alpha == 1


def test_a_search_space_survives_pickling():
    import pickle

    space = space_from_distributions({"C": loguniform(1e-2, 1e2), "k": ["rbf", "linear"]})
    back = pickle.loads(pickle.dumps(space))
    assert back == space and list(back) == list(space)
    with pytest.raises(AttributeError, match="immutable"):
        back.x = 1


@pytest.mark.ray
def test_a_fitted_search_is_saved_and_loaded_with_joblib(ray_cluster, tmp_path):
    import joblib

    X, y = load_iris(return_X_y=True)
    search = SweepSearchCV(
        SVC(), {"C": loguniform(1e-2, 1e2)}, rounds=2, samples_per_round=4, cv=3, random_state=0
    ).fit(X, y)
    joblib.dump(search, tmp_path / "search.joblib")
    loaded = joblib.load(tmp_path / "search.joblib")
    assert loaded.best_params_ == search.best_params_
    assert (loaded.predict(X) == search.predict(X)).all()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"scoring": ("accuracy", "f1_macro")}, "refit must be the name of the one"),
        ({"scoring": {"a": "accuracy"}, "refit": "b"}, r"several metrics \(a\), refit must"),
        ({"cv": []}, "No fits were performed"),
        ({"refit": 3}, "refit must be"),
    ],
)
def test_options_it_cannot_honour_are_refused_before_anything_runs(options, message):
    X, y = load_iris(return_X_y=True)
    search = SweepSearchCV(SVC(), {"C": [1, 10]}, rounds=1, samples_per_round=2, **options)
    with pytest.raises(ValueError, match=message):
        search.fit(X, y)


class FailsAboveC(SVC):
    """An SVC whose fit raises for C above a threshold (a candidate that cannot be fitted)."""

    def __init__(self, C=1.0, limit=5.0):
        super().__init__(C=C)
        self.limit = limit

    def fit(self, X, y, sample_weight=None):
        if self.C > self.limit:
            raise ValueError(f"C={self.C} is too large")
        return super().fit(X, y, sample_weight)


@pytest.mark.ray
def test_failed_fits_warn_and_all_failed_is_an_error(ray_cluster):
    from sklearn.exceptions import FitFailedWarning

    X, y = load_iris(return_X_y=True)
    some = SweepSearchCV(FailsAboveC(), {"C": [1, 10]}, rounds=1, samples_per_round=6, cv=3)
    with pytest.warns(FitFailedWarning, match="candidates failed"):
        some.fit(X, y)
    assert some.best_params_ == {"C": 1}
    every = SweepSearchCV(
        FailsAboveC(limit=0.5), {"C": [1, 10]}, rounds=1, samples_per_round=4, cv=3
    )
    with pytest.raises(ValueError, match="All the 4 candidates failed.*too large"):
        every.fit(X, y)


@pytest.mark.ray
def test_a_callable_refit_picks_the_best_index(ray_cluster):
    X, y = load_iris(return_X_y=True)

    def smallest_c(results):
        return int(np.argmin([p["C"] for p in results["params"]]))

    search = SweepSearchCV(
        SVC(), {"C": [0.01, 1, 10]}, rounds=1, samples_per_round=6, cv=3, refit=smallest_c
    ).fit(X, y)
    assert search.best_params_ == {"C": 0.01}
    assert search.best_estimator_.C == 0.01


@pytest.mark.ray
def test_score_samples_and_inverse_transform_reach_the_best_estimator(ray_cluster):
    from sklearn.decomposition import PCA
    from sklearn.neighbors import KernelDensity

    X, _ = load_iris(return_X_y=True)
    density = SweepSearchCV(
        KernelDensity(), {"bandwidth": [0.2, 1.0]}, rounds=1, samples_per_round=2, cv=3
    ).fit(X.tolist())  # a list of rows, as scikit-learn's searches take
    assert np.allclose(density.score_samples(X), density.best_estimator_.score_samples(X))
    pca = SweepSearchCV(PCA(), {"n_components": [1, 2]}, rounds=1, samples_per_round=2, cv=3).fit(X)
    reduced = pca.transform(X)
    assert np.allclose(
        pca.inverse_transform(reduced), pca.best_estimator_.inverse_transform(reduced)
    )


def test_scikit_learns_constructor_arguments_are_taken():
    from orchestrator.sklearn.search_cv import _workers

    search = SweepSearchCV(
        SVC(), {"C": [1, 10]}, n_jobs=2, verbose=1, error_score=0.0, pre_dispatch="2*n_jobs"
    )
    params = clone(search).get_params()
    assert (params["n_jobs"], params["verbose"], params["error_score"]) == (2, 1, 0.0)
    assert params["pre_dispatch"] == "2*n_jobs"
    assert (_workers(None), _workers(-1), _workers(3)) == (None, None, 3)
    with pytest.raises(ValueError, match="n_jobs must be"):
        _workers(0)
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="error_score must be"):
        SweepSearchCV(SVC(), {"C": [1, 10]}, error_score="ignore").fit(X, y)


@pytest.mark.ray
def test_error_score_and_verbose(ray_cluster, capsys):
    from sklearn.exceptions import FitFailedWarning

    X, y = load_iris(return_X_y=True)
    options = {"rounds": 2, "samples_per_round": 4, "cv": 3, "n_jobs": 2}
    with pytest.warns(FitFailedWarning):
        search = SweepSearchCV(
            FailsAboveC(), {"C": [1, 10]}, error_score=-1.0, verbose=1, **options
        ).fit(X, y)
    results = search.cv_results_
    failed = [p["C"] == 10 for p in results["params"]]
    assert any(failed) and all(s == -1.0 for s, f in zip(results["mean_test_score"], failed) if f)
    assert results["split0_test_score"][failed.index(True)] == -1.0
    assert "[SweepSearchCV] round 2/2: 4 candidates" in capsys.readouterr().out
    with pytest.raises(ValueError, match="C=10 is too large"):  # the estimator's own error
        SweepSearchCV(FailsAboveC(), {"C": [1, 10]}, error_score="raise", **options).fit(X, y)


@pytest.mark.parametrize(
    ("options", "schedule"),
    [
        ({}, (8, 16)),
        ({"rounds": 3}, (3, 16)),
        ({"samples_per_round": 5}, (8, 5)),
        ({"n_iter": 128}, (8, 16)),
        ({"n_iter": 60}, (6, 10)),
        ({"n_iter": 10}, (1, 10)),
        ({"n_iter": 97}, (1, 97)),  # a prime: one round
        ({"n_iter": 12, "rounds": 3}, (3, 4)),
        ({"n_iter": 12, "samples_per_round": 6}, (2, 6)),
        ({"n_iter": 12, "rounds": 2, "samples_per_round": 6}, (2, 6)),
    ],
)
def test_n_iter_is_the_number_of_candidates_in_all(options, schedule):
    search = SweepSearchCV(SVC(), {"C": loguniform(1e-2, 1e2)}, **options)
    assert search.schedule() == schedule
    assert clone(search).get_params()["n_iter"] == options.get("n_iter")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_iter": 10, "rounds": 3}, "n_iter=10 is not a multiple of rounds=3"),
        ({"n_iter": 10, "rounds": 2, "samples_per_round": 4}, "is not rounds x samples_per_round"),
        ({"n_iter": 0}, "n_iter: must be >= 1"),
    ],
)
def test_an_n_iter_that_does_not_add_up_is_refused(options, message):
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match=message):
        SweepSearchCV(SVC(), {"C": [1, 10]}, **options).fit(X, y)


def _score_keys(results):
    return sorted(k for k in results if k.endswith(("_test_score", "_train_score")))


def _by_params(results):
    """Each candidate's scores, by its parameters (the order of candidates aside)."""
    keys = [k for k in _score_keys(results) if not k.startswith("rank")]
    return {
        tuple(sorted(p.items())): {k: results[k][i] for k in keys}
        for i, p in enumerate(results["params"])
    }


@pytest.mark.ray
def test_return_train_score_gives_randomized_searchs_train_scores(ray_cluster):
    """One round over a grid of lists runs RandomizedSearchCV's candidates, so every score,
    on the test and on the training folds, can be compared."""
    X, y = load_iris(return_X_y=True)
    grid = {"C": [0.01, 0.1, 1.0], "kernel": ["linear", "rbf"]}
    options = {"cv": 3, "return_train_score": True}
    search = SweepSearchCV(SVC(), grid, rounds=1, samples_per_round=6, **options).fit(X, y)
    reference = RandomizedSearchCV(SVC(), grid, n_iter=6, **options).fit(X, y)
    ours, theirs = search.cv_results_, reference.cv_results_
    assert set(ours) == set(theirs) | {"round"}
    assert "split2_train_score" in ours and "std_train_score" in ours
    ours_by, theirs_by = _by_params(ours), _by_params(theirs)
    assert ours_by.keys() == theirs_by.keys() and len(ours_by) == 6
    for params, scores in theirs_by.items():
        for key, value in scores.items():
            assert np.isclose(ours_by[params][key], value), (params, key)
    assert not np.allclose(ours["mean_train_score"], ours["mean_test_score"])


@pytest.mark.ray
def test_fit_params_reach_the_fits_and_sample_weight_the_scores(ray_cluster):
    """sample_weight is cut to each fold's rows for fit and scoring, and given whole to the
    refit; groups go to the splitter alone (Ridge.fit would refuse them)."""
    from sklearn.datasets import load_diabetes
    from sklearn.model_selection import GroupKFold

    X, y = load_diabetes(return_X_y=True)
    rng = np.random.RandomState(0)
    weights = rng.randint(0, 5, size=len(y)).astype(float)
    groups = np.arange(len(y)) % 4
    grid = {"alpha": [0.01, 1.0, 100.0]}
    cv = GroupKFold(n_splits=4)
    search = SweepSearchCV(Ridge(), grid, rounds=1, samples_per_round=3, cv=cv)
    search.fit(X, y, groups=groups, sample_weight=weights)
    weighted = RandomizedSearchCV(Ridge(), grid, n_iter=3, cv=cv)
    weighted.fit(X, y, groups=groups, sample_weight=weights)
    plain = RandomizedSearchCV(Ridge(), grid, n_iter=3, cv=cv).fit(X, y, groups=groups)
    ours, theirs = _by_params(search.cv_results_), _by_params(weighted.cv_results_)
    assert ours.keys() == theirs.keys()
    for params, scores in theirs.items():
        for key, value in scores.items():
            assert np.isclose(ours[params][key], value), (params, key)
    unweighted = _by_params(plain.cv_results_)
    assert not any(
        np.isclose(ours[p]["split0_test_score"], unweighted[p]["split0_test_score"]) for p in ours
    )
    assert np.allclose(search.best_estimator_.coef_, weighted.best_estimator_.coef_)


def nan_above_c_5(estimator, X, y):
    """A scorer that gives NaN for a large C (a candidate that is scored, not failed)."""
    return float("nan") if estimator.C > 5 else float(estimator.score(X, y))


@pytest.mark.ray
def test_a_non_finite_score_warns_as_scikit_learn_does_and_ranks_last(ray_cluster):
    from sklearn.exceptions import FitFailedWarning

    X, y = load_iris(return_X_y=True)
    search = SweepSearchCV(
        SVC(),
        {"C": [1, 10, 0.1]},
        rounds=1,
        samples_per_round=3,
        cv=3,
        scoring=nan_above_c_5,
        error_score=0.0,
    )
    with pytest.warns(UserWarning, match="One or more of the test scores are non-finite") as seen:
        search.fit(X, y)
    assert not [w for w in seen if issubclass(w.category, FitFailedWarning)]  # none failed
    results = search.cv_results_
    c = [p["C"] for p in results["params"]]
    assert sorted(c) == [0.1, 1, 10]
    assert np.isnan(results["mean_test_score"][c.index(10)])  # error_score: failures alone
    assert results["rank_test_score"][c.index(10)] == 3  # last
    assert search.best_params_ == {"C": 1}


class OverflowsAboveC(SVC):
    def fit(self, X, y, sample_weight=None):
        if self.C > 5:
            raise OverflowError(f"C={self.C} overflows")
        return super().fit(X, y, sample_weight)


@pytest.mark.ray
def test_error_score_raise_raises_the_estimators_own_exception(ray_cluster):
    X, y = load_iris(return_X_y=True)
    search = SweepSearchCV(
        OverflowsAboveC(), {"C": [1, 10]}, rounds=1, samples_per_round=2, error_score="raise"
    )
    with pytest.raises(OverflowError, match="C=10 overflows"):
        search.fit(X, y)


def test_a_method_the_estimator_lacks_is_missing_with_the_estimators_error_as_cause():
    from sklearn.tree import DecisionTreeClassifier

    search = SweepSearchCV(DecisionTreeClassifier(), {"max_depth": [2, 3]})
    with pytest.raises(AttributeError, match="has no attribute 'score_samples'") as info:
        search.score_samples  # noqa: B018
    assert isinstance(info.value.__cause__, AttributeError)
    assert "DecisionTreeClassifier" in str(info.value.__cause__)


def test_score_refuses_metadata_without_routing():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="is only supported if"):
        SweepSearchCV(SVC(), {"C": [1, 10]}).score(X, y, sample_weight=np.ones(len(y)))


def test_a_splitter_whose_split_and_get_n_splits_disagree_is_refused():
    from sklearn.model_selection import KFold

    class OneSplitClaimed(KFold):
        def get_n_splits(self, *args, **kwargs):
            return 1

    X, y = load_iris(return_X_y=True)
    search = SweepSearchCV(SVC(), {"C": [1, 10]}, cv=OneSplitClaimed(3))
    with pytest.raises(ValueError, match="Expected 1 splits, got 3"):
        search.fit(X, y)


def test_one_round_over_a_whole_grid_of_lists_takes_it_in_scikit_learns_order():
    from sklearn.model_selection import ParameterGrid

    from orchestrator.sklearn.search_cv import WholeGrid, _sampler

    dist = {"kernel": ["rbf", "linear"], "C": [10, 1, 0.1]}
    space = space_from_distributions(dist)
    sampler = _sampler("auto", space, 1, 6)
    assert isinstance(sampler, WholeGrid)
    columns = sampler.sample(space, 6, np.random.default_rng(0))
    rows = [dict(zip(columns, values)) for values in zip(*columns.values())]
    assert rows == list(ParameterGrid(dist))
    # otherwise the sampler asked for (or the default) draws
    assert _sampler("auto", space, 1, 5) == "auto" and _sampler("auto", space, 2, 6) == "auto"
    assert _sampler("random", space, 1, 6) == "random"
    assert _sampler("auto", space_from_distributions({"C": uniform(0, 1)}), 1, 6) == "auto"


@pytest.mark.ray
def test_a_callable_refit_out_of_range_or_not_an_index_is_refused(ray_cluster):
    X, y = load_iris(return_X_y=True)
    options = {"rounds": 1, "samples_per_round": 2, "cv": 3}
    with pytest.raises(IndexError, match="best_index_ index out of range"):
        SweepSearchCV(SVC(), {"C": [1, 10]}, refit=lambda results: -1, **options).fit(X, y)
    with pytest.raises(TypeError, match="best_index_ returned is not an integer"):
        SweepSearchCV(SVC(), {"C": [1, 10]}, refit=lambda results: 0.5, **options).fit(X, y)


# -- several metrics, metadata routing, failed candidates' times ---------------------------
# The fits of these tests run on one WorkerPool for the class, as in test_sklearn_suite.py: a
# fit that starts its own workers spends ~5 s on them, one on the pool's well under 1 s.


def c_itself(estimator, X, y):
    """A scorer that prefers a large C."""
    return float(estimator.C)


def minus_c(estimator, X, y):
    """A scorer that prefers a small C."""
    return -float(estimator.C)


def both_cs(estimator, X, y):
    """A callable scoring that gives several metrics."""
    return {"big": float(estimator.C), "small": -float(estimator.C)}


class SlowToFail(SVC):
    """An SVC whose fit takes 0.05 s to fail for C above 5."""

    def fit(self, X, y, sample_weight=None):
        if self.C > 5:
            import time

            time.sleep(0.05)
            raise ValueError(f"C={self.C} is too large")
        return super().fit(X, y, sample_weight)


@pytest.fixture(scope="class")
def worker_pool(ray_cluster):
    from orchestrator import WorkerPool

    with WorkerPool(workers=2) as pool:
        yield pool


@pytest.fixture
def on_pool(worker_pool, monkeypatch):
    from orchestrator.sklearn import search_cv

    monkeypatch.setattr(search_cv, "tune", functools.partial(search_cv.tune, pool=worker_pool))


@pytest.mark.ray
@pytest.mark.usefixtures("on_pool")
class TestOnOnePool:
    def test_multimetric_scoring_gives_randomized_searchs_cv_results(self):
        """A list of metrics, refit by one of them: every column RandomizedSearchCV has
        (per metric, on the test and the training folds), and the best by the refit one."""
        X, y = load_iris(return_X_y=True)
        grid = {"C": [0.01, 0.1, 1.0], "kernel": ["linear", "rbf"]}
        options = {
            "cv": 3,
            "scoring": ["accuracy", "f1_macro"],
            "refit": "f1_macro",
            "return_train_score": True,
        }
        search = SweepSearchCV(SVC(), grid, rounds=1, samples_per_round=6, **options).fit(X, y)
        reference = RandomizedSearchCV(SVC(), grid, n_iter=6, **options).fit(X, y)
        ours, theirs = search.cv_results_, reference.cv_results_
        assert set(ours) == set(theirs) | {"round"}
        assert {"split2_train_f1_macro", "rank_test_accuracy", "std_test_f1_macro"} <= set(ours)
        ours_by, theirs_by = _by_metrics(ours), _by_metrics(theirs)
        assert ours_by.keys() == theirs_by.keys() and len(ours_by) == 6
        for params, scores in theirs_by.items():
            for key, value in scores.items():
                assert np.isclose(ours_by[params][key], value), (params, key)
        assert search.multimetric_ and sorted(search.scorer_) == ["accuracy", "f1_macro"]
        assert search.best_params_ == reference.best_params_
        assert search.best_score_ == reference.best_score_ == ours["mean_test_f1_macro"].max()
        assert search.score(X, y) == reference.score(X, y)  # the refit metric
        # the sweep ranked its trials by the refit metric
        scores = search.result_.table.sort_by("trial_id").column("score").to_pylist()
        assert scores == list(ours["mean_test_f1_macro"])

    @pytest.mark.parametrize(
        ("refit", "ranked"),
        [("small", "small"), (False, "big"), (lambda results: 0, "big")],
        ids=["refit-metric", "refit-false", "refit-callable"],
    )
    def test_the_rounds_narrow_on_the_refit_metric_else_on_the_first(self, refit, ranked):
        X, y = load_iris(return_X_y=True)
        search = SweepSearchCV(
            SVC(),
            {"C": loguniform(1e-2, 1e2)},
            rounds=3,
            samples_per_round=4,
            cv=2,
            scoring={"big": c_itself, "small": minus_c},
            refit=refit,
            random_state=0,
        ).fit(X, y)
        results = search.cv_results_
        c = np.array([p["C"] for p in results["params"]])
        assert np.allclose(results["mean_test_big"], c) and np.allclose(
            results["split1_test_small"], -c
        )
        assert results["rank_test_small"][c.argmin()] == results["rank_test_big"][c.argmax()] == 1
        scores = search.result_.table.sort_by("trial_id").column("score").to_pylist()
        assert np.allclose(scores, results[f"mean_test_{ranked}"])
        # the range narrowed around the ranked metric's best: the smallest C, or the largest
        final = search.result_.final_space["C"]
        if ranked == "small":
            assert final.high < 10 and final.low < 0.1
            assert search.best_params_ == {"C": c.min()} and search.best_score_ == -c.min()
        else:
            assert final.low > 0.1 and final.high > 10
        if refit is False:  # no metric picks a best: nothing is refit (scikit-learn's rule)
            assert not any(hasattr(search, a) for a in ("best_index_", "best_params_"))
            with pytest.raises(AttributeError):
                search.predict(X)
        if callable(refit):
            assert search.best_index_ == 0 and not hasattr(search, "best_score_")

    def test_a_callable_scoring_that_returns_a_dict_is_multimetric(self):
        X, y = load_iris(return_X_y=True)
        options = {"rounds": 1, "samples_per_round": 3, "cv": 2, "scoring": both_cs}
        search = SweepSearchCV(SVC(), {"C": [0.1, 1.0, 10.0]}, refit="small", **options)
        search.fit(X, y)
        assert search.multimetric_ and search.scorer_ is both_cs
        assert {"mean_test_big", "split0_test_small", "rank_test_small"} <= set(search.cv_results_)
        assert search.best_params_ == {"C": 0.1} and search.score(X, y) == -0.1
        with pytest.raises(ValueError, match=r"several metrics \(big, small\), refit must"):
            SweepSearchCV(SVC(), {"C": [0.1, 1.0, 10.0]}, **options).fit(X, y)  # refit=True

    def test_failures_score_error_score_in_every_metric(self):
        from sklearn.exceptions import FitFailedWarning

        X, y = load_iris(return_X_y=True)
        search = SweepSearchCV(
            FailsAboveC(),
            {"C": [1, 10]},
            rounds=1,
            samples_per_round=2,
            cv=3,
            scoring=("accuracy", "f1_macro"),
            refit="accuracy",
            error_score=-1.0,
            return_train_score=True,
        )
        with pytest.warns(FitFailedWarning):
            search.fit(X, y)
        results = search.cv_results_
        failed = [p["C"] == 10 for p in results["params"]].index(True)
        for metric in ("accuracy", "f1_macro"):
            for key in (f"mean_test_{metric}", f"split2_test_{metric}", f"mean_train_{metric}"):
                assert results[key][failed] == -1.0, key
            assert results[f"rank_test_{metric}"][failed] == 2
        assert search.best_params_ == {"C": 1}

    def test_a_failed_candidate_is_timed_until_it_fails_and_scores_in_no_time(self):
        """As scikit-learn records a failed fit: its fit time, and a score time of 0."""
        from sklearn.exceptions import FitFailedWarning

        X, y = load_iris(return_X_y=True)
        search = SweepSearchCV(
            SlowToFail(), {"C": [1, 10]}, rounds=1, samples_per_round=2, cv=3, error_score=0.0
        )
        with pytest.warns(FitFailedWarning):
            search.fit(X, y)
        results = search.cv_results_
        failed = [p["C"] == 10 for p in results["params"]].index(True)
        assert 0.05 <= results["mean_fit_time"][failed] < 1
        assert results["std_fit_time"][failed] == 0
        assert results["mean_score_time"][failed] == results["std_score_time"][failed] == 0
        assert results["mean_score_time"][1 - failed] > 0

    def test_metadata_routing_reaches_the_fits_the_scorers_and_the_splitter(self):
        """With routing enabled, fit's metadata goes where it is requested - the pipeline's
        step, each scorer (under an alias), the splitter - on the workers as in
        RandomizedSearchCV; score's goes to the scorers; unrequested metadata is refused."""
        import sklearn
        from sklearn.datasets import load_diabetes
        from sklearn.exceptions import UnsetMetadataPassedError
        from sklearn.metrics import make_scorer, r2_score
        from sklearn.model_selection import GroupKFold
        from sklearn.utils.metadata_routing import MetadataRouter

        X, y = load_diabetes(return_X_y=True)
        rng = np.random.RandomState(0)
        weights, groups = rng.rand(len(y)), np.arange(len(y)) % 4
        grid = {"ridge__alpha": [0.1, 10.0]}
        with sklearn.config_context(enable_metadata_routing=True):
            pipe = Pipeline(
                [
                    ("scale", StandardScaler().set_fit_request(sample_weight=False)),
                    ("ridge", Ridge().set_fit_request(sample_weight=True)),
                ]
            )
            scoring = {
                "weighted": make_scorer(r2_score).set_score_request(sample_weight="score_weights"),
                "plain": make_scorer(r2_score).set_score_request(sample_weight=False),
            }
            options = {"cv": GroupKFold(n_splits=4), "scoring": scoring, "refit": "weighted"}
            metadata = {"groups": groups, "sample_weight": weights, "score_weights": weights}
            search = SweepSearchCV(pipe, grid, rounds=1, samples_per_round=2, **options)
            search.fit(X, y, **metadata)
            reference = RandomizedSearchCV(pipe, grid, n_iter=2, **options).fit(X, y, **metadata)
            ours, theirs = _by_metrics(search.cv_results_), _by_metrics(reference.cv_results_)
            assert ours.keys() == theirs.keys() and len(ours) == 2
            for params, scores in theirs.items():
                for key, value in scores.items():
                    assert np.isclose(ours[params][key], value), (params, key)
            assert not np.allclose(
                search.cv_results_["mean_test_weighted"], search.cv_results_["mean_test_plain"]
            )
            assert np.allclose(
                search.best_estimator_[-1].coef_, reference.best_estimator_[-1].coef_
            )
            weighted = r2_score(y, search.predict(X), sample_weight=weights)
            assert np.isclose(search.score(X, y, score_weights=weights), weighted)
            assert isinstance(search.get_metadata_routing(), MetadataRouter)
            with pytest.raises(UnsetMetadataPassedError, match="Ridge.fit"):
                SweepSearchCV(Ridge(), {"alpha": [1.0]}).fit(X, y, sample_weight=weights)
            with pytest.raises(TypeError, match="not routed to any object"):
                SweepSearchCV(Ridge(), {"alpha": [1.0]}).fit(X, y, other=1)


def _by_metrics(results):
    """Each candidate's scores of every metric (test and train), by its parameters."""
    keys = [k for k in results if "_test_" in k or "_train_" in k]
    keys = [k for k in keys if not k.startswith("rank_")]
    return {
        tuple(sorted(p.items())): {k: results[k][i] for k in keys}
        for i, p in enumerate(results["params"])
    }
