"""Per-scene tables: computed once per (scene, dose, grid), equal to a fresh computation, dropped with the scene."""

from __future__ import annotations

import gc

import numpy as np

from stemscan.envs import scene_tables as module
from stemscan.envs.microscope import Microscope
from stemscan.envs.overview import CoarseGrid
from stemscan.envs.scene_tables import scene_tables
from stemscan.envs.shot_noise import ShotNoiseMap
from stemscan.scenes import make as make_scene


def test_tables_are_cached_per_dose_and_equal_a_fresh_computation():
    scene = make_scene("nanoparticles", seed=1, size=64)
    grid = CoarseGrid(scene.shape, 16)
    low, high = Microscope(electrons_per_pixel=100.0), Microscope(electrons_per_pixel=1e5)
    a = scene_tables(scene, low, grid)
    assert scene_tables(scene, low, grid) is a and scene_tables(scene, high, grid) is not a
    fresh = ShotNoiseMap(low.expected_counts(scene.image, 100.0))
    for name in ("mean", "row", "aux"):
        assert np.array_equal(getattr(a.noise, name), getattr(fresh, name))
    assert np.array_equal(a.label_area, np.bincount(scene.labels.ravel(), minlength=scene.n_features + 1))
    assert np.array_equal(a.cell_signal, grid.block_mean(scene.image))
    assert a.full_scale == float(scene.image.max())
    key = id(scene)
    del scene
    gc.collect()
    assert key not in module._TABLES  # no tables outlive their scene
