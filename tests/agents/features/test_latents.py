"""Descriptors of encoded windows: per-patch descriptors, circular angle target, target choice, wall contrast."""

from __future__ import annotations


import numpy as np
import pytest

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents.features.latents import DESCRIPTORS, patch_descriptor


def test_patch_descriptor_kinds() -> None:
    values = np.array([0.0, 1.0, 5.0])
    assert patch_descriptor("outlier", values, 1.0) == 4.0
    assert patch_descriptor("deviation", values, 1.0) == 1.0
    assert patch_descriptor("spread", values, 0.0) == pytest.approx(values.std())
    assert patch_descriptor("mean", values, 0.0) == 2.0
    assert patch_descriptor("similarity", values, 1.0) == -1.0
    assert all(patch_descriptor(kind, np.zeros(0), 0.0) is None for kind in DESCRIPTORS)
    with pytest.raises(ValueError, match="unknown descriptor"):
        patch_descriptor("fancy", values, 0.0)


def test_target_values_treat_the_angle_circularly() -> None:
    from stemscan.agents.features.latents import ANGLE, target_values

    latents = np.array([[np.pi, 0, 0, 0.5], [-np.pi, 0, 0, 0.7]])
    angle = target_values(latents, ANGLE)
    np.testing.assert_allclose(angle[0], angle[1], atol=1e-12)  # π and −π are one direction
    assert target_values(latents, 0).tolist() == [[0.5], [0.7]]


def test_choose_target_picks_the_latent_that_varies_across_patches() -> None:
    from stemscan.agents.features.latents import ANGLE, choose_target

    rng = np.random.default_rng(0)
    # z varies a little between patches, the angle turns by 90° from patch to patch
    patches = [np.column_stack([np.full(3, k * np.pi / 2), np.zeros((3, 2)), 0.1 * k + rng.normal(0, 0.01, 3)])
               for k in range(4)]
    assert choose_target(patches, [0, ANGLE]) == ANGLE
    assert choose_target(patches, [0]) == 0
    assert choose_target(patches[:1], [0, ANGLE]) == 0  # one patch: no spatial variance yet


def test_wall_contrast_is_high_on_both_sides_of_a_boundary() -> None:
    from stemscan.agents.features.latents import wall_contrast

    positions = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0], [0.0, 3.0], [0.0, 9.0]])
    means = np.array([[0.0], [0.0], [1.0], [1.0], [1.0]])  # a boundary between cells 1 and 2
    contrast = wall_contrast(means, np.zeros(5), positions, radius=1.0)
    assert contrast[1] == contrast[2] == contrast.max()
    assert contrast[0] < contrast[1] and contrast[4] < 1e-6
    assert wall_contrast(means[:1], np.array([0.3]), positions[:1], 1.0).tolist() == [0.3]
