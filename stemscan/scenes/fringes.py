"""Lattice fringes evaluated cheaply on a pixel grid.

A plane wave ``cos(k_r * row + k_c * col + phase)`` is separable into
outer products of 1-D cosines and sines, so a rotated lattice over an
(H, W) window costs a few outer products instead of H*W trigonometric
calls.
"""

from __future__ import annotations

import numpy as np

__all__ = ["plane_wave", "square_lattice"]


def plane_wave(
    rows: np.ndarray, cols: np.ndarray, spacing: float, angle: float, phase: float = 0.0
) -> np.ndarray:
    """``cos(2 pi / spacing * (n . x) + phase)`` on the grid ``rows x cols``.

    Args:
        rows, cols: 1-D pixel coordinates of the window.
        spacing: Fringe (lattice-plane) spacing, pixels.
        angle: Direction of the wave vector, radians from the row axis.
        phase: Phase offset, radians.

    Returns:
        float32 (len(rows), len(cols)).
    """
    k = 2 * np.pi / spacing
    ar = (k * np.cos(angle) * rows + phase).astype(np.float32)
    ac = (k * np.sin(angle) * cols).astype(np.float32)
    return np.outer(np.cos(ar), np.cos(ac)) - np.outer(np.sin(ar), np.sin(ac))


def square_lattice(
    rows: np.ndarray, cols: np.ndarray, spacing: float, angle: float, offset: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """Column-like peaks of a square lattice: ``(1 + cos u)(1 + cos v) / 4`` in [0, 1].

    Args:
        rows, cols: 1-D pixel coordinates of the window.
        spacing: Lattice constant, pixels.
        angle: Lattice rotation, radians.
        offset: Phases of the two waves, radians.
    """
    u = plane_wave(rows, cols, spacing, angle, offset[0])
    v = plane_wave(rows, cols, spacing, angle + np.pi / 2, offset[1])
    return (1 + u) * (1 + v) / 4
