"""Crystal lattices in projection: honeycomb (graphene, MoS2) and perovskite sites."""

from __future__ import annotations

import numpy as np

__all__ = ["honeycomb_sites", "rotation"]


def rotation(angle: float) -> np.ndarray:
    """2x2 matrix rotating ``(row, col)`` vectors by ``angle`` radians."""
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, -s], [s, c]])


def honeycomb_sites(
    size: int, lattice_px: float, angle: float, offset: np.ndarray, margin: float
) -> tuple[np.ndarray, np.ndarray]:
    """Sites of a projected honeycomb lattice covering a square field.

    Args:
        size: Side of the field, pixels.
        lattice_px: Lattice constant ``a`` (hexagonal Bravais lattice), pixels;
            the nearest-neighbour distance is ``a / sqrt(3)``.
        angle: In-plane rotation, radians.
        offset: (2,) translation of the lattice origin, pixels.
        margin: Keep sites up to this far outside the field, pixels.

    Returns:
        ``(positions, sublattice)``: float64 (N, 2) ``(row, col)`` and int8 (N,)
        sublattice index (0 = A, 1 = B; Mo and S2 in MoS2).
    """
    a1 = np.array([0.0, 1.0]) * lattice_px
    a2 = np.array([np.sqrt(3) / 2, 0.5]) * lattice_px
    basis = np.stack([np.zeros(2), (a1 + a2) / 3])
    half = size / 2 + margin
    n = int(np.ceil(np.sqrt(2) * half / (lattice_px * np.sqrt(3) / 2))) + 2
    i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    cells = i.reshape(-1, 1) * a1 + j.reshape(-1, 1) * a2
    points = (cells[:, None, :] + basis[None, :, :]).reshape(-1, 2)
    sublattice = np.tile(np.array([0, 1], dtype=np.int8), len(cells))
    points = points @ rotation(angle).T + (size / 2) + np.asarray(offset, dtype=np.float64)
    inside = np.all((points >= -margin) & (points <= size - 1 + margin), axis=1)
    return points[inside], sublattice[inside]
