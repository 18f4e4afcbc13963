"""Each metric against a hand-computed case."""

from __future__ import annotations

import math

import pytest

from stemscan.benchmarks import metrics

# survey at 0.01, discoveries at 0.03 and 0.05, budget 0.1
CURVE = [(0.01, 0.0), (0.02, 0.0), (0.03, 0.25), (0.04, 0.25), (0.05, 1.0)]


def test_found_fraction_and_score_and_gain():
    assert metrics.found_fraction(3, 12) == 0.25
    assert metrics.found_fraction(0, 0) == 0.0
    with pytest.raises(ValueError, match="features_found"):
        metrics.found_fraction(5, 4)
    assert metrics.score_per_mega_electron(6, 2_000_000.0) == pytest.approx(3.0)
    assert metrics.score_per_mega_electron(6, 0.0) == 0.0
    assert metrics.gain(0.5, 0.1) == pytest.approx(5.0)
    with pytest.raises(ValueError, match="dose_fraction"):
        metrics.gain(0.5, -0.1)


def test_curve_at_is_a_step_function():
    assert metrics.curve_at(CURVE, 0.0) == 0.0
    assert metrics.curve_at(CURVE, 0.029) == 0.0
    assert metrics.curve_at(CURVE, 0.03) == 0.25
    assert metrics.curve_at(CURVE, 0.2) == 1.0
    assert list(metrics.curve_at(CURVE, [0.035, 0.05])) == [0.25, 1.0]


def test_discovery_auc_hand_computed():
    # 0.25 on [0.03, 0.05) = 0.005, 1.0 on [0.05, 0.1) = 0.05 -> 0.055 / 0.1
    assert metrics.discovery_auc(CURVE, 0.1) == pytest.approx(0.55)
    # clipped at a smaller x range: 0.25 * 0.01 + 1.0 * 0.0 over 0.04
    assert metrics.discovery_auc(CURVE, 0.04) == pytest.approx(0.25 * 0.01 / 0.04)
    with pytest.raises(ValueError, match="dose_max"):
        metrics.discovery_auc(CURVE, 0.0)
    with pytest.raises(ValueError, match="non-decreasing"):
        metrics.discovery_auc([(0.02, 0.0), (0.01, 0.1)], 0.1)


def test_dose_to_fraction():
    assert metrics.dose_to_fraction(CURVE, 0.5) == pytest.approx(0.05)
    assert metrics.dose_to_fraction(CURVE, 0.25) == pytest.approx(0.03)
    assert math.isnan(metrics.dose_to_fraction(CURVE[:4], 0.9))


def test_oracle_fraction_at_equal_dose():
    agent = [(0.01, 0.0), (0.03, 0.1), (0.04, 0.2)]
    oracle = [(0.01, 0.0), (0.02, 0.3), (0.03, 0.5), (0.05, 0.9)]
    # oracle at the agent's final dose 0.04 is 0.5 -> 0.2 / 0.5
    assert metrics.oracle_fraction_at_equal_dose(agent, oracle) == pytest.approx(0.4)
    assert math.isnan(metrics.oracle_fraction_at_equal_dose(agent, [(0.01, 0.0)]))


def test_oracle_normalised():
    assert metrics.oracle_normalised(3.0, 1.0, 5.0) == pytest.approx(0.5)
    assert metrics.oracle_normalised(1.0, 1.0, 5.0) == 0.0
    assert metrics.oracle_normalised(5.0, 1.0, 5.0) == 1.0
    assert math.isnan(metrics.oracle_normalised(2.0, 1.0, 1.0))


def test_latency_summary_ms():
    summary = metrics.latency_summary_ms([0.001, 0.002, 0.003, 0.004, 0.010])
    assert summary["median"] == pytest.approx(3.0)
    assert summary["mean"] == pytest.approx(4.0)
    assert summary["max"] == pytest.approx(10.0)
    # numpy linear percentile: 0.95 * 4 = 3.8 -> 4 + 0.8 * 6
    assert summary["p95"] == pytest.approx(8.8)
    assert math.isnan(metrics.latency_summary_ms([])["median"])
