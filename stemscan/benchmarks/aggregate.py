"""Aggregates over seeds: interquartile mean and stratified-bootstrap CIs.

Follows rliable (Agarwal et al., 2021): the interquartile mean (IQM) is the
mean of the middle 50 % of the values, i.e. ``scipy.stats.trim_mean(x,
0.25)`` — ``floor(n / 4)`` values cut from each end; its 95 % confidence
interval is the percentile interval of a *stratified* bootstrap, which
resamples seeds with replacement *within* each stratum (here: each distinct
env configuration — dose budget, image size — of a scene family), so every
resample keeps the grid's design.

Also: the relative per-episode metrics that need other agents' rows of the
same (scene, env kwargs, seed): fraction of the oracle's discovery at equal
dose, and the oracle-normalised gain ``(agent − random) / (oracle − random)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from stemscan.benchmarks import metrics

__all__ = ["add_relative_metrics", "iqm", "stratified_bootstrap_ci"]


def iqm(values: Sequence[float] | np.ndarray, axis: int = -1) -> float | np.ndarray:
    """Interquartile mean along ``axis`` (NaN for an empty input).

    ``floor(n / 4)`` of the sorted values are dropped from each end and the
    rest averaged (e.g. n = 10: the 3rd to 8th values).
    """
    x = np.sort(np.asarray(values, dtype=np.float64), axis=axis)
    n = x.shape[axis]
    if n == 0:
        return math.nan
    cut = int(0.25 * n)
    middle = np.take(x, np.arange(cut, n - cut), axis=axis)
    out = middle.mean(axis=axis)
    return float(out) if np.ndim(out) == 0 else out


def stratified_bootstrap_ci(
    strata: Sequence[Sequence[float]],
    statistic: str = "iqm",
    reps: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Point estimate and percentile CI of a statistic over pooled strata.

    Args:
        strata: Values per stratum (e.g. per-seed gains for each dose budget).
        statistic: ``"iqm"``, ``"mean"`` or ``"median"``.
        reps: Bootstrap resamples.
        confidence: Two-sided coverage of the interval.
        seed: Seed of the resampling generator (``np.random.default_rng``).

    Returns:
        ``(estimate, low, high)``; NaNs when there are no values.
    """
    functions = {"iqm": iqm, "mean": lambda a, axis=-1: np.mean(a, axis=axis), "median": lambda a, axis=-1: np.median(a, axis=axis)}
    if statistic not in functions:
        raise ValueError(f"unknown statistic {statistic!r}; valid: {', '.join(functions)}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must lie in (0, 1), got {confidence}")
    if reps < 1:
        raise ValueError(f"reps must be >= 1, got {reps}")
    groups = [np.asarray(s, dtype=np.float64) for s in strata]
    groups = [g[np.isfinite(g)] for g in groups]
    groups = [g for g in groups if g.size]
    if not groups:
        return math.nan, math.nan, math.nan
    stat = functions[statistic]
    pooled = np.concatenate(groups)
    estimate = float(stat(pooled))
    rng = np.random.default_rng(seed)
    resampled = np.concatenate([g[rng.integers(0, g.size, size=(reps, g.size))] for g in groups], axis=1)
    values = np.asarray(stat(resampled, axis=1))
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return estimate, float(low), float(high)


def _episode_key(row: Mapping[str, Any]) -> tuple[str, str, int]:
    return (row["scene"], row["env_kwargs"], int(row["seed"]))


def _curve(row: Mapping[str, Any]) -> list:
    curve = row["curve"]
    return json.loads(curve) if isinstance(curve, str) else curve


def add_relative_metrics(rows: Iterable[Mapping[str, Any]], oracle: str = "oracle", random: str = "random") -> list[dict[str, Any]]:
    """Copies of ``rows`` with ``oracle_fraction`` and ``oracle_normalised`` added.

    ``oracle_fraction``: the agent's found fraction over the oracle's at the
    agent's final dose, when the oracle ran on the same scene, env kwargs and
    seed.  ``oracle_normalised``: ``(gain − gain_random) / (gain_oracle −
    gain_random)`` on the same episode key, so 0 is random scanning and 1 the
    oracle.  NaN where the reference rows are missing or degenerate.
    """
    rows = [dict(r) for r in rows]
    oracles: dict[tuple, Mapping[str, Any]] = {}
    randoms: dict[tuple, Mapping[str, Any]] = {}
    for row in rows:
        if row["agent"] == oracle:
            oracles.setdefault(_episode_key(row), row)
        elif row["agent"] == random:
            randoms.setdefault(_episode_key(row), row)
    for row in rows:
        key = _episode_key(row)
        ref_oracle, ref_random = oracles.get(key), randoms.get(key)
        row["oracle_fraction"] = (
            metrics.oracle_fraction_at_equal_dose(_curve(row), _curve(ref_oracle)) if ref_oracle is not None else math.nan
        )
        row["oracle_normalised"] = (
            metrics.oracle_normalised(row["gain"], ref_random["gain"], ref_oracle["gain"])
            if ref_oracle is not None and ref_random is not None
            else math.nan
        )
    return rows
