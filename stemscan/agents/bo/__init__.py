"""The shared Bayesian-optimisation core of every BO workflow (``linear-bo``, ``dcnn-bo``, ``rvae-bo``, ``dkl-bo``), by role.

As in BoTorch's closed loop, one small named function per step:

* :mod:`~stemscan.agents.bo.model` — the GP (``build_gp``), its fitting
  (``fit_gp``, ``WarmGP``: refitted every few observations, exact updates
  in between) and the survey prior as GP inputs (``prior_inputs``);
  :mod:`~stemscan.agents.bo.likelihood` — the fit's objective in closed form;
* :mod:`~stemscan.agents.bo.dkl` — deep kernel learning: a CNN embedding
  under a GP, trained jointly online (``dkl-bo``);
* :mod:`~stemscan.agents.bo.acquisition` — what makes a cell worth
  scanning: ``make_acquisition`` (maximum search), ``expected_change`` and
  ``boundary_straddle`` (boundary search);
* :mod:`~stemscan.agents.bo.optim` — candidate selection over the grid
  (``select_cell``) and initial designs;
* :mod:`~stemscan.agents.bo.agent` — :class:`BOAgent`, the template a
  workflow fills in with a descriptor, a survey prior and options.

The survey is real measured data: a workflow may turn it into per-cell
prior estimates of its descriptor, or a few per-cell survey statistics
(:meth:`BOAgent.prior`).  They become extra GP inputs with a linear mean in
them, so the GP learns from the data how far to trust the survey:
``y(cell) ≈ c + w·prior(cell) + f(row, col, prior)``.
"""

from __future__ import annotations

from stemscan.agents.bo.acquisition import ACQUISITIONS, boundary_straddle, expected_change, make_acquisition
from stemscan.agents.bo.agent import SEARCHES, BOAgent, BOOptions, check_lengthscale
from stemscan.agents.bo.model import (
    FIT_OPTIONS,
    HYPERPARAMETER_DECIMALS,
    MIN_LENGTHSCALE,
    PriorLinearMean,
    WarmGP,
    build_gp,
    fit_gp,
    gp_hyperparameters,
    prior_inputs,
    single_threaded,
)
from stemscan.agents.bo.optim import (
    best_allowed,
    farthest_cell,
    latin_hypercube_cells,
    select_cell,
    select_cell_botorch,
    spread_top_cells,
)

__all__ = [
    "ACQUISITIONS",
    "FIT_OPTIONS",
    "HYPERPARAMETER_DECIMALS",
    "MIN_LENGTHSCALE",
    "SEARCHES",
    "BOAgent",
    "BOOptions",
    "PriorLinearMean",
    "WarmGP",
    "best_allowed",
    "boundary_straddle",
    "build_gp",
    "check_lengthscale",
    "expected_change",
    "farthest_cell",
    "fit_gp",
    "gp_hyperparameters",
    "latin_hypercube_cells",
    "make_acquisition",
    "prior_inputs",
    "select_cell",
    "select_cell_botorch",
    "single_threaded",
    "spread_top_cells",
]
