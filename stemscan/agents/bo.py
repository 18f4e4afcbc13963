"""The shared Bayesian-optimisation core of every BO workflow (``linear-bo``, ``dcnn-bo``, ``rvae-bo``).

A Gaussian process over the fixed grid of sub-scan cells models a scalar
*descriptor* (what a workflow wants to maximise, e.g. a PCA loading of the
local FFT, a defect density, an rVAE latent) from the cells scanned so far,
and an acquisition function picks the next unscanned cell.  The loop is the
one of BoTorch's closed-loop tutorial, one small named function per step:

``build_gp`` (model) -> ``fit_gp`` (hyperparameters) -> ``make_acquisition``
-> ``select_cell`` (discrete optimisation over the unscanned cells).

Speed: a decision must take a few milliseconds, not seconds, or the
microscope idles (a 32×32 sub-scan takes ~4-10 ms).  Hyperparameters are
therefore fitted only every ``refit_every`` observations (warm-started from
the previous fit); between fits the GP is rebuilt on all data with the cached
hyperparameters, which is an exact posterior update costing one small
Cholesky factorisation.

The survey is real measured data.  A workflow may turn it into per-cell
*prior* estimates of its descriptor, or a few per-cell survey statistics
(:meth:`BOAgent.prior`).  These become extra GP inputs with a linear mean in
them, so the GP learns from the data how far to trust the survey:
``y(cell) ≈ c + w·prior(cell) + f(row, col, prior)``.  A single prior column
also picks the initial cells (highest, spread out).

Subclasses implement :meth:`BOAgent.descriptor` only; everything else
(cell bookkeeping, GP, acquisition, action conversion) lives here.
"""

from __future__ import annotations

import warnings
from abc import abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from botorch.acquisition import AcquisitionFunction
from botorch.acquisition.analytic import (
    ExpectedImprovement,
    LogExpectedImprovement,
    PosteriorStandardDeviation,
    UpperConfidenceBound,
)
from botorch.exceptions import ModelFittingError
from botorch.optim.core import OptimizationStatus
from botorch.optim.fit import fit_gpytorch_mll_scipy
from botorch.models import SingleTaskGP
from botorch.models.transforms.input import Normalize
from botorch.models.transforms.outcome import Standardize
from botorch.optim import optimize_acqf_discrete
from gpytorch.constraints import GreaterThan
from gpytorch.kernels import MaternKernel, ScaleKernel
from gpytorch.means import Mean
from gpytorch.mlls import ExactMarginalLogLikelihood
from gpytorch.priors import GammaPrior
from threadpoolctl import ThreadpoolController

from stemscan.agents.base import Agent

__all__ = [
    "ACQUISITIONS",
    "BOAgent",
    "PriorLinearMean",
    "build_gp",
    "check_lengthscale",
    "fit_gp",
    "gp_hyperparameters",
    "latin_hypercube_cells",
    "make_acquisition",
    "select_cell",
    "select_cell_botorch",
    "single_threaded",
    "spread_top_cells",
]

#: Acquisition names accepted by :func:`make_acquisition` and :class:`BOAgent`.
ACQUISITIONS = ("ucb", "logei", "ei", "explore")

_DTYPE = torch.float64

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
    add synchronisation overhead, and on a shared CPU they thrash (10x
    slower decisions were measured with two threads on a busy 2-core host).
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


