"""Exact Poisson shot noise, fast, for sub-scans of a fixed map of mean counts.

Every step draws a Poisson count for each pixel of a sub-scan (1,024 at the
defaults).  ``numpy``'s general sampler spends ~60 ns a pixel on it: most
means in a HAADF image are a few to a few tens of counts, and its
multiplication method consumes ``λ + 1`` uniforms per draw below 10.  Here
the means are fixed from reset to the end of the episode, so the per-pixel
work is done once (:class:`ShotNoiseMap`) and each draw costs a few
nanoseconds and one 64-bit random number (:func:`poisson_fill`, compiled
with numba, reading the env's generator directly,
:mod:`stemscan.envs.bit_generator`):

* ``λ < 128`` (:data:`TABLE_MAX_MEAN`): ``λ = λ_q + δ`` with ``λ_q`` the
  grid point below (spacing 1/16 below a mean of 10, 1/4 above) and
  ``0 ≤ δ`` < the spacing.  Poisson variables add, so the count is
  ``Poisson(λ_q) + Poisson(δ)``: the first by Walker's alias method from
  the high 32 bits of the draw (a row of 256 outcomes per grid point, 632
  rows, 0.8 MB); the second by inversion from the low 32 bits — ``0`` when
  ``v < e^{-δ}`` (probability above 0.78, above 0.94 below a mean of 10),
  else continuing the CDF.
* ``λ ≥ 128``: the transformed-rejection sampler PTRS (W. Hörmann, *The
  transformed rejection method for generating Poisson random variables*,
  Insurance: Mathematics and Economics 12, 39-45, 1993), two 64-bit draws
  (two 53-bit uniforms) per attempt, ~1.1 attempts per draw; its
  acceptance test compares with :func:`log_poisson_pmf` (Loader's
  saddle-point form, accurate at any mean up to 2⁵³, the largest accepted).

Both are exact samplers of the Poisson distribution up to the resolution
of their random bits: the alias rows' keep probabilities are rounded to
multiples of 2⁻²⁴ and ``v`` has 32 bits, so every outcome's probability is
within 1e-9 of the Poisson pmf (7.8e-10 at most over all rows, tested;
detecting it would take ~10¹⁸ draws), and the rows leave out a tail below
1e-21.  All noise flows from the env's ``np_random``
(``reset(seed)``); the counts are not the numbers ``Generator.poisson``
would return for that seed.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numba
import numpy as np

from stemscan.envs.bit_generator import rng_address, rng_begin, rng_end, rng_next, to_unit

__all__ = ["MAX_MEAN", "PTRS_ROW", "TABLE_MAX_MEAN", "ShotNoiseMap", "alias_tables", "log_poisson_pmf", "poisson_fill", "table_means", "table_rows"]

#: Means below this are drawn from the alias tables (grid spacing :data:`FINE_STEP`), at and above it
#: from the coarse rows (spacing :data:`COARSE_STEP`).
FINE_MAX_MEAN = 10.0
FINE_STEP = 1.0 / 16.0
COARSE_STEP = 1.0 / 4.0
#: Means below this are drawn from the alias tables, at and above by PTRS.
TABLE_MAX_MEAN = 128.0
_FINE_ROWS = int(FINE_MAX_MEAN / FINE_STEP)  # 160: 0, 1/16, …, 9 + 15/16
_ROWS = _FINE_ROWS + int((TABLE_MAX_MEAN - FINE_MAX_MEAN) / COARSE_STEP)  # + 472: 10, 10.25, …, 127.75
_OUTCOMES = 256  # P(Poisson(127.75) ≥ 256) < 1e-21
#: Largest mean the sampler accepts, counts: 2⁵³, beyond which int64 counts and float64 means stop being exact.
MAX_MEAN = float(2**53)
#: ``ShotNoiseMap.row`` of pixels drawn by PTRS.
PTRS_ROW = -1


def table_means() -> np.ndarray:
    """``float64`` (632,) the grid mean ``λ_q`` of each alias row (every value exact in binary)."""
    fine = np.arange(_FINE_ROWS) * FINE_STEP
    coarse = FINE_MAX_MEAN + np.arange(_ROWS - _FINE_ROWS) * COARSE_STEP
    return np.concatenate([fine, coarse])


@numba.njit(cache=True)
def _vose(pmf, threshold, alias):  # noqa: ANN001, ANN202
    """Walker/Vose alias table of ``pmf`` (sums to 1) into ``threshold`` (uint32, ~keep prob. × 2³²) and ``alias``."""
    n = pmf.shape[0]
    scaled = pmf * n
    keep = np.ones(n)
    small = np.empty(n, dtype=np.int64)
    large = np.empty(n, dtype=np.int64)
    n_small = n_large = 0
    for j in range(n):
        alias[j] = j
        if scaled[j] < 1.0:
            small[n_small] = j
            n_small += 1
        else:
            large[n_large] = j
            n_large += 1
    while n_small and n_large:  # the top small outcome takes its missing share from the top large one
        n_small -= 1
        s, g = small[n_small], large[n_large - 1]
        keep[s] = scaled[s]
        alias[s] = g
        scaled[g] -= 1.0 - scaled[s]
        if scaled[g] < 1.0:  # g has become small: it moves from one stack to the other
            n_large -= 1
            small[n_small] = g
            n_small += 1
    # left over by rounding: keep probability 1.  A draw's 24 keep bits f (scaled to 32, f = 256·n) keep the
    # slot when f < threshold: the keep probability rounded to the nearest multiple of 2⁻²⁴.
    for j in range(n):
        threshold[j] = np.uint32(min(np.rint(keep[j] * 16777216.0) * 256.0, 4294967295.0))


@lru_cache(maxsize=1)
def alias_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Walker alias tables of ``Poisson(λ_q)`` for every grid mean (built once per process, ~10 ms).

    Returns:
        ``(means, threshold, alias, log_factorial)``: ``means`` (632,) the
        rows' grid means (:func:`table_means`); ``threshold`` ``uint32`` and
        ``alias`` ``uint8``, (632, 256): outcome ``j`` of row ``q`` is kept
        when 24 further random bits, scaled to 32, fall below
        ``threshold[q, j]`` (``2³²·keep``, ``keep`` rounded to a multiple
        of 2⁻²⁴), else replaced by ``alias[q, j]``;
        ``log_factorial[k] = log k!`` for ``k < 4096`` (PTRS's acceptance test).
    """
    log_factorial = np.array([math.lgamma(k + 1.0) for k in range(4096)])
    means = table_means()
    outcomes = np.arange(_OUTCOMES)
    threshold = np.empty((_ROWS, _OUTCOMES), dtype=np.uint32)
    alias = np.empty((_ROWS, _OUTCOMES), dtype=np.uint8)
    scratch = np.empty(_OUTCOMES, dtype=np.int64)
    for q, mean in enumerate(means):
        if mean == 0.0:
            pmf = (outcomes == 0).astype(np.float64)
        else:
            pmf = np.exp(outcomes * math.log(mean) - mean - log_factorial[:_OUTCOMES])
        _vose(pmf / pmf.sum(), threshold[q], scratch)  # renormalised over the kept outcomes
        alias[q] = scratch
    for table in (means, threshold, alias, log_factorial):
        table.flags.writeable = False  # shared by every map in the process
    return means, threshold, alias, log_factorial


