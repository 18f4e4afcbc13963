"""Per-episode metrics: each a small pure function of numbers from ``info``.

Conventions: a *discovery curve* is a sequence of ``(dose_fraction,
found_fraction)`` points, dose as a fraction of one full raster frame at
imaging dose, found as a fraction of the scene's features; it is a step
function (discoveries happen at the dose of the sub-scan that made them) and
is 0 before its first point.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = [
    "curve_at",
    "discovery_auc",
    "dose_to_fraction",
    "found_fraction",
    "gain",
    "latency_summary_ms",
    "oracle_fraction_at_equal_dose",
    "oracle_normalised",
    "score_per_mega_electron",
]

Curve = Sequence[Sequence[float]]


def found_fraction(features_found: int, features_total: int) -> float:
    """Fraction of the scene's features found (0 for a scene without features)."""
    if features_total < 0 or features_found < 0 or features_found > features_total:
        raise ValueError(f"features_found must lie in [0, features_total], got {features_found} of {features_total}")
    return features_found / features_total if features_total else 0.0


def score_per_mega_electron(features_found: int, dose_used_e: float) -> float:
    """Score: features found per 10⁶ electrons of dose used (0 if no dose)."""
    if dose_used_e < 0:
        raise ValueError(f"dose_used must be >= 0 electrons, got {dose_used_e}")
    return features_found / dose_used_e * 1e6 if dose_used_e > 0 else 0.0


def gain(found: float, dose_fraction: float) -> float:
    """Gain: found fraction / dose fraction (uniform scanning ≈ 1; 0 if no dose)."""
    if dose_fraction < 0:
        raise ValueError(f"dose_fraction must be >= 0, got {dose_fraction}")
    return found / dose_fraction if dose_fraction > 0 else 0.0


def _as_curve(curve: Curve) -> tuple[np.ndarray, np.ndarray]:
    points = np.asarray(curve, dtype=np.float64).reshape(-1, 2)
    dose, found = points[:, 0], points[:, 1]
    if dose.size and np.any(np.diff(dose) < 0):
        raise ValueError("discovery curve doses must be non-decreasing")
    return dose, found


def curve_at(curve: Curve, dose_fraction: float | np.ndarray) -> float | np.ndarray:
    """Found fraction of a discovery curve at ``dose_fraction`` (step function, 0 before the first point)."""
    dose, found = _as_curve(curve)
    query = np.asarray(dose_fraction, dtype=np.float64)
    index = np.searchsorted(dose, query, side="right") - 1
    out = np.where(index >= 0, found[np.clip(index, 0, None)] if found.size else 0.0, 0.0)
    return float(out) if out.ndim == 0 else out


def discovery_auc(curve: Curve, dose_max: float) -> float:
    """Normalised area under the discovery curve on ``[0, dose_max]``, in [0, 1].

    ``dose_max`` is the episode's dose budget as a fraction of a full frame,
    so agents with the same budget share the x range; a curve stays at its
    last value after its last point (e.g. all features found early).
    """
    if not dose_max > 0:
        raise ValueError(f"dose_max must be > 0, got {dose_max}")
    dose, found = _as_curve(curve)
    if dose.size == 0:
        return 0.0
    edges = np.clip(np.append(dose, dose_max), 0.0, dose_max)
    widths = np.diff(edges)
    return float(np.sum(found * widths) / dose_max)


def dose_to_fraction(curve: Curve, target: float) -> float:
    """Smallest dose fraction at which the found fraction reaches ``target``; NaN if never."""
    if not 0 < target <= 1:
        raise ValueError(f"target must lie in (0, 1], got {target}")
    dose, found = _as_curve(curve)
    hit = np.flatnonzero(found >= target - 1e-12)
    return float(dose[hit[0]]) if hit.size else math.nan


def oracle_fraction_at_equal_dose(agent_curve: Curve, oracle_curve: Curve) -> float:
    """Agent's found fraction / the oracle's at the agent's final dose; NaN if the oracle found none there."""
    dose, found = _as_curve(agent_curve)
    if dose.size == 0:
        return math.nan
    oracle = curve_at(oracle_curve, dose[-1])
    return float(found[-1] / oracle) if oracle > 0 else math.nan


def oracle_normalised(agent: float, random: float, oracle: float) -> float:
    """Bayesmark-style normalised value: (agent − random) / (oracle − random); NaN if oracle == random."""
    span = oracle - random
    return (agent - random) / span if span != 0 else math.nan


def latency_summary_ms(latencies_s: Sequence[float]) -> dict[str, float]:
    """Median, 90th and 95th percentiles, mean and max of per-step decision latencies, in ms (NaN if none)."""
    values = np.asarray(latencies_s, dtype=np.float64) * 1e3
    if values.size == 0:
        return {"median": math.nan, "p90": math.nan, "p95": math.nan, "mean": math.nan, "max": math.nan}
    return {
        "median": float(np.median(values)),
        "p90": float(np.percentile(values, 90)),
        "p95": float(np.percentile(values, 95)),
        "mean": float(values.mean()),
        "max": float(values.max()),
    }
