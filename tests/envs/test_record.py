"""The compiled step bookkeeping against a plain numpy reference."""

from __future__ import annotations

import numpy as np
import pytest

from stemscan.envs.discovery import DiscoveryTracker
from stemscan.envs.microscope import Microscope
from stemscan.envs.overview import CoarseGrid
from stemscan.envs.record import record_patch


@pytest.mark.parametrize("max_entries", [1 << 16, 40])  # the whole table; a short one, the rest in closed form
def test_record_patch_matches_numpy_reference(max_entries):
    rng = np.random.default_rng(0)
    shape, size, p = (96, 80), 12, 16  # cells of 8 × 6.67 pixels: uneven edges
    grid = CoarseGrid(shape, size)
    microscope = Microscope()
    table = microscope.normalisation_table(500.0, 0.4, max_entries=max_entries)
    background, inverse = np.float32(microscope.background_counts), np.float32(1.0 / (500.0 * 0.4))
    labels = rng.integers(0, 6, size=shape).astype(np.int32)
    survey = rng.random((size, size)).astype(np.float32).astype(np.float64)
    stamp = rng.integers(0, 7, size=shape).astype(np.uint16)  # stamps of earlier episodes: not scanned in this one
    episode = 7
    measured = rng.random(shape).astype(np.float32)  # stale values of earlier episodes, never read
    scanned = np.zeros(shape, dtype=bool)
    label_scanned = np.zeros(6, dtype=np.int64)
    sums = np.zeros((2, size, size))
    sums[0] = survey * grid.area
    u8 = np.zeros((2, size, size), dtype=np.uint8)
    for _ in range(40):  # overlapping patches: new and re-scanned pixels
        r0, c0 = int(rng.integers(0, shape[0] - p + 1)), int(rng.integers(0, shape[1] - p + 1))
        counts = rng.poisson(150.0, size=(p, p)) * (rng.random((p, p)) < 0.9)
        expected_patch = microscope.normalise(counts, 500.0, 0.4)
        new_before = ~scanned[r0 : r0 + p, c0 : c0 + p]
        expected_new = int(new_before.sum())
        expected_labels = label_scanned + np.bincount(labels[r0 : r0 + p, c0 : c0 + p][new_before], minlength=6)
        patch = np.empty((p, p), dtype=np.float32)
        n_new = record_patch(counts, table, background, inverse, r0, c0, patch, stamp, episode, measured, labels, label_scanned,
                             survey, grid.row_cell, grid.col_cell, grid.scale_255, sums, u8)  # fmt: skip
        scanned[r0 : r0 + p, c0 : c0 + p] = True
        assert np.array_equal(stamp == episode, scanned)
        assert n_new == expected_new
        assert np.array_equal(patch, expected_patch)
        assert np.array_equal(label_scanned, expected_labels)
        assert np.array_equal(measured[r0 : r0 + p, c0 : c0 + p], expected_patch)
        n_scanned = grid.block_sum(scanned, 0, size, 0, size)
        overview = grid.block_sum(np.where(scanned, measured, 0), 0, size, 0, size) + survey * (grid.area - n_scanned)
        assert np.array_equal(sums[0], overview) and np.array_equal(sums[1], n_scanned)
        touched = np.zeros((size, size), dtype=bool)
        touched[grid.row_cell[r0] : grid.row_cell[r0 + p - 1] + 1, grid.col_cell[c0] : grid.col_cell[c0 + p - 1] + 1] = True
        fresh = np.rint(sums * grid.scale_255)
        assert np.array_equal(u8[:, touched], fresh[:, touched])


def test_tracker_update_and_collect_report_each_feature_once():
    labels = np.zeros((4, 6), dtype=np.int32)
    labels[:, :2], labels[:, 4:] = 1, 2  # two features of 8 pixels each
    tracker = DiscoveryTracker(labels, np.array([0.0, 1.0, 2.0]), threshold=0.5)
    left = np.zeros((4, 6), dtype=bool)
    left[:2, :3] = True  # 4 pixels of feature 1: half of it
    assert tracker.update(labels[left], np.ones(int(left.sum()), dtype=bool)).tolist() == [1]
    assert tracker.update(labels[left], np.ones(int(left.sum()), dtype=bool)).size == 0  # never twice
    tracker.scanned[2] += 4  # as the env's compiled step does
    assert tracker.collect().tolist() == [2] and tracker.all_found and tracker.weight_found == 3.0
    with pytest.raises(ValueError, match="labels go up to 2 but there are weights for 1 features"):
        DiscoveryTracker(labels, np.array([0.0, 1.0]))


@pytest.mark.parametrize("electrons", [0.3, 37.0, 5e4])  # counts below the background; mid-range; PTRS means
def test_acquire_survey_matches_normalise_of_the_sampled_counts(electrons):
    """The compiled survey == Microscope.normalise of ShotNoiseMap.sample's counts, and its coarse maps."""
    from stemscan.envs.bit_generator import rng_address
    from stemscan.envs.record import acquire_survey
    from stemscan.envs.shot_noise import ShotNoiseMap

    microscope, grid = Microscope(), CoarseGrid((96, 80), 12)
    full_scale = 0.5  # below the brightest cells: some clip to 1
    cell_signal = np.random.default_rng(0).random((12, 12))
    noise = ShotNoiseMap(microscope.expected_counts(cell_signal, electrons))
    ours, theirs = np.random.default_rng(5), np.random.default_rng(5)
    want = microscope.normalise(noise.sample(theirs, 0, 0, 12, 12), electrons, full_scale).astype(np.float64)
    survey, sums, maps = np.zeros((12, 12)), np.zeros((2, 12, 12)), np.zeros((2, 12, 12), dtype=np.uint8)
    acquire_survey(*rng_address(ours), noise.mean, noise.row, noise.aux, noise.means, noise.threshold, noise.alias,
                   noise.log_factorial, np.empty((12, 12), dtype=np.int64), np.float32(microscope.background_counts),
                   np.float32(1.0 / (electrons * full_scale)), grid.area, survey, sums, maps)  # fmt: skip
    assert np.array_equal(survey, want)
    assert np.array_equal(sums[0], want * grid.area) and np.array_equal(maps[0], np.rint(want * 255.0).astype(np.uint8))
    assert not sums[1].any() and not maps[1].any()  # nothing scanned yet
    assert ours.random() == theirs.random()  # the same draws taken
    assert 0.0 < want.mean() < 1.0 or electrons < 1.0


def test_tracker_takes_precomputed_needed_pixels_and_checks_them():
    from stemscan.envs.discovery import needed_pixels

    labels = np.array([[0, 1, 1], [2, 2, 2], [0, 0, 3]], dtype=np.int32)
    weights = np.array([0.0, 1.0, 2.0, 0.5])
    needed = needed_pixels(labels, 4, 0.5)
    assert needed.tolist() == [np.iinfo(np.int64).max, 1, 2, 1]
    tracker = DiscoveryTracker(labels, weights, 0.5, needed=needed)
    assert np.array_equal(tracker.needed, DiscoveryTracker(labels, weights, 0.5).needed)
    tracker.scanned[:] = [3, 1, 1, 1]
    assert tracker.collect().tolist() == [1, 3] and needed[1] == 1  # the given array is read, not changed
    with pytest.raises(ValueError, match="needed must be int64 of shape"):
        DiscoveryTracker(labels, weights, 0.5, needed=np.ones(2, dtype=np.int64))
    with pytest.raises(ValueError, match="labels go up to 3"):
        needed_pixels(labels, 3, 0.5)
