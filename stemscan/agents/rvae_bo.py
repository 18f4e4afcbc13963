"""``rvae-bo``: rotationally invariant VAE latents of atom windows, maximised by Bayesian optimisation.

The seed paper's unsupervised workflow.  Each step:

1. atom columns are located in the sub-scan just acquired
   (:func:`~stemscan.agents.features.windows.patch_windows`, a classical peak finder)
   and a ``window``-pixel sub-image is cut around each;
2. the windows are encoded by an :class:`~stemscan.agents.nets.rvae.RVAE`
   into (angle, translation, z): ``z`` describes the local structure with
   rotation and translation factored out;
3. the rVAE is trained *online* on every window measured so far, a bounded
   ``online_steps`` gradient steps per decision, warm-started from the
   shipped pre-trained weights (or ``weights``);
4. a *target* latent is chosen: automatically the candidate whose
   per-patch mean varies most across the patches measured so far, or by a
   person: ``target=<z index>`` or ``target="angle"``, or ``example=`` a
   patch (P × P array) or a position ``[row, col]`` (fractions of the
   field; scanned first) whose latents are what to look for.  Candidates
   are the ``z`` dimensions and, with lattice-centred windows, the angle
   latent (see below); each one's spatial variance is measured in units of
   its prior (``z``: variance of patch means, prior variance 1; angle: of
   the patch-mean unit vector ``(cos, sin)``, whose variance is 1 for
   directions uniform on the circle);
5. every measured patch gets a scalar descriptor of its windows' target
   latent (see ``descriptor``); all are recomputed with the current model
   and target (the BO core's ``redescribe`` hook) and the shared GP picks
   the next cell.

Ferroelectric domains (``centring="lattice"``, which the agent chooses
itself on a perovskite): windows on the ideal B sites, the rotation angle
latent as the polarisation direction and a search for the boundaries
between domains; why and how: :mod:`stemscan.agents.rvae_configuration`.

:meth:`RVAEBOAgent.report` (the characterisation track's analyst ``self``)
reads the same latents (:mod:`stemscan.agents.rvae_report`).

The agent decides from observations only.  All randomness (online training
batches and reparameterisation noise) flows from the agent's seed through a
``torch.Generator``; the model is reset to its starting weights each episode,
so the same seed gives the same actions.

This module is the agent's options, episode state and survey prior; the
decision path is :meth:`RVAEBOAgent.descriptor` -> ``_describe_all`` -> the BO
core (:mod:`stemscan.agents.rvae_descriptor`), its keywords are checked and
its models loaded by :mod:`stemscan.agents.rvae_options`, and the
computations live in :mod:`stemscan.agents.features` (windows, lattice
recognition, latents, reports) and :mod:`stemscan.agents.train.rvae_online`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from stemscan.agents.bo import BOAgent, BOOptions
from stemscan.agents.features.latents import ANGLE
from stemscan.agents.features.lattice_estimate import PerovskiteEstimate
from stemscan.agents.survey_saliency import CELL_PRIORS
from stemscan.agents.features.windows import LatticeWindowCutter
from stemscan.agents.rvae_configuration import AUTO, AUTO_SETTINGS, SelfConfiguration, parse_example
from stemscan.agents.rvae_descriptor import LatentDescriptor
from stemscan.agents.rvae_options import BOUNDARIES, SURVEY_PRIORS, check_options, load_models
from stemscan.agents.rvae_report import LatentReport
from stemscan.agents.train.rvae_online import OnlineTrainer
from stemscan.validation import check_positive

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["AUTO", "AUTO_SETTINGS", "BOUNDARIES", "RVAEBOAgent", "SURVEY_PRIORS"]


class RVAEBOAgent(LatentDescriptor, SelfConfiguration, LatentReport, BOAgent):
    """BO on a rotationally invariant VAE latent of atom-centred windows.

    Args:
        env: The STEMScan env.
        seed: Seeds the initial design and online training.
        target: Index into ``z`` (0 .. latent_dim − 1) of the latent to use,
            or ``"angle"`` (the angle latent as a direction); ``None`` chooses
            automatically (:func:`~stemscan.agents.features.latents.choose_target`; the angle is a candidate
            with lattice-centred windows only, where the window frame is the
            crystal's and the angle is structure, not the nuisance rotation
            of a motif).
        example: What a person wants more of: a (P, P) patch (array or nested
            list) or a position ``[row, col]`` in [0, 1]² (its grid cell is
            scanned first and becomes the example).  Implies the
            ``"similarity"`` descriptor.
        descriptor: One of :data:`~stemscan.agents.features.latents.DESCRIPTORS` (ignored with ``example``),
            or ``None`` (default): ``"outlier"`` with peak-centred windows,
            ``"contrast"`` with lattice-centred ones (:data:`AUTO_SETTINGS`).
        weights: Path of rVAE weights (``.safetensors`` + ``.json``) to start
            from; ``None`` uses the shipped pre-trained weights for
            ``centring`` (:func:`~stemscan.agents.rvae.pretrained_path`).
        pretrained: Start from ``weights``/the shipped weights (True) or from
            a freshly initialised model (False).
        online_steps: Gradient steps on the replay buffer per decision (>= 0;
            bounds the per-step training cost).
        batch_size: Windows per online gradient step.
        buffer_size: Replay buffer capacity, windows.
        lr: Online Adam learning rate.
        smoothing: Gaussian smoothing of the patch before peak finding, pixels.
        min_distance: Smallest distance between atom columns, pixels.
        threshold: Peak threshold, in noise standard deviations of the smoothed patch above its median.
        max_windows: At most this many windows per patch.
        centring: ``"auto"`` (default: chosen from the first patches, see
            the module docstring), ``"peak"`` (windows on every located column) or
            ``"lattice"`` (windows on the ideal cell-centre sites of the
            bright sublattice, so a dim column's off-centring, e.g. a
            ferroelectric B-site displacement, stays in the window; pair it
            with weights trained that way, ``translation`` off).
        survey_prior: Survey statistic used as the BO prior when
            ``use_prior``: ``"saliency+edges"`` (default; the learned survey
            prior hedged by the edges,
            :func:`~stemscan.agents.survey_saliency.survey_saliency_edge_prior`),
            ``"saliency"`` (the learned prior alone,
            :func:`~stemscan.agents.survey_saliency.survey_saliency_prior`),
            ``"edges"`` (:func:`~stemscan.agents.features.survey.survey_edge_prior`: the
            survey cannot resolve atoms, but its edges mark rims, interfaces
            and bright points) or ``"gradient"``
            (:func:`~stemscan.agents.features.survey.survey_gradient_prior`:
            contrast between neighbouring cells' survey means).
        lattice_px: Cell side of the bright sublattice, pixels (a person's
            knowledge of the material and sampling; needed for ``"lattice"``;
            with ``"auto"``, used instead of the measured cell when a
            perovskite is recognised).
            The lattice's rotation is estimated from the measured patches
            (median of :func:`~stemscan.agents.features.windows.bond_angles` over the
            episode) and every patch's windows are re-cut when it changes.
        contrast_cells: Neighbour distance of the ``"contrast"`` descriptor
            (:func:`~stemscan.agents.features.latents.wall_contrast`), grid cells (> 0).
        edge_px: Lattice mode: how far a window may reach beyond the patch
            border, pixels (0 .. (window − 1) / 2; the rest is filled with the
            patch background; :func:`~stemscan.agents.features.windows.lattice_windows`),
            so that patches too small for a whole window still get one.
            ``None`` (default): 0, or 2 window pixels (scaled to the
            measured cell) with lattice-centred windows.
        boundary: ``"auto"`` (default: ``"change"`` with lattice-centred
            windows, else ``None``), ``None`` (the core maximises the descriptor) or
            one of :data:`BOUNDARIES`: look for *boundaries* of the target
            latent (domain walls) instead: the BO core's ``search`` target,
            on GPs of the per-patch domain value (:meth:`field_values`).
            ``"change"`` (expected change to a grid neighbour,
            :func:`~stemscan.agents.bo.acquisition.expected_change`) is the
            one the paper suite uses; ``"straddle"``
            (:func:`~stemscan.agents.bo.acquisition.boundary_straddle`)
            chases unexplored corners (figures in the README).
        boundary_kappa: Uncertainty weight of ``"straddle"`` (>= 0).
        polar_fold: Number of polarisation directions for ``"straddle"`` on
            the angle target (>= 2; 4 for tetragonal and rhombohedral
            variants seen along [001]).
        **core: The BO core's options (:class:`~stemscan.agents.bo.BOOptions`,
            meanings in :class:`~stemscan.agents.bo.BOAgent`); ``use_prior``
            (default on) uses the survey prior (``survey_prior``; chosen on
            development seeds, see the README).
    """

    name = "rvae-bo"

    def __init__(
        self,
        env: gym.Env,
        seed: int | None = 0,
        *,
        target: int | None = None,
        example: Any = None,
        descriptor: str | None = None,
        weights: str | None = None,
        pretrained: bool = True,
        online_steps: int = 2,
        batch_size: int = 32,
        buffer_size: int = 1024,
        lr: float = 1e-3,
        smoothing: float = 1.0,
        min_distance: int = 3,
        threshold: float = 4.0,
        max_windows: int = 32,
        centring: str = AUTO,
        lattice_px: float | None = None,
        survey_prior: str = "saliency+edges",
        contrast_cells: float = 2.0,
        edge_px: float | None = None,
        boundary: str | None = AUTO,
        boundary_kappa: float = 1.96,
        polar_fold: int = 4,
        **core: Unpack[BOOptions],
    ) -> None:
        check_options(
            descriptor=descriptor, online_steps=online_steps, batch_size=batch_size, buffer_size=buffer_size,
            min_distance=min_distance, max_windows=max_windows, lr=lr, smoothing=smoothing, threshold=threshold,
            survey_prior=survey_prior, boundary=boundary, boundary_kappa=boundary_kappa, polar_fold=polar_fold,
            edge_px=edge_px, centring=centring, lattice_px=lattice_px, weights=weights,
        )
        self.survey_prior = survey_prior
        self.contrast_cells = check_positive("contrast_cells", contrast_cells)
        self.boundary_kappa = float(boundary_kappa)
        self.polar_fold = int(polar_fold)
        self.boundary_classes = self.polar_fold  # the core's straddle classes: the polarisation directions
        #: What the operator asked for (``AUTO``/None = the agent decides), as passed.
        self.requested: dict[str, Any] = {
            "centring": centring, "descriptor": descriptor, "boundary": boundary, "edge_px": edge_px,
            "lattice_px": None if lattice_px is None else float(lattice_px),
        }
        self.model_path = weights
        self.pretrained = bool(pretrained)
        self._models = load_models(centring, weights, self.pretrained, seed)
        self.model = self._models["peak" if centring == AUTO else centring][0]
        latent_dim = max(model.config.latent_dim for model, _ in self._models.values())
        valid_target = isinstance(target, (int, np.integer)) and not isinstance(target, bool) and 0 <= target < latent_dim
        if target is not None and target != ANGLE and not valid_target:
            raise ValueError(f"target must be a z index in 0..{latent_dim - 1}, {ANGLE!r} or None, got {target!r}")
        self.target: int | str | None = target if target in (None, ANGLE) else int(target)
        self.example_given = example is not None
        self.online_steps = int(online_steps)
        self.batch_size = int(batch_size)
        self.buffer_size = int(buffer_size)
        self.lr = float(lr)
        self.smoothing = float(smoothing)
        self.min_distance = int(min_distance)
        self.threshold = float(threshold)
        self.max_windows = int(max_windows)
        self._configure(centring if centring != AUTO else "peak", self.requested["lattice_px"])
        self.lattice_angle = 0.0  # lattice mode: pooled estimate of the lattice rotation, radians
        self.perovskite: PerovskiteEstimate | None = None  # self-configuration: the recognised lattice
        super().__init__(env, seed, search=self.search_for(self.boundary), **core)
        for kind, (model, _) in self._models.items():
            if model.config.window > self.field.patch_size:
                raise ValueError(
                    f"the {kind} rVAE's window ({model.config.window} px) is larger than "
                    f"the env's patch ({self.field.patch_size} px)"
                )
            if edge_px is not None and edge_px > (model.config.window - 1) / 2.0:
                raise ValueError(
                    f"edge_px must be at most half the rVAE's window less half a pixel "
                    f"({(model.config.window - 1) / 2.0} px), got {edge_px}"
                )
        self._example_patch, self._example_cell = parse_example(example, self.field)
        if self._example_patch is not None and len(self.windows(self._example_patch)) == 0:
            raise ValueError("no atom columns found in the example patch; choose another example")
        self.example = example if example is None else np.asarray(example, dtype=np.float64).tolist()
        self.family = str(getattr(env.unwrapped, "family", ""))

    # ------------------------------------------------------- configuration
    def config(self) -> dict[str, Any]:
        """The keywords this agent was made with (``AUTO``/None where it configures itself; see :attr:`resolved`)."""
        return {
            **super().config(),
            "target": self.target,
            "example": self.example,
            "descriptor": self.requested["descriptor"],
            "weights": self.model_path,
            "pretrained": self.pretrained,
            "online_steps": self.online_steps,
            "batch_size": self.batch_size,
            "buffer_size": self.buffer_size,
            "lr": self.lr,
            "smoothing": self.smoothing,
            "min_distance": self.min_distance,
            "threshold": self.threshold,
            "max_windows": self.max_windows,
            "centring": self.requested["centring"],
            "lattice_px": self.requested["lattice_px"],
            "survey_prior": self.survey_prior,
            "contrast_cells": self.contrast_cells,
            "edge_px": self.requested["edge_px"],
            "boundary": self.requested["boundary"],
            "boundary_kappa": self.boundary_kappa,
            "polar_fold": self.polar_fold,
        }

    # ------------------------------------------------------------ episode
    def _start_episode(self) -> None:
        super()._start_episode()
        if not hasattr(self, "_models"):
            return  # called from BOAgent.__init__ before this class is set up
        requested = self.requested["centring"]
        self._configure("peak" if requested == AUTO else requested, self.requested["lattice_px"])
        #: Self-configuration: patches held back until the crystal is recognised (None once configured).
        self._pending: list[dict[str, np.ndarray]] | None = [] if requested == AUTO else None
        self._pending_columns: list[tuple[np.ndarray, np.ndarray]] = []
        self.perovskite = None
        self._begin()

    def _begin(self) -> None:
        """Fresh model, trainer and per-episode buffers for the current configuration."""
        self.model.load_state_dict(self._initial_state)
        self.model.eval()
        seed = 0 if self.seed is None else int(self.seed)
        self.trainer = OnlineTrainer(self.model, seed, self.buffer_size, self.batch_size, self.lr)
        self._windows: list[np.ndarray] = []
        self.lattice_angle = 0.0
        if self.centring == "lattice":
            self._cutter = LatticeWindowCutter(
                self.model.config.window, float(self.lattice_px), self.smoothing, self.min_distance, self.threshold,
                self.max_windows, self.edge_px, self.window_scale,
                reference_px=self.model_lattice_px("lattice") if self._pools_lattice() else None,
            )
        self._positions: list[np.ndarray] = []
        # for report() only: each patch's top-left pixel; peak mode: its window centres (patch pixels) and image
        self._corners: list[tuple[int, int]] = []
        self._window_centres: list[np.ndarray] = []
        self._patches: list[np.ndarray] = []
        self._heights: list[np.ndarray] = []  # column heights, filled by report() as needed
        self._example_windows: np.ndarray | None = None
        if getattr(self, "_example_patch", None) is not None:
            self._example_windows = self.windows(self._example_patch)
            if len(self._example_windows) == 0:
                raise ValueError("no atom columns found in the example patch; choose another example")
        self._descriptors: list[float] = []
        self._latents: list[np.ndarray] = []
        self.chosen_target: int | str | None = self.target

    def prior(self, observation: dict[str, np.ndarray]) -> np.ndarray | None:
        """Per-cell survey statistic ``survey_prior`` (:data:`SURVEY_PRIORS`), used when ``use_prior``."""
        return CELL_PRIORS[self.survey_prior](observation["overview"], self.field)

    def initial_cells(self) -> list[int]:
        return [] if self._example_cell is None else [self._example_cell]
