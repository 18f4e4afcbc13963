"""What the labels claim is in the image: vacancies, dopants, clustering, walls."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

import stemscan.scenes as scenes
from stemscan.scenes.lattice_defects import MATERIALS


def _peak(image: np.ndarray, point) -> float:
    """Largest pixel value within 1 px of ``point``."""
    r, c = np.rint(point).astype(int)
    return float(image[max(r - 1, 0) : r + 2, max(c - 1, 0) : c + 2].max())


@pytest.mark.parametrize("material", ["graphene", "mos2"])
def test_vacancy_is_missing_column_and_dopant_is_brighter(material):
    scene = scenes.make("lattice-defects", seed=5, size=256, material=material, vacancy_fraction=0.01,
                        dopant_fraction=0.01, grain_boundary=False)
    tree = cKDTree(scene.atoms)
    bond = MATERIALS[material].lattice_constant / scene.pixel_size / np.sqrt(3)
    kinds = scene.feature_kinds()
    assert kinds.count("vacancy") >= 3 and kinds.count("dopant") >= 3
    for feature in scene.features:
        site = np.array(feature.centroid)
        neighbours = [i for i in tree.query_ball_point(site, 1.3 * bond) if np.hypot(*(scene.atoms[i] - site)) > 0.5 * bond]
        assert neighbours, feature
        around = np.median([_peak(scene.image, scene.atoms[i]) for i in neighbours])
        if feature.kind == "vacancy":
            assert _peak(scene.image, site) < 0.7 * around
        elif feature.kind == "dopant":
            assert _peak(scene.image, site) > 1.5 * around
            assert scene.atom_classes[tree.query(site)[1]] == 1


def test_vacancy_has_no_host_atom_graphene():
    scene = scenes.make("lattice-defects", seed=2, size=256, vacancy_fraction=0.01, grain_boundary=False)
    tree = cKDTree(scene.atoms)
    for feature in scene.features:
        if feature.kind == "vacancy":
            assert tree.query(feature.centroid)[0] > 2.0


def _mean_nn_distance(points: np.ndarray) -> float:
    distance, _ = cKDTree(points).query(points, k=2)
    return float(distance[:, 1].mean())


def test_clustering_parameter_changes_spatial_distribution():
    ratios = {}
    for clustering in (0.0, 1.0):
        distances = []
        for seed in range(4):
            scene = scenes.make("lattice-defects", seed=seed, size=384, clustering=clustering)
            points = np.array([f.centroid for f in scene.features if f.kind in ("vacancy", "dopant")])
            distances.append(_mean_nn_distance(points))
        ratios[clustering] = np.mean(distances)
    assert ratios[1.0] < 0.8 * ratios[0.0]


def test_clustered_defects_sit_near_grain_boundary():
    near = {}
    for clustering in (0.0, 1.0):
        d = []
        for seed in range(3):
            scene = scenes.make("lattice-defects", seed=seed, size=384, clustering=clustering)
            boundary = np.array([f.centroid for f in scene.features if f.kind == "grain-boundary"])
            points = np.array([f.centroid for f in scene.features if f.kind in ("vacancy", "dopant")])
            d.append(np.median(cKDTree(boundary).query(points)[0]))
        near[clustering] = np.mean(d)
    assert near[1.0] < near[0.0]


def _domain_sides(scene):
    """B-site displacement from the centre of its four A-site neighbours, per B site."""
    a = scene.atoms[scene.atom_classes == 0]
    b = scene.atoms[scene.atom_classes == 1]
    distance, index = cKDTree(a).query(b, k=4)
    ok = distance.max(axis=1) < 0.8 * scene.params["lattice_constant"] / scene.pixel_size
    return b[ok], b[ok] - a[index[ok]].mean(axis=1)


def test_ferroelectric_walls_are_subtle_in_image_but_recoverable():
    scene = scenes.make("ferroelectric-domains", seed=1, size=384)
    sites, shift = _domain_sides(scene)
    shift_pm = shift * scene.pixel_size * 100
    magnitude = np.hypot(*shift_pm.T)
    assert 8 < np.median(magnitude) < 25  # ~15 pm default
    # different domains have clearly different displacement directions
    directions = np.rint(shift_pm / 15).astype(int)
    assert len({tuple(d) for d in directions if abs(d).sum() == 1}) >= 2
    # ... which the image encodes: centre of mass of each B column (fit from the image) follows it
    image = scene.image.astype(np.float64)
    half = 4
    rows = np.arange(-half, half + 1)
    com = []
    for r, c in np.rint(sites).astype(int):
        if half <= r < image.shape[0] - half and half <= c < image.shape[1] - half:
            window = image[r - half : r + half + 1, c - half : c + half + 1]
            window = window - window.min()
            com.append((np.sum(window.sum(1) * rows) / window.sum(), np.sum(window.sum(0) * rows) / window.sum(),
                        r, c))
    com = np.array(com)
    fitted = com[:, :2] + com[:, 2:]
    true = sites[[np.argmin(np.hypot(*(sites - p).T)) for p in com[:, 2:]]]
    assert np.median(np.hypot(*(fitted - true).T)) < 0.4  # sub-pixel recovery of the shifted column
    # but the raw image barely changes: B-column shift moves little signal relative to the atom contrast
    a_peak = scene.image.max()
    b_amp = np.median([_peak(scene.image, s) for s in sites])
    assert b_amp < 0.25 * a_peak


def test_ferroelectric_image_difference_between_domains_is_small():
    base = scenes.make("ferroelectric-domains", seed=2, size=256, displacement=0.0)
    polar = scenes.make("ferroelectric-domains", seed=2, size=256)
    difference = np.abs(polar.image - base.image).max()
    assert difference < 0.06 * polar.image.max()


def test_junctions_where_three_domains_meet():
    found = 0
    for seed in range(3):
        scene = scenes.make("ferroelectric-domains", seed=seed, size=768)
        walls = np.array([f.centroid for f in scene.features if f.kind == "domain-wall"])
        for f in scene.features:
            if f.kind == "wall-junction":
                found += 1
                assert np.sum(np.hypot(*(walls - f.centroid).T) < 48) >= 2
    assert found >= 1


def test_phase_interfaces_separate_contrast():
    scene = scenes.make("phase-separated", seed=0, size=256)
    from scipy import ndimage

    smooth = ndimage.uniform_filter(scene.image.astype(np.float64), 16)
    for feature in scene.features:
        r, c = np.rint(feature.centroid).astype(int)
        window = smooth[max(r - 20, 0) : r + 21, max(c - 20, 0) : c + 21]
        assert window.max() - window.min() > 0.01


def test_nanoparticle_junctions_between_particles():
    scene = scenes.make("nanoparticles", seed=1, size=384, aggregation=0.8)
    kinds = scene.feature_kinds()
    assert "junction" in kinds
    background = np.median(scene.image)
    for feature in scene.features:
        r, c = np.rint(feature.centroid).astype(int)
        if feature.kind == "junction":
            assert feature.weight == 2.0
            assert scene.image[r, c] > background
        else:
            assert feature.weight == 0.25