# ---------------------------------------------------------------------- model
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
    x = train_x.to(_DTYPE)
    y = train_y.to(_DTYPE).reshape(-1, 1)
    d = x.shape[-1]
    modes = torch.full((d,), 0.5, dtype=_DTYPE)
    modes[:2] = lengthscale
    covar = ScaleKernel(
        MaternKernel(
            nu=2.5,
            ard_num_dims=d,
            lengthscale_prior=GammaPrior(torch.full((d,), 3.0, dtype=_DTYPE), 2.0 / modes),
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
        input_transform=Normalize(d=d, bounds=bounds.to(_DTYPE)),
        outcome_transform=Standardize(m=1),
    )
    model.to(_DTYPE)
    if hyperparameters is not None:
        model.load_state_dict(hyperparameters, strict=False)
    model.eval()
    return model


def gp_hyperparameters(model: SingleTaskGP) -> dict[str, torch.Tensor]:
    """Copies of the model's raw trainable parameters (kernel, noise, mean); no data-dependent buffers."""
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def fit_gp(model: SingleTaskGP, max_iterations: int = FIT_OPTIONS["maxiter"]) -> bool:
    """Fit the hyperparameters by maximising the marginal likelihood (L-BFGS-B), from their current values.

    The optimiser runs to convergence under the fixed :data:`FIT_OPTIONS`
    (not BoTorch's or SciPy's defaults, which change between releases).
    A fit stopped early at an iteration limit ends at a point that depends
    on the path there, and the last-bit differences between CPUs' vector
    kernels move that path: fits cut at 50 iterations were the reason
    benchmark rows changed between machines (``benchmarks/cpu_sensitivity.py``).
    ``max_iterations`` only bounds a fit that does not converge; an
    iteration limit, unlike a time limit, keeps the result deterministic.

    The fitted raw hyperparameters are then rounded to
    :data:`HYPERPARAMETER_DECIMALS` decimals, so that a converged fit made
    with other floating-point kernels (another CPU, another BLAS) yields
    the very same model, and the next warm-started fit starts from the same
    point.

    One attempt only: BoTorch's retries would draw restarts from torch's
    global generator, which an agent must neither seed nor depend on.  On a
    failed fit the model keeps its starting (warm) hyperparameters.

    Returns:
        True when the fit converged.
    """
    mll = ExactMarginalLogLikelihood(model.likelihood, model)
    options = {**FIT_OPTIONS, "maxiter": int(max_iterations)}
    start = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.train()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result = fit_gpytorch_mll_scipy(mll, method="L-BFGS-B", options=options)
        ok = result.status == OptimizationStatus.SUCCESS
    except (ModelFittingError, RuntimeError, ValueError):
        model.load_state_dict(start, strict=False)
        ok = False
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.round(parameter, decimals=HYPERPARAMETER_DECIMALS))
    model.eval()
    return ok


# ---------------------------------------------------------------- acquisition
def make_acquisition(model: SingleTaskGP, kind: str, beta: float, best_f: float) -> AcquisitionFunction:
    """The acquisition function ``kind`` on ``model``.

    Args:
        model: A fitted GP.
        kind: ``"ucb"`` (mean + sqrt(beta)·std), ``"logei"`` / ``"ei"``
            ((log) expected improvement over ``best_f``), ``"explore"``
            (posterior standard deviation: pure exploration).
        beta: UCB trade-off (ignored otherwise).
        best_f: Best descriptor value observed so far (EI's incumbent).
    """
    if kind == "ucb":
        return UpperConfidenceBound(model, beta=beta)
    if kind == "logei":
        return LogExpectedImprovement(model, best_f=best_f)
    if kind == "ei":
        return ExpectedImprovement(model, best_f=best_f)
    if kind == "explore":
        return PosteriorStandardDeviation(model)
    raise ValueError(f"unknown acquisition {kind!r}; valid: {', '.join(ACQUISITIONS)}")


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


def select_cell_botorch(acquisition: AcquisitionFunction, candidates: torch.Tensor, allowed: np.ndarray) -> int:
    """Same choice as :func:`select_cell` via BoTorch's ``optimize_acqf_discrete`` (reference implementation)."""
    index = np.flatnonzero(allowed)
    choices = candidates[torch.as_tensor(index)]
    best, _ = optimize_acqf_discrete(acquisition, q=1, choices=choices)
    match = torch.nonzero(torch.all(choices == best[0], dim=-1))
    return int(index[int(match[0, 0])])


