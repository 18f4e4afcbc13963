"""The column graph of a honeycomb image: which lattice sites are regular, and how deep in the measured area.

Both column-geometry rules of the DCNN analyst start here: vacancies by
column intensity (:mod:`~stemscan.agents.features.column_intensity`) judge
only regular sites, and grain boundaries / Stone-Wales defects by geometry
(:mod:`~stemscan.agents.features.lattice_boundaries`) are clusters of
irregular ones.

**Sites** are the columns found plus the honeycomb sites they predict
where no column was found
(:func:`~stemscan.agents.features.lattice.honeycomb_missing_sites`), so a
single vacancy leaves its neighbours regular.  A site is **regular** when it
has exactly three other sites at 0.75-1.25 bonds, none closer, and its
three bonds are near 120° apart (six-fold bond order ``|mean exp(6iθ)|``
above 0.85, i.e. within ~±13°).  Every pair of sites within ``reach``
bonds is listed once (one ``cKDTree.query_pairs``), so later rules can look
at shells and neighbourhoods without another search.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from stemscan.agents.features.lattice import honeycomb_missing_sites
from stemscan.validation import check_points

__all__ = ["FIRST_SHELL", "MIN_ORDER", "SiteGraph", "site_graph"]

#: Bond lengths, in bonds, at which two sites are first neighbours.
FIRST_SHELL = (0.75, 1.25)
#: Bonds within ~±13° of 120° apart: ``|mean exp(6iθ)|`` of a site's three bonds above this.
MIN_ORDER = 0.85


@dataclass(frozen=True)
class SiteGraph:
    """Sites of a honeycomb image and every pair of them within reach.

    Attributes:
        sites: ``(n, 2)`` positions ``(row, col)``, pixels: the found columns first, then the predicted missing sites.
        n_found: How many of ``sites`` are found columns.
        bond: Nearest-neighbour distance, pixels.
        i, j: ``(m,)`` the pairs within reach, ``i < j``.
        distance: ``(m,)`` pair distances, bonds.
        step: ``(m, 2)`` ``sites[j] − sites[i]``, pixels.
        count: ``(n,)`` first neighbours (0.75-1.25 bonds) of each site.
        close: ``(n,)`` sites closer than 0.75 bonds.
        order: ``(n,)`` complex six-fold bond order: ``mean exp(6iθ)`` over the first neighbours
            (``|order|`` near 1: bonds 120° apart; its angle / 6: the bond directions).
        regular: ``(n,)`` three first neighbours, none closer, ``|order| > MIN_ORDER``.
        depth: ``(n,)`` distance of each site from the nearest unmeasured pixel or the image edge, bonds.
        reach: Pairs are listed up to this distance, bonds.
    """

    sites: np.ndarray
    n_found: int
    bond: float
    i: np.ndarray
    j: np.ndarray
    distance: np.ndarray
    step: np.ndarray
    count: np.ndarray
    close: np.ndarray
    order: np.ndarray
    regular: np.ndarray
    depth: np.ndarray
    reach: float


def site_graph(
    atoms: np.ndarray, shape: tuple[int, int], bond: float | None, measured: np.ndarray | None = None, reach: float = 2.05
) -> SiteGraph | None:
    """The :class:`SiteGraph` of found columns ``atoms`` (``(N, 2)``, pixels) in an image of ``shape``.

    Args:
        atoms: Found column positions ``(row, col)``, pixels.
        shape: ``(H, W)`` of the image.
        bond: Nearest-neighbour distance, pixels.
        measured: ``bool`` (H, W) mask of measured pixels (``None``: all).
        reach: Pairs are listed up to this distance, bonds (at least the first shell).

    Returns:
        The graph, or ``None`` when there is no lattice to speak of (no
        bond, or fewer than 7 columns).
    """
    atoms = check_points("atoms", atoms)
    if bond is None or not bond > 0 or len(atoms) < 7:
        return None
    mask = np.ones(shape, dtype=bool) if measured is None else np.asarray(measured, dtype=bool)
    if mask.shape != tuple(shape):
        raise ValueError(f"measured mask shape {mask.shape} does not match the image shape {tuple(shape)}")
    missing, _ = honeycomb_missing_sites(atoms, shape, bond)
    sites = np.concatenate([atoms, missing])
    n = len(sites)
    reach = max(float(reach), FIRST_SHELL[1])
    pairs = cKDTree(sites).query_pairs(reach * bond, output_type="ndarray")
    i, j = pairs[:, 0], pairs[:, 1]
    step = sites[j] - sites[i]
    distance = np.hypot(step[:, 0], step[:, 1]) / bond
    first = (distance >= FIRST_SHELL[0]) & (distance <= FIRST_SHELL[1])
    both = np.concatenate([i[first], j[first]])
    count = np.bincount(both, minlength=n)
    close = np.bincount(np.concatenate([i, j])[np.tile(distance < FIRST_SHELL[0], 2)], minlength=n)
    phase = np.tile(np.exp(6j * np.arctan2(step[first, 0], step[first, 1])), 2)  # six-fold: same from either end
    order = (np.bincount(both, phase.real, n) + 1j * np.bincount(both, phase.imag, n)) / np.maximum(count, 1)
    regular = (count == 3) & (close == 0) & (np.abs(order) > MIN_ORDER)
    inside = ndimage.distance_transform_edt(np.pad(mask, 1, constant_values=False))[1:-1, 1:-1]
    index = np.clip(np.rint(sites).astype(np.int64), 0, np.array(shape) - 1)
    depth = inside[index[:, 0], index[:, 1]] / bond
    return SiteGraph(sites, len(atoms), float(bond), i, j, distance, step, count, close, order, regular, depth, reach)
