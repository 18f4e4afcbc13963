"""``BOAgent``: the template every BO workflow fills in with a descriptor, a prior and options.

Each step the agent turns the patch just acquired into a scalar with
:meth:`BOAgent.descriptor`, records it at the patch's grid cell, and picks
the next unscanned cell.  What it looks for is the ``search`` target:

* ``"maximum"`` (default): a GP (:mod:`~stemscan.agents.bo.model`) models
  the descriptor over the cells, with the survey prior as extra inputs, and
  an acquisition function (:mod:`~stemscan.agents.bo.acquisition`) is
  maximised over the unscanned cells (:mod:`~stemscan.agents.bo.optim`);
* ``"change"`` / ``"straddle"``: a GP per component models a field the
  workflow reports per observation (:meth:`BOAgent.field_values`, e.g. a
  domain's polarisation direction), and the next cell is where that field
  most likely changes (a boundary such as a domain wall).

Before the model has contrast (fewer than two different values) the agent
scans the cell farthest from every scanned one.  Workflows never build or
fit a GP themselves.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, TypedDict

import gymnasium as gym
import numpy as np
import torch
from botorch.models import SingleTaskGP

from stemscan.agents.base import Agent
from stemscan.agents.bo.acquisition import ACQUISITIONS, boundary_straddle, expected_change, make_acquisition
from stemscan.agents.bo.model import DTYPE, MIN_LENGTHSCALE, WarmGP, prior_inputs, single_threaded
from stemscan.agents.bo.optim import (
    best_allowed,
    farthest_cell,
    latin_hypercube_cells,
    select_cell,
    select_cell_with_belief,
    spread_top_cells,
)
from stemscan.validation import check_bool, check_int, check_number, check_positive

__all__ = ["SEARCHES", "BOAgent", "BOOptions", "check_lengthscale"]

#: What the core searches for (``search=``): see the module docstring.
SEARCHES = ("maximum", "change", "straddle")

_UNIT_BOUNDS = ((0.0, 0.0), (1.0, 1.0))


class BOOptions(TypedDict, total=False):
    """The BO core's options, accepted by every workflow as keywords (``**core: Unpack[BOOptions]``).

    A workflow passes them on whole (``super().__init__(env, seed, **core)``)
    and never re-types them; see :class:`BOAgent` for each one's meaning.
    """

    acquisition: str
    beta: float
    refit_every: int
    n_initial: int
    use_prior: bool
    use_descriptor: bool
    prior_belief: float
    lengthscale_cells: float | None


def check_lengthscale(value: Any) -> float:
    """``value`` as a positive finite float; ``ValueError`` naming ``lengthscale_cells`` otherwise."""
    return check_positive("lengthscale_cells", value)


class BOAgent(Agent):
    """Base of every BO workflow: GPs over grid-cell centres pick the next cell.

    A scanned cell is never chosen again until every cell has been scanned.
    The first observation of an episode (after :meth:`reset`, or with
    ``episode_start``) must be the env's reset observation: it has no patch
    yet, and its ``overview`` (the survey) feeds :meth:`prior`.

    Args:
        env: The STEMScan env (for spaces and geometry).
        seed: Seed of the agent's generator (initial design).
        acquisition: One of :data:`~stemscan.agents.bo.acquisition.ACQUISITIONS`
            (default ``"ucb"``; ``search="maximum"`` only).
        beta: UCB exploration weight (mean + sqrt(beta)·std), > 0.
        refit_every: Refit GP hyperparameters every this many new
            observations (>= 1); in between, exact updates with cached ones.
        n_initial: Cells scanned before the GP takes over (>= 1), chosen
            from the survey prior when :meth:`prior` returns one column,
            otherwise a seeded Latin hypercube over the grid.
        use_prior: Use :meth:`prior` (the survey) at all (a bool).
        use_descriptor: Analyse the measured patches (a bool; default
            True).  False is the *prior-only* ablation: after the initial
            cells, the unscanned cell the survey prior rates highest (the
            mean of its standardised columns), or a space-filling scan
            without a prior; :meth:`descriptor` is never called.  With
            ``use_prior=False`` it is the *descriptor-only* ablation; with
            both on, the workflow (see the README's ablation table).
        prior_belief: Weight of the survey prior as a *belief* in the
            acquisition (>= 0; 0 turns it off), πBO's β (Hvarfner et al.,
            ICLR 2022): with a one-column prior, ``search="maximum"``
            picks the unscanned cell maximising the (min-max scaled)
            acquisition × ``exp(z − max z) ** (prior_belief / n)``, ``z``
            the standardised prior and ``n`` the observations so far, so the
            survey steers the early decisions and the descriptor's GP the
            later ones.  Default 80, chosen with the learned survey prior
            on development seeds 100-119 among 5, 20, 80 and 200 (20 with
            the edge prior before it; the README gives the figures).
        lengthscale_cells: Prior mode of the GP lengthscale, in grid cells
            (> 0): the expected size of regions of similar descriptor; the
            fitted lengthscale moves from it as data demand.  ``None`` keeps
            the class attribute (2.0 unless a workflow overrides it).
        search: One of :data:`SEARCHES`.  ``"change"``: the unscanned cell
            whose expected squared change to a grid neighbour under the
            joint posterior of :meth:`field_values` is largest
            (:func:`~stemscan.agents.bo.acquisition.expected_change`);
            ``"straddle"``: the level-set criterion
            (:func:`~stemscan.agents.bo.acquisition.boundary_straddle`, with
            the attributes ``boundary_kappa`` and ``boundary_classes``).

    Attributes:
        boundary_kappa: Weight of the uncertainty in ``"straddle"`` (class default 1.96).
        boundary_classes: Direction classes of a 2-component field in ``"straddle"`` (class default 2).

    Subclasses implement :meth:`descriptor` and optionally :meth:`prior`,
    :meth:`initial_cells`, :meth:`redescribe` and :meth:`field_values`,
    add their own explicit keywords and extend :meth:`config` (the core's
    ``lengthscale_cells`` and ``search`` are reported by the workflows that
    expose them, under their own names).
    """

    lengthscale_cells: float = 2.0
    boundary_kappa: float = 1.96
    boundary_classes: int = 2

    def __init__(
        self,
        env: gym.Env,
        seed: int | None = 0,
        acquisition: str = "ucb",
        beta: float = 4.0,
        refit_every: int = 4,
        n_initial: int = 4,
        use_prior: bool = True,
        lengthscale_cells: float | None = None,
        search: str = "maximum",
        use_descriptor: bool = True,
        prior_belief: float = 80.0,
    ) -> None:
        super().__init__(env, seed)
        if acquisition not in ACQUISITIONS:
            raise ValueError(f"unknown acquisition {acquisition!r}; valid: {', '.join(ACQUISITIONS)}")
        if search not in SEARCHES:
            raise ValueError(f"unknown search {search!r}; valid: {', '.join(SEARCHES)}")
        self.acquisition = acquisition
        self.beta = check_positive("beta", beta)
        self.refit_every = check_int("refit_every", refit_every, 1)
        self.n_initial = check_int("n_initial", n_initial, 1)
        self.use_prior = check_bool("use_prior", use_prior)
        self.use_descriptor = check_bool("use_descriptor", use_descriptor)
        self.prior_belief = check_number("prior_belief", prior_belief, 0.0)
        self.search = search
        if lengthscale_cells is not None:
            self.lengthscale_cells = check_lengthscale(lengthscale_cells)
        self.n_cells = self.field.geometry.n_cells
        self._centres = torch.as_tensor(self.field.cell_centres, dtype=DTYPE)

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
        new values of all observations, in acquisition order; the default
        ``None`` keeps the stored values.
        """
        return None

    def field_values(self) -> np.ndarray | None:
        """The field a ``"change"`` / ``"straddle"`` search models: ``(n_observations, d)`` values, or None.

        One row per observation so far, in acquisition order; a row of NaN
        for an observation without a value (e.g. a patch without atoms).
        ``d = 1``: a signed scalar whose boundary is its level 0; ``d = 2``:
        a unit-vector field ``(cos α, sin α)`` whose classes are
        ``boundary_classes`` directions.  The default (None) has no field.
        """
        return None

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "acquisition": self.acquisition,
            "beta": self.beta,
            "refit_every": self.refit_every,
            "n_initial": self.n_initial,
            "use_prior": self.use_prior,
            "use_descriptor": self.use_descriptor,
            "prior_belief": self.prior_belief,
        }

    @property
    def descriptors(self) -> list[float]:
        """The descriptor of every observation this episode, in acquisition order, as the GP sees them."""
        return list(getattr(self, "_values", []))

    @property
    def prior_columns(self) -> np.ndarray | None:
        """This episode's survey prior as standardised GP input columns (n_cells, m), or None (no usable prior)."""
        columns = getattr(self, "_prior_columns", None)
        return None if columns is None else columns.copy()

    @property
    def n_fits(self) -> int:
        """Hyperparameter fits this episode (all GPs; 0 before the first episode)."""
        if not hasattr(self, "_gp"):
            return 0
        return self._gp.n_fits + sum(gp.n_fits for gp in self._field_gps)

    # ------------------------------------------------------------ episode
    def _start_episode(self) -> None:
        self._cells: list[int] = []
        self._values: list[float] = []
        self._scanned = np.zeros(self.n_cells, dtype=bool)
        self._prior_columns: np.ndarray | None = None
        self._gp = WarmGP(self.refit_every)
        self._field_gps: list[WarmGP] = []  # one per field component
        self._initial: list[int] = []
        self._first = True

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
        self._prior_columns = prior_inputs(estimates, self.n_cells, f"{type(self).__name__}.prior()")
        g = self.field.geometry
        if self._prior_columns is not None and self._prior_columns.shape[1] == 1:
            separation = max(1, int(round(min(g.n_rows, g.n_cols) / (2.0 * np.sqrt(self.n_initial)))))
            self._initial = spread_top_cells(self._prior_columns[:, 0], g.n_cols, self.n_initial, separation, ~self._scanned)
        else:
            self._initial = latin_hypercube_cells(g.n_rows, g.n_cols, self.n_initial, self.rng)
        first = [int(c) for c in self.initial_cells()]
        if any(not 0 <= c < self.n_cells for c in first):
            raise ValueError(f"{type(self).__name__}.initial_cells() returned a cell outside 0..{self.n_cells - 1}: {first}")
        self._initial = first + [c for c in self._initial if c not in first]

    def _record(self, observation: dict[str, np.ndarray]) -> None:
        if not self.use_descriptor:  # the prior-only ablation: the patch is not analysed
            cell = self.field.cell_of_position(np.asarray(observation["position"], dtype=np.float64))
            self._cells.append(cell)
            self._values.append(0.0)
            self._scanned[cell] = True
            return
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
    def _next_cell(self) -> int:
        allowed = ~self._scanned
        while self._initial:
            cell = self._initial.pop(0)
            if allowed[cell]:
                return cell
        if not self.use_descriptor:
            return self._prior_cell(allowed)
        if self.search == "maximum":
            return self._maximum_cell(allowed)
        return self._boundary_cell(allowed)

    def _prior_cell(self, allowed: np.ndarray) -> int:
        """Prior-only ablation: the unscanned cell the survey prior rates highest (mean of its standardised columns).

        Without a usable prior, the cell farthest from every scanned one (a space-filling scan).
        """
        if self._prior_columns is None:
            return farthest_cell(self.field.cell_centres, self._cells, allowed)
        scores = np.where(allowed, self._prior_columns.mean(axis=1), -np.inf)
        return int(np.argmax(scores))

    def _lengthscale(self) -> float:
        """The lengthscale prior mode in normalised input units (a fraction of the field).

        ``lengthscale_cells`` over the grid's longer side, but at least twice
        the GP's floor :data:`~stemscan.agents.bo.model.MIN_LENGTHSCALE` (a
        field more than 100 cells across, or a mode below a fifth of a cell on
        the default grid, starts from that floor instead).
        """
        g = self.field.geometry
        return max(check_lengthscale(self.lengthscale_cells) / max(g.n_rows, g.n_cols), 2.0 * MIN_LENGTHSCALE)

    def _maximum_cell(self, allowed: np.ndarray) -> int:
        """``search="maximum"``: the acquisition's best unscanned cell on the descriptor's GP."""
        if len(self._values) < 2 or np.ptp(self._values) == 0:
            return farthest_cell(self.field.cell_centres, self._cells, allowed)
        candidates, bounds, prior_columns = self._inputs()
        train_x = candidates[torch.as_tensor(self._cells)]
        train_y = torch.as_tensor(self._values, dtype=DTYPE)
        model = self._gp.model(train_x, train_y, bounds, prior_columns, self._lengthscale())
        acq = make_acquisition(model, self.acquisition, self.beta, max(self._values))
        belief = self._belief()
        if belief is None:
            return select_cell(acq, candidates, allowed)
        return select_cell_with_belief(acq, candidates, allowed, belief, self.prior_belief / len(self._values))

    def _belief(self) -> np.ndarray | None:
        """πBO's prior belief per cell, ``exp`` of the standardised one-column survey prior (max 1), or None."""
        columns = self._prior_columns
        if self.prior_belief == 0 or columns is None or columns.shape[1] != 1:
            return None
        z = columns[:, 0]
        return np.exp(z - z.max())

    def _inputs(self) -> tuple[torch.Tensor, torch.Tensor, list[int] | None]:
        """GP inputs of every cell (n_cells, d), their bounds (2, d), and the prior columns."""
        if self._prior_columns is None:
            return self._centres, torch.tensor(_UNIT_BOUNDS, dtype=DTYPE), None
        prior = torch.as_tensor(self._prior_columns, dtype=DTYPE)
        x = torch.cat([self._centres, prior], dim=-1)
        bounds = torch.stack([x.min(dim=0).values, x.max(dim=0).values])
        bounds[:, :2] = torch.tensor(_UNIT_BOUNDS, dtype=DTYPE)
        return x, bounds, list(range(2, x.shape[1]))

    def _boundary_cell(self, allowed: np.ndarray) -> int:
        """``search="change"`` / ``"straddle"``: the unscanned cell most likely on a boundary of the field."""
        posterior = self.field_posterior()
        if posterior is None:
            return farthest_cell(self.field.cell_centres, self._cells, allowed)
        mean, covariance = posterior
        if self.search == "change":
            g = self.field.geometry
            score = expected_change(mean, covariance, g.n_rows, g.n_cols)
        else:
            variance = np.stack([np.diagonal(c) for c in covariance], axis=1)
            score = boundary_straddle(mean, variance, self.boundary_classes, self.boundary_kappa)
        return best_allowed(score, allowed)

    def field_posterior(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Joint GP posterior of :meth:`field_values` over every grid cell.

        One GP per component (no survey prior) on the centres of the cells
        with a value; hyperparameters refitted every ``refit_every`` such
        cells (warm-started), exact updates in between.

        Returns:
            ``(mean (n_cells, d), covariance (d, n_cells, n_cells))``, or None
            while fewer than two observations with different values exist.
        """
        values = self.field_values()
        if values is None:
            return None
        values = np.asarray(values, dtype=np.float64).reshape(len(self._cells), -1)
        have = np.isfinite(values).all(axis=1)
        if have.sum() < 2 or np.ptp(values[have], axis=0).max() <= 1e-9:
            return None
        cells = torch.as_tensor(np.asarray(self._cells, dtype=np.int64)[have])
        values = values[have]
        while len(self._field_gps) < values.shape[1]:
            self._field_gps.append(WarmGP(self.refit_every))
        bounds = torch.tensor(_UNIT_BOUNDS, dtype=DTYPE)
        means, covariances = [], []
        for k in range(values.shape[1]):
            y = torch.as_tensor(values[:, k], dtype=DTYPE)
            model: SingleTaskGP = self._field_gps[k].model(self._centres[cells], y, bounds, None, self._lengthscale())
            with torch.no_grad():
                posterior = model.posterior(self._centres)
                means.append(posterior.mean.reshape(-1).numpy())
                covariances.append(posterior.mvn.covariance_matrix.numpy())
        return np.stack(means, axis=1), np.stack(covariances)