def table_rows(mean: np.ndarray) -> np.ndarray:
    """``int16`` alias row of each mean (the grid point at or below it), :data:`PTRS_ROW` at and above 128."""
    return _rows_and_grid(mean)[0]


def _rows_and_grid(mean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`table_rows` and each pixel's grid mean ``λ_q`` (0 for PTRS pixels), in one compiled pass."""
    mean = np.ascontiguousarray(mean, dtype=np.float64)
    row = np.empty(mean.shape, dtype=np.int16)
    grid = np.empty(mean.shape, dtype=np.float64)
    _table_rows(mean.reshape(-1), table_means(), row.reshape(-1), grid.reshape(-1))
    return row, grid


@numba.njit(cache=True, nogil=True)
def _table_rows(mean, means, row, grid):  # noqa: ANN001, ANN202
    """One pass over flat ``mean`` into flat ``row`` and ``grid`` (whole-array numpy took ~11 ms at 512²)."""
    last = means.shape[0] - 1
    for k in range(mean.shape[0]):
        x = mean[k]
        if x < FINE_MAX_MEAN:
            q = int(math.floor(x * (1.0 / FINE_STEP)))  # exact: a power-of-two scaling
        elif x < TABLE_MAX_MEAN:
            q = min(_FINE_ROWS + int(math.floor((x - FINE_MAX_MEAN) * (1.0 / COARSE_STEP))), last)
            if means[q] > x:  # the floor may round across a grid point: keep λ_q ≤ mean < λ_{q+1}
                q -= 1
            elif q < last and means[q + 1] <= x:
                q += 1
        else:
            row[k] = np.int16(PTRS_ROW)
            grid[k] = 0.0
            continue
        row[k] = np.int16(q)
        grid[k] = means[q]


class ShotNoiseMap:
    """Per-pixel state of the sampler for one map of mean counts.

    Args:
        mean: (H, W) mean counts per pixel, finite and ``≥ 0``.

    Attributes:
        mean: ``float64`` (H, W) means, counts.
        row: ``int16`` (H, W) alias row ``q`` (the grid mean ``λ_q`` at or
            below the pixel's), or :data:`PTRS_ROW` where ``mean ≥ TABLE_MAX_MEAN``.
        aux: ``float64`` (H, W): ``e^{-δ}`` with ``δ = mean − λ_q`` for
            tabled pixels, ``log(mean)`` for PTRS pixels.
        means, threshold, alias, log_factorial: the process's :func:`alias_tables`.
    """

    def __init__(self, mean: np.ndarray) -> None:
        given = np.asarray(mean)
        if given.dtype.kind not in "biuf":  # complex, datetime, strings, objects: not mean counts
            raise ValueError(f"mean counts must be real numbers, got dtype {given.dtype}")
        if given.ndim != 2:
            raise ValueError(f"mean counts must be a 2-D map, got shape {given.shape}")
        # a copy of our own: the sampler's state below is derived from it and must not change under it
        mean = np.array(given, dtype=np.float64, order="C", copy=True)
        if not np.isfinite(mean).all() or mean.min(initial=0.0) < 0.0:
            raise ValueError("mean counts must be finite and non-negative")
        if mean.max(initial=0.0) > MAX_MEAN:
            raise ValueError(f"mean counts above {MAX_MEAN:.3g} a pixel (2**53) cannot be drawn exactly, got {mean.max():.3g}")
        self.mean = mean
        self.means, self.threshold, self.alias, self.log_factorial = alias_tables()
        self.row, grid_mean = _rows_and_grid(self.mean)
        drawn_by_ptrs = self.row == PTRS_ROW
        self.aux = np.exp(grid_mean - self.mean)  # e^{-δ}; whole-array ufuncs (SIMD), PTRS pixels replaced next
        self.aux[drawn_by_ptrs] = np.log(self.mean[drawn_by_ptrs])
        for array in (self.mean, self.row, self.aux):
            array.flags.writeable = False

    def sample(self, rng: np.random.Generator, r0: int, c0: int, rows: int, cols: int) -> np.ndarray:
        """Poisson counts for the pixels ``[r0, r0 + rows) × [c0, c0 + cols)``, ``int64``, drawn from ``rng``."""
        region = []
        for name, value in (("r0", r0), ("c0", c0), ("rows", rows), ("cols", cols)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an integer, got {value!r}")
            region.append(int(value))  # Python ints: no fixed-width wrap-around in the check below
        r0, c0, rows, cols = region
        if rows < 0 or cols < 0:
            raise ValueError(f"region size must be non-negative, got {rows}×{cols}")
        if not (0 <= r0 and 0 <= c0 and r0 + rows <= self.mean.shape[0] and c0 + cols <= self.mean.shape[1]):
            raise ValueError(f"region {rows}×{cols} at ({r0}, {c0}) is outside the {self.mean.shape} map")
        out = np.empty((rows, cols), dtype=np.int64)
        function, state = rng_address(rng)
        poisson_fill(function, state, self.mean, self.row, self.aux, self.means, self.threshold, self.alias, self.log_factorial, r0, c0, out)
        return out


#: Below this count PTRS's acceptance test uses ``−λ + k log λ − log k!`` directly (``log_factorial`` covers it).
_DIRECT_LOG_PMF = 16
_HALF_LOG_TWO_PI = 0.5 * math.log(2.0 * math.pi)


@numba.njit(cache=True, nogil=True, inline="always")
def _stirling_error(n):  # noqa: ANN001, ANN202
    """``log n! − [(n + ½) log n − n + ½ log 2π]`` for an integer ``n ≥ 16``, by its asymptotic series."""
    nn = float(n) * float(n)
    if n > 500:
        return (1.0 / 12.0 - (1.0 / 360.0) / nn) / n
    if n > 80:
        return (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0) / nn) / nn) / n
    if n > 35:
        return (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - (1.0 / 1680.0) / nn) / nn) / nn) / n
    return (1.0 / 12.0 - (1.0 / 360.0 - (1.0 / 1260.0 - (1.0 / 1680.0 - (1.0 / 1188.0) / nn) / nn) / nn) / nn) / n


