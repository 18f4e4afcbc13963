"""The BO core's boundary-search criteria: expected change between neighbours, level-set straddle."""

from __future__ import annotations


import numpy as np
import pytest

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents.features.latents import polar_offset
from stemscan.agents.bo import boundary_straddle, expected_change


def test_expected_change_peaks_at_a_boundary_not_in_unexplored_corners() -> None:
    """A step in the posterior mean scores above a flat but uncertain region."""
    n_rows, n_cols = 4, 6
    mean = np.zeros((n_rows * n_cols, 2))
    mean.reshape(n_rows, n_cols, 2)[:, 3:, 0] = 1.0  # two domains split between columns 2 and 3
    rows, cols = np.divmod(np.arange(n_rows * n_cols), n_cols)
    distance = np.hypot(rows[:, None] - rows[None], cols[:, None] - cols[None])
    covariance = np.stack([0.05 * np.exp(-0.5 * distance**2 / 3.0**2)] * 2)  # smooth: neighbours correlated
    score = expected_change(mean, covariance, n_rows, n_cols).reshape(n_rows, n_cols)
    assert np.allclose(score[:, 2], score.max()) and np.allclose(score[:, 3], score.max())
    assert score[:, [0, 1, 4, 5]].max() < 0.1 * score.max()
    uncertain = np.stack([np.eye(n_rows * n_cols)] * 2)  # independent cells: every change is uncertain
    assert expected_change(np.zeros_like(mean), uncertain, n_rows, n_cols).min() == pytest.approx(4.0)


def test_boundary_straddle_and_polar_offset() -> None:
    # scalar: 1.96 σ − |μ|
    score = boundary_straddle(np.array([[0.0], [1.0]]), np.array([[1.0], [1.0]]), 4, 1.96)
    assert score.tolist() == pytest.approx([1.96, 0.96])
    # vector with 4 classes at 0°, 90°, 180°, 270°: a mean at a class centre has margin |μ| sin 45°,
    # one on the 45° line between two classes has margin 0
    mean = np.array([[1.0, 0.0], [np.sqrt(0.5), np.sqrt(0.5)]])
    score = boundary_straddle(mean, np.zeros((2, 2)), 4, 1.96)
    assert score.tolist() == pytest.approx([-np.sqrt(0.5), 0.0], abs=1e-12)
    with pytest.raises(ValueError, match="mean and variance"):
        boundary_straddle(np.zeros(3), np.zeros(3), 4, 1.0)
    angles = np.deg2rad([10.0, 100.0, 190.0, 280.0, 12.0])
    assert np.rad2deg(polar_offset(angles, 4)) == pytest.approx(10.4, abs=0.5)
    assert polar_offset(np.zeros(0), 4) == 0.0
