"""Shared fixtures: a tiny field so episodes take milliseconds."""

from __future__ import annotations

import pytest

#: 64×64 field, 16×16 sub-scans, 30 % budget: 3–4 steps per episode.
TINY_ENV = {"image_size": 64, "patch_size": 16}
TINY_BUDGET = 0.3


@pytest.fixture()
def tiny_grid():
    from stemscan.benchmarks import expand_grid

    return expand_grid(["random", "raster", "oracle"], ["lattice-defects"], 2, budgets=[TINY_BUDGET], env_kwargs=TINY_ENV)
