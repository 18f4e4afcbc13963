"""Scene generation in memory linear in the field area, with the published scenes unchanged pixel for pixel."""

from __future__ import annotations

import numpy as np
import pytest

import stemscan.scenes as scenes
from stemscan.scenes import domains, ferroelectric_domains, registry


def dense_voronoi_regions(shape, seeds, angle=0.0, faceting=0.0):
    """The former implementation: all (H, W, n_seeds) distances at once (the reference)."""
    height, width = shape
    c, s = np.cos(angle), np.sin(angle)
    rows = np.arange(height, dtype=np.float32)[:, None, None]
    cols = np.arange(width, dtype=np.float32)[None, :, None]
    dr = rows - seeds[:, 0].astype(np.float32)
    dc = cols - seeds[:, 1].astype(np.float32)
    u = np.abs(c * dr - s * dc)
    v = np.abs(s * dr + c * dc)
    distance = (1 - faceting) * np.sqrt(u * u + v * v) + faceting * np.maximum(u, v)
    return np.argmin(distance, axis=2).astype(np.int32)


@pytest.mark.parametrize("block", [1, 97, 1 << 20])
@pytest.mark.parametrize("case", range(6))
def test_blocked_voronoi_equals_the_dense_one(case, block, monkeypatch):
    monkeypatch.setattr(domains, "_BLOCK_ELEMENTS", block)
    rng = np.random.default_rng(case)
    shape = (int(rng.integers(1, 70)), int(rng.integers(1, 70)))
    seeds = rng.uniform(-5, 75, (int(rng.integers(1, 40)), 2))
    angle, faceting = float(rng.uniform(-0.1, 0.1)), float(rng.choice([0.0, 0.85, 1.0]))
    expected = dense_voronoi_regions(shape, seeds, angle, faceting)
    got = domains.voronoi_regions(shape, seeds, angle, faceting)
    assert got.dtype == np.int32 and got.shape == shape
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize(("seed", "size", "params"), [(0, 256, {}), (3, 200, {"domain_size": 12.0}),
                                                     (4, 160, {"symmetry": "rhombohedral"})])
def test_ferroelectric_scene_is_unchanged(seed, size, params, monkeypatch):
    """The scene with the blocked Voronoi step equals, pixel for pixel, the one with the dense step."""
    new = scenes.make("ferroelectric-domains", seed=seed, size=size, **params)
    monkeypatch.setattr(ferroelectric_domains, "voronoi_regions", dense_voronoi_regions)
    old = scenes.make("ferroelectric-domains", seed=seed, size=size, **params)
    np.testing.assert_array_equal(new.image, old.image)
    np.testing.assert_array_equal(new.labels, old.labels)
    assert new.features == old.features
    np.testing.assert_array_equal(new.atoms, old.atoms)


def test_voronoi_memory_does_not_grow_with_the_seeds(monkeypatch):
    """The largest temporary is one block, whatever the number of seeds (tracemalloc peak)."""
    import tracemalloc

    rng = np.random.default_rng(0)
    shape = (256, 256)
    seeds = rng.uniform(0, 256, (400, 2))  # dense: 256 * 256 * 400 * 8 bytes = 210 MB per array
    tracemalloc.start()
    domains.voronoi_regions(shape, seeds, 0.02, 0.85)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 100 * 2**20, peak / 2**20


def test_scene_size_is_bounded():
    with pytest.raises(ValueError, match=f"<= {registry.MAX_SIZE}"):
        scenes.make("nanoparticles", seed=0, size=10**6)
    with pytest.raises(ValueError, match=">= 32"):
        scenes.make("nanoparticles", seed=0, size=10)
