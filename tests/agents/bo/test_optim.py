"""Candidate selection and initial designs of the BO core."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents.bo import (
    best_allowed,
    build_gp,
    farthest_cell,
    latin_hypercube_cells,
    make_acquisition,
    select_cell,
    select_cell_botorch,
    spread_top_cells,
)


def test_select_cell_matches_botorch_and_skips_excluded() -> None:
    rng = np.random.default_rng(0)
    x = torch.as_tensor(rng.random((12, 2)), dtype=torch.float64)
    y = torch.as_tensor(np.sin(6 * x[:, 0].numpy()) + x[:, 1].numpy(), dtype=torch.float64)
    bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)
    model = build_gp(x, y, bounds)
    candidates = torch.as_tensor(rng.random((50, 2)), dtype=torch.float64)
    acq = make_acquisition(model, "ucb", 2.0, float(y.max()))
    allowed = np.ones(50, dtype=bool)
    best = select_cell(acq, candidates, allowed)
    assert best == select_cell_botorch(acq, candidates, allowed)
    allowed[best] = False
    second = select_cell(acq, candidates, allowed)
    assert second != best and second == select_cell_botorch(acq, candidates, allowed)
    with pytest.raises(ValueError, match="allowed"):
        select_cell(acq, candidates, np.zeros(50, dtype=bool))


def test_latin_hypercube_uses_distinct_rows_and_columns() -> None:
    cells = latin_hypercube_cells(16, 16, 4, np.random.default_rng(0))
    rows, cols = np.divmod(cells, 16)
    assert len(set(rows)) == 4 and len(set(cols)) == 4


def test_spread_top_cells_keeps_distance() -> None:
    scores = np.zeros(64)
    scores[[0, 1, 9, 63]] = [4.0, 3.0, 2.0, 1.0]  # 0, 1 and 9 are neighbours
    chosen = spread_top_cells(scores, 8, 2, 2, np.ones(64, dtype=bool))
    assert chosen == [0, 63]


def test_farthest_cell_and_best_allowed() -> None:
    rows, cols = np.divmod(np.arange(16), 4)
    centres = np.stack([rows, cols], axis=1).astype(float)
    allowed = np.ones(16, dtype=bool)
    assert farthest_cell(centres, [], allowed) == 8  # the middle allowed cell when nothing is scanned
    allowed[0] = False
    assert farthest_cell(centres, [0], allowed) == 15  # the opposite corner
    scores = np.arange(16, dtype=float)
    allowed[15] = False
    assert best_allowed(scores, allowed) == 14
    assert best_allowed(np.zeros(16), allowed) == 1  # ties: the lowest allowed index
