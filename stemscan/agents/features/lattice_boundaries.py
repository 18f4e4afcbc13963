"""Extended defects from column geometry: clusters of irregular lattice sites (grain boundaries, Stone-Wales).

Where two grains meet, or a bond is rotated (a Stone-Wales 55-77 defect),
the columns stop forming a regular honeycomb: sites have two or four
neighbours, columns of the two grains crowd together, bonds bend away from
120°.  A microscopist sees such a defect as a chain or knot of misplaced
columns; :func:`boundary_points` finds them the same way, from the column
positions alone (no class probabilities, no material parameters):

1. **Irregular sites** of the :class:`~stemscan.agents.features.site_graph.SiteGraph`
   (not three neighbours at 0.75-1.25 bonds, or one closer, or bonds far
   from 120° apart).  A single vacancy does not count: its predicted site
   keeps its neighbours regular.
2. **Only inside the measured area**: sites less than ``edge`` bonds from an
   unmeasured pixel or the image edge are left out (a column cut by the
   edge of a sub-scan is located off-centre and looks misplaced).
3. **Clusters**: irregular sites closer than ``join`` bonds are linked; a
   connected cluster of at least ``min_sites`` sites is a defect.
4. **Points along it**: a long boundary is reported as several points about
   ``spacing`` bonds apart, taken greedily from the cluster's best-connected
   sites (those with the most cluster members within 1.5 bonds, so on the
   boundary's core rather than its fringe).

Applies to honeycomb projections (graphene, 2H transition-metal
dichalcogenides such as MoS2), whose regular sites have three neighbours:
an image where fewer than half the judged sites are regular (:data:`MIN_REGULAR`:
another lattice, no resolved columns) has no lattice to be irregular
against, and nothing is reported.
"""

from __future__ import annotations

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from stemscan.agents.features.site_graph import SiteGraph, site_graph

__all__ = ["MIN_REGULAR", "boundary_points"]

#: Fewest regular sites, as a fraction of those judged, for an image to count as a honeycomb lattice at all.
MIN_REGULAR = 0.5


def boundary_points(
    atoms: np.ndarray,
    shape: tuple[int, int],
    bond: float | None,
    measured: np.ndarray | None = None,
    min_sites: int = 3,
    edge: float = 1.0,
    join: float = 1.5,
    spacing: float = 3.0,
    graph: SiteGraph | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Points on the extended defects of a honeycomb image (see the module docstring).

    Args:
        atoms: ``(N, 2)`` found column positions ``(row, col)``, pixels.
        shape: ``(H, W)`` of the image the columns were found in.
        bond: Nearest-neighbour distance, pixels (``None`` or ``<= 0``: nothing found).
        measured: ``bool`` (H, W) mask of measured pixels (``None``: all).
        min_sites: Smallest cluster of irregular sites reported (>= 1).
        edge: Sites closer than this to an unmeasured pixel or the edge are not judged, bonds (>= 0).
        join: Irregular sites closer than this are one cluster, bonds (> 0).
        spacing: Distance between the points reported along one cluster, bonds (> 0).
        graph: The :func:`~stemscan.agents.features.site_graph.site_graph` of these
            ``atoms``, ``bond`` and ``measured``, when the caller has one with a reach of
            at least ``join`` bonds (built here otherwise).

    Returns:
        ``(points (K, 2), confidence (K,))``: positions ``(row, col)``, pixels,
        and for each the size of its cluster ``s`` as ``s / (s + min_sites)``
        (bigger knots of disorder first; at least 0.5).
    """
    if isinstance(min_sites, bool) or not isinstance(min_sites, (int, np.integer)) or min_sites < 1:
        raise ValueError(f"min_sites must be an integer >= 1, got {min_sites!r}")
    for name, value, low in (("edge", edge, 0.0), ("join", join, None), ("spacing", spacing, None)):
        ok = isinstance(value, (int, float, np.floating)) and np.isfinite(value) and (value >= low if low is not None else value > 0)
        if not ok:
            raise ValueError(f"{name} must be a finite number {'>= 0' if low is not None else '> 0'}, got {value!r}")
    empty = np.zeros((0, 2)), np.zeros(0)
    if graph is None:
        graph = site_graph(atoms, shape, bond, measured, reach=join)
    elif graph.reach < join:
        raise ValueError(f"graph lists pairs up to {graph.reach} bonds; boundary_points needs join = {join}")
    if graph is None:
        return empty
    n = len(graph.sites)
    judged = graph.depth >= edge
    candidate = ~graph.regular & judged
    if candidate.sum() < min_sites or graph.regular[judged].mean() < MIN_REGULAR:
        return empty
    link = (graph.distance <= join) & candidate[graph.i] & candidate[graph.j]
    adjacency = coo_matrix((np.ones(int(link.sum())), (graph.i[link], graph.j[link])), shape=(n, n))
    _, component = connected_components(adjacency, directed=False)
    sizes = np.bincount(component[candidate], minlength=n)
    points, confidence = [], []
    for cluster in np.flatnonzero(sizes >= min_sites):
        members = graph.sites[candidate & (component == cluster)]
        tree = cKDTree(members)
        connected = tree.query_ball_point(members, 1.5 * graph.bond, return_length=True)
        covered = np.zeros(len(members), dtype=bool)
        for k in np.argsort(-connected, kind="stable"):  # best-connected first; ties in site order
            if covered[k]:
                continue
            points.append(members[k])
            confidence.append(sizes[cluster] / (sizes[cluster] + min_sites))
            covered[tree.query_ball_point(members[k], spacing * graph.bond)] = True
    if not points:
        return empty
    return np.array(points), np.array(confidence)
