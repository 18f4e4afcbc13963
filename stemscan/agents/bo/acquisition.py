"""Acquisition functions of the BO core: what makes a grid cell worth scanning next.

* target ``"maximum"``: BoTorch's analytic acquisitions on the descriptor's
  GP (:func:`make_acquisition`: UCB, (log) EI, posterior std);
* target ``"change"`` / ``"straddle"``: where a GP-modelled field changes
  (a boundary, e.g. a domain wall): :func:`expected_change` between grid
  neighbours under the joint posterior, or the level-set
  :func:`boundary_straddle` criterion.
"""

from __future__ import annotations

import numpy as np
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import (
    ExpectedImprovement,
    LogExpectedImprovement,
    PosteriorStandardDeviation,
    UpperConfidenceBound,
)
from botorch.models import SingleTaskGP

__all__ = ["ACQUISITIONS", "boundary_straddle", "expected_change", "make_acquisition"]


#: Acquisition names accepted by :func:`make_acquisition` and :class:`BOAgent`.
ACQUISITIONS = ("ucb", "logei", "ei", "explore")


def make_acquisition(model: SingleTaskGP, kind: str, beta: float, best_f: float) -> AcquisitionFunction:
    """The acquisition function ``kind`` on ``model``.

    Args:
        model: A fitted GP.
        kind: ``"ucb"`` (mean + sqrt(beta)·std), ``"logei"`` / ``"ei"``
            ((log) expected improvement over ``best_f``), ``"explore"``
            (posterior standard deviation: pure exploration).
        beta: UCB trade-off (ignored otherwise).
        best_f: Best descriptor value observed so far (EI's incumbent).
    """
    if kind == "ucb":
        return UpperConfidenceBound(model, beta=beta)
    if kind == "logei":
        return LogExpectedImprovement(model, best_f=best_f)
    if kind == "ei":
        return ExpectedImprovement(model, best_f=best_f)
    if kind == "explore":
        return PosteriorStandardDeviation(model)
    raise ValueError(f"unknown acquisition {kind!r}; valid: {', '.join(ACQUISITIONS)}")


def boundary_straddle(mean: np.ndarray, variance: np.ndarray, n_fold: int, kappa: float) -> np.ndarray:
    """Straddle score ``kappa·σ − margin`` of the boundary between classes of a GP-modelled quantity.

    The level-set ("straddle") criterion of Bryan et al. (2005), high where
    the posterior cannot tell on which side of a class boundary a point lies.

    Args:
        mean: (n, 1) posterior mean of a signed scalar whose level is 0, or
            (n, 2) of a unit-vector field ``(cos α, sin α)`` whose classes are
            the ``n_fold`` directions ``α = 2πk / n_fold``.
        variance: Posterior variances, same shape (components independent).
        n_fold: Number of direction classes (>= 2; vector case only).
        kappa: Weight of the uncertainty (1.96: a 95% band around the level).

    Returns:
        ``float64`` (n,): ``kappa·σ − |μ|`` for a scalar; for a vector,
        ``margin`` is the distance from ``μ`` to the nearest decision boundary
        between two neighbouring classes (a line through the origin halfway
        between their directions) and ``σ`` the posterior standard deviation
        across that line.
    """
    mean = np.asarray(mean, dtype=np.float64)
    variance = np.maximum(np.asarray(variance, dtype=np.float64), 0.0)
    if mean.ndim != 2 or mean.shape != variance.shape or mean.shape[1] not in (1, 2):
        raise ValueError(f"mean and variance must both be (n, 1) or (n, 2), got {mean.shape} and {variance.shape}")
    if mean.shape[1] == 1:
        return kappa * np.sqrt(variance[:, 0]) - np.abs(mean[:, 0])
    half = np.pi / n_fold  # half the angle between class directions
    alpha = np.arctan2(mean[:, 1], mean[:, 0])
    offset = np.mod(alpha + half, 2 * half) - half  # from the nearest class direction, in [-half, half)
    edge = alpha - offset + np.where(offset >= 0, half, -half)  # direction of the nearest boundary line
    margin = np.hypot(mean[:, 0], mean[:, 1]) * np.sin(half - np.abs(offset))
    normal = np.stack([-np.sin(edge), np.cos(edge)], axis=1)
    sigma = np.sqrt((variance * normal**2).sum(axis=1))
    return kappa * sigma - margin


def expected_change(mean: np.ndarray, covariance: np.ndarray, n_rows: int, n_cols: int) -> np.ndarray:
    """Per grid cell: the largest expected squared change of a GP-modelled field to a 4-neighbour.

    For neighbouring cells ``i, j`` the difference ``f_i − f_j`` of a
    Gaussian posterior has ``E|f_i − f_j|² = |μ_i − μ_j|² + Σ_k (C_ii + C_jj
    − 2 C_ij)_k`` (summed over the field's components ``k``).  Inside a
    uniform region the posterior mean is flat, and even where it is
    uncertain neighbouring cells are strongly correlated, so the change is
    small; between measured cells of different domains the mean must change
    and the expected change peaks where the posterior places the boundary.
    Unlike a marginal criterion (:func:`boundary_straddle`) it does not
    chase unexplored corners, whose marginal uncertainty is high.

    Args:
        mean: (n_rows · n_cols, d) posterior means, row-major cells.
        covariance: (d, n, n) posterior covariances of each component.
        n_rows, n_cols: Grid shape.

    Returns:
        ``float64`` (n,) scores.
    """
    mean = np.asarray(mean, dtype=np.float64)
    n = n_rows * n_cols
    mean = mean.reshape(n, -1)
    covariance = np.asarray(covariance, dtype=np.float64).reshape(mean.shape[1], n, n)
    grid = np.arange(n).reshape(n_rows, n_cols)
    i = np.concatenate([grid[:, :-1].ravel(), grid[:-1, :].ravel()])
    j = np.concatenate([grid[:, 1:].ravel(), grid[1:, :].ravel()])
    variance = covariance[:, i, i] + covariance[:, j, j] - 2.0 * covariance[:, i, j]
    change = ((mean[i] - mean[j]) ** 2).sum(axis=1) + np.maximum(variance, 0.0).sum(axis=0)
    score = np.zeros(n)
    np.maximum.at(score, i, change)
    np.maximum.at(score, j, change)
    return score
