"""The env's Poisson sampler: exact distribution, determinism, the draws it takes, bad input."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
from scipy import stats

from stemscan.envs import ENV_ID
from stemscan.envs.shot_noise import PTRS_ROW, TABLE_MAX_MEAN, ShotNoiseMap, alias_tables, log_poisson_pmf, table_means, table_rows
from stemscan.scenes import Scene


def _randomised_pit(counts: np.ndarray, means: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """``F(x − 1) + V · P(x)``: exactly uniform on [0, 1] when each ``x ~ Poisson(mean)``."""
    return stats.poisson.cdf(counts - 1, means) + rng.random(counts.shape) * stats.poisson.pmf(counts, means)


def test_alias_rows_reproduce_the_poisson_pmf():
    means, threshold, alias, log_factorial = alias_tables()
    rows, outcomes = threshold.shape
    assert rows == means.size == 632 and outcomes == 256 and threshold.dtype == np.uint32
    assert means[159] == 10.0 - 1.0 / 16.0 and means[160] == 10.0 and means[-1] + 0.25 == TABLE_MAX_MEAN
    slots = 2**24  # 24 random bits decide keep or alias: a slot value f = 256·n, n < 2²⁴, is kept when f < threshold
    for q in range(rows):
        keep = np.ceil(threshold[q] / 256.0) / slots  # the share of the 2²⁴ values of n with 256·n < threshold
        implied = keep.copy()
        np.add.at(implied, alias[q], 1.0 - keep)
        implied /= outcomes
        expected = stats.poisson.pmf(np.arange(outcomes), means[q]) if q else (np.arange(outcomes) == 0) * 1.0
        np.testing.assert_allclose(implied, expected, rtol=0, atol=1e-9, err_msg=f"row {q}")  # the module's claim
    np.testing.assert_allclose(log_factorial[:200], [math.lgamma(k + 1.0) for k in range(200)], rtol=0, atol=1e-12)


def test_each_mean_gets_the_grid_point_at_or_below_it():
    grid = table_means()
    mean = np.concatenate([grid, np.nextafter(grid[1:], 0.0), grid + 1e-9, [127.999999, 128.0, 128.5, 1e4]])
    q = table_rows(mean.reshape(1, -1)).ravel()
    tabled = q != PTRS_ROW
    assert np.array_equal(tabled, mean < TABLE_MAX_MEAN)
    assert (grid[q[tabled]] <= mean[tabled]).all()
    upper = np.append(grid[1:], TABLE_MAX_MEAN)
    assert (mean[tabled] < upper[q[tabled]]).all()


@pytest.mark.parametrize("mean", [0.0, 0.03, 0.2, 1.0, 5.5, 9.99, 10.0, 10.01, 37.3, 99.9, 127.99, 128.0, 500.0, 1e5, 1e15])
def test_counts_are_poisson_at_fixed_mean(mean):
    counts = ShotNoiseMap(np.full((200, 250), mean)).sample(np.random.default_rng(1), 0, 0, 200, 250).ravel()
    if mean == 0.0:
        assert not counts.any()
        return
    pit = _randomised_pit(counts, mean, np.random.default_rng(2))
    assert stats.kstest(pit, "uniform").pvalue > 1e-3
    assert abs(counts.mean() - mean) < 5 * math.sqrt(mean / counts.size)


def test_counts_are_poisson_on_a_mixed_map():
    """Means spread over both samplers, pixel by pixel, as in a HAADF image."""
    rng = np.random.default_rng(3)
    means = rng.exponential(8.0, size=(300, 300)) + rng.random((300, 300)) * 400.0 * (rng.random((300, 300)) < 0.2)
    noise = ShotNoiseMap(means)
    assert (noise.row == PTRS_ROW).any() and (noise.row >= 0).any()
    counts = noise.sample(rng, 0, 0, 300, 300)
    assert stats.kstest(_randomised_pit(counts, means, rng).ravel(), "uniform").pvalue > 1e-3
    # a sub-region draws from the matching means
    region = noise.sample(rng, 120, 30, 64, 100)
    assert stats.kstest(_randomised_pit(region, means[120:184, 30:130], rng).ravel(), "uniform").pvalue > 1e-3


def test_same_generator_state_same_counts():
    means = np.random.default_rng(4).exponential(12.0, size=(64, 64))
    a = ShotNoiseMap(means).sample(np.random.default_rng(9), 8, 8, 32, 32)
    b = ShotNoiseMap(means).sample(np.random.default_rng(9), 8, 8, 32, 32)
    c = ShotNoiseMap(means).sample(np.random.default_rng(10), 8, 8, 32, 32)
    assert a.dtype == np.int64 and np.array_equal(a, b) and not np.array_equal(a, c)


def test_one_draw_per_tabled_pixel_two_per_ptrs_attempt():
    """The sampler's use of the generator: a tabled pixel takes one 64-bit draw, in pixel order."""
    means = np.random.default_rng(5).random((16, 16)) * 120.0  # every pixel tabled
    ours, twin = np.random.default_rng(6), np.random.default_rng(6)
    ShotNoiseMap(means).sample(ours, 0, 0, 16, 16)
    twin.bit_generator.random_raw(256)
    assert ours.bit_generator.state == twin.bit_generator.state
    # PTRS pixels take an even number of draws (two per attempt), at least two each
    ShotNoiseMap(np.full((4, 4), 500.0)).sample(ours, 0, 0, 4, 4)
    taken = 0
    while ours.bit_generator.state != twin.bit_generator.state:
        twin.bit_generator.random_raw(2)
        taken += 2
        assert taken < 1000
    assert taken >= 32


