"""``dkl-bo``: deep kernel learning BO — a CNN on survey windows under a GP, trained jointly online.

Deep kernel learning in autonomous STEM (Roccapriore, Kalinin & Ziatdinov,
"Physics discovery in nanoplasmonic systems via autonomous experiments in
scanning transmission electron microscopy", Adv. Sci. 2022) learns, while
the experiment runs, how a *structural* image patch, available everywhere,
relates to a *target* measured only where the microscope went: a neural
feature extractor maps the patch to a low-dimensional embedding, a GP
models the target over the embeddings, both are trained jointly on the
measured pairs, and the acquisition function picks the next location among
all patches of the structural image.

Here the structural image is the survey (``observation["overview"]``,
everywhere at low dose), the candidates are the grid cells, and each
cell's input is the survey window around it (``survey_cells`` cells per
side, resampled to ``survey_px`` pixels per cell, standardised) together
with the cell's position.  Decision step, each time a sub-scan arrives:

1. the target is a scalar from the sub-scan, as in ``linear-bo``:
   the automatic (or ``target=`` / ``example=``) component of a PCA of
   local FFT spectra refitted on every patch so far, reduced by
   ``statistic`` (:class:`~stemscan.agents.linear_bo.LinearBOAgent`);
2. encoder (:class:`~stemscan.agents.bo.dkl.WindowEncoder`) and GP
   (:class:`~stemscan.agents.bo.dkl.DeepKernelGP`: scaled RBF kernel on
   ``[position, embedding]``) take ``train_steps`` Adam steps on the exact
   marginal likelihood of all measured cells' (standardised) targets,
   warm-started from the previous decision (:class:`~stemscan.agents.bo.dkl.OnlineDKL`);
3. the BO core's acquisition (:func:`~stemscan.agents.bo.acquisition.make_acquisition`,
   UCB by default) on the GP is maximised over the unscanned cells
   (:func:`~stemscan.agents.bo.optim.select_cell`).

The first cells come from the survey prior (the learned prior hedged by the edges by default), as in ``linear-bo``.
The encoder's initial weights are drawn from a ``torch.Generator`` seeded by
the agent's seed: same seed, same actions.  Decides from observations only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np
import torch
from skimage.transform import resize

from stemscan.agents.bo import BOOptions, make_acquisition, select_cell
from stemscan.agents.bo.dkl import OnlineDKL
from stemscan.agents.bo.model import DTYPE
from stemscan.agents.bo.optim import farthest_cell
from stemscan.agents.linear_bo import LinearBOAgent
from stemscan.validation import check_int, check_positive

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DKLBOAgent", "survey_windows"]


def survey_windows(overview: np.ndarray, n_rows: int, n_cols: int, cells: int, pixels: int) -> np.ndarray:
    """The survey window around every grid cell, ``float64`` (n_rows · n_cols, (cells · pixels)²), row-major.

    The survey is resampled to ``pixels`` pixels per grid cell (linear
    interpolation, anti-aliased when shrinking), standardised (zero mean,
    unit standard deviation; all zeros if constant), padded by reflection,
    and cut into ``cells × cells``-cell windows centred on each cell.

    Args:
        overview: ``(1, S, S)`` or ``(S, S)`` survey image.
        n_rows, n_cols: Grid shape.
        cells: Window side in grid cells (odd, >= 1).
        pixels: Pixels per grid cell in the windows (>= 2).
    """
    image = np.asarray(overview, dtype=np.float64)
    if image.ndim == 3 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 2 or not np.isfinite(image).all():
        raise ValueError(f"the survey must be a finite (1, S, S) or (S, S) image, got shape {np.shape(overview)}")
    image = resize(image, (n_rows * pixels, n_cols * pixels), order=1, anti_aliasing=image.shape[0] > n_rows * pixels)
    spread = image.std()
    image = (image - image.mean()) / spread if spread > 0 else np.zeros_like(image)
    margin = (cells // 2) * pixels
    padded = np.pad(image, margin, mode="reflect")
    side = cells * pixels
    views = np.lib.stride_tricks.sliding_window_view(padded, (side, side))[::pixels, ::pixels]
    return np.ascontiguousarray(views[:n_rows, :n_cols].reshape(n_rows * n_cols, side * side))


class DKLBOAgent(LinearBOAgent):
    """Deep kernel learning: CNN embedding of survey windows + GP, trained jointly online; GP-UCB over grid cells.

    Args:
        env: The STEMScan env.
        seed: Seed of the agent's generators (initial design; encoder weights).
        embedding: Size of the CNN embedding (1 .. 8).
        survey_cells: Side of each cell's survey window, grid cells (odd, 1 .. 7).
        survey_px: Pixels per grid cell in the survey windows (4 .. 16).
        train_steps: Adam steps of joint training per decision (1 .. 200).
        lr: Adam learning rate (> 0).
        window, stride, apodisation, method, n_components, target, example,
            statistic, survey_prior: The target (descriptor) of each sub-scan
            and the initial-design prior, exactly as ``linear-bo``'s
            (:class:`~stemscan.agents.linear_bo.LinearBOAgent`).
        **core: The BO core's options (:class:`~stemscan.agents.bo.BOOptions`):
            ``acquisition``, ``beta``, ``n_initial``, ``use_prior`` (the
            prior seeds the first cells; the GP's inputs are the survey
            windows themselves), ``lengthscale_cells`` (the initial spatial
            lengthscale of the GP, 2 cells by default, as the core's prior
            mode); ``refit_every`` has no effect (the DKL model trains every
            decision).
    """

    name = "dkl-bo"

    def __init__(
        self,
        env: gym.Env,
        seed: int | None = 0,
        *,
        embedding: int = 2,
        survey_cells: int = 3,
        survey_px: int = 4,
        train_steps: int = 8,
        lr: float = 0.03,
        window: int | None = None,
        stride: int | None = None,
        apodisation: str = "hann",
        method: str = "pca",
        n_components: int = 4,
        target: int | None = None,
        example: Sequence[float] | Sequence[Sequence[float]] | np.ndarray | None = None,
        statistic: str = "std",
        survey_prior: str = "saliency+edges",
        **core: Unpack[BOOptions],
    ) -> None:
        self.embedding = check_int("embedding", embedding, 1, 8)
        self.survey_cells = check_int("survey_cells", survey_cells, 1, 7)
        if self.survey_cells % 2 == 0:
            raise ValueError(f"survey_cells must be odd (a window centred on its cell), got {survey_cells}")
        self.survey_px = check_int("survey_px", survey_px, 4, 16)
        self.train_steps = check_int("train_steps", train_steps, 1, 200)
        self.lr = check_positive("lr", lr)
        super().__init__(
            env, seed, window=window, stride=stride, apodisation=apodisation, method=method, n_components=n_components,
            target=target, example=example, statistic=statistic, survey_prior=survey_prior, **core,
        )

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "embedding": self.embedding,
            "survey_cells": self.survey_cells,
            "survey_px": self.survey_px,
            "train_steps": self.train_steps,
            "lr": self.lr,
        }

    @property
    def n_fits(self) -> int:
        """Joint training steps this episode (0 before the first episode)."""
        dkl = getattr(self, "_dkl", None)
        return 0 if dkl is None else dkl.n_steps

    # ----------------------------------------------------------- episode
    def _start_episode(self) -> None:
        super()._start_episode()
        seed = 0 if self.seed is None else int(self.seed)
        side = self.survey_cells * self.survey_px
        self._dkl = OnlineDKL(side, self.embedding, self.train_steps, self.lr, seed, position_lengthscale=self._lengthscale())
        self._windows: torch.Tensor | None = None

    def _set_prior(self, observation: dict[str, np.ndarray]) -> None:
        g = self.field.geometry
        windows = survey_windows(observation["overview"], g.n_rows, g.n_cols, self.survey_cells, self.survey_px)
        self._windows = torch.as_tensor(windows, dtype=DTYPE)
        super()._set_prior(observation)

    # ----------------------------------------------------------- decision
    def _maximum_cell(self, allowed: np.ndarray) -> int:
        """The acquisition's best unscanned cell on the deep-kernel GP of the (standardised) targets."""
        values = np.asarray(self._values, dtype=np.float64)
        if len(values) < 2 or np.ptp(values) == 0 or self._windows is None:
            return farthest_cell(self.field.cell_centres, self._cells, allowed)
        y = torch.as_tensor((values - values.mean()) / values.std(), dtype=DTYPE)
        cells = torch.as_tensor(self._cells)
        model = self._dkl.fit(self._centres[cells], self._windows[cells], y)
        with torch.no_grad():
            candidates = self._dkl.embed(self._centres, self._windows)
        acquisition = make_acquisition(model, self.acquisition, self.beta, float(y.max()))
        return select_cell(acquisition, candidates, allowed)
