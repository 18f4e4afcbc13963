"""Detections from encoded atom windows (torch-free): ``rvae-bo``'s own report.

Two findings, each from what the agent already computed for its decisions:

* :func:`unusual_windows` (point defects, peak-centred windows): windows
  whose target latent is an outlier among all measured windows, grouped
  into sites and named by what the image shows there;
* :func:`domain_walls` (walls, lattice-centred windows): boundaries
  between neighbouring measured patches of different domain value.

Thresholds are the generic modified z-score of
:mod:`stemscan.agents.analysts.outliers` (3.5), or parameter-free (the
nearest polarisation direction); nothing is tuned on a scene family.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from stemscan.agents.analysts.detections import Detections
from stemscan.agents.analysts.outliers import (
    OUTLIER_Z,
    confidence,
    excess_over_median,
    robust_sigma,
    suppress,
)
from stemscan.agents.features.latents import ANGLE, target_values

__all__ = ["MIN_WINDOWS", "column_heights", "domain_walls", "unusual_windows"]

#: Fewest measured windows before outliers are judged (the median and MAD of fewer are too unsteady).
MIN_WINDOWS = 16

#: Link distance of flagged windows into one site, in column spacings (a column and its nearest neighbours).
_LINK_SPACINGS = 1.5

#: A site farther than this from every column (in column spacings) is a missing column.
_EMPTY_SPACINGS = 0.5

#: Two measured patches are neighbours when their centres are at most this many patch sizes apart
#: (the 8 neighbours of a grid cell).
_NEIGHBOUR_PATCHES = 1.5


def column_heights(patch: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
    """Smoothed intensity of ``patch`` at window ``centres`` (patch pixels, (N, 2)), as the windows were cut."""
    smooth = ndimage.gaussian_filter(np.asarray(patch, dtype=np.float64), sigma) if sigma > 0 else np.asarray(patch, dtype=np.float64)
    index = np.clip(np.rint(np.asarray(centres, dtype=np.float64).reshape(-1, 2)).astype(np.int64), 0, np.array(smooth.shape) - 1)
    return smooth[index[:, 0], index[:, 1]]


def _spacing(centres: Sequence[np.ndarray]) -> float | None:
    """Median nearest-neighbour distance of the columns within each patch, pixels (None when no patch has two)."""
    from scipy.spatial import cKDTree

    nearest = [cKDTree(c).query(c, k=2)[0][:, 1] for c in centres if len(c) >= 2]
    values = np.concatenate(nearest) if nearest else np.zeros(0)
    values = values[values > 0]
    return float(np.median(values)) if values.size else None


def unusual_windows(
    latents: Sequence[np.ndarray],
    centres: Sequence[np.ndarray],
    heights: Sequence[np.ndarray],
    target: int | str,
    kinds: dict[str, str],
    shape: tuple[int, int],
) -> Detections:
    """Sites of windows whose target latent is unusual (the ``"outlier"`` descriptor's windows).

    1. Each window's distance from the median target latent over all
       measured windows (as the ``"outlier"`` descriptor measures it) is an
       outlier when its modified z-score exceeds
       :data:`~stemscan.agents.analysts.outliers.OUTLIER_Z` (scale: 1.4826 ×
       the median distance, which for one latent is its MAD); judged from
       :data:`MIN_WINDOWS` windows on.
    2. Flagged windows within 1.5 column spacings (the median
       nearest-neighbour distance of the columns in a patch) form one site:
       a defect disturbs its own window and its neighbours'.
    3. The site is named from the image: a ``bright`` column when one of its
       columns is a bright outlier among all column heights (modified z >
       3.5: a heavy dopant), reported at that column; else a ``missing``
       column when the excess-weighted centre of two or more flagged
       windows is at least half a spacing from every measured column (the
       neighbours of a vacancy surround it); else a ``boundary`` (a
       structural change of the lattice), at the excess-weighted centre.

    Args:
        latents: Encoded windows (N_i, 3 + latent_dim) of each patch.
        centres: (N_i, 2) window centres of each patch, field pixels.
        heights: (N_i,) smoothed intensity at each centre.
        target: The agent's target latent (a ``z`` index or :data:`~stemscan.agents.features.latents.ANGLE`).
        kinds: The family's names of ``missing``, ``bright`` and ``boundary``.
        shape: (H, W) of the field.

    Returns:
        One detection per site; confidence a logistic of the largest excess z-score of its windows.
    """
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components
    from scipy.spatial import cKDTree

    pairs = [(z, c, h) for z, c, h in zip(latents, centres, heights) if len(z) and len(z) == len(c) == len(h)]
    if sum(len(z) for z, _, _ in pairs) < MIN_WINDOWS:
        return Detections.empty(shape)
    values = np.concatenate([target_values(z, target) for z, _, _ in pairs])
    points = np.concatenate([c for _, c, _ in pairs]).reshape(-1, 2)
    height = np.concatenate([h for _, _, h in pairs])
    distance = np.linalg.norm(values - np.median(values, axis=0), axis=1)
    scale = 1.4826 * float(np.median(distance))
    spacing = _spacing([c for _, c, _ in pairs])
    if scale <= 0 or spacing is None:
        return Detections.empty(shape)
    excess = distance / scale - OUTLIER_Z
    flagged = np.flatnonzero(excess > 0)
    if not flagged.size:
        return Detections.empty(shape)
    links = cKDTree(points[flagged]).query_pairs(_LINK_SPACINGS * spacing, output_type="ndarray")
    graph = coo_matrix((np.ones(len(links)), (links[:, 0], links[:, 1])), shape=(len(flagged), len(flagged)))
    n_sites, site_of = connected_components(graph, directed=False)
    bright = excess_over_median(height, one_sided=True)
    columns = cKDTree(points)
    found, names, scores = [], [], []
    for site in range(n_sites):
        members = flagged[site_of == site]
        weights = excess[members]
        centre = (points[members] * weights[:, None]).sum(axis=0) / weights.sum()
        if bright[members].max() > 0:
            found.append(points[members[int(np.argmax(bright[members]))]])
            names.append(kinds["bright"])
        elif len(members) >= 2 and columns.query(centre)[0] >= _EMPTY_SPACINGS * spacing:
            found.append(centre)
            names.append(kinds["missing"])
        else:
            found.append(centre)
            names.append(kinds["boundary"])
        scores.append(float(weights.max()))
    positions = np.clip(np.array(found, dtype=np.float64), 0.0, np.array(shape, dtype=np.float64) - 1.0)
    return Detections(positions, names, confidence(np.array(scores)), shape)


def domain_walls(
    values: np.ndarray | None,
    centres: np.ndarray,
    target: int | str,
    n_fold: int,
    patch_size: int,
    kind: str,
    shape: tuple[int, int],
) -> Detections:
    """Walls between neighbouring measured patches of different domain value.

    Neighbours: patch centres at most 1.5 patch sizes apart (a grid cell's
    8 neighbours).  A wall is reported at the midpoint of a neighbour pair
    whose domains differ:

    * angle target: each patch's domain is the nearest of the ``n_fold``
      polarisation directions to its mean ``(cos, sin)`` (parameter-free:
      the decision boundary lies halfway between two directions); a pair
      differs when the directions do.  Confidence: the smaller of the two
      patches' certainties ``R cos(n_fold δ / 2)``, ``R`` the length of the
      mean unit vector (1: all windows agree) and ``δ`` the angle to the
      chosen direction (0 on it, π / n_fold halfway);
    * ``z`` target: a pair differs when the difference of its domain values
      is an outlier among all neighbour pairs' differences (modified
      z-score above 3.5: most neighbours lie in one domain); confidence a
      logistic of the excess.

    At most one detection per patch size (greedy suppression, strongest first).

    Args:
        values: (n, d) domain values per measured patch (rows of NaN: no
            windows), as :func:`~stemscan.agents.features.latents.domain_values`, or None.
        centres: (n, 2) patch centres, field pixels.
        target: The agent's target latent.
        n_fold: Number of polarisation directions.
        patch_size: Patch side, pixels.
        kind: The family's name of a wall.
        shape: (H, W) of the field.
    """
    from scipy.spatial import cKDTree

    if values is None:
        return Detections.empty(shape)
    values = np.asarray(values, dtype=np.float64).reshape(len(centres), -1)
    have = np.flatnonzero(np.isfinite(values).all(axis=1))
    if len(have) < 2:
        return Detections.empty(shape)
    points = np.asarray(centres, dtype=np.float64).reshape(-1, 2)[have]
    values = values[have]
    links = cKDTree(points).query_pairs(_NEIGHBOUR_PATCHES * patch_size, output_type="ndarray")
    if not len(links):
        return Detections.empty(shape)
    i, j = links[:, 0], links[:, 1]
    if target == ANGLE and values.shape[1] == 2:
        step = 2.0 * np.pi / n_fold
        angle = np.arctan2(values[:, 1], values[:, 0])
        label = np.mod(np.rint(angle / step), n_fold).astype(np.int64)
        offset = np.abs(np.angle(np.exp(1j * (angle - label * step))))
        certainty = np.hypot(values[:, 0], values[:, 1]) * np.cos(n_fold * offset / 2.0)
        differ = label[i] != label[j]
        strength = np.clip(np.minimum(certainty[i], certainty[j]), 0.0, 1.0)
    else:
        change = np.linalg.norm(values[i] - values[j], axis=1)
        scale = robust_sigma(change)
        if len(links) < MIN_WINDOWS // 2 or scale <= 0:
            return Detections.empty(shape)
        excess = (change - np.median(change)) / scale - OUTLIER_Z
        differ = excess > 0
        strength = confidence(excess)
    if not differ.any():
        return Detections.empty(shape)
    middle = (points[i[differ]] + points[j[differ]]) / 2.0
    strength = strength[differ]
    kept = suppress(middle, strength, float(patch_size))
    positions = np.clip(middle[kept], 0.0, np.array(shape, dtype=np.float64) - 1.0)
    return Detections(positions, [kind] * len(kept), strength[kept], shape)
