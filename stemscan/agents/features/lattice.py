"""Atom-column geometry (torch-free): regions of a probability map, bonds, honeycomb vacancies, grains.

Used by the DCNN atom finder (regions of its segmentation) and by
``dcnn-bo``'s defect descriptor (lattice geometry of the found columns).
Positions are ``(row, col)`` in pixels.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = [
    "bond_length",
    "honeycomb_missing_sites",
    "is_honeycomb",
    "lattice_consistency",
    "match_points",
    "region_centroids",
    "region_peaks",
]


def region_centroids(probability: np.ndarray, threshold: float, min_area: int) -> np.ndarray:
    """Probability-weighted centroids of the connected regions of ``probability > threshold``."""
    mask = probability > threshold
    regions, count = ndimage.label(mask)
    if count == 0:
        return np.zeros((0, 2), dtype=np.float64)
    index = np.arange(1, count + 1)
    areas = ndimage.sum_labels(mask, regions, index)
    centres = np.asarray(ndimage.center_of_mass(probability, regions, index), dtype=np.float64).reshape(-1, 2)
    return centres[areas >= min_area]


def region_peaks(probability: np.ndarray, threshold: float = 0.5, min_area: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Connected regions of ``probability > threshold``: ``(centroids (N, 2), peak probability (N,))``.

    The peak probability is each region's confidence (0.5-1), e.g. to weight
    a count of defect instances.
    """
    mask = probability > threshold
    regions, count = ndimage.label(mask)
    if count == 0:
        return np.zeros((0, 2), dtype=np.float64), np.zeros(0, dtype=np.float64)
    index = np.arange(1, count + 1)
    areas = ndimage.sum_labels(mask, regions, index)
    centres = np.asarray(ndimage.center_of_mass(probability, regions, index), dtype=np.float64).reshape(-1, 2)
    peaks = np.asarray(ndimage.maximum(probability, regions, index), dtype=np.float64).reshape(-1)
    keep = areas >= min_area
    return centres[keep], peaks[keep]


def bond_length(atoms: np.ndarray) -> float | None:
    """Median nearest-neighbour distance of ``atoms`` (N, 2), pixels; ``None`` for fewer than 3 atoms."""
    from scipy.spatial import cKDTree

    atoms = np.asarray(atoms, dtype=np.float64).reshape(-1, 2)
    if len(atoms) < 3:
        return None
    return float(np.median(cKDTree(atoms).query(atoms, k=2)[0][:, 1]))


def honeycomb_missing_sites(
    atoms: np.ndarray, shape: tuple[int, int], bond: float, tolerance: float = 1.3
) -> tuple[np.ndarray, np.ndarray]:
    """Lattice sites of a honeycomb (graphene, projected MoS2) where a column is missing: vacancies, by geometry.

    In a honeycomb every column has three neighbours whose bond vectors sum
    to zero.  A column with exactly two neighbours (within ``tolerance`` ×
    ``bond``) therefore predicts its third neighbour at ``-(b1 + b2)``
    (scaled to one bond); a predicted site that lies inside the image and
    has no column within 0.6 bonds is a vacancy candidate.  Candidates
    closer than 0.8 bonds are merged: a single vacancy in graphene is
    predicted by up to three columns.

    Args:
        atoms: (N, 2) column positions ``(row, col)``, pixels.
        shape: ``(H, W)`` of the image the atoms come from.
        bond: Bond (nearest-neighbour) length, pixels.
        tolerance: Neighbours lie within ``tolerance × bond``.

    Returns:
        ``(sites (K, 2), support (K,))``: merged vacancy sites and how many
        columns predicted each.
    """
    from scipy.spatial import cKDTree

    atoms = np.asarray(atoms, dtype=np.float64).reshape(-1, 2)
    empty = np.zeros((0, 2), dtype=np.float64), np.zeros(0, dtype=np.int64)
    if len(atoms) < 3 or not bond > 0:
        return empty
    tree = cKDTree(atoms)
    pairs = tree.query_pairs(tolerance * bond, output_type="ndarray")
    neighbours: list[list[int]] = [[] for _ in range(len(atoms))]
    for i, j in pairs:
        neighbours[i].append(int(j))
        neighbours[j].append(int(i))
    height, width = shape
    candidates = []
    for i, near in enumerate(neighbours):
        if len(near) != 2:
            continue
        total = (atoms[near] - atoms[i]).sum(axis=0)
        norm = float(np.hypot(*total))
        if norm < 0.3 * bond:  # the two bonds are (nearly) opposite: not a honeycomb corner
            continue
        site = atoms[i] - total / norm * bond
        if not (0.5 <= site[0] <= height - 1.5 and 0.5 <= site[1] <= width - 1.5):
            continue
        if tree.query(site)[0] > 0.6 * bond:
            candidates.append(site)
    if not candidates:
        return empty
    points = np.array(candidates)
    group = np.arange(len(points))
    for i, j in sorted(cKDTree(points).query_pairs(0.8 * bond)):
        old, new = group[j], group[i]
        group[group == old] = new
    labels = np.unique(group)
    sites = np.array([points[group == g].mean(axis=0) for g in labels])
    support = np.array([int(np.sum(group == g)) for g in labels], dtype=np.int64)
    return sites, support


