"""Writing one acquired sub-scan into the episode's maps, in one compiled pass.

A step touches ~1,000 pixels and a handful of coarse cells; done with numpy
that is ~40 small array operations of ~1 µs each.  :func:`record_patch` does
the same bookkeeping in one loop over the pixels (compiled with numba):

* the counts become the normalised patch through the count→patch table
  (:meth:`~stemscan.envs.microscope.Microscope.normalisation_table`), or in
  closed form beyond its (bounded) length;
* pixels not scanned before in this episode are marked scanned, and
  counted, in total and per ground-truth label (the discovery rule's input).
  "Scanned" is an episode stamp, not a flag: ``stamp[r, c] == episode``
  where the pixel was scanned in the current episode, so a reset clears
  nothing (it moves on to the next episode number) and ``measured`` keeps
  stale values that are read only where the stamp is current;
* every touched coarse cell's pixel sum changes by ``patch − previous`` where
  the pixel was scanned before and by ``patch − survey`` where it is new, and
  its scanned-pixel count by the new pixels; the cells' ``uint8`` overview
  and visited values are then recomputed from the sums.

Patch values are float32 multiples of ``1 / (electrons × full_scale)``, so
below ~2²⁰ e⁻ of full scale every term and partial sum is exact in float64:
the sums equal a fresh block sum whatever the order of additions (tested).
"""

from __future__ import annotations

import numba
import numpy as np

from stemscan.envs.shot_noise import poisson_fill

__all__ = ["acquire_patch", "acquire_survey", "record_patch"]


@numba.njit(cache=True, nogil=True, boundscheck=False)
def record_patch(  # noqa: PLR0913 — one compiled call per step, so every map is an argument
    counts: np.ndarray,
    counts_to_patch: np.ndarray,
    background: np.float32,
    inverse_full_scale: np.float32,
    r0: int,
    c0: int,
    patch: np.ndarray,
    stamp: np.ndarray,
    episode: int,
    measured: np.ndarray,
    labels: np.ndarray,
    label_scanned: np.ndarray,
    survey: np.ndarray,
    row_cell: np.ndarray,
    col_cell: np.ndarray,
    cell_scale_255: np.ndarray,
    coarse_sums: np.ndarray,
    coarse_u8: np.ndarray,
) -> int:
    """Record the sub-scan ``counts`` acquired at ``(r0, c0)``; return how many of its pixels are new.

    Args:
        counts: (P, Q) integer detector counts.
        counts_to_patch: ``float32`` table, ``counts_to_patch[n]`` is count ``n`` normalised
            (:meth:`~stemscan.envs.microscope.Microscope.normalisation_table`, bounded in length).
        background, inverse_full_scale: ``float32`` background counts and ``1 / (electrons × full_scale)``:
            counts beyond the table are normalised in closed form with them, as ``Microscope.normalise`` does.
        r0, c0: Top-left pixel of the sub-scan in the field.
        patch: ``float32`` (P, Q) output, the normalised sub-scan.
        stamp: ``uint16`` (H, W), the episode in which each pixel was last scanned at imaging dose (updated).
        episode: The current episode's stamp (1-65535): pixels with ``stamp == episode`` are scanned.
        measured: ``float32`` (H, W), the latest normalised value per pixel, valid where scanned (updated).
        labels: integer (H, W) ground-truth labels (0 = none).
        label_scanned: ``int64`` (K + 1,), pixels scanned per label (updated).
        survey: ``float64`` (G, G) survey value per coarse cell (0 without a survey).
        row_cell, col_cell: coarse cell of each pixel row / column.
        cell_scale_255: ``float64`` (G, G), 255 / pixels per cell.
        coarse_sums: ``float64`` (2, G, G): per cell, the overview's pixel sum and the pixels scanned (updated).
        coarse_u8: ``uint8`` (2, G, G): ``rint(coarse_sums × cell_scale_255)`` (updated where touched).
    """
    rows, cols = counts.shape
    top = counts_to_patch.shape[0] - 1
    n_new = 0
    for i in range(rows):
        r = r0 + i
        g = row_cell[r]
        for j in range(cols):
            c = c0 + j
            h = col_cell[c]
            n = counts[i, j]
            if n < top:
                value = counts_to_patch[max(n, 0)]
            else:  # closed form, the same float32 operations as Microscope.normalise
                value = (np.float32(n) - background) * inverse_full_scale
                value = min(max(value, np.float32(0.0)), np.float32(1.0))
            patch[i, j] = value
            if stamp[r, c] == episode:
                coarse_sums[0, g, h] += np.float64(value) - np.float64(measured[r, c])
            else:
                stamp[r, c] = episode
                n_new += 1
                label_scanned[labels[r, c]] += 1
                coarse_sums[0, g, h] += np.float64(value) - survey[g, h]
                coarse_sums[1, g, h] += 1.0
            measured[r, c] = value
    for g in range(row_cell[r0], row_cell[r0 + rows - 1] + 1):
        for h in range(col_cell[c0], col_cell[c0 + cols - 1] + 1):
            for layer in range(2):
                coarse_u8[layer, g, h] = np.uint8(np.rint(coarse_sums[layer, g, h] * cell_scale_255[g, h]))
    return n_new


