"""Objectives with known behaviour, importable by the Ray workers as tests.objectives."""

from __future__ import annotations

import math
from dataclasses import dataclass

OPT_X = 0.3
OPT_LR = 1e-3


def shifted_bowl(config):
    """Minimum 0 at x=0.3, lr=1e-3 (log scale); act 'b' is better than 'a'; n is ignored.

    Both numeric terms are scaled to their range (x in [0, 1], lr over four decades).
    """
    loss = (config["x"] - OPT_X) ** 2 + ((math.log10(config["lr"]) - math.log10(OPT_LR)) / 4) ** 2
    loss += 0.0 if config["act"] == "b" else 0.05
    return {"score": loss, "x_seen": config["x"]}


def flaky(config):
    """Raises for x > 0.7, NaN for x < 0.1, a string for 0.1 <= x < 0.15; else a score."""
    x = config["x"]
    if x > 0.7:
        raise ValueError(f"x too large: {x:.3f}")
    if x < 0.1:
        return float("nan")
    if x < 0.15:
        return "not a number"
    return (x - 0.4) ** 2


def misleading_fidelity(config, budget):
    """Low budgets point to x=0.8, the full budget (100) to x=0.2 (minimum 0 there)."""
    w = math.log(budget) / math.log(100)
    return (config["x"] - (0.8 * (1 - w) + 0.2 * w)) ** 2 + 0.1 * (1 - w)


def slow_bowl(config):
    """shifted_bowl, 30 ms a trial: slow enough to be killed mid-round."""
    import time

    time.sleep(0.03)
    return shifted_bowl(config)


def sleepy_bowl(config):
    """shifted_bowl, 0.2 s a trial: long enough for every worker to start and take some."""
    import time

    time.sleep(0.2)
    return shifted_bowl(config)


class DiesOnce:
    """shifted_bowl, but the first attempt at x > 0.8 kills its worker process (os._exit).

    A marker file per configuration (in ``markers``) remembers the first attempt.
    """

    def __init__(self, markers):
        self.markers = str(markers)

    def __call__(self, config):
        import hashlib
        import os
        from pathlib import Path

        if config["x"] > 0.8:
            marker = Path(self.markers) / hashlib.sha1(repr(config).encode()).hexdigest()
            if not marker.exists():
                marker.write_text("died here once")
                os._exit(1)
        return shifted_bowl(config)


def always_dies_above(config):
    """Kills its worker every time x > 0.9; otherwise (x - 0.3) ** 2."""
    import os

    if config["x"] > 0.9:
        os._exit(1)
    return (config["x"] - OPT_X) ** 2


def hangs_above(config):
    """Hangs (sleeps 60 s) when x > 0.85; otherwise (x - 0.3) ** 2."""
    import time

    if config["x"] > 0.85:
        time.sleep(60)
    return (config["x"] - OPT_X) ** 2


class _Unpicklable(Exception):
    def __init__(self, lock):
        super().__init__("carries a lock")
        self.lock = lock

    def __reduce__(self):
        raise TypeError("cannot pickle this exception")


def bad_outputs(config):
    """A different kind of bad output per region of x (and fine scores elsewhere)."""
    import threading

    import numpy as np

    x = config["x"]
    cases = [
        lambda: None,
        lambda: "0.5",
        lambda: float("nan"),
        lambda: float("inf"),
        lambda: np.array([1.0, 2.0]),
        lambda: {"loss": 1.0},
        lambda: (_ for _ in ()).throw(_Unpicklable(threading.Lock())),
        lambda: (_ for _ in ()).throw(SystemExit(3)),
    ]
    k = int(x * 10)
    return cases[k]() if k < len(cases) else x


def pid_bowl(config):
    """shifted_bowl, with the worker's process id as a metric."""
    import os

    return {**shifted_bowl(config), "pid": os.getpid()}


def pid_line(config):
    """A different objective (minimum at x = 1), with the worker's process id."""
    import os

    return {"score": -config["x"], "pid": os.getpid()}