def lattice_consistency(atoms: np.ndarray, bond: float, tolerance: float = 0.12) -> np.ndarray:
    """Per column, the fraction of the other columns that sit on the image's dominant honeycomb lattice.

    The dominant orientation is the phase of the six-fold bond-orientational
    order of all bonds (undirected, within 1.3 bonds); with the median bond
    length it fixes a honeycomb lattice.  Two columns are *consistent* when
    their difference vector is a lattice vector or a lattice vector ± one
    bond (fractional lattice coordinates within ``tolerance`` of
    ``(0, 0)``, ``(1/3, 1/3)`` or ``(2/3, 2/3)``).  Inside one grain nearly
    all columns agree; where a grain boundary crosses the image the columns
    of the minority grain agree with few others, so a low consistency marks
    the second grain (about 14% of random pairs agree by chance).

    Args:
        atoms: (N, 2) column positions ``(row, col)``, pixels.
        bond: Bond length, pixels.
        tolerance: Largest distance in fractional lattice coordinates.

    Returns:
        ``(N,)`` values in [0, 1]; all ones when fewer than 5 columns or 3
        bonds make the lattice undefined.
    """
    from scipy.spatial import cKDTree

    atoms = np.asarray(atoms, dtype=np.float64).reshape(-1, 2)
    n = len(atoms)
    if n < 5 or not bond > 0:
        return np.ones(n)
    pairs = cKDTree(atoms).query_pairs(1.3 * bond, output_type="ndarray")
    if len(pairs) < 3:
        return np.ones(n)
    bonds = atoms[pairs[:, 1]] - atoms[pairs[:, 0]]
    theta = float(np.angle(np.exp(6j * np.arctan2(bonds[:, 0], bonds[:, 1])).mean())) / 6.0
    length = float(np.median(np.hypot(bonds[:, 0], bonds[:, 1])))
    angles = theta + np.array([0.0, 2.0, 4.0]) * np.pi / 3.0
    deltas = length * np.stack([np.sin(angles), np.cos(angles)], axis=1)  # (row, col) bond vectors
    basis = np.stack([deltas[0] - deltas[1], deltas[0] - deltas[2]], axis=1)
    fractional = (atoms[None, :, :] - atoms[:, None, :]) @ np.linalg.inv(basis).T
    distance = np.full((n, n), np.inf)
    for offset in (0.0, 1.0 / 3.0, 2.0 / 3.0):
        shifted = fractional - offset
        shifted -= np.round(shifted)
        distance = np.minimum(distance, np.hypot(shifted[..., 0], shifted[..., 1]))
    agree = distance < tolerance
    return (agree.sum(axis=1) - 1) / (n - 1)


def match_points(found: np.ndarray, truth: np.ndarray, radius: float) -> tuple[int, float, float]:
    """One-to-one matching of found and true points within ``radius`` pixels (closest pairs first).

    Args:
        found: (N, 2) detected ``(row, col)``.
        truth: (M, 2) true ``(row, col)``.
        radius: Largest matching distance, pixels.

    Returns:
        ``(matches, precision, recall)``; precision (recall) is 1 when
        nothing was found (nothing is true).
    """
    from scipy.spatial import cKDTree

    found = np.asarray(found, dtype=np.float64).reshape(-1, 2)
    truth = np.asarray(truth, dtype=np.float64).reshape(-1, 2)
    matches = 0
    if len(found) and len(truth):
        pairs = cKDTree(found).sparse_distance_matrix(cKDTree(truth), radius, output_type="ndarray")
        order = np.argsort(pairs["v"], kind="stable")
        used_found = np.zeros(len(found), dtype=bool)
        used_truth = np.zeros(len(truth), dtype=bool)
        for i, j in zip(pairs["i"][order], pairs["j"][order]):
            if not used_found[i] and not used_truth[j]:
                used_found[i] = used_truth[j] = True
                matches += 1
    precision = matches / len(found) if len(found) else 1.0
    recall = matches / len(truth) if len(truth) else 1.0
    return matches, precision, recall


def is_honeycomb(atoms: np.ndarray, shape: tuple[int, ...], bond: float) -> bool:
    """Whether the columns away from the image edge have at most three neighbours (median, within 1.3 bonds).

    A honeycomb has three; square (perovskite) or hexagonal lattices have
    four or six.  Vacancies only lower the count, so "at most" is robust to
    them on small patches.
    """
    from scipy.spatial import cKDTree

    if len(atoms) < 5:
        return False
    margin = 1.3 * bond
    height, width = shape
    inner = ((atoms[:, 0] >= margin) & (atoms[:, 0] <= height - 1 - margin)
             & (atoms[:, 1] >= margin) & (atoms[:, 1] <= width - 1 - margin))
    if not inner.any():
        return True  # too few inner columns to tell: assume the geometry of the scene family (honeycomb)
    counts = np.array([len(n) - 1 for n in cKDTree(atoms).query_ball_point(atoms[inner], margin)])
    return bool(np.median(counts) <= 3)
