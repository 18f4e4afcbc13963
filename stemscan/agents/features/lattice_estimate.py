"""Recognise a perovskite-like two-sublattice crystal in measured sub-scans and estimate its cell (torch-free).

What a microscopist reads off the first images before configuring an
analysis: is there a square lattice of bright columns with a dim column
near each cell centre (a perovskite ABO3 seen along [001], where the dim
B-site column's off-centring is the polarisation), and what is its cell
side in pixels?

The test works on the columns of a few sub-scans
(:func:`~stemscan.agents.features.windows.lattice_columns`): each dim
column's bonds to the bright columns at the corners of its cell are the
samples (all corners, so that a B site's off-centring averages out).  In a
perovskite these bonds run along the cell diagonals, so they share one
length ``d`` and their directions are 4-fold symmetric (the order
parameter ``|<exp(4iθ)>|`` is ~1), and the cell side is ``sqrt(2) d``.
Honeycomb crystals with two sublattices (e.g. MoS2's Mo and S2 columns)
have 3-fold bonds (``|<exp(4iθ)>|`` near 0), and single-sublattice images
have no dim columns at all; neither passes.  Positions are ``(row, col)``
in pixels; angles in radians.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["PerovskiteEstimate", "enough_evidence", "nearest_bright_bonds", "perovskite_lattice"]

#: Bonds to the corners of a dim column's cell: those at most this much longer than its nearest bond.
CORNER_REACH = 1.3
#: Fewest dim columns with bonds on which a verdict is given.
MIN_DIM_COLUMNS = 3
#: Fewest bright-to-dim bonds on which a verdict is given.
MIN_BONDS = 4
#: Bonds within this relative distance of the median length count as one shell.
SHELL_TOLERANCE = 0.2
#: Smallest fraction of bonds in that shell.
MIN_SHELL_FRACTION = 0.75
#: Smallest 4-fold order parameter ``|<exp(4iθ)>|`` of the shell's bond directions.
MIN_FOURFOLD_ORDER = 0.85
#: Bright columns closer than this fraction of the cell side mean the bright
#: sublattice is not the square cell's corners (e.g. a dense honeycomb).
MIN_BRIGHT_SPACING = 0.8
#: Bright columns farther apart than this multiple of the cell side are not
#: the square cell's corners either: a square lattice with dim columns at its
#: edge midpoints has 4-fold bonds of half the side, so the cell "measured"
#: from them is 0.71 of the bright spacing.
MAX_BRIGHT_SPACING = 1.25
#: Fewest bright nearest-neighbour distances on which that spacing test is
#: made: one close pair (a stray detection) in a sub-scan holding a single
#: cell is not evidence against a lattice (cells near the sub-scan's size).
MIN_SPACINGS = 4


@dataclass(frozen=True)
class PerovskiteEstimate:
    """A recognised perovskite-like lattice.

    Attributes:
        lattice_px: Side of the bright sublattice's square cell, pixels.
        n_bonds: Bright-to-dim bonds it rests on.
        fourfold_order: ``|<exp(4iθ)>|`` of their directions (1 = perfectly square).
        bright_spacing_px: Median nearest-neighbour distance of the bright
            columns, pixels, or None when too few were seen to test it.
    """

    lattice_px: float
    n_bonds: int
    fourfold_order: float
    bright_spacing_px: float | None = None


def nearest_bright_bonds(bright: np.ndarray, dim: np.ndarray, reach: float = 1.0) -> np.ndarray:
    """Bonds from bright columns to each dim column: ``float64`` (K, 2) vectors, pixels.

    Each dim column's bond from its nearest bright column, and (``reach`` >
    1) from every bright column at most ``reach`` times as far: the cell
    corners around a B site, whose lengths average out its off-centring.
    """
    bright = np.asarray(bright, dtype=np.float64).reshape(-1, 2)
    dim = np.asarray(dim, dtype=np.float64).reshape(-1, 2)
    if not len(bright) or not len(dim):
        return np.zeros((0, 2), dtype=np.float64)
    vectors = dim[None, :, :] - bright[:, None, :]
    lengths = np.hypot(vectors[..., 0], vectors[..., 1])
    keep = lengths <= reach * lengths.min(axis=0, keepdims=True)
    return vectors.transpose(1, 0, 2)[keep.T]


def _bright_spacing(bright_sets: list[np.ndarray]) -> float | None:
    """Median nearest-neighbour distance between bright columns of the same sub-scan (pixels).

    None when fewer than :data:`MIN_SPACINGS` columns have a neighbour in their sub-scan.
    """
    distances: list[float] = []
    for bright in bright_sets:
        points = np.asarray(bright, dtype=np.float64).reshape(-1, 2)
        if len(points) < 2:
            continue
        gaps = np.hypot(*(points[None, :, :] - points[:, None, :]).transpose(2, 0, 1))
        np.fill_diagonal(gaps, np.inf)
        distances.extend(gaps.min(axis=1).tolist())
    return float(np.median(distances)) if len(distances) >= MIN_SPACINGS else None


def _bonds(columns: list[tuple[np.ndarray, np.ndarray]]) -> tuple[np.ndarray, int]:
    """All corner bonds of the sub-scans' dim columns, and how many dim columns have a bright column to bond to."""
    bonds = np.concatenate([nearest_bright_bonds(b, d, CORNER_REACH) for b, d in columns] or [np.zeros((0, 2))])
    return bonds, sum(len(d) for b, d in columns if len(b))


def enough_evidence(columns: list[tuple[np.ndarray, np.ndarray]]) -> bool:
    """Whether the columns hold enough bonds for :func:`perovskite_lattice`'s verdict (either way) to count."""
    bonds, n_dim = _bonds(columns)
    return len(bonds) >= MIN_BONDS and n_dim >= MIN_DIM_COLUMNS


def perovskite_lattice(columns: list[tuple[np.ndarray, np.ndarray]]) -> PerovskiteEstimate | None:
    """Decide from sub-scans' columns whether the crystal is perovskite-like, and its cell side.

    Args:
        columns: Per sub-scan, ``(bright, dim)`` column positions (N, 2) /
            (M, 2) in that sub-scan's pixels.

    Returns:
        The estimate, or ``None`` when the columns do not show a square
        bright sublattice with a dim column at each cell centre (or there
        are fewer than :data:`MIN_DIM_COLUMNS` dim columns or
        :data:`MIN_BONDS` bonds to tell).
    """
    if not enough_evidence(columns):
        return None
    bonds, _ = _bonds(columns)
    lengths = np.hypot(bonds[:, 0], bonds[:, 1])
    typical = float(np.median(lengths))
    if typical <= 0:
        return None
    shell = np.abs(lengths - typical) <= SHELL_TOLERANCE * typical
    if shell.sum() < MIN_BONDS or shell.mean() < MIN_SHELL_FRACTION:
        return None
    directions = np.arctan2(bonds[shell, 0], bonds[shell, 1])
    order = float(np.abs(np.mean(np.exp(4j * directions))))
    if order < MIN_FOURFOLD_ORDER:
        return None
    lattice_px = float(np.sqrt(2.0) * np.mean(lengths[shell]))  # the mean over corners cancels the off-centring
    spacing = _bright_spacing([b for b, _ in columns])
    if spacing is not None and not MIN_BRIGHT_SPACING * lattice_px <= spacing <= MAX_BRIGHT_SPACING * lattice_px:
        return None
    return PerovskiteEstimate(lattice_px=lattice_px, n_bonds=int(shell.sum()), fourfold_order=order, bright_spacing_px=spacing)
