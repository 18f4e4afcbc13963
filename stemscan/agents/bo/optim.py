"""Candidate selection and initial designs of the BO core, over the fixed grid of scan cells.

* :func:`select_cell`: the allowed cell of highest acquisition value (the
  discrete optimisation of BoTorch's ``optimize_acqf_discrete``, in one
  batch; :func:`select_cell_botorch` is that reference);
* :func:`best_allowed`: the same for a score computed directly per cell;
* initial designs: :func:`spread_top_cells` (highest prior, spread out),
  :func:`latin_hypercube_cells` (seeded), and :func:`farthest_cell`
  (deterministic exploration before the model has contrast).

Cells are row-major indices; ``allowed`` (n_cells,) bool marks the cells
that may be chosen (not yet scanned).
"""

from __future__ import annotations

import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.optim import optimize_acqf_discrete

__all__ = [
    "best_allowed",
    "farthest_cell",
    "latin_hypercube_cells",
    "select_cell",
    "select_cell_botorch",
    "spread_top_cells",
]


def select_cell(acquisition: AcquisitionFunction, candidates: torch.Tensor, allowed: np.ndarray) -> int:
    """Index of the allowed candidate with the highest acquisition value (ties: lowest index).

    Args:
        acquisition: Acquisition function over GP inputs.
        candidates: (n_cells, d) GP inputs of every cell.
        allowed: (n_cells,) bool, False for cells that must not be chosen
            (already scanned); at least one must be True.
    """
    index = np.flatnonzero(allowed)
    if index.size == 0:
        raise ValueError("select_cell needs at least one allowed cell")
    if index.size == 1:
        return int(index[0])
    choices = candidates[torch.as_tensor(index)]
    with torch.no_grad():
        values = acquisition(choices.unsqueeze(-2))  # one batch over all choices
    return int(index[int(torch.argmax(values))])


def select_cell_with_belief(
    acquisition: AcquisitionFunction,
    candidates: torch.Tensor,
    allowed: np.ndarray,
    belief: np.ndarray,
    exponent: float,
) -> int:
    """The allowed cell maximising the acquisition weighted by a prior belief, as in πBO.

    πBO (Hvarfner et al., ICLR 2022) multiplies the acquisition by the
    user's prior belief raised to ``beta / n``, so that the belief steers
    the first decisions and fades as observations accumulate.  The
    acquisition values of the allowed cells are mapped to [0, 1] (min-max;
    a constant acquisition leaves the belief alone to decide) before the
    weighting, so the rule does not depend on the acquisition's scale.

    Args:
        acquisition, candidates, allowed: As :func:`select_cell`.
        belief: (n_cells,) prior belief, positive (e.g. ``exp`` of a
            standardised survey statistic, maximum 1).
        exponent: ``beta / n``: the belief's weight (>= 0; 0 ignores it).
    """
    index = np.flatnonzero(allowed)
    if index.size == 0:
        raise ValueError("select_cell_with_belief needs at least one allowed cell")
    choices = candidates[torch.as_tensor(index)]
    with torch.no_grad():
        values = acquisition(choices.unsqueeze(-2)).double().numpy()
    span = float(values.max() - values.min())
    scaled = (values - values.min()) / span if span > 0 else np.ones_like(values)
    weighted = (scaled + 1e-3) * np.power(np.asarray(belief, dtype=np.float64)[index], exponent)
    return int(index[int(np.argmax(weighted))])


def select_cell_botorch(acquisition: AcquisitionFunction, candidates: torch.Tensor, allowed: np.ndarray) -> int:
    """Same choice as :func:`select_cell` via BoTorch's ``optimize_acqf_discrete`` (reference implementation)."""
    index = np.flatnonzero(allowed)
    choices = candidates[torch.as_tensor(index)]
    best, _ = optimize_acqf_discrete(acquisition, q=1, choices=choices)
    match = torch.nonzero(torch.all(choices == best[0], dim=-1))
    return int(index[int(match[0, 0])])


def latin_hypercube_cells(n_rows: int, n_cols: int, n: int, rng: np.random.Generator) -> list[int]:
    """``n`` grid cells (row-major indices) with rows and columns in distinct strata (a seeded Latin hypercube)."""
    n = max(1, min(n, n_rows, n_cols))
    row_edges = np.linspace(0, n_rows, n + 1)
    col_edges = np.linspace(0, n_cols, n + 1)
    rows = [int(rng.integers(int(row_edges[i]), max(int(row_edges[i + 1]), int(row_edges[i]) + 1))) for i in range(n)]
    cols = [int(rng.integers(int(col_edges[i]), max(int(col_edges[i + 1]), int(col_edges[i]) + 1))) for i in range(n)]
    order = rng.permutation(n)
    return [rows[i] * n_cols + cols[order[i]] for i in range(n)]


def spread_top_cells(scores: np.ndarray, n_cols: int, n: int, min_separation: int, allowed: np.ndarray) -> list[int]:
    """Up to ``n`` allowed cells of highest score, each at least ``min_separation`` cells (Chebyshev) from the others.

    Falls back to the next-highest cells when the separation cannot be met.
    """
    order = np.argsort(-scores, kind="stable")
    order = order[allowed[order]]
    rows, cols = np.divmod(order, n_cols)
    chosen: list[int] = []
    for i, cell in enumerate(order):
        if len(chosen) == n:
            break
        far = all(max(abs(rows[i] - c // n_cols), abs(cols[i] - c % n_cols)) >= min_separation for c in chosen)
        if far:
            chosen.append(int(cell))
    for cell in order:
        if len(chosen) == n:
            break
        if int(cell) not in chosen:
            chosen.append(int(cell))
    return chosen


def best_allowed(scores: np.ndarray, allowed: np.ndarray) -> int:
    """The allowed cell of highest ``scores`` (ties: lowest index)."""
    return int(np.argmax(np.where(allowed, scores, -np.inf)))


def farthest_cell(centres: np.ndarray, scanned: list[int], allowed: np.ndarray) -> int:
    """The allowed cell farthest from every scanned one; the middle allowed cell when none is scanned.

    Args:
        centres: (n_cells, 2) cell centres (any unit).
        scanned: Cells scanned so far (repeats allowed).
        allowed: (n_cells,) bool.
    """
    index = np.flatnonzero(allowed)
    if not scanned:
        return int(index[len(index) // 2])
    d = np.linalg.norm(centres[index, None, :] - centres[None, scanned, :], axis=-1).min(axis=1)
    return int(index[int(np.argmax(d))])
