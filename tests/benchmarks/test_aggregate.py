"""IQM, stratified bootstrap and the oracle-relative metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stemscan.benchmarks.aggregate import add_relative_metrics, iqm, stratified_bootstrap_ci


def test_iqm_hand_computed():
    # n = 8: drop 2 from each end of 1..8 -> mean(3, 4, 5, 6)
    assert iqm([8, 1, 7, 2, 6, 3, 5, 4]) == pytest.approx(4.5)
    # n = 10 with outliers: drop 2 each end -> mean(2, 2, 3, 3, 4, 4)
    assert iqm([-100, 1, 2, 2, 3, 3, 4, 4, 5, 100]) == pytest.approx(3.0)
    # n < 4 keeps everything
    assert iqm([1.0, 2.0, 6.0]) == pytest.approx(3.0)
    assert math.isnan(iqm([]))


def test_iqm_matches_scipy_trim_mean():
    scipy_stats = pytest.importorskip("scipy.stats")
    x = np.random.default_rng(1).normal(size=(5, 13))
    np.testing.assert_allclose(iqm(x, axis=1), scipy_stats.trim_mean(x, 0.25, axis=1))


def test_bootstrap_ci_contains_estimate_and_is_seeded():
    strata = [[1.0, 2.0, 3.0, 4.0], [10.0, 11.0, 12.0]]
    est, low, high = stratified_bootstrap_ci(strata, reps=500, seed=3)
    assert est == pytest.approx(iqm([1, 2, 3, 4, 10, 11, 12]))
    assert low <= est <= high and low < high
    assert stratified_bootstrap_ci(strata, reps=500, seed=3) == (est, low, high)


def test_bootstrap_is_stratified():
    # each resample keeps 4 values of stratum A (all 0) and 4 of B (all 1):
    # the mean is always exactly 0.5, so the CI collapses.
    est, low, high = stratified_bootstrap_ci([[0.0] * 4, [1.0] * 4], statistic="mean", reps=200)
    assert est == low == high == pytest.approx(0.5)


def test_bootstrap_bad_input():
    with pytest.raises(ValueError, match="statistic"):
        stratified_bootstrap_ci([[1.0]], statistic="mode")
    assert all(math.isnan(v) for v in stratified_bootstrap_ci([[]]))


def _row(agent, seed, gain, curve):
    return {"agent": agent, "scene": "s", "env_kwargs": "{}", "seed": seed, "gain": gain, "curve": json.dumps(curve)}


def test_relative_metrics_pair_same_scene_and_seed():
    rows = [
        _row("oracle", 0, 5.0, [[0.01, 0], [0.05, 0.5]]),
        _row("random", 0, 1.0, [[0.01, 0], [0.05, 0.1]]),
        _row("x", 0, 3.0, [[0.01, 0], [0.05, 0.25]]),
        _row("x", 1, 3.0, [[0.01, 0], [0.05, 0.25]]),  # no oracle on seed 1
    ]
    out = {(r["agent"], r["seed"]): r for r in add_relative_metrics(rows)}
    assert out[("x", 0)]["oracle_normalised"] == pytest.approx(0.5)
    assert out[("x", 0)]["oracle_fraction"] == pytest.approx(0.5)
    assert out[("random", 0)]["oracle_normalised"] == 0.0
    assert out[("oracle", 0)]["oracle_fraction"] == 1.0
    assert math.isnan(out[("x", 1)]["oracle_fraction"]) and math.isnan(out[("x", 1)]["oracle_normalised"])
