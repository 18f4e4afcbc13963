"""Exact Poisson shot noise, fast, for sub-scans of a fixed map of mean counts.

Every step draws a Poisson count for each pixel of a sub-scan (1,024 at the
defaults).  ``numpy``'s general sampler spends ~60 ns a pixel on it: most
means in a HAADF image are a few counts, and its multiplication method
consumes ``λ + 1`` uniforms per draw.  Here the means are fixed from reset to
the end of the episode, so the per-pixel work is done once (:class:`ShotNoiseMap`)
and each draw costs a few nanoseconds (:func:`poisson_fill`, compiled
with numba):

* ``λ < 10`` (:data:`TABLE_MAX_MEAN`): ``λ = λ_q + δ`` with ``λ_q = q / 16``
  the grid point below and ``0 ≤ δ < 1/16``.  Poisson variables add, so the
  count is ``Poisson(λ_q) + Poisson(δ)``: the first by Walker's alias method
  from one uniform (a row of 64 outcomes per grid point, 160 rows, 160 kB);
  the second by inversion from a second uniform — ``0`` when
  ``v < e^{-δ}`` (probability above 0.94), else continuing the CDF.
* ``λ ≥ 10``: the transformed-rejection sampler PTRS (W. Hörmann, *The
  transformed rejection method for generating Poisson random variables*,
  Insurance: Mathematics and Economics 12, 39-45, 1993), two uniforms per
  attempt, ~1.1 attempts per draw.

Both are exact samplers of the Poisson distribution (up to float64 rounding
and the alias rows' left-out tail, below 1e-27 per draw).  The uniforms come
in blocks from the env's ``np_random`` (``Generator.random``), so all noise
still flows from ``reset(seed)``; the counts are not the same numbers
``Generator.poisson`` would return for that seed.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np

__all__ = ["GRID_STEP", "TABLE_MAX_MEAN", "ShotNoiseMap", "alias_tables", "poisson_fill"]

#: Means below this are drawn from the alias tables, at and above by PTRS.
TABLE_MAX_MEAN = 10.0
#: Spacing of the tables' grid of means, counts (a power of two: ``q · GRID_STEP`` is exact).
GRID_STEP = 1.0 / 16.0
_ROWS = int(TABLE_MAX_MEAN / GRID_STEP)  # 160 grid points 0, 1/16, …, 9 + 15/16
_OUTCOMES = 64  # P(Poisson(10) ≥ 64) < 1e-27
#: ``ShotNoiseMap.row`` of pixels drawn by PTRS.
PTRS_ROW = -1


@lru_cache(maxsize=1)
def alias_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Walker alias tables of ``Poisson(q · GRID_STEP)`` for ``q = 0 … 159`` (built once per process).

    Returns:
        ``(keep, alias, log_factorial)``: ``keep`` and ``alias`` (160, 64),
        outcome ``j`` of row ``q`` is kept with probability ``keep[q, j]``,
        else replaced by ``alias[q, j]``; ``log_factorial[k] = log k!`` for
        ``k < 4096`` (PTRS's acceptance test).
    """
    log_factorial = np.array([math.lgamma(k + 1.0) for k in range(4096)])
    outcomes = np.arange(_OUTCOMES)
    keep = np.ones((_ROWS, _OUTCOMES), dtype=np.float64)
    alias = np.tile(outcomes, (_ROWS, 1)).astype(np.int64)
    for q in range(_ROWS):
        mean = q * GRID_STEP
        if mean == 0.0:
            pmf = (outcomes == 0).astype(np.float64)
        else:
            pmf = np.exp(outcomes * math.log(mean) - mean - log_factorial[:_OUTCOMES])
        scaled = pmf / pmf.sum() * _OUTCOMES  # renormalised over the kept outcomes
        small = [j for j in outcomes if scaled[j] < 1.0]
        large = [j for j in outcomes if scaled[j] >= 1.0]
        while small and large:  # Vose's construction
            s, g = small.pop(), large.pop()
            keep[q, s] = scaled[s]
            alias[q, s] = g
            scaled[g] -= 1.0 - scaled[s]
            (small if scaled[g] < 1.0 else large).append(g)
        for j in small + large:  # left over by rounding: keep with probability 1
            keep[q, j] = 1.0
    for table in (keep, alias, log_factorial):
        table.flags.writeable = False  # shared by every map in the process
    return keep, alias, log_factorial


