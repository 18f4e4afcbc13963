"""Painting feature labels: bands, disks, fixed-length segments, records.

Long objects (grain boundaries, domain walls, interfaces, particle edges)
are cut into pieces of a fixed length so that every feature is compact
(it fits in a scan patch of about 32 pixels) and the reward counts how much
of the object was seen, not whether one pixel of it was.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from stemscan.scenes.base import Feature

__all__ = ["region_boundaries", "cut_into_segments", "paint_disks", "features_from_labels"]


def region_boundaries(regions: np.ndarray, half_width: float) -> np.ndarray:
    """Pixels within ``half_width`` of a boundary between two regions.

    Args:
        regions: Integer (H, W) region map (e.g. grains, domains, phases).
        half_width: Half width of the band, pixels (>= 0.5).

    Returns:
        bool (H, W) band mask.
    """
    edge = np.zeros(regions.shape, dtype=bool)
    down = regions[1:, :] != regions[:-1, :]
    right = regions[:, 1:] != regions[:, :-1]
    edge[1:, :] |= down
    edge[:-1, :] |= down
    edge[:, 1:] |= right
    edge[:, :-1] |= right
    # separable square dilation (fast); its half side 0.85 * grow gives about a disk's area
    grow = int(round(0.85 * (half_width - 0.5)))
    if grow > 0:
        band = edge.view(np.uint8)
        band = ndimage.maximum_filter1d(band, 2 * grow + 1, axis=0)
        band = ndimage.maximum_filter1d(band, 2 * grow + 1, axis=1)
        edge = band.astype(bool)
    return edge


def cut_into_segments(mask: np.ndarray, length: float, rng: np.random.Generator) -> np.ndarray:
    """Cut the pixels of ``mask`` (thin bands) into pieces about ``length`` long.

    Seeds are spread along the band at a spacing of about ``length`` (one
    candidate per grid cell of side ``length``, thinned to a minimum spacing
    of ``0.85 * length``), and every band pixel goes to its nearest seed.
    Pieces smaller than a quarter of the typical piece are merged into a
    neighbour, or dropped when none is near.

    Args:
        mask: bool (H, W) band pixels.
        length: Target piece length along the band, pixels (> 2).
        rng: Random generator (grid offset and thinning order).

    Returns:
        int32 (H, W): 0 off the band, ``1..n`` one id per piece.
    """
    if not length > 2:
        raise ValueError(f"segment length must be > 2 pixels, got {length}")
    out = np.zeros(mask.shape, dtype=np.int32)
    points = np.argwhere(mask)
    if len(points) == 0:
        return out
    offset = rng.uniform(0, length, size=2)
    cells = np.floor((points + offset) / length).astype(np.int64)
    key = cells[:, 0] * (1 << 20) + cells[:, 1]
    centres = (cells + 0.5) * length - offset
    dist2 = ((points - centres) ** 2).sum(axis=1)
    order = np.lexsort((dist2, key))
    first = np.ones(len(order), dtype=bool)
    first[1:] = key[order][1:] != key[order][:-1]
    seeds = points[order[first]].astype(np.float64)
    seeds = _thin(seeds, 0.85 * length, rng)
    tree = cKDTree(seeds)
    distance, owner = tree.query(points)
    counts = np.bincount(owner, minlength=len(seeds))
    band_width = max(1.0, len(points) / max(1.0, len(seeds) * length))
    small = counts < 0.25 * length * band_width
    if small.any() and (~small).any():
        big = np.flatnonzero(~small)
        distance, nearest = cKDTree(seeds[big]).query(points)
        owner = big[nearest]
    keep = distance <= 2.0 * length
    # renumber in order of first appearance (row-major), for stable ids
    used, new_ids = np.unique(owner[keep], return_inverse=True)
    out[points[keep, 0], points[keep, 1]] = (new_ids + 1).astype(np.int32)
    del used
    return out


def _thin(points: np.ndarray, spacing: float, rng: np.random.Generator) -> np.ndarray:
    """Greedy Poisson-disk thinning of ``points`` (random visiting order)."""
    if len(points) <= 1:
        return points
    tree = cKDTree(points)
    neighbours = tree.query_ball_point(points, spacing)
    removed = np.zeros(len(points), dtype=bool)
    keep = np.zeros(len(points), dtype=bool)
    for index in rng.permutation(len(points)):
        if removed[index]:
            continue
        keep[index] = True
        removed[neighbours[index]] = True
    return points[keep]


def paint_disks(labels: np.ndarray, centres: np.ndarray, radius: float, first_id: int) -> np.ndarray:
    """Paint disks with ids ``first_id, first_id + 1, ...`` into ``labels`` in place.

    Args:
        labels: int32 (H, W) label image, modified in place.
        centres: (N, 2) ``(row, col)`` centres, pixels.
        radius: Disk radius, pixels.
        first_id: Id of the first disk.

    Returns:
        ``labels``.
    """
    height, width = labels.shape
    r = int(np.ceil(radius))
    dr, dc = np.mgrid[-r : r + 1, -r : r + 1]
    inside = dr**2 + dc**2 <= radius**2
    dr, dc = dr[inside], dc[inside]
    centres = np.rint(np.asarray(centres, dtype=np.float64).reshape(-1, 2)).astype(np.int64)
    if len(centres) == 0:
        return labels
    rows = centres[:, 0, None] + dr[None, :]
    cols = centres[:, 1, None] + dc[None, :]
    ids = np.broadcast_to(np.arange(first_id, first_id + len(centres), dtype=np.int32)[:, None], rows.shape)
    keep = (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    labels[rows[keep], cols[keep]] = ids[keep]
    return labels


def features_from_labels(
    labels: np.ndarray,
    kinds: Sequence[str],
    weights: Sequence[float],
    min_pixels: int = 4,
) -> tuple[np.ndarray, list[Feature]]:
    """Renumber a painted label image contiguously and build the feature records.

    Ids whose pixels were painted over (fewer than ``min_pixels`` left) are
    removed; the rest keep their relative order.

    Args:
        labels: int32 (H, W), ids ``0..M`` (0 = background).
        kinds: Kind of each id ``1..M`` (``kinds[k - 1]``).
        weights: Weight of each id ``1..M``.
        min_pixels: Smallest footprint kept, pixels.

    Returns:
        ``(labels, features)`` with ids ``1..K`` and centroids of the pixels.
    """
    n = len(kinds)
    if len(weights) != n:
        raise ValueError("kinds and weights must have one entry per label id")
    index = np.flatnonzero(labels)
    flat = labels.ravel()[index]
    rows, cols = np.divmod(index, labels.shape[1])
    counts = np.bincount(flat, minlength=n + 1)[: n + 1]
    sum_r = np.bincount(flat, weights=rows, minlength=n + 1)[: n + 1]
    sum_c = np.bincount(flat, weights=cols, minlength=n + 1)[: n + 1]
    kept = np.flatnonzero(counts[1:] >= min_pixels) + 1
    remap = np.zeros(n + 1, dtype=np.int32)
    remap[kept] = np.arange(1, len(kept) + 1, dtype=np.int32)
    new_labels = np.zeros(labels.shape, dtype=np.int32)
    new_labels.ravel()[index] = remap[flat]
    features = [
        Feature(
            id=new_id,
            kind=str(kinds[old - 1]),
            centroid=(float(sum_r[old] / counts[old]), float(sum_c[old] / counts[old])),
            weight=float(weights[old - 1]),
        )
        for new_id, old in enumerate(kept, start=1)
    ]
    return new_labels.astype(np.int32, copy=False), features
