"""``dcnn-bo``: DCNN atom/defect segmentation + Bayesian optimisation (the seed's supervised workflow).

Decision step, each time a sub-scan arrives:

1. The pretrained U-Net (:class:`~stemscan.agents.dcnn.AtomFinder`)
   segments the patch into background / atom / dopant / vacancy /
   extended-defect probabilities.
2. The descriptor is the *defect density* of the patch: the fraction of its
   pixels whose most probable class is a target class (by default any
   defect class; or one chosen class, e.g. ``target="vacancy"``).  The hard
   (arg-max) fraction is used because the soft probabilities carry a
   near-constant floor of the rare classes that would drown the signal.
3. The shared BO core (:class:`~stemscan.agents.bo.BOAgent`) updates its GP
   over grid cells and picks the next unscanned cell.

The survey is too coarse (one sample per several Å) to segment atoms, but
heavy-atom dopants and disordered regions still show as bright outliers of
the survey; with ``survey_prior=True`` (default) the per-cell fraction of
outlier survey pixels is the BO prior (it seeds the first cells and is a GP
input whose weight the GP learns).  Decides from observations only.  Runs
on the CPU, or a GPU when one is available (``device="auto"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from stemscan.agents.bo import BOAgent
from stemscan.agents.dcnn import DEFECT_CLASSES, WEIGHTS_PATH, AtomFinder

__all__ = ["DCNNBOAgent", "TARGETS"]

#: Accepted ``target`` values: all defect classes together, or one class.
TARGETS: tuple[str, ...] = ("defects", *DEFECT_CLASSES, "atom")

_OUTLIER_SIGMAS = 3.0


class DCNNBOAgent(BOAgent):
    """The supervised workflow: U-Net segmentation -> defect density -> GP-UCB over grid cells.

    Args:
        env: The STEMScan env.
        seed: Seed of the agent's generator.
        acquisition, beta, refit_every, n_initial, use_prior: See
            :class:`~stemscan.agents.bo.BOAgent`.
        target: What to look for: ``"defects"`` (dopant + vacancy +
            extended-defect), or one class of :data:`TARGETS`.
        survey_prior: Use the fraction of bright-outlier survey pixels per
            cell as the BO prior (ignored when ``use_prior`` is False).
        weights: Path of a weights file written by ``stemscan train dcnn``;
            ``None`` uses the shipped weights.
        device: ``"auto"`` (GPU when available), ``"cpu"`` or ``"cuda"``.
        lengthscale_cells: GP lengthscale prior mode in grid cells, passed to
            the BO core when given (``None``: the core's default).
    """

    name = "dcnn-bo"

    def __init__(
        self,
        env: gym.Env,
        seed: int | None = 0,
        acquisition: str = "ucb",
        beta: float = 4.0,
        refit_every: int = 4,
        n_initial: int = 4,
        use_prior: bool = True,
        target: str = "defects",
        survey_prior: bool = True,
        weights: str | None = None,
        device: str = "auto",
        lengthscale_cells: float | None = None,
    ) -> None:
        core: dict[str, Any] = {} if lengthscale_cells is None else {"lengthscale_cells": lengthscale_cells}
        super().__init__(
            env, seed, acquisition=acquisition, beta=beta, refit_every=refit_every, n_initial=n_initial,
            use_prior=use_prior, **core,
        )
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}")
        if weights is not None and not isinstance(weights, (str, Path)):
            raise TypeError(f"weights must be a path or None, got {type(weights).__name__}")
        self.target = target
        self.survey_prior = bool(survey_prior)
        self.weights = None if weights is None else str(weights)
        self.device = str(device)
        self.finder = AtomFinder.load(self.weights or WEIGHTS_PATH, device=device)
        names = DEFECT_CLASSES if target == "defects" else (target,)
        self._channels = [self.finder.class_index(name) for name in names]

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "target": self.target,
            "survey_prior": self.survey_prior,
            "weights": self.weights,
            "device": self.device,
        }

    def segment(self, patch: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n_classes, P, P)`` of one patch."""
        return self.finder.probabilities(patch)

    def descriptor(self, observation: dict[str, np.ndarray]) -> float:
        """Fraction of the patch's pixels whose most probable class is a target class (0-1)."""
        labels = np.argmax(self.segment(observation["patch"]), axis=0)
        return float(np.isin(labels, self._channels).mean())

    def prior(self, observation: dict[str, np.ndarray]) -> np.ndarray | None:
        """Per-cell fraction of survey pixels brighter than median + 3 robust sigmas (heavy atoms, disorder)."""
        if not self.survey_prior:
            return None
        overview = np.asarray(observation["overview"], dtype=np.float64)[0]
        median = float(np.median(overview))
        spread = 1.4826 * float(np.median(np.abs(overview - median)))
        if spread <= 0:
            return None
        outliers = (overview > median + _OUTLIER_SIGMAS * spread).astype(np.float64)
        cells = self._cell_of_overview_pixel()
        counts = np.bincount(cells.ravel(), minlength=self.n_cells)
        if (counts == 0).any():
            return None  # overview coarser than the grid: no per-cell estimate
        fraction = np.bincount(cells.ravel(), weights=outliers.ravel(), minlength=self.n_cells) / counts
        return fraction if fraction.std() > 0 else None

    def _cell_of_overview_pixel(self) -> np.ndarray:
        """(G, G) grid cell containing each overview pixel's centre."""
        size = self.field.overview_size
        height, width = self.field.shape
        g = self.field.geometry
        centres = (np.arange(size) + 0.5) / size
        rows = np.minimum((centres * height).astype(np.int64) // self.field.patch_size, g.n_rows - 1)
        cols = np.minimum((centres * width).astype(np.int64) // self.field.patch_size, g.n_cols - 1)
        return rows[:, None] * g.n_cols + cols[None, :]