class ShotNoiseMap:
    """Per-pixel state of the sampler for one map of mean counts.

    Args:
        mean: (H, W) mean counts per pixel, finite and ``≥ 0``.

    Attributes:
        mean: ``float64`` (H, W) means, counts.
        row: ``int16`` (H, W) alias row ``q = floor(mean / GRID_STEP)``, or
            :data:`PTRS_ROW` where ``mean ≥ TABLE_MAX_MEAN``.
        aux: ``float64`` (H, W): ``e^{-δ}`` with ``δ = mean − q · GRID_STEP``
            for tabled pixels, ``log(mean)`` for PTRS pixels.
    """

    def __init__(self, mean: np.ndarray) -> None:
        mean = np.asarray(mean, dtype=np.float64)
        if mean.ndim != 2:
            raise ValueError(f"mean counts must be a 2-D map, got shape {mean.shape}")
        if not np.isfinite(mean).all() or mean.min(initial=0.0) < 0.0:
            raise ValueError("mean counts must be finite and non-negative")
        self.mean = np.ascontiguousarray(mean)
        q = np.minimum(np.floor(self.mean * (1.0 / GRID_STEP)), _ROWS)  # _ROWS: at or above TABLE_MAX_MEAN
        drawn_by_ptrs = q == _ROWS
        self.row = q.astype(np.int16)
        self.row[drawn_by_ptrs] = PTRS_ROW
        self.aux = np.exp(q * GRID_STEP - self.mean)  # e^{-δ}; whole-array ufuncs (SIMD), PTRS pixels replaced next
        self.aux[drawn_by_ptrs] = np.log(self.mean[drawn_by_ptrs])
        self.keep, self.alias, self.log_factorial = alias_tables()

    def sample(self, rng: np.random.Generator, r0: int, c0: int, rows: int, cols: int) -> np.ndarray:
        """Poisson counts for the pixels ``[r0, r0 + rows) × [c0, c0 + cols)``, ``int64``."""
        if not (0 <= r0 and 0 <= c0 and r0 + rows <= self.mean.shape[0] and c0 + cols <= self.mean.shape[1]):
            raise ValueError(f"region {rows}×{cols} at ({r0}, {c0}) is outside the {self.mean.shape} map")
        out = np.empty((rows, cols), dtype=np.int64)
        done = 0
        while done < out.size:
            # 2 uniforms a pixel, 2 per PTRS attempt: 2.5 per pixel rarely run out; if they do, more follow
            uniforms = rng.random(5 * (out.size - done) // 2 + 16)
            done = poisson_fill(self.mean, self.row, self.aux, self.keep, self.alias, self.log_factorial, uniforms, r0, c0, out, done)
        return out


@numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def poisson_fill(mean, row, aux, keep, alias, log_factorial, uniforms, r0, c0, out, start):  # noqa: ANN001, ANN201
    """Counts for ``out[i, j] ~ Poisson(mean[r0 + i, c0 + j])`` from pixel ``start`` (row-major) on.

    Consumes ``uniforms`` from the front: two per tabled pixel, two per PTRS
    attempt.  Returns the number of pixels done: ``out.size``, or the pixel
    it stopped at when the uniforms ran out (call again with fresh ones).
    """
    rows, cols = out.shape
    n_uniforms = uniforms.shape[0]
    n_outcomes = keep.shape[1]
    pos = 0
    i0 = start // cols
    for i in range(i0, rows):
        r = r0 + i
        for j in range(start - i0 * cols if i == i0 else 0, cols):
            c = c0 + j
            if pos + 2 > n_uniforms:
                return i * cols + j
            q = row[r, c]
            if q >= 0:  # alias draw of Poisson(q / 16), plus Poisson(δ) by inversion
                x = uniforms[pos] * n_outcomes
                m = int(x)
                k = m if x - m < keep[q, m] else alias[q, m]
                v = uniforms[pos + 1]
                pos += 2
                e = aux[r, c]
                if v >= e:  # P(Poisson(δ) > 0) = 1 − e^{-δ} < 0.061
                    rest = mean[r, c] - q * GRID_STEP  # δ, exact (Sterbenz)
                    term = e * rest
                    cdf = e + term
                    extra = 1
                    while v >= cdf and extra < 40:
                        extra += 1
                        term *= rest / extra
                        cdf += term
                    k += extra
                out[i, j] = k
                continue
            lam = mean[r, c]  # PTRS, Hörmann (1993)
            b = 0.931 + 2.53 * math.sqrt(lam)
            a = -0.059 + 0.02483 * b
            v_r = 0.9277 - 3.6224 / (b - 2.0)
            while True:
                if pos + 2 > n_uniforms:
                    return i * cols + j
                u = uniforms[pos] - 0.5
                v = uniforms[pos + 1]
                pos += 2
                us = 0.5 - abs(u)
                if us <= 0.0:
                    continue
                k = int(math.floor((2.0 * a / us + b) * u + lam + 0.43))
                if us >= 0.07 and v <= v_r:  # squeeze: accepted without the density
                    break
                if k < 0 or (us < 0.013 and v > us):
                    continue
                inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
                log_k_factorial = log_factorial[k] if k < log_factorial.shape[0] else math.lgamma(k + 1.0)
                if math.log(v * inv_alpha / (a / (us * us) + b)) <= -lam + k * aux[r, c] - log_k_factorial:
                    break
            out[i, j] = k
    return rows * cols
