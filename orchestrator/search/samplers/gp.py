"""The Gaussian-process model the guided sampler ranks its candidates with.

A GP (constant x Matern 5/2 with one length scale per input, plus white noise) is fitted
to the trials' features and scores, and independent draws of the latent function at the
candidates are returned: Thompson sampling, one draw per configuration to pick. The
fitted white noise is left out of the draws, so a rugged objective still ranks candidates
by the model rather than by independent noise.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np


def load() -> None:
    """Import the Gaussian-process code now (about 1.5 s the first time), so the first
    guided round does not pay for it while the workers wait."""
    import sklearn.gaussian_process  # noqa: F401


# The model is fitted on the planning thread, beside the caller's code: it must raise no
# warning, and this code does not silence one with warnings.catch_warnings, which swaps the
# filters of the whole process (undoing, on leaving, whatever another thread set
# meanwhile). Its two warnings are scikit-learn's convergence notes, neither a failure
# here: L-BFGS stopping at its iteration limit, and a fitted hyperparameter on its bound
# (pure noise takes the length scales to the top; a flat score the noise to the bottom).
# scikit-learn's own input checks still enter brief catch_warnings blocks inside fit and
# predict; nothing here can change that, and the coordinator waits for this thread before
# the sweep returns, so none of it runs on into the caller's code.


def _lbfgs(
    objective: Callable[[np.ndarray], tuple[float, np.ndarray]],
    initial: np.ndarray,
    bounds: np.ndarray,
) -> tuple[np.ndarray, float]:
    """The optimizer scikit-learn uses by default, the same call, without its warning."""
    from scipy.optimize import minimize

    found = minimize(objective, initial, method="L-BFGS-B", jac=True, bounds=bounds)
    return found.x, float(found.fun)


@functools.cache
def _quiet_sum() -> type:
    """scikit-learn's sum of kernels, without the note that a fit ended on a bound."""
    from sklearn.gaussian_process.kernels import Sum

    class QuietSum(Sum):
        def _check_bounds_params(self) -> None:
            pass

    return QuietSum


def posterior_draws(
    x: np.ndarray,
    y: np.ndarray,
    xc: np.ndarray,
    n: int,
    rng: np.random.Generator,
    restarts: int,
) -> np.ndarray:
    """``n`` joint posterior draws of the latent function at the candidates ``xc`` (columns)."""
    from sklearn.gaussian_process import GaussianProcessRegressor
    from sklearn.gaussian_process.kernels import ConstantKernel, Matern, WhiteKernel

    d = x.shape[1]
    kernel = _quiet_sum()(
        ConstantKernel(1.0, (1e-2, 1e2)) * Matern([0.3] * d, (1e-3, 1e2), nu=2.5),
        WhiteKernel(1e-3, (1e-8, 1.0)),
    )
    gp = GaussianProcessRegressor(
        kernel,
        optimizer=_lbfgs,
        normalize_y=True,
        n_restarts_optimizer=restarts,
        random_state=int(rng.integers(2**31 - 1)),
    )
    gp.fit(x, y)
    # Draw the function, not new noisy observations of it: without the fitted white noise on
    # the diagonal, a rugged objective (a large fitted noise) still ranks the candidates by
    # the model instead of by independent noise.
    gp.kernel_ = gp.kernel_.k1
    mean, cov = gp.predict(xc, return_cov=True)
    cov = 0.5 * (cov + cov.T)
    jitter = 1e-9 * max(float(np.mean(np.diag(cov))), 1e-12)
    for _ in range(6):
        try:
            chol = np.linalg.cholesky(cov + jitter * np.eye(cov.shape[0]))
            break
        except np.linalg.LinAlgError:
            jitter *= 100
    else:
        raise np.linalg.LinAlgError("the posterior covariance is not positive definite")
    z = rng.standard_normal((cov.shape[0], n))
    return mean[:, None] + chol @ z


__all__ = ["posterior_draws"]
