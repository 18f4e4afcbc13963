"""Vacancies from column intensities: lattice sites darker than their own sublattice, with a false-alarm rate.

A vacancy in a honeycomb projection (graphene, 2H-MoS2) is a lattice site
whose column is missing (a C or Mo vacancy: no signal) or lighter (an S2
column that lost one S: roughly half the S2 signal).  Microscopists find
both by comparing each column's intensity with columns of the same kind;
:func:`dim_sites` does this without knowing the material:

1. **Sites**: the columns found plus the honeycomb sites they predict where
   no column was found
   (:func:`~stemscan.agents.features.lattice.honeycomb_missing_sites`).
2. **Only where the lattice is regular**: a site is judged only when every
   site within ``neighbourhood`` bonds of it (itself included) has exactly
   three others at 0.75-1.25 bonds, none closer, bonds near 120° apart
   and the same bond directions within 7° (one grain): grain boundaries,
   dislocation cores, a Stone-Wales bond, spurious columns in a hexagon
   and the edge of the measured area are skipped, not reported.
3. **Reference of its own kind**: in a honeycomb the six second neighbours
   (at √3 bonds) sit on the site's own sublattice (Mo for Mo, S2 for S2),
   in the same environment of neighbouring tails; the reference is their
   median intensity, read from the image smoothed over ``smoothing`` bonds.
   ``deficit = (reference − intensity) / reference``.
4. **Noise from the image itself**: sites are split by reference level
   into one or two kinds (two when a 1-D two-means split differs by more
   than 1.5×, as Mo and S2 do); within each, the spread of the deficit over
   the judged sites (1.4826 × median absolute deviation) is the noise,
   ``z = (deficit − median) / spread``.
5. **A false-alarm budget**: a site is a vacancy when ``deficit >
   min_deficit`` and ``z`` exceeds the one-sided normal quantile at which
   ``false_alarms`` false detections are expected over all judged sites of
   the image (Bonferroni): ~3.6 σ for 600 sites at 0.1.

No parameter depends on the material: dose, sublattice brightness and
background enter through the image's own statistics.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy.stats import norm

from stemscan.agents.features.site_graph import SiteGraph, site_graph

__all__ = ["dim_sites"]

#: A site's second neighbours on a honeycomb lie at √3 ≈ 1.73 bonds; this window excludes the third shell (2 bonds).
_SECOND_SHELL = (1.5, 1.9)
#: Neighbouring sites' bond directions agree within 7° (six-fold phase within 42°): no second grain nearby.
_MAX_TWIST = np.deg2rad(6 * 7.0)


def dim_sites(
    atoms: np.ndarray,
    image: np.ndarray,
    bond: float | None,
    measured: np.ndarray | None = None,
    false_alarms: float = 0.1,
    min_deficit: float = 0.1,
    smoothing: float = 0.2,
    neighbourhood: float = 2.05,
    graph: SiteGraph | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Honeycomb sites whose column is missing or lighter than its sublattice's (see the module docstring).

    Args:
        atoms: ``(N, 2)`` found column positions ``(row, col)``, pixels.
        image: The 2D image the columns were found in (any units, brighter = more signal).
        bond: Nearest-neighbour distance, pixels (``None`` or ``<= 0``: nothing found).
        measured: ``bool`` mask of measured pixels (``None``: all); sites within
            2.5 bonds of an unmeasured pixel or the edge are not judged.
        false_alarms: Expected false detections per image (> 0).
        min_deficit: Smallest fractional intensity deficit reported (0-1).
        smoothing: Gaussian smoothing of the image, bonds.
        neighbourhood: Radius, bonds, within which the lattice must be regular.
        graph: The :func:`~stemscan.agents.features.site_graph.site_graph` of these
            ``atoms``, ``bond`` and ``measured``, when the caller has one with a reach of
            at least ``max(neighbourhood, 1.9)`` bonds (built here otherwise).

    Returns:
        ``(sites (K, 2), confidence (K,))``: the vacancy sites and, for each,
        ``1 − n · P(Z > z)`` with ``n`` the sites judged: one minus the false
        detections expected at its ``z`` or beyond (≥ ``1 − false_alarms``).
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"image must be 2-D, got shape {image.shape}")
    if not false_alarms > 0 or not 0.0 <= min_deficit < 1.0:
        raise ValueError(f"false_alarms must be > 0 and min_deficit in [0, 1), got {false_alarms!r}, {min_deficit!r}")
    empty = np.zeros((0, 2)), np.zeros(0)
    reach = max(neighbourhood, _SECOND_SHELL[1])
    if graph is None:
        graph = site_graph(atoms, image.shape, bond, measured, reach)
    elif graph.reach < reach:
        raise ValueError(f"graph lists pairs up to {graph.reach} bonds; dim_sites needs {reach}")
    if graph is None:
        return empty
    sites, i, j, distance, order, regular = graph.sites, graph.i, graph.j, graph.distance, graph.order, graph.regular
    n = len(sites)
    judged = regular & (graph.depth >= 2.5)
    near = distance <= neighbourhood  # one grain: every site nearby regular, with the same bond directions
    twisted = np.abs(np.angle(order[i[near]] * np.conj(order[j[near]]))) >= _MAX_TWIST
    spoilt = np.zeros(n, dtype=bool)
    spoilt[i[near][twisted | ~regular[j[near]]]] = True
    spoilt[j[near][twisted | ~regular[i[near]]]] = True
    judged &= ~spoilt
    candidates = np.flatnonzero(judged)
    if len(candidates) < 10:
        return empty
    mask = np.ones(image.shape, dtype=bool) if measured is None else np.asarray(measured, dtype=bool)
    smooth = ndimage.gaussian_filter(np.where(mask, image, 0.0), smoothing * bond)
    value = ndimage.map_coordinates(smooth, sites.T, order=1, mode="nearest")
    shell = (distance >= _SECOND_SHELL[0]) & (distance <= _SECOND_SHELL[1])
    owner = np.concatenate([i[shell], j[shell]])
    other = np.concatenate([j[shell], i[shell]])
    sort = np.argsort(owner, kind="stable")
    owner, other = owner[sort], other[sort]
    size = np.bincount(owner, minlength=n)
    slot = np.arange(len(owner)) - np.repeat(np.cumsum(size) - size, size)
    table = np.full((n, max(int(size.max(initial=0)), 1)), np.nan)
    table[owner, slot] = value[other]
    reference = np.full(n, np.nan)
    enough = size[candidates] >= 4
    reference[candidates[enough]] = np.nanmedian(table[candidates[enough]], axis=1)
    candidates = candidates[reference[candidates] > 0]
    if len(candidates) < 10:
        return empty
    deficit = (reference[candidates] - value[candidates]) / reference[candidates]
    z = np.full(len(candidates), -np.inf)
    for kind in _kinds(np.log(reference[candidates])):
        centre = np.median(deficit[kind])
        spread = 1.4826 * np.median(np.abs(deficit[kind] - centre))
        if spread > 0:
            z[kind] = (deficit[kind] - centre) / spread
    z_min = float(norm.isf(false_alarms / len(candidates)))
    keep = (deficit > min_deficit) & (z > z_min)
    confidence = 1.0 - np.minimum(len(candidates) * norm.sf(z[keep]), 1.0)
    return sites[candidates[keep]], confidence


def _kinds(log_level: np.ndarray, ratio: float = 1.5, rounds: int = 20) -> list[np.ndarray]:
    """Index sets of one or two brightness kinds: a 1-D two-means split of ``log_level`` when it separates by > ``ratio``."""
    split = float(np.median(log_level))
    for _ in range(rounds):
        low, high = log_level[log_level <= split], log_level[log_level > split]
        if len(low) == 0 or len(high) == 0:
            return [np.arange(len(log_level))]
        split = 0.5 * (float(np.median(low)) + float(np.median(high)))
    low = log_level <= split
    if float(np.median(log_level[~low])) - float(np.median(log_level[low])) <= np.log(ratio) or min(low.sum(), (~low).sum()) < 5:
        return [np.arange(len(log_level))]
    return [np.flatnonzero(low), np.flatnonzero(~low)]
