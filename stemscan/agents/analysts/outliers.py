"""Robust outlier statistics and naming shared by the navigators' own reports (analyst ``self``).

A navigator's descriptor (``linear-bo``'s FFT component, ``rvae-bo``'s
latents) says what is *unusual* among the data it measured, not what is
there; its report flags the unusual with one generic, noise-referred rule
and names the finding in the sample's vocabulary.

Rule
    The **modified z-score** of Iglewicz and Hoaglin (1993): a value's
    distance from the median in units of ``1.4826 × MAD`` (the median
    absolute deviation, scaled to the standard deviation of Gaussian
    noise), flagged above :data:`OUTLIER_Z` = 3.5, their recommended
    cut-off (about 1 in 2000 Gaussian values).  Robust: the outliers being
    looked for do not inflate the scale they are measured in.  Not tuned
    on any scene family.

Kinds
    :func:`family_kinds`: what the family calls a missing column, a bright
    column and a boundary (the ``peaks`` analyst's vocabulary,
    :data:`~stemscan.agents.analysts.peaks.VOCABULARY`), or the generic
    names for other samples.
"""

from __future__ import annotations

import numpy as np

from stemscan.agents.analysts.peaks import GENERIC_KINDS, VOCABULARY

__all__ = ["OUTLIER_Z", "confidence", "excess_over_median", "family_kinds", "robust_sigma", "suppress"]

#: Modified z-score above which a value is an outlier (Iglewicz & Hoaglin 1993).
OUTLIER_Z = 3.5

#: 1.4826 × MAD estimates the standard deviation of Gaussian noise.
_MAD_TO_SIGMA = 1.4826


def robust_sigma(values: np.ndarray) -> float:
    """``1.4826 × MAD`` of ``values`` (0 for none)."""
    values = np.asarray(values, dtype=np.float64).ravel()
    return _MAD_TO_SIGMA * float(np.median(np.abs(values - np.median(values)))) if values.size else 0.0


def excess_over_median(values: np.ndarray, one_sided: bool = True) -> np.ndarray:
    """Modified z-score of each value minus :data:`OUTLIER_Z` (> 0: an outlier); ``-inf`` everywhere when MAD is 0.

    Args:
        values: (N,) numbers.
        one_sided: Only values *above* the median count (a descriptor the
            navigator maximises); otherwise the absolute deviation.
    """
    values = np.asarray(values, dtype=np.float64).ravel()
    scale = robust_sigma(values)
    if not values.size or scale <= 0:
        return np.full(values.shape, -np.inf)
    z = (values - np.median(values)) / scale
    return (z if one_sided else np.abs(z)) - OUTLIER_Z


def confidence(excess: np.ndarray) -> np.ndarray:
    """Logistic of the excess over the threshold (0.5 at the threshold), in [0, 1]."""
    return 1.0 / (1.0 + np.exp(-np.asarray(excess, dtype=np.float64)))


def suppress(points: np.ndarray, scores: np.ndarray, spacing: float) -> np.ndarray:
    """Greedy non-maximum suppression: indices of the points kept, strongest first, at least ``spacing`` apart."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    kept: list[int] = []
    for i in np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"):
        if not kept or np.min(np.hypot(*(points[kept] - points[i]).T)) >= spacing:
            kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)


def family_kinds(family: str) -> dict[str, str]:
    """``{"missing", "bright", "boundary"}`` -> what ``family`` calls them (generic names for other samples)."""
    names = VOCABULARY.get(family, {})
    return {key: names.get(key, generic) for key, generic in GENERIC_KINDS.items()}
