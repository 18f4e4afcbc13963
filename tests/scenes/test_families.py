"""Scene families: determinism, label/feature consistency, parameters."""

from __future__ import annotations

import numpy as np
import pytest

import stemscan.scenes as scenes

FAMILIES = scenes.names()
SIZE = 192


@pytest.fixture(scope="module", params=FAMILIES)
def family(request):
    return request.param


@pytest.fixture(scope="module")
def scene(family):
    return scenes.make(family, seed=3, size=SIZE)


def test_all_families_registered():
    assert set(FAMILIES) == {"lattice-defects", "ferroelectric-domains", "phase-separated", "nanoparticles"}


def test_deterministic_per_seed(family, scene):
    again = scenes.make(family, seed=3, size=SIZE)
    np.testing.assert_array_equal(scene.image, again.image)
    np.testing.assert_array_equal(scene.labels, again.labels)
    assert [f.to_dict() for f in scene.features] == [f.to_dict() for f in again.features]


def test_different_seeds_differ(family, scene):
    other = scenes.make(family, seed=4, size=SIZE)
    assert not np.array_equal(scene.image, other.image)


def test_signal_convention(scene):
    assert scene.image.dtype == np.float32 and scene.image.shape == (SIZE, SIZE)
    assert scene.image.min() >= 0 and scene.image.max() < 1
    assert 1e-4 < float(scene.image.mean()) < 0.3  # scattered fraction: 2.5e-4 (graphene) to ~0.05 (oxides)
    assert scene.labels.dtype == np.int32
    assert scene.scored


def test_features_match_labels(scene):
    assert scene.n_features > 0
    counts = np.bincount(scene.labels.ravel(), minlength=scene.n_features + 1)
    assert len(counts) == scene.n_features + 1
    for feature in scene.features:
        rows, cols = np.nonzero(scene.labels == feature.id)
        assert 4 <= len(rows) <= 2000, (feature.kind, len(rows))
        assert rows.min() <= feature.centroid[0] <= rows.max()
        assert cols.min() <= feature.centroid[1] <= cols.max()
        # compact: fits within about two 32-pixel patches
        assert rows.max() - rows.min() < 64 and cols.max() - cols.min() < 64
        assert feature.weight > 0 and feature.kind


def test_default_size_feature_count(family):
    scene = scenes.make(family, seed=0, size=512)
    assert 15 <= scene.n_features <= 100


def test_atoms_for_atomic_families(family, scene):
    if family in ("lattice-defects", "ferroelectric-domains"):
        assert scene.atoms.shape[1] == 2 and len(scene.atoms) == len(scene.atom_classes)
        assert np.all((scene.atoms >= -0.5) & (scene.atoms <= SIZE - 0.5))
        assert set(np.unique(scene.atom_classes)) <= {0, 1}


def test_unknown_parameter_lists_valid(family):
    with pytest.raises(ValueError, match="valid parameters"):
        scenes.make(family, seed=0, size=64, no_such_param=1)


@pytest.mark.parametrize(
    "family, params, name",
    [
        ("lattice-defects", {"material": "gold"}, "material"),
        ("lattice-defects", {"vacancy_fraction": -0.1}, "vacancy_fraction"),
        ("lattice-defects", {"clustering": 2.0}, "clustering"),
        ("lattice-defects", {"material": "mos2", "stone_wales_fraction": 0.001}, "stone_wales_fraction"),
        ("lattice-defects", {"dopant_z": 3}, "dopant_z"),
        ("lattice-defects", {"pixel_size": "0.2"}, "pixel_size"),
        ("ferroelectric-domains", {"displacement": -5.0}, "displacement"),
        ("ferroelectric-domains", {"pattern": "checkerboard"}, "pattern"),
        ("ferroelectric-domains", {"symmetry": "cubic"}, "symmetry"),
        ("phase-separated", {"volume_fraction": 0.9}, "volume_fraction"),
        ("phase-separated", {"pattern": "lamellar"}, "pattern"),
        ("nanoparticles", {"aggregation": 1.5}, "aggregation"),
        ("nanoparticles", {"diameter": float("nan")}, "diameter"),
    ],
)
def test_parameter_validation(family, params, name):
    with pytest.raises(ValueError, match=name):
        scenes.make(family, seed=0, size=64, **params)


@pytest.mark.parametrize("bad", [{"name": "nope"}, {"seed": -1}, {"seed": 1.5}, {"size": 8}, {"size": 64.0}])
def test_make_validation(bad):
    kwargs = {"name": "lattice-defects", "seed": 0, "size": 64, **bad}
    with pytest.raises(ValueError):
        scenes.make(kwargs.pop("name"), **kwargs)


@pytest.mark.parametrize(
    "family, params",
    [
        ("lattice-defects", {"material": "mos2", "clustering": 0.0, "grain_boundary": False}),
        ("ferroelectric-domains", {"pattern": "stripes", "symmetry": "rhombohedral"}),
        ("phase-separated", {"pattern": "spinodal"}),
        ("nanoparticles", {"aggregation": 1.0, "coverage": 0.3}),
    ],
)
def test_variants_build(family, params):
    scene = scenes.make(family, seed=1, size=256, **params)
    assert scene.n_features > 0
    assert scene.params == {**scene.params, **params}


def test_gallery(tmp_path):
    from stemscan.scenes.gallery import save_gallery

    out = tmp_path / "gallery.png"
    save_gallery(str(out), seed=0, size=128)
    assert out.stat().st_size > 10_000
    assert [p.name for p in tmp_path.iterdir()] == ["gallery.png"]