def _refuse_to_load(message):
    raise RuntimeError(message)


class LoadsNowhere:
    """An objective that fails to unpickle on a worker (like one whose module is missing)."""

    def __call__(self, config):
        return config["x"]

    def __reduce__(self):
        return (_refuse_to_load, ("this objective cannot be loaded here",))


def echo_x(config):
    """The score is x itself (40 ms a trial): any row whose score is not its x is mislabelled."""
    import time

    time.sleep(0.04)
    return config["x"]


def echo_x_budget(config, budget):
    """1000 * x + budget (40 ms a trial): a row's score names its configuration and budget."""
    import time

    time.sleep(0.04)
    return 1000.0 * config["x"] + budget


def _load_slowly(marker_dir, seconds):
    """Unpickled on a worker: say so with a marker file, then take ``seconds`` to load."""
    import os
    import time
    from pathlib import Path

    if marker_dir:
        (Path(marker_dir) / f"loading-{os.getpid()}").write_text("loading")
    time.sleep(seconds)
    return shifted_bowl


class LoadsSlowly:
    """shifted_bowl, but a worker takes a minute to load it (the driver does not).

    Unpickling on the worker sleeps, so the coordinator waits for its workers without
    polling for a stop; the marker folder comes from SWEEP_TEST_MARKERS on the driver.
    """

    def __call__(self, config):
        return shifted_bowl(config)

    def __reduce__(self):
        import os

        return (_load_slowly, (os.environ.get("SWEEP_TEST_MARKERS", ""), 60.0))


loads_slowly = LoadsSlowly()


def continuing_bowl(config, budget, state):
    """Trains ``budget`` epochs in total, continuing from ``state`` (the epochs done so far):
    the score depends only on the configuration and the budget, so a continued run and a
    restarted one score alike; ``trained`` says how many epochs this call trained."""
    done = 0 if state is None else int(state["epochs"])
    return {
        "score": (config["x"] - 0.3) ** 2 + 1.0 / budget,
        "trained": budget - done,
        "state": {"epochs": budget, "weights": [config["x"]] * 4},
    }


def restarting_bowl(config, budget):
    """:func:`continuing_bowl` for an objective that cannot continue: trains from scratch."""
    return {"score": (config["x"] - 0.3) ** 2 + 1.0 / budget, "trained": float(budget)}


@dataclass(frozen=True)
class DiesOnceContinuing:
    """:func:`continuing_bowl` whose worker dies (``os._exit``) the first time it is handed a
    state, as if its node were lost mid-trial; ``marker`` records that it happened."""

    marker: str

    def __call__(self, config, budget, state):
        import os

        if state is not None and not os.path.exists(self.marker):
            with open(self.marker, "w") as f:
                f.write(str(config["x"]))
            os._exit(1)
        return continuing_bowl(config, budget, state)


def conditional_bowl(config):
    """A space with conditions: ``degree`` only for kernel 'poly', ``gamma`` for 'rbf' and
    'poly', ``coef`` only where ``degree`` is 3 (a nested condition). Raises if a
    configuration carries a parameter that is inactive, or lacks an active one."""
    kernel = config["kernel"]
    expected = {"kernel", "c"}
    if kernel in ("rbf", "poly"):
        expected.add("gamma")
    if kernel == "poly":
        expected.add("degree")
        if config.get("degree") == 3:
            expected.add("coef")
    if set(config) != expected:
        raise ValueError(
            f"kernel {kernel}: got parameters {sorted(config)}, want {sorted(expected)}"
        )
    loss = (config["c"] - 0.5) ** 2
    if kernel == "rbf":
        loss += (math.log10(config["gamma"]) + 2) ** 2
    elif kernel == "poly":
        loss += 0.1 + (math.log10(config["gamma"]) + 1) ** 2 + 0.05 * abs(config["degree"] - 3)
        loss += (config.get("coef", 0.5) - 0.5) ** 2
    else:
        loss += 0.5
    return loss