def check_lengthscale(value: Any) -> float:
    """``value`` as a positive finite float; ``ValueError`` naming ``lengthscale_cells`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"lengthscale_cells must be a positive finite number of grid cells, got {value!r}")
    return float(value)


# -------------------------------------------------------------- initial design
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


# ---------------------------------------------------------------------- agent
class BOAgent(Agent):
    """Base of every BO workflow: a GP over grid-cell centres picks the next cell.

    Each step the agent turns the patch just acquired into a scalar with
    :meth:`descriptor`, records it at the patch's grid cell, updates the GP
    and scans the unscanned cell of highest acquisition value.  A scanned
    cell is never chosen again until every cell has been scanned.  The
    first observation of an episode (after :meth:`reset`, or with
    ``episode_start``) must be the env's reset observation: it has no patch
    yet, and its ``overview`` (the survey) feeds :meth:`prior`.

    Args:
        env: The STEMScan env (for spaces and geometry).
        seed: Seed of the agent's generator (initial design).
        acquisition: One of :data:`ACQUISITIONS` (default ``"ucb"``).
        beta: UCB exploration weight (mean + sqrt(beta)·std), > 0.
        refit_every: Refit GP hyperparameters every this many new
            observations (>= 1); in between, exact updates with cached ones.
        n_initial: Cells scanned before the GP takes over (>= 1), chosen
            from the survey prior when :meth:`prior` returns one, otherwise
            a seeded Latin hypercube over the grid.
        use_prior: Use :meth:`prior` (the survey) at all.

    Attributes:
        lengthscale_cells: Prior mode of the GP lengthscale, in grid cells
            (class default 2.0): the expected size of regions of similar
            descriptor; the fitted lengthscale moves from it as data demand.
            A workflow may override it (class attribute, or an explicit
            keyword of its own that it adds to :meth:`config`).

    Subclasses implement :meth:`descriptor` and optionally :meth:`prior`,
    add their own explicit keywords and extend :meth:`config`.
    """

    lengthscale_cells: float = 2.0

    def __init__(
        self,
        env: gym.Env,
        seed: int | None = 0,
        acquisition: str = "ucb",
        beta: float = 4.0,
        refit_every: int = 4,
        n_initial: int = 4,
        use_prior: bool = True,
    ) -> None:
        super().__init__(env, seed)
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"unknown acquisition {acquisition!r}; valid: {', '.join(ACQUISITIONS)}")
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not np.isfinite(beta) or beta <= 0:
            raise ValueError(f"beta must be a positive finite number, got {beta!r}")
        for name, value in (("refit_every", refit_every), ("n_initial", n_initial)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.acquisition = acquisition
        self.beta = float(beta)
        self.refit_every = int(refit_every)
        self.n_initial = int(n_initial)
        self.use_prior = bool(use_prior)
        geometry = self.field.geometry
        self.n_cells = geometry.n_cells
        self._centres = torch.as_tensor(self.field.cell_centres, dtype=_DTYPE)

    # -------------------------------------------------------------- hooks
    @abstractmethod
    def descriptor(self, observation: dict[str, np.ndarray]) -> float:
        """Scalar to maximise for the patch just acquired (``observation['patch']`` at ``observation['position']``)."""

    def prior(self, observation: dict[str, np.ndarray]) -> np.ndarray | None:
        """Optional per-cell descriptor estimates from the survey.

        Called once per episode with the reset observation (its
        ``overview`` is the survey).  Return ``(n_cells,)`` finite values on
        any scale (row-major cell order, as ``field.cell_centres``; higher =
        more promising: the initial cells are the highest, spread out), or
        ``(n_cells, m)`` survey statistics (m <= 8) whose relation to the
        descriptor the GP's linear mean learns (the initial cells are then a
        Latin hypercube), or ``None`` (the default) for no prior.  Columns
        are standardised; constant ones are dropped.
        """
        return None

    def initial_cells(self) -> list[int]:
        """Optional: cells to scan first, before the initial design (e.g. a user's example region).

        Called once per episode after :meth:`prior`; the default is none.
        """
        return []

    def redescribe(self) -> list[float] | None:
        """Optional: every observation's descriptor again, when the descriptor itself has changed.

        Called after each :meth:`descriptor`.  A workflow whose descriptor is
        refitted on the data (e.g. a PCA of all patches so far) returns the
        new values of all observations, in the order of
        :attr:`observed_cells`; the default ``None`` keeps the stored values.
        """
        return None

    def choose_cell(self, allowed: np.ndarray) -> int | None:
        """Optional: the workflow's own choice of the next cell once the initial design is scanned.

        ``allowed`` (n_cells,) bool marks the unscanned cells.  Return one of
        them (row-major index) to override the core's GP acquisition on the
        scalar descriptor, e.g. a workflow whose quantity of interest is not
        a maximum but a boundary; the default ``None`` keeps the core's
        choice (so agents that do not override it are unaffected).
        """
        return None

    @property
    def observed_cells(self) -> list[int]:
        """Grid cells of this episode's observations, in acquisition order (repeats possible)."""
        return list(self._cells)

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "acquisition": self.acquisition,
            "beta": self.beta,
            "refit_every": self.refit_every,
            "n_initial": self.n_initial,
            "use_prior": self.use_prior,
        }

    # ------------------------------------------------------------ episode
    def _start_episode(self) -> None:
        self._cells: list[int] = []
        self._values: list[float] = []
        self._scanned = np.zeros(self.n_cells, dtype=bool)
        self._prior_columns: np.ndarray | None = None
        self._hyperparameters: dict[str, torch.Tensor] | None = None
        self._n_at_last_fit = 0
        self._initial: list[int] = []
        self._first = True
        self.last_fit_ok: bool | None = None
        self.n_fits = 0  # hyperparameter fits this episode

    def _predict(self, observation: dict[str, np.ndarray], deterministic: bool) -> Any:
        with single_threaded():
            return self._decide(observation)

    def _decide(self, observation: dict[str, np.ndarray]) -> Any:
        if self._first:
            # The reset observation: no patch yet, only the survey.
            self._first = False
            self._set_prior(observation)
        else:
            self._record(observation)
        if self._scanned.all():
            self._scanned[:] = False  # every cell scanned: start over
        return self.action_for_cell(self._next_cell())

    def _set_prior(self, observation: dict[str, np.ndarray]) -> None:
        estimates = self.prior(observation) if self.use_prior else None
        if estimates is not None:
            estimates = np.asarray(estimates, dtype=np.float64)
            if estimates.ndim == 1:
                estimates = estimates[:, None]
            if estimates.ndim != 2 or estimates.shape[0] != self.n_cells or not 1 <= estimates.shape[1] <= 8:
                raise ValueError(
                    f"{type(self).__name__}.prior() returned shape {estimates.shape}, "
                    f"expected ({self.n_cells},) or ({self.n_cells}, m) with 1 <= m <= 8"
                )
            if not np.isfinite(estimates).all():
                raise ValueError(f"{type(self).__name__}.prior() returned NaN or infinity")
            spread = estimates.std(axis=0)
            keep = spread > 1e-12 * (1.0 + np.abs(estimates).max(axis=0))
            if keep.any():
                self._prior_columns = (estimates[:, keep] - estimates[:, keep].mean(axis=0)) / spread[keep]
        if self._prior_columns is not None and self._prior_columns.shape[1] == 1:
            g = self.field.geometry
            separation = max(1, int(round(min(g.n_rows, g.n_cols) / (2.0 * np.sqrt(self.n_initial)))))
            self._initial = spread_top_cells(self._prior_columns[:, 0], g.n_cols, self.n_initial, separation, ~self._scanned)
        else:
            g = self.field.geometry
            self._initial = latin_hypercube_cells(g.n_rows, g.n_cols, self.n_initial, self.rng)
        first = [int(c) for c in self.initial_cells()]
        if any(not 0 <= c < self.n_cells for c in first):
            raise ValueError(f"{type(self).__name__}.initial_cells() returned a cell outside 0..{self.n_cells - 1}: {first}")
        self._initial = first + [c for c in self._initial if c not in first]

    def _record(self, observation: dict[str, np.ndarray]) -> None:
        value = float(self.descriptor(observation))
        if not np.isfinite(value):
            raise ValueError(f"{type(self).__name__}.descriptor() returned {value!r}; it must be finite")
        cell = self.field.cell_of_position(np.asarray(observation["position"], dtype=np.float64))
        self._cells.append(cell)
        self._values.append(value)
        self._scanned[cell] = True
        values = self.redescribe()
        if values is not None:
            values = [float(v) for v in values]
            if len(values) != len(self._cells) or not np.isfinite(values).all():
                raise ValueError(
                    f"{type(self).__name__}.redescribe() must return {len(self._cells)} finite values, "
                    f"one per observation"
                )
            self._values = values

    # ----------------------------------------------------------- decision
    def _inputs(self) -> tuple[torch.Tensor, torch.Tensor, list[int] | None]:
        """GP inputs of every cell (n_cells, d), their bounds (2, d), and the prior columns."""
        if self._prior_columns is None:
            bounds = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=_DTYPE)
            return self._centres, bounds, None
        prior = torch.as_tensor(self._prior_columns, dtype=_DTYPE)
        x = torch.cat([self._centres, prior], dim=-1)
        bounds = torch.stack([x.min(dim=0).values, x.max(dim=0).values])
        bounds[:, :2] = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=_DTYPE)
        return x, bounds, list(range(2, x.shape[1]))

    def _next_cell(self) -> int:
        allowed = ~self._scanned
        while self._initial:
            cell = self._initial.pop(0)
            if allowed[cell]:
                return cell
        chosen = self.choose_cell(allowed)
        if chosen is not None:
            chosen = int(chosen)
            if not (0 <= chosen < self.n_cells and allowed[chosen]):
                raise ValueError(
                    f"{type(self).__name__}.choose_cell() returned {chosen}, which is not an unscanned cell "
                    f"in 0..{self.n_cells - 1}"
                )
            return chosen
        if len(self._values) < 2 or np.ptp(self._values) == 0:
            return self._farthest_cell(allowed)
        candidates, bounds, prior_columns = self._inputs()
        model = self.posterior_model(candidates, bounds, prior_columns)
        acq = make_acquisition(model, self.acquisition, self.beta, max(self._values))
        return select_cell(acq, candidates, allowed)

    def posterior_model(
        self, candidates: torch.Tensor, bounds: torch.Tensor, prior_columns: list[int] | None
    ) -> SingleTaskGP:
        """The GP on all observations; hyperparameters refitted when ``refit_every`` new ones arrived."""
        train_x = candidates[torch.as_tensor(self._cells)]
        train_y = torch.as_tensor(self._values, dtype=_DTYPE)
        g = self.field.geometry
        lengthscale = check_lengthscale(self.lengthscale_cells) / max(g.n_rows, g.n_cols)
        model = build_gp(train_x, train_y, bounds, self._hyperparameters, prior_columns, lengthscale)
        n = len(self._values)
        if self._hyperparameters is None or n - self._n_at_last_fit >= self.refit_every:
            model.train()
            self.last_fit_ok = fit_gp(model)
            self.n_fits += 1
            self._hyperparameters = gp_hyperparameters(model)
            self._n_at_last_fit = n
        return model

    def _farthest_cell(self, allowed: np.ndarray) -> int:
        """Allowed cell farthest from every scanned one (deterministic exploration before the GP has contrast)."""
        index = np.flatnonzero(allowed)
        if not self._cells:
            return int(index[len(index) // 2])
        centres = self.field.cell_centres
        d = np.linalg.norm(centres[index, None, :] - centres[None, self._cells, :], axis=-1).min(axis=1)
        return int(index[int(np.argmax(d))])