@pytest.mark.parametrize(
    "mean, match",
    [(np.full((4, 4), np.nan), "finite"), (np.full((4, 4), -1.0), "non-negative"), (np.ones(8), "2-D"),
     (np.full((4, 4), 1e19), "2\\*\\*53")],
)
def test_bad_means(mean, match):
    with pytest.raises(ValueError, match=match):
        ShotNoiseMap(mean)


@pytest.mark.parametrize("region", [(-1, 0, 4, 4), (0, 0, 9, 4), (5, 5, 4, 4)])
def test_region_outside_the_map(region):
    with pytest.raises(ValueError, match="outside"):
        ShotNoiseMap(np.ones((8, 8))).sample(np.random.default_rng(0), *region)


def test_env_patches_carry_poisson_noise():
    """End to end: on a uniform sample the patch values are Poisson counts at the imaging dose, normalised."""
    size, signal = 128, 0.01  # 5 e⁻ per pixel at 500 e⁻/pixel: the tabled sampler
    scene = Scene(
        image=np.full((size, size), signal, dtype=np.float32),
        labels=np.zeros((size, size), dtype=np.int32),
        features=[],
        pixel_size=0.2,
        family="file",
        scored=False,
    )
    env = gym.make(ENV_ID, scene=scene, patch_size=16, dose_budget=1.0, survey=False).unwrapped
    env.reset(seed=0)
    counts = []
    for cell in range(60):
        obs, *_ = env.step(np.array([(cell % 8 + 0.5) / 8, (cell // 8 % 8 + 0.5) / 8], dtype=np.float32))
        counts.append(np.rint(obs["patch"] * 500.0 * signal + env.microscope.background_counts))
    counts = np.concatenate(counts).ravel()  # (values clipped at full scale: at most P(X ≥ 5.2 + …) mass, kept below)
    mean = 500.0 * signal + env.microscope.background_counts
    low = counts[counts < 5]
    assert stats.chisquare(np.bincount(low.astype(int), minlength=5), stats.poisson.pmf(np.arange(5), mean) / stats.poisson.cdf(4, mean) * low.size).pvalue > 1e-3


@pytest.mark.parametrize(
    "region, error",
    [
        ((np.int32(2**31 - 1), 0, 1, 8), ValueError),  # wrapped around in int32 arithmetic before: read outside
        ((np.int8(127), 0, 1, 8), ValueError),
        ((0, np.int8(120), 6, 8), ValueError),
        ((np.int64(2**63 - 1), 0, 1, 8), ValueError),
        ((0, 0, -1, 8), ValueError),
        ((0.0, 0, 1, 8), TypeError),
        ((0, 0, True, 8), TypeError),
    ],
)
def test_region_arguments_are_checked_as_python_integers(region, error):
    noise = ShotNoiseMap(np.arange(48.0).reshape(6, 8))
    with pytest.raises(error):
        noise.sample(np.random.default_rng(1), *region)
    assert noise.sample(np.random.default_rng(1), np.int8(1), np.uint16(2), np.int64(3), 4).shape == (3, 4)


def test_the_map_keeps_its_own_read_only_copy_of_the_means():
    means = np.full((4, 4), 3.0)
    noise = ShotNoiseMap(means)
    means[:] = 1000.0  # the caller's array changes: the sampler's state does not
    assert (noise.mean == 3.0).all() and noise.sample(np.random.default_rng(0), 0, 0, 4, 4).max() < 100
    for array in (noise.mean, noise.row, noise.aux):
        assert not array.flags.writeable


@pytest.mark.parametrize("means", [np.ones((4, 4), dtype=complex), np.zeros((4, 4), dtype="datetime64[s]"), np.full((4, 4), "1.0")])
def test_means_that_are_not_real_numbers_are_refused(means):
    with pytest.raises(ValueError, match="real numbers"):
        ShotNoiseMap(means)


@pytest.mark.parametrize("mean", [1e13, 1e15, 2.0**53])
def test_huge_means_are_still_poisson(mean):
    """PTRS's acceptance test in the saddle-point form: the direct log-density lost ~λ·1e-16 (0.06 at 1e13)."""
    counts = ShotNoiseMap(np.full((1000, 1000), mean)).sample(np.random.default_rng(1), 0, 0, 1000, 1000).ravel()
    z = (counts.astype(np.float64) - mean) / math.sqrt(mean)  # Poisson at these means: normal to ~1e-8
    assert abs(z.mean()) < 0.01 and abs(z.var() - 1.0) < 0.01
    assert abs(np.mean(z**4) - 3.0) < 0.05  # the direct form gave excess kurtosis +0.2 at 1e15
    assert stats.kstest(z, "norm").pvalue > 1e-3


def test_log_poisson_pmf_matches_high_precision_arithmetic():
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    for mean in (128.0, 500.3, 1e4, 1e9, 1e13, 1e15, 2.0**53):
        sd = math.sqrt(mean)
        for offset in (-8.0, -1.0, 0.0, 0.5, 3.0, 8.0):
            k = max(16, int(round(mean + offset * sd)))
            exact = -mpmath.mpf(mean) + k * mpmath.log(mpmath.mpf(mean)) - mpmath.loggamma(k + 1)
            assert abs(log_poisson_pmf(k, mean) - float(exact)) < 1e-9 * max(1.0, abs(float(exact))), (mean, k)
