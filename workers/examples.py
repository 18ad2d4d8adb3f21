"""Example objectives used by the configs in ``configs/`` and by the benchmarks.

Each takes one configuration dict and returns a score (or a dict with ``score`` and extra
metrics), computed on validation data only.
"""

from __future__ import annotations

import math
import warnings
from functools import lru_cache
from typing import Any


def log_quadratic(config: dict[str, Any]) -> dict[str, float]:
    """A smooth bowl with a known minimum (0 at lr=3e-3, momentum=0.9, layers=3, act=tanh).

    The learning rate enters through log10, as it does in real training; ``act`` adds a
    constant penalty for the worse choice. Returns the loss and a made-up "accuracy" metric.
    """
    loss = (math.log10(config["lr"]) - math.log10(3e-3)) ** 2
    loss += 4.0 * (config["momentum"] - 0.9) ** 2
    loss += 0.05 * (config["layers"] - 3) ** 2
    loss += 0.0 if config["act"] == "tanh" else 0.25
    return {"score": loss, "accuracy": 1.0 / (1.0 + loss)}


def branin(config: dict[str, Any]) -> float:
    """The Branin function on x1 in [-5, 10], x2 in [0, 15]; minimum 0.397887 (three places)."""
    x1, x2 = config["x1"], config["x2"]
    b, c, t = 5.1 / (4 * math.pi**2), 5 / math.pi, 1 / (8 * math.pi)
    return (x2 - b * x1**2 + c * x1 - 6) ** 2 + 10 * (1 - t) * math.cos(x1) + 10


@lru_cache(maxsize=4)
def _digits_split(seed: int) -> tuple:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    x, y = load_digits(return_X_y=True)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=0.25, stratify=y, random_state=seed
    )
    scaler = StandardScaler().fit(x_train)
    return scaler.transform(x_train), scaler.transform(x_val), y_train, y_val


def mlp_digits(config: dict[str, Any]) -> dict[str, float]:
    """Train a small MLP on scikit-learn's digits; score = validation accuracy.

    The split (75% train / 25% validation, stratified, fixed seed) is made once per worker
    process and cached. The test data of a real study stays out of this function entirely.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    x_train, x_val, y_train, y_val = _digits_split(0)
    model = MLPClassifier(
        hidden_layer_sizes=(int(config["hidden"]),),
        alpha=config["alpha"],
        learning_rate_init=config["lr"],
        activation=config["activation"],
        max_iter=int(config.get("epochs", 40)),
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(x_train, y_train)
    return {
        "score": float(model.score(x_val, y_val)),
        "train_accuracy": float(model.score(x_train, y_train)),
    }


def forest_size(config: dict[str, Any]) -> dict[str, float]:
    """Two objectives: a random forest on scikit-learn's digits, its validation ``val_error``
    (1 - accuracy) against its size in tree ``nodes`` (a model to ship small). Returns both;
    a multi-objective sweep minimises both (``objectives: [val_error, nodes]``)."""
    from sklearn.ensemble import RandomForestClassifier

    x_train, x_val, y_train, y_val = _digits_split(0)
    model = RandomForestClassifier(
        n_estimators=int(config["trees"]),
        max_depth=int(config["depth"]),
        max_features=float(config["max_features"]),
        random_state=0,
        n_jobs=1,
    ).fit(x_train, y_train)
    nodes = sum(tree.tree_.node_count for tree in model.estimators_)
    return {"val_error": 1.0 - float(model.score(x_val, y_val)), "nodes": float(nodes)}


def numpy_mlp(config: dict[str, Any], budget: float, state: Any = None) -> dict[str, Any]:
    """A training loop written like a PyTorch one, in numpy: an MLP (one ReLU layer) on the
    digits, trained by minibatch SGD with momentum for ``budget`` epochs in total,
    continuing from ``state`` (its weights, momenta and epochs so far) when promoted.

    Every epoch's minibatch order is seeded by the epoch, so continuing from epoch b to B
    gives exactly the weights of B epochs from scratch: only the cost differs. Score:
    validation accuracy (mode max); ``trained`` is the epochs this call ran.
    """
    import numpy as np

    x_train, x_val, y_train, y_val = _digits_split(0)
    hidden, lr, alpha = int(config["hidden"]), float(config["lr"]), float(config["alpha"])
    if state is None:  # a new model: weights seeded by its width, so runs are repeatable
        rng = np.random.default_rng(hidden)
        params = {
            "w1": rng.normal(0, np.sqrt(2 / x_train.shape[1]), (x_train.shape[1], hidden)),
            "b1": np.zeros(hidden),
            "w2": rng.normal(0, np.sqrt(1 / hidden), (hidden, 10)),
            "b2": np.zeros(10),
        }
        moments = {f"m_{k}": np.zeros_like(v) for k, v in params.items()}
        done = 0
    else:  # load_state_dict
        params = {k: state[k] for k in ("w1", "b1", "w2", "b2")}
        moments = {k: state[k] for k in state if k.startswith("m_")}
        done = int(state["epochs"])
    onehot = np.eye(10)[y_train]
    for epoch in range(done, int(budget)):
        order = np.random.default_rng(epoch).permutation(len(y_train))
        for start in range(0, len(order), 64):
            rows = order[start : start + 64]
            h = np.maximum(x_train[rows] @ params["w1"] + params["b1"], 0.0)
            logits = h @ params["w2"] + params["b2"]
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            d_out = (p - onehot[rows]) / len(rows)
            d_h = (d_out @ params["w2"].T) * (h > 0)
            grads = {
                "w1": x_train[rows].T @ d_h + alpha * params["w1"],
                "b1": d_h.sum(axis=0),
                "w2": h.T @ d_out + alpha * params["w2"],
                "b2": d_out.sum(axis=0),
            }
            for k, g in grads.items():
                moments[f"m_{k}"] = 0.9 * moments[f"m_{k}"] + g
                params[k] = params[k] - lr * moments[f"m_{k}"]
    hidden_val = np.maximum(x_val @ params["w1"] + params["b1"], 0.0)
    predicted = (hidden_val @ params["w2"] + params["b2"]).argmax(axis=1)
    accuracy = float((predicted == y_val).mean())
    if not math.isfinite(accuracy):
        accuracy = 0.0
    return {
        "score": accuracy,
        "trained": float(int(budget) - done),
        "state": {**params, **moments, "epochs": int(budget)},  # state_dict
    }
