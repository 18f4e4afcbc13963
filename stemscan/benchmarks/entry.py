"""One line of a leaderboard table, and the label that names an agent run.

Shared by :mod:`~stemscan.benchmarks.leaderboard` (which ranks) and
:mod:`~stemscan.benchmarks.report_html` (which draws), so neither imports
the other's module at import time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["Entry", "agent_label"]


@dataclass(frozen=True)
class Entry:
    """One agent's line in a family's table (see the module docstring)."""

    family: str
    rank: int
    agent: str
    episodes: int
    gain_iqm: float
    gain_ci_low: float
    gain_ci_high: float
    score_iqm: float
    auc_iqm: float
    oracle_fraction_iqm: float
    oracle_normalised_iqm: float
    latency_ms_median: float
    latency_ms_p90: float = math.nan
    latency_ms_max: float = math.nan


def agent_label(row: Mapping[str, Any]) -> str:
    """``agent`` or ``agent {kwargs}`` when the agent ran with options."""
    kwargs = row.get("agent_kwargs") or "{}"
    return row["agent"] if kwargs == "{}" else f"{row['agent']} {kwargs}"