@numba.njit(cache=True, nogil=True, inline="always")
def _deviance(x, mean):  # noqa: ANN001, ANN202
    """``x log(x / mean) + mean − x`` without the cancellation of its large terms when ``x ≈ mean``."""
    if abs(x - mean) < 0.1 * (x + mean):
        v = (x - mean) / (x + mean)
        total = (x - mean) * v
        term = 2.0 * x * v
        v2 = v * v
        for j in range(1, 1000):
            term *= v2
            updated = total + term / (2 * j + 1)
            if updated == total:
                return updated
            total = updated
        return total
    return x * math.log(x / mean) + mean - x


@numba.njit(cache=True, nogil=True)
def log_poisson_pmf(k, mean):  # noqa: ANN001, ANN201
    """``log P(X = k)`` for ``X ~ Poisson(mean)``, ``k ≥ 16``, accurate to a few ulps at any mean up to 2⁵³.

    The direct form ``−λ + k log λ − log k!`` subtracts terms of size
    ``λ log λ`` and loses ``λ · 1e-16`` of absolute accuracy (0.06 at
    λ = 1e13, enough to bias PTRS's acceptance test); this is Loader's
    saddle-point form (C. Loader, *Fast and accurate computation of
    binomial probabilities*, 2000, as in R's ``dpois``):
    ``−stirling_error(k) − deviance(k, λ) − ½ log(2πk)``.
    """
    x = float(k)
    return -_stirling_error(k) - _deviance(x, mean) - _HALF_LOG_TWO_PI - 0.5 * math.log(x)


