"""The GP of the BO core and its fitting: a Matérn-5/2 ``SingleTaskGP`` over grid cells, refitted now and then.

``build_gp`` (model) -> ``fit_gp`` (hyperparameters, L-BFGS-B on the
closed-form objective of :mod:`~stemscan.agents.bo.likelihood`, one attempt) -> :class:`WarmGP` (hyperparameters cached between decisions and
refitted every ``refit_every`` new observations; between fits the GP is
rebuilt on all data with the cached hyperparameters, an exact posterior
update costing one small Cholesky factorisation).  :func:`prior_inputs`
turns a workflow's survey prior into standardised GP input columns.
Double precision throughout (``Normalize`` inputs, ``Standardize`` outcomes).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.means import Mean
from gpytorch.priors import GammaPrior
from scipy.optimize import minimize
from threadpoolctl import ThreadpoolController

from stemscan.agents.bo.likelihood import MaternObjective

__all__ = [
    "DTYPE",
    "FIT_OPTIONS",
    "HYPERPARAMETER_DECIMALS",
    "MIN_LENGTHSCALE",
    "PriorLinearMean",
    "WarmGP",
    "build_gp",
    "fit_gp",
    "gp_hyperparameters",
    "prior_inputs",
    "single_threaded",
]


#: Precision of every GP input, output and parameter.
DTYPE = torch.float64

#: L-BFGS-B options of every hyperparameter fit (SciPy's names): run to
#: convergence (relative reduction of the objective below ``ftol``, or
#: projected gradient below ``gtol``), at most ``maxiter`` iterations.
FIT_OPTIONS: dict[str, float] = {"maxiter": 200, "ftol": 1e-12, "gtol": 1e-8}

#: Smallest GP lengthscale, in normalised input units (a fraction of the field:
#: a sixth of a cell on the default 16 × 16 grid).  Without a floor a line
#: search of the fit may try lengthscales near 0, where the kernel matrix is
#: numerically not positive definite on some CPUs' kernels and not on others.
MIN_LENGTHSCALE = 0.01

#: Decimals kept of the fitted raw hyperparameters (see :func:`fit_gp`).
HYPERPARAMETER_DECIMALS = 4


_THREADPOOLS: Any = None


@contextmanager
def single_threaded() -> Iterator[None]:
    """Run torch and BLAS on one thread inside the block, restoring the settings after.

    A decision works on matrices of a few hundred rows: extra threads only
    add synchronisation overhead, and on a shared CPU they thrash (figures
    in ``benchmarks/bo_latency.py``).
    """
    global _THREADPOOLS
    if _THREADPOOLS is None:
        _THREADPOOLS = ThreadpoolController()
    threads = torch.get_num_threads()
    if threads != 1:
        torch.set_num_threads(1)
    try:
        with _THREADPOOLS.limit(limits=1, user_api="blas"):
            yield
    finally:
        if threads != 1:
            torch.set_num_threads(threads)


class PriorLinearMean(Mean):
    """GP mean ``c + Σ_j w_j · x[..., columns[j]]``: linear in the survey-prior inputs, constant in position.

    Args:
        columns: Indices of the input dimensions the mean is linear in.
    """

    def __init__(self, columns: Sequence[int]) -> None:
        super().__init__()
        self.columns = [int(c) for c in columns]
        self.register_parameter("constant", torch.nn.Parameter(torch.zeros(1)))
        self.register_parameter("weight", torch.nn.Parameter(torch.zeros(len(self.columns))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.constant + x[..., self.columns] @ self.weight


def build_gp(
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    bounds: torch.Tensor,
    hyperparameters: dict[str, torch.Tensor] | None = None,
    prior_columns: Sequence[int] | None = None,
    lengthscale: float = 1.0 / 3.0,
) -> SingleTaskGP:
    """A ``SingleTaskGP`` (Matérn-5/2, ARD, double precision) on normalised inputs and standardised outcomes.

    Args:
        train_x: (n, d) inputs: cell centres (row, col) as fractions of the
            field, optionally followed by survey-prior columns.
        train_y: (n,) or (n, 1) descriptor values.
        bounds: (2, d) lower/upper bounds of the inputs (fixed, so that the
            input normalisation does not move as data arrive).
        hyperparameters: Cached raw parameters from :func:`gp_hyperparameters`
            of an earlier model with the same layout; loaded when given.
        prior_columns: Input columns of the survey prior, in which the mean
            is linear (:class:`PriorLinearMean`); ``None`` for a constant mean.
        lengthscale: Mode of the Gamma(3, ·) prior on the two spatial
            Matérn lengthscales, in normalised input units (a fraction of the
            field).  BoTorch's default, Gamma(3, 6), has mode 1/3.  Prior
            columns (normalised to their range) keep a broad mode of 1/2, so
            an uninformative survey statistic does not break up the map.
            Every lengthscale is at least :data:`MIN_LENGTHSCALE`.

    Returns:
        The model in eval mode.
    """
    x = train_x.to(DTYPE)
    y = train_y.to(DTYPE).reshape(-1, 1)
    d = x.shape[-1]
    modes = torch.full((d,), 0.5, dtype=DTYPE)
    modes[:2] = lengthscale
    covar = ScaleKernel(
        MaternKernel(
            nu=2.5,
            ard_num_dims=d,
            lengthscale_prior=GammaPrior(torch.full((d,), 3.0, dtype=DTYPE), 2.0 / modes),
            lengthscale_constraint=GreaterThan(MIN_LENGTHSCALE),
        ),
        outputscale_prior=GammaPrior(2.0, 0.15),
    )
    covar.base_kernel.lengthscale = modes
    mean = PriorLinearMean(prior_columns) if prior_columns else None
    model = SingleTaskGP(
        x,
        y,
        covar_module=covar,
        mean_module=mean,
        input_transform=Normalize(d=d, bounds=bounds.to(DTYPE)),
        outcome_transform=Standardize(m=1),
    )
    model.to(DTYPE)
    if hyperparameters is not None:
        model.load_state_dict(hyperparameters, strict=False)
    model.eval()
    return model


def gp_hyperparameters(model: SingleTaskGP) -> dict[str, torch.Tensor]:
    """Copies of the model's raw trainable parameters (kernel, noise, mean); no data-dependent buffers."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def fit_gp(model: SingleTaskGP, max_iterations: int = FIT_OPTIONS["maxiter"]) -> bool:
    """Fit the hyperparameters by maximising the marginal likelihood (L-BFGS-B), from their current values.

    The objective is BoTorch's (``ExactMarginalLogLikelihood`` with the
    model's priors and constraints) computed in closed form with its
    analytic gradient (:class:`~stemscan.agents.bo.likelihood.MaternObjective`,
    tens of microseconds per evaluation instead of GPyTorch's milliseconds),
    minimised by SciPy's L-BFGS-B as ``fit_gpytorch_mll_scipy`` does.

    The optimiser runs to convergence under the fixed :data:`FIT_OPTIONS`
    (not BoTorch's or SciPy's defaults, which change between releases).
    A fit stopped early at an iteration limit ends at a point that depends
    on the path there, and the last-bit differences between CPUs' vector
    kernels move that path (``benchmarks/cpu_sensitivity.py``).
    ``max_iterations`` only bounds a fit that does not converge; an
    iteration limit, unlike a time limit, keeps the result deterministic.

    The fitted raw hyperparameters are then rounded to
    :data:`HYPERPARAMETER_DECIMALS` decimals, so that a converged fit made
    with other floating-point kernels (another CPU, another BLAS) yields
    the very same model, and the next warm-started fit starts from the same
    point.

    One attempt only (no random restarts: an agent must neither seed nor
    depend on a global generator).  On a failed fit (a covariance that is
    not positive definite on the way) the model keeps its starting (warm)
    hyperparameters.

    Returns:
        True when the fit converged.
    """
    objective = MaternObjective(model)
    options = {**FIT_OPTIONS, "maxiter": int(max_iterations)}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = minimize(objective, objective.start, jac=True, method="L-BFGS-B", bounds=objective.bounds, options=options)
        theta, ok = result.x, bool(result.success)
        if not np.isfinite(theta).all():
            theta, ok = objective.start, False
    except (np.linalg.LinAlgError, ValueError, FloatingPointError):
        theta, ok = objective.start, False
    objective.write(model, np.round(theta, HYPERPARAMETER_DECIMALS))
    model.eval()
    return ok


