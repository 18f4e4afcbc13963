"""Domain tessellations: region maps, adjacency colouring and triple points."""

from __future__ import annotations

import numpy as np

__all__ = ["voronoi_regions", "colour_regions", "junction_points"]

#: (row, col, seed) distances evaluated at once by :func:`voronoi_regions` (~8 MB per float64 temporary).
_BLOCK_ELEMENTS = 1 << 20


def voronoi_regions(
    shape: tuple[int, int], seeds: np.ndarray, angle: float = 0.0, faceting: float = 0.0
) -> np.ndarray:
    """Nearest-seed region map, optionally faceted along crystal axes.

    The distance is ``(1 - faceting) * L2 + faceting * Linf`` measured in a
    frame rotated by ``angle``; ``faceting`` near 1 gives boundaries along
    the axes and diagonals of that frame (low-index planes).

    Args:
        shape: (H, W) of the map, pixels.
        seeds: (N, 2) ``(row, col)`` seed points, pixels.
        angle: Frame rotation, radians.
        faceting: Weight of the Chebyshev distance, 0-1.

    Returns:
        int32 (H, W) index of the nearest seed.
    """
    height, width = shape
    seeds = np.asarray(seeds, dtype=np.float64).reshape(-1, 2)
    out = np.empty((height, width), dtype=np.int32)
    if height == 0 or width == 0:
        return out
    if len(seeds) == 0:
        raise ValueError("voronoi_regions needs at least one seed")
    c, s = np.cos(angle), np.sin(angle)
    seed_rows = seeds[:, 0].astype(np.float32)
    seed_cols = seeds[:, 1].astype(np.float32)
    cols = np.arange(width, dtype=np.float32)[None, :, None]
    # rows in blocks of about _BLOCK_ELEMENTS (row, col, seed) distances: memory O(H*W), not O(H*W*N);
    # each pixel's distances are computed by the same operations as over the whole field, so the map is identical
    block = max(1, _BLOCK_ELEMENTS // (width * len(seeds)))
    for start in range(0, height, block):
        rows = np.arange(start, min(start + block, height), dtype=np.float32)[:, None, None]
        dr = rows - seed_rows
        dc = cols - seed_cols
        u = np.abs(c * dr - s * dc)
        v = np.abs(s * dr + c * dc)
        distance = (1 - faceting) * np.sqrt(u * u + v * v) + faceting * np.maximum(u, v)
        out[start : start + len(rows)] = np.argmin(distance, axis=2)
    return out


def colour_regions(regions: np.ndarray, n_colours: int, rng: np.random.Generator) -> np.ndarray:
    """Give each region a colour differing from its neighbours where possible.

    Greedy colouring of the region adjacency graph in random order, each
    region taking a random colour not used by already-coloured neighbours
    (any colour if all are used).

    Returns:
        int64 (n_regions,) colour of each region index.
    """
    n = int(regions.max()) + 1
    pairs = np.concatenate([
        np.stack([regions[1:, :].ravel(), regions[:-1, :].ravel()], axis=1),
        np.stack([regions[:, 1:].ravel(), regions[:, :-1].ravel()], axis=1),
    ])
    pairs = np.unique(np.sort(pairs[pairs[:, 0] != pairs[:, 1]], axis=1), axis=0)
    neighbours: list[set[int]] = [set() for _ in range(n)]
    for i, j in pairs:
        neighbours[i].add(int(j))
        neighbours[j].add(int(i))
    colour = np.full(n, -1, dtype=np.int64)
    for region in rng.permutation(n):
        used = {colour[j] for j in neighbours[region] if colour[j] >= 0}
        free = [k for k in range(n_colours) if k not in used] or list(range(n_colours))
        colour[region] = free[rng.integers(len(free))]
    return colour


def junction_points(regions: np.ndarray, min_regions: int = 3, merge_distance: float = 4.0) -> np.ndarray:
    """Points where at least ``min_regions`` different values of ``regions`` meet.

    A 3x3 pixel block holding ``min_regions`` distinct values marks a
    junction; marks closer than ``merge_distance`` pixels are merged.

    Returns:
        float64 (J, 2) ``(row, col)`` junction positions, pixels (block centres).
    """
    height, width = regions.shape
    shifted = [regions[dr : height - 2 + dr, dc : width - 2 + dc] for dr in range(3) for dc in range(3)]
    blocks = np.sort(np.stack(shifted, axis=-1), axis=-1)
    distinct = 1 + (np.diff(blocks, axis=-1) != 0).sum(axis=-1)
    marks = np.argwhere(distinct >= min_regions).astype(np.float64) + 1.0
    if len(marks) == 0:
        return marks.reshape(0, 2)
    merged: list[np.ndarray] = []
    groups: list[list[np.ndarray]] = []
    for point in marks:
        for k, centre in enumerate(merged):
            if np.hypot(*(point - centre)) <= merge_distance:
                groups[k].append(point)
                merged[k] = np.mean(groups[k], axis=0)
                break
        else:
            merged.append(point)
            groups.append([point])
    return np.array(merged)