@numba.njit(cache=True, nogil=True, error_model="numpy", boundscheck=False)
def poisson_fill(function, state, mean, row, aux, means, threshold, alias, log_factorial, r0, c0, out):  # noqa: ANN001, ANN201, PLR0913
    """``out[i, j] ~ Poisson(mean[r0 + i, c0 + j])``, row by row, drawn from the generator at ``(function, state)``.

    One 64-bit draw per tabled pixel, two per PTRS attempt, in pixel order
    (:func:`~stemscan.envs.bit_generator.rng_address`): the same generator
    state gives the same counts.  (One loop with the draw written out: a
    per-pixel function taking the arrays would pay their reference counting
    on every call, ~10× the draw.)
    """
    rows, cols = out.shape
    held = rng_begin(function, state)  # an in-line PCG64's state stays in registers until rng_end
    for i in range(rows):
        r = r0 + i
        for j in range(cols):
            c = c0 + j
            q = row[r, c]
            if q >= 0:  # alias draw of Poisson(λ_q), plus Poisson(δ) by inversion
                x, held = rng_next(function, state, held)
                high = x >> np.uint64(32)
                m = np.int64(high >> np.uint64(24))  # the top 8 bits: the outcome's slot
                frac = np.uint32((high << np.uint64(8)) & np.uint64(0xFFFFFFFF))  # the next 24, scaled to 32 bits
                other = np.int64(alias[q, m])
                k = other + np.int64(frac < threshold[q, m]) * (m - other)  # kept or aliased, without a branch
                v = np.float64(np.uint32(x & np.uint64(0xFFFFFFFF))) * 2.3283064365386963e-10  # the low 32 bits / 2³²
                e = aux[r, c]
                rest = mean[r, c] - means[q]  # δ, exact (Sterbenz)
                term = e * rest
                cdf = e + term
                k += np.int64(v >= e)  # P(Poisson(δ) ≥ 1) = 1 − e^{-δ} < 0.22, added without a branch
                if v >= cdf:  # P(Poisson(δ) ≥ 2) < δ²/2 < 0.032: continue the CDF
                    extra = 1
                    while v >= cdf and extra < 60:
                        extra += 1
                        term *= rest / extra
                        cdf += term
                    k += extra - 1
                out[i, j] = k
                continue
            lam = mean[r, c]  # PTRS, Hörmann (1993)
            b = 0.931 + 2.53 * math.sqrt(lam)
            a = -0.059 + 0.02483 * b
            v_r = 0.9277 - 3.6224 / (b - 2.0)
            while True:
                x, held = rng_next(function, state, held)
                u = to_unit(x) - 0.5
                x, held = rng_next(function, state, held)
                v = to_unit(x)
                us = 0.5 - abs(u)
                if us <= 0.0:
                    continue
                k = int(math.floor((2.0 * a / us + b) * u + lam + 0.43))
                if us >= 0.07 and v <= v_r:  # squeeze: accepted without the density
                    break
                if k < 0 or (us < 0.013 and v > us):
                    continue
                inv_alpha = 1.1239 + 1.1328 / (b - 3.4)
                if k < _DIRECT_LOG_PMF:  # far in the left tail: the direct form is exact enough
                    log_pmf = -lam + k * aux[r, c] - log_factorial[k]
                else:
                    log_pmf = log_poisson_pmf(k, lam)
                if math.log(v * inv_alpha / (a / (us * us) + b)) <= log_pmf:
                    break
            out[i, j] = k
    rng_end(function, state, held)