@numba.njit(cache=True, nogil=True, boundscheck=False)
def acquire_patch(  # noqa: PLR0913 — the whole step in one compiled call
    function: int,
    state: int,
    mean: np.ndarray,
    row: np.ndarray,
    aux: np.ndarray,
    means: np.ndarray,
    threshold: np.ndarray,
    alias: np.ndarray,
    log_factorial: np.ndarray,
    counts: np.ndarray,
    counts_to_patch: np.ndarray,
    background: np.float32,
    inverse_full_scale: np.float32,
    r0: int,
    c0: int,
    patch: np.ndarray,
    stamp: np.ndarray,
    episode: int,
    measured: np.ndarray,
    labels: np.ndarray,
    label_scanned: np.ndarray,
    pending: np.ndarray,
    survey: np.ndarray,
    row_cell: np.ndarray,
    col_cell: np.ndarray,
    cell_scale_255: np.ndarray,
    coarse_sums: np.ndarray,
    coarse_u8: np.ndarray,
) -> tuple[int, bool]:
    """Draw the sub-scan's counts (:func:`~stemscan.envs.shot_noise.poisson_fill`) and record them (:func:`record_patch`).

    One compiled call per step instead of two.  The counts are drawn from
    the generator at ``(function, state)``
    (:func:`~stemscan.envs.bit_generator.rng_address`), the draws of
    :meth:`~stemscan.envs.shot_noise.ShotNoiseMap.sample`.  Returns
    ``(new pixels, any feature due)``, the last True when a label's scanned
    count reached ``pending`` (the discovery tracker's thresholds): only
    then has :meth:`DiscoveryTracker.collect` anything to find.
    """
    poisson_fill(function, state, mean, row, aux, means, threshold, alias, log_factorial, r0, c0, counts)
    n_new = record_patch(
        counts, counts_to_patch, background, inverse_full_scale, r0, c0, patch, stamp, episode, measured, labels,
        label_scanned, survey, row_cell, col_cell, cell_scale_255, coarse_sums, coarse_u8,
    )  # fmt: skip
    due = False
    if n_new:
        for k in range(label_scanned.shape[0]):
            if label_scanned[k] >= pending[k]:
                due = True
                break
    return n_new, due


@numba.njit(cache=True, nogil=True, boundscheck=False)
def acquire_survey(  # noqa: PLR0913 — the survey's draws and its maps in one compiled call
    function: int,
    state: int,
    mean: np.ndarray,
    row: np.ndarray,
    aux: np.ndarray,
    means: np.ndarray,
    threshold: np.ndarray,
    alias: np.ndarray,
    log_factorial: np.ndarray,
    counts: np.ndarray,
    background: np.float32,
    scale: np.float32,
    area: np.ndarray,
    survey: np.ndarray,
    coarse_sums: np.ndarray,
    coarse_u8: np.ndarray,
) -> None:
    """Draw the survey, one count per coarse cell, and write it into the episode's coarse maps.

    ``counts`` (G, G) ``int64`` receives the draws of
    :meth:`~stemscan.envs.shot_noise.ShotNoiseMap.sample` over the survey's
    map (``mean`` …), from the generator at ``(function, state)``; then, per
    cell, ``survey`` = ``Microscope.normalise(counts, electrons, full_scale)``
    (the same float32 operations: ``clip((float32(n) − background) × scale, 0, 1)``
    with ``scale = float32(1 / (electrons × full_scale))``), ``coarse_sums[0]
    = survey × area`` and ``coarse_u8[0] = rint(survey × 255)``.
    """
    poisson_fill(function, state, mean, row, aux, means, threshold, alias, log_factorial, 0, 0, counts)
    rows, cols = counts.shape
    for g in range(rows):
        for h in range(cols):
            value = (np.float32(counts[g, h]) - background) * scale
            value = min(max(value, np.float32(0.0)), np.float32(1.0))
            cell = np.float64(value)
            survey[g, h] = cell
            coarse_sums[0, g, h] = cell * area[g, h]
            coarse_u8[0, g, h] = np.uint8(np.rint(cell * 255.0))