class WarmGP:
    """A GP whose hyperparameters are fitted every ``refit_every`` new observations and cached in between.

    Args:
        refit_every: New observations between hyperparameter fits (>= 1).

    Attributes:
        n_fits: Hyperparameter fits so far.
    """

    def __init__(self, refit_every: int) -> None:
        self.refit_every = int(refit_every)
        self.hyperparameters: dict[str, torch.Tensor] | None = None
        self.n_at_last_fit = 0
        self.n_fits = 0

    def model(
        self,
        train_x: torch.Tensor,
        train_y: torch.Tensor,
        bounds: torch.Tensor,
        prior_columns: Sequence[int] | None,
        lengthscale: float,
    ) -> SingleTaskGP:
        """The GP on ``(train_x, train_y)`` (see :func:`build_gp`), its hyperparameters refitted when due.

        The first call fits; later calls fit again once ``refit_every``
        observations arrived since the last fit (warm-started from it), and
        otherwise load the cached hyperparameters.
        """
        model = build_gp(train_x, train_y, bounds, self.hyperparameters, prior_columns, lengthscale)
        n = len(train_y)
        if self.hyperparameters is None or n - self.n_at_last_fit >= self.refit_every:
            model.train()
            fit_gp(model)
            self.n_fits += 1
            self.hyperparameters = gp_hyperparameters(model)
            self.n_at_last_fit = n
        return model


def prior_inputs(estimates: Any, n_cells: int, owner: str) -> np.ndarray | None:
    """A workflow's survey prior as standardised GP input columns, ``float64`` (n_cells, m), or None.

    Args:
        estimates: ``(n_cells,)`` or ``(n_cells, m)`` finite values (1 <= m <= 8), or None.
        n_cells: Number of grid cells.
        owner: Name used in error messages (e.g. ``"LinearBOAgent.prior()"``).

    Returns:
        The columns, each standardised to zero mean and unit standard
        deviation; constant columns are dropped; None when none is left.

    Raises:
        ValueError: Wrong shape, NaN or infinity.
    """
    if estimates is None:
        return None
    estimates = np.asarray(estimates, dtype=np.float64)
    if estimates.ndim == 1:
        estimates = estimates[:, None]
    if estimates.ndim != 2 or estimates.shape[0] != n_cells or not 1 <= estimates.shape[1] <= 8:
        raise ValueError(
            f"{owner} returned shape {estimates.shape}, expected ({n_cells},) or ({n_cells}, m) with 1 <= m <= 8"
        )
    if not np.isfinite(estimates).all():
        raise ValueError(f"{owner} returned NaN or infinity")
    spread = estimates.std(axis=0)
    keep = spread > 1e-12 * (1.0 + np.abs(estimates).max(axis=0))
    if not keep.any():
        return None
    return (estimates[:, keep] - estimates[:, keep].mean(axis=0)) / spread[keep]
