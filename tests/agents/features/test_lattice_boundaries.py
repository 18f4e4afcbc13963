"""Extended defects from column geometry: boundaries and Stone-Wales found, vacancies, edges and other lattices quiet."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from stemscan.agents.features.lattice import bond_length
from stemscan.agents.features.lattice_boundaries import boundary_points
from stemscan.agents.features.site_graph import site_graph
from stemscan.scenes import make as make_scene


def _ids(scene, kind: str) -> list[int]:  # noqa: ANN001
    return [i + 1 for i, f in enumerate(scene.features) if f.kind == kind]


@pytest.mark.parametrize("material", ["graphene", "mos2"])
def test_points_lie_on_the_grain_boundary_and_cover_it(material: str) -> None:
    """Ground-truth columns: every point within 1.5 bonds of the boundary band; most of its segments are hit."""
    scene = make_scene("lattice-defects", seed=11, size=256, material=material, stone_wales_fraction=0.0)
    atoms = np.asarray(scene.atoms)
    bond = bond_length(atoms)
    points, confidence = boundary_points(atoms, scene.shape, bond)
    segments = _ids(scene, "grain-boundary")
    assert len(segments) >= 4 and len(points) >= 4
    distance = ndimage.distance_transform_edt(~np.isin(scene.labels, segments))
    index = np.rint(points).astype(int)
    assert np.all(distance[index[:, 0], index[:, 1]] <= 1.5 * bond)
    hit = [np.any(ndimage.distance_transform_edt(scene.labels != s)[index[:, 0], index[:, 1]] <= 1.5 * bond) for s in segments]
    assert np.mean(hit) >= 0.6
    assert np.all((confidence >= 0.5) & (confidence < 1.0))


def test_stone_wales_defects_are_found_and_point_defects_are_not() -> None:
    """A rotated bond is a knot of irregular sites; single vacancies and dopants leave the lattice regular."""
    scene = make_scene("lattice-defects", seed=12, size=256, material="graphene", grain_boundary=False,
                       stone_wales_fraction=0.004, vacancy_fraction=0.005, dopant_fraction=0.005)
    atoms = np.asarray(scene.atoms)
    bond = bond_length(atoms)
    points, _ = boundary_points(atoms, scene.shape, bond)
    centres = np.array([f.centroid for f in scene.features if f.kind == "stone-wales"])
    assert len(centres) >= 2
    near = np.hypot(*(points[:, None, :] - centres[None, :, :]).transpose(2, 0, 1)) <= 1.5 * bond
    assert near.any(axis=0).mean() >= 0.75  # most rotated bonds found
    assert near.any(axis=1).all()  # and nothing else: not the vacancies, not the dopants


def test_a_lattice_seen_through_sub_scans_has_no_boundaries() -> None:
    """Columns of a pristine lattice inside scattered sub-scans: the predicted sites beyond each edge keep it regular."""
    scene = make_scene("lattice-defects", seed=13, size=256, material="mos2", grain_boundary=False,
                       vacancy_fraction=0.0, dopant_fraction=0.0)
    rng = np.random.default_rng(0)
    mask = np.zeros(scene.shape, dtype=bool)
    for r, c in rng.integers(0, 256 - 40, (12, 2)):
        mask[r : r + 40, c : c + 40] = True
    atoms = np.asarray(scene.atoms)
    index = np.rint(atoms).astype(int).clip(0, 255)
    seen = atoms[mask[index[:, 0], index[:, 1]]]
    for edge in (0.0, 1.0):
        assert len(boundary_points(seen, scene.shape, bond_length(atoms), mask, edge=edge)[0]) == 0


def test_other_lattices_and_scattered_points_report_nothing() -> None:
    """A square lattice or random points are not a honeycomb with defects: no regular reference, no report."""
    rows, cols = np.meshgrid(np.arange(10, 246, 8.0), np.arange(10, 246, 8.0), indexing="ij")
    square = np.stack([rows.ravel(), cols.ravel()], axis=1)
    assert len(boundary_points(square, (256, 256), 8.0)[0]) == 0
    scattered = np.random.default_rng(1).uniform(0, 256, (600, 2))
    assert len(boundary_points(scattered, (256, 256), bond_length(scattered))[0]) == 0


def test_no_lattice_and_bad_arguments() -> None:
    assert len(boundary_points(np.zeros((3, 2)), (64, 64), 5.0)[0]) == 0
    assert len(boundary_points(np.zeros((0, 2)), (64, 64), None)[0]) == 0
    atoms = np.asarray(make_scene("lattice-defects", seed=1, size=96).atoms)
    for name, value in (("min_sites", 0), ("edge", -1.0), ("join", float("nan")), ("spacing", 0.0)):
        with pytest.raises(ValueError, match=name):
            boundary_points(atoms, (96, 96), 7.0, **{name: value})
    with pytest.raises(ValueError, match=r"atoms must have shape \(N, 2\)"):
        boundary_points(np.zeros((10, 3)), (96, 96), 7.0)
    with pytest.raises(ValueError, match="atoms contain NaN"):
        boundary_points(np.full((10, 2), np.nan), (96, 96), 7.0)
    with pytest.raises(ValueError, match="measured mask shape"):
        boundary_points(atoms, (96, 96), 7.0, np.ones((5, 5), dtype=bool))


def test_site_graph_regular_sites_of_a_pristine_honeycomb() -> None:
    scene = make_scene("lattice-defects", seed=2, size=128, material="graphene", grain_boundary=False,
                       vacancy_fraction=0.0, dopant_fraction=0.0, stone_wales_fraction=0.0)
    atoms = np.asarray(scene.atoms)
    graph = site_graph(atoms, scene.shape, bond_length(atoms))
    interior = graph.depth >= 1.0
    assert graph.n_found == len(atoms)
    assert graph.regular[interior].mean() > 0.98
    assert np.all(graph.count[interior & graph.regular] == 3)


def test_a_shared_graph_gives_the_same_answers_and_must_reach_far_enough() -> None:
    """The calibration builds one column graph for both rules: same points and vacancies as when each builds its own."""
    from stemscan.agents.features.column_intensity import dim_sites

    scene = make_scene("lattice-defects", seed=11, size=256, material="mos2")
    atoms = np.asarray(scene.atoms)
    bond = bond_length(atoms)
    graph = site_graph(atoms, scene.shape, bond, reach=2.05)
    for alone, shared in ((boundary_points(atoms, scene.shape, bond), boundary_points(atoms, scene.shape, bond, graph=graph)),
                          (dim_sites(atoms, scene.image, bond), dim_sites(atoms, scene.image, bond, graph=graph))):
        assert all(np.array_equal(a, b) for a, b in zip(alone, shared))
    short = site_graph(atoms, scene.shape, bond, reach=1.3)
    with pytest.raises(ValueError, match="boundary_points needs join"):
        boundary_points(atoms, scene.shape, bond, graph=short)
    with pytest.raises(ValueError, match="dim_sites needs"):
        dim_sites(atoms, scene.image, bond, graph=short)
