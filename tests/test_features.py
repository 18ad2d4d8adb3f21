"""The one encoder of configurations that the guided sampler's model and importance share."""

import numpy as np

from orchestrator.search.features import encode
from orchestrator.search.space import Choice, Float, Int, SearchSpace

SPACE = SearchSpace(
    {"lr": Float(1e-4, 1e-2, log=True), "n": Int(0, 9), "act": Choice(["relu", None, 2])}
)
COLUMNS = {"lr": [1e-4, 1e-3, 1e-2], "n": [0, 4, 9], "act": [None, 2, "relu"]}


def test_numbers_in_the_search_scale_choices_one_hot_and_a_group_per_parameter():
    x, groups = encode(SPACE, COLUMNS)
    assert groups == [[0], [1], [2, 3, 4]]
    assert np.allclose(x[:, 0], [-4, -3, -2])  # log10
    assert np.allclose(x[:, 1], [0.5, 4.5, 9.5])  # an integer at the centre of its cell
    assert x[:, 2:].tolist() == [[0, 1, 0], [0, 0, 1], [1, 0, 0]]  # relu, None, 2


def test_normalised_numbers_sit_on_the_spaces_own_ranges():
    x, _ = encode(SPACE, COLUMNS, normalise=True)
    assert np.allclose(x[:, 0], [0.0, 0.5, 1.0])
    assert np.allclose(x[:, 1], [0.05, 0.45, 0.95])  # cells [0, 1) ... [9, 10) over 0..10
    grown, _ = encode(SPACE, {"lr": [1e-5], "n": [12], "act": ["relu"]}, normalise=True)
    assert grown[0, 0] < 0 and grown[0, 1] > 1  # beyond the range where a range grew
