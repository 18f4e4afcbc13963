"""Atom-column geometry: point matching, honeycomb vacancies, lattice consistency across grains."""

from __future__ import annotations


import numpy as np
import pytest

from stemscan.agents.features.lattice import match_points


def test_match_points_counts_one_to_one() -> None:
    truth = np.array([[0.0, 0.0], [10.0, 10.0]])
    found = np.array([[0.5, 0.0], [0.0, 0.5], [30.0, 30.0]])
    matches, precision, recall = match_points(found, truth, 2.0)
    assert matches == 1 and precision == pytest.approx(1 / 3) and recall == pytest.approx(0.5)


def _honeycomb(bond: float, angle: float, size: int, offset: float = 0.0) -> np.ndarray:
    """Honeycomb columns (row, col) covering a ``size`` square, bonds of ``bond`` px, rotated by ``angle``."""
    a = bond * np.sqrt(3.0)
    a1 = a * np.array([np.sin(angle), np.cos(angle)])
    a2 = a * np.array([np.sin(angle + np.pi / 3), np.cos(angle + np.pi / 3)])
    delta = (a1 + a2) / 3.0
    n = int(2 * size / a) + 2
    i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    base = i.reshape(-1, 1) * a1 + j.reshape(-1, 1) * a2 + offset
    points = np.concatenate([base, base + delta]) + size / 2
    return points[np.all((points >= 0) & (points <= size - 1), axis=1)]


def test_honeycomb_missing_sites_finds_a_removed_column_only() -> None:
    from stemscan.agents.features.lattice import honeycomb_missing_sites

    atoms = _honeycomb(7.0, 0.3, 48)
    sites, _ = honeycomb_missing_sites(atoms, (48, 48), 7.0)
    interior = np.all((sites > 8) & (sites < 40), axis=1)
    assert not interior.any(), sites  # a perfect lattice has no vacancy away from the edge
    centre = np.argmin(np.sum((atoms - 24.0) ** 2, axis=1))
    removed = atoms[centre]
    sites, support = honeycomb_missing_sites(np.delete(atoms, centre, axis=0), (48, 48), 7.0)
    distance = np.hypot(*(sites - removed).T)
    assert distance.min() < 1.0 and support[np.argmin(distance)] == 3


def test_lattice_consistency_marks_the_second_grain() -> None:
    from stemscan.agents.features.lattice import bond_length, lattice_consistency

    one = _honeycomb(7.0, 0.2, 40)
    assert bond_length(one) == pytest.approx(7.0, rel=1e-6)
    assert np.mean(lattice_consistency(one, 7.0) < 0.5) == 0.0
    other = _honeycomb(7.0, 0.2 + np.deg2rad(18), 40, offset=1.7)
    two = np.concatenate([one[one[:, 1] < 26], other[other[:, 1] >= 26 + 3]])
    consistency = lattice_consistency(two, 7.0)
    minority = two[:, 1] >= 26
    assert np.mean(consistency[minority] < 0.5) > 0.8
    assert np.mean(consistency[~minority] > 0.5) > 0.8
