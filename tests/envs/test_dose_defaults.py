"""Default imaging dose per family: dose density x pixel area, dwell at the family's probe current."""

from __future__ import annotations

import numpy as np
import pytest

import stemscan.scenes as scenes
from stemscan.envs.dose_defaults import DOSE_DEFAULTS, default_acquisition
from stemscan.envs.microscope import ELECTRONS_PER_PA_US
from stemscan.envs.stem_scan_env import STEMScanEnv

from ..conftest import SMALL


@pytest.mark.parametrize("family, kwargs, material", [
    ("lattice-defects", {}, "graphene"),
    ("lattice-defects", {"material": "mos2"}, "mos2"),
    ("ferroelectric-domains", {}, None),
    ("phase-separated", {}, None),
    ("nanoparticles", {}, None),
])
def test_env_default_dose_is_the_family_dose_density_times_pixel_area(family, kwargs, material):
    env = STEMScanEnv(scene=family, scene_kwargs=kwargs, **SMALL)
    pixel = {**scenes.parameters(family), **kwargs}["pixel_size"]
    default = DOSE_DEFAULTS[(family, material)]
    assert env.microscope.electrons_per_pixel == pytest.approx(default.dose_per_a2 * pixel**2)
    assert env.microscope.probe_current_pa == pytest.approx(default.probe_current_pa)


def test_graphene_default_numbers():
    # 5e5 e/Å² on (0.2 Å)² pixels = 2e4 e/px; 30 pA -> 2e4 / (30 * 6.2415) µs
    electrons, dwell = default_acquisition("lattice-defects", {"material": "graphene", "pixel_size": 0.2})
    assert electrons == pytest.approx(2.0e4)
    assert dwell == pytest.approx(2.0e4 / (30 * ELECTRONS_PER_PA_US))


def test_pixel_size_scales_the_dose_per_pixel():
    fine = STEMScanEnv(scene_kwargs={"pixel_size": 0.1}, **SMALL)
    assert fine.microscope.electrons_per_pixel == pytest.approx(5e5 * 0.01)


def test_overrides_are_kept_and_dwell_follows_the_probe_current():
    env = STEMScanEnv(electrons_per_pixel=500.0, **SMALL)
    assert env.microscope.electrons_per_pixel == 500.0
    assert env.microscope.probe_current_pa == pytest.approx(30.0)
    both = STEMScanEnv(electrons_per_pixel=500.0, dwell_time_us=4.0, **SMALL)
    assert both.microscope.dwell_time_us == 4.0


def test_loaded_image_gets_generic_dose(tmp_path):
    path = tmp_path / "image.npy"
    np.save(path, np.random.default_rng(0).random((64, 64)))
    env = STEMScanEnv(scene=scenes.load(path), patch_size=16)
    assert env.microscope.electrons_per_pixel == 500.0 and env.microscope.dwell_time_us == 4.0


@pytest.mark.parametrize("value", ["500", True, [500]])
def test_bad_dose_types_are_named(value):
    with pytest.raises(ValueError, match="electrons_per_pixel"):
        STEMScanEnv(electrons_per_pixel=value, **SMALL)


def test_default_graphene_episode_counts_are_physical():
    env = STEMScanEnv(**SMALL)
    env.reset(seed=100)
    counts = env.microscope.expected_counts(env.scene.image, env.microscope.electrons_per_pixel)
    # mean counts = dose x mean scattered fraction (plus the 0.2 background count)
    assert counts.mean() == pytest.approx(2e4 * env.scene.image.mean() + 0.2, rel=1e-5)
    assert 2 < counts.mean() < 20  # a few counts per 0.2 Å pixel of graphene at 60 kV


def test_a_scene_file_keeps_its_family_dose(tmp_path):
    from stemscan.scenes.scene_file import save_scene

    scene = scenes.make("lattice-defects", seed=0, size=64, material="mos2")
    env = STEMScanEnv(scene=scenes.load(save_scene(scene, tmp_path / "mos2.h5")), patch_size=16)
    assert env.microscope.electrons_per_pixel == pytest.approx(1e5 * 0.2**2)
