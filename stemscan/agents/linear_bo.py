"""``linear-bo``: sliding-window FFT + PCA/NMF + Bayesian optimisation (the seed's linear workflow).

Decision step, each time a sub-scan arrives:

1. Cut the patch into ``window``×``window`` tiles every ``stride`` pixels,
   apodise (Hann or Hamming) and take the log-magnitude of their FFT
   (:func:`~stemscan.agents.features.sliding_fft.sliding_fft_features`).
2. Refit a PCA (or NMF) on the tiles of every patch measured so far
   (:class:`~stemscan.agents.features.decomposition.LinearDecomposition`).
3. Score every measured patch again (the decomposition moved):

   * automatic (default): the loading of the component whose per-patch mean
     loading varies most across the field;
   * ``target=k``: the loading of component ``k``, chosen by a person;
   * ``example=...``: closeness (negative distance in loading space, each
     component scaled by its spread) to an example region — a position
     ``(row, col)`` in field fractions, scanned first, or a patch image —
     "find more regions like this one".

   Tile scores are reduced to one number per patch by ``statistic``:
   ``"mean"`` (how much of the component the patch holds), ``"max"`` (its
   strongest tile) or ``"std"`` (how much the component changes *within*
   the patch: where the structure changes — interfaces, walls, defects).
4. The shared BO core (:class:`~stemscan.agents.bo.BOAgent`) updates its GP
   over grid cells and picks the next unscanned cell.

The survey is used as a prior: by default its edge strength averaged per
cell (:func:`~stemscan.agents.features.survey.survey_edge_prior`: rims,
interfaces and bright points inside each cell), which seeds the first cells,
weights the acquisition as a belief and becomes a GP input whose relation to
the descriptor the GP learns (see :meth:`LinearBOAgent.prior` for the
alternatives).  Decides from observations only.

:meth:`LinearBOAgent.report` (the characterisation track's analyst
``self``) turns the same descriptors into detections: the patches whose
descriptor is an outlier among the measured ones, each localised at the
tile where its component changes most (or is strongest).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from stemscan.agents.analysts.detections import Detections
from stemscan.agents.analysts.outliers import confidence, excess_over_median, family_kinds, suppress
from stemscan.agents.bo import BOAgent, BOOptions
from stemscan.agents.features.decomposition import LinearDecomposition
from stemscan.agents.features.sliding_fft import sliding_fft_features, window_function
from stemscan.agents.features.decomposition import METHODS
from stemscan.agents.features.sliding_fft import WINDOWS
from stemscan.agents.features.survey import survey_cell_statistics
from stemscan.agents.survey_saliency import CELL_PRIORS
from stemscan.validation import check_int

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["MIN_REPORT_PATCHES", "LinearBOAgent", "STATISTICS", "SURVEY_PRIORS"]

#: Survey statistics offered as the BO prior (see :meth:`LinearBOAgent.prior`).
SURVEY_PRIORS = ("saliency", "saliency+edges", "edges", "gradient", "pca", "stats")

#: How tile scores are reduced to one descriptor per patch.
STATISTICS = ("mean", "max", "std")

#: Fewest measured patches before :meth:`LinearBOAgent.report` judges outliers (a median and MAD of fewer
#: are too unsteady to be a noise scale).
MIN_REPORT_PATCHES = 5


class LinearBOAgent(BOAgent):
    """The linear workflow: local FFT spectra -> PCA/NMF component -> GP-UCB over grid cells.

    Args:
        env: The STEMScan env.
        seed: Seed of the agent's generator.
        window: FFT tile side, pixels (4 .. patch size).  ``None``
            (default): half the patch, at most 16 px (16 for the default
            32-px patch: 3-8 lattice periods at atomic-resolution sampling,
            0.15-0.5 Å/px).
        stride: Step between tiles, pixels (1 .. window; ``window + stride``
            at most the patch size, so that a patch holds two tiles per
            side).  ``None`` (default): half the window.
        apodisation: ``"hann"`` or ``"hamming"``.
        method: ``"pca"`` or ``"nmf"``.
        n_components: Components of the decomposition (>= 1).
        target: Component index to maximise (0 .. n_components - 1), or
            ``None`` for automatic choice.  Exclusive with ``example``.
        example: ``(row, col)`` field fractions of an example region, or a
            2D example patch (pixels, at least ``window`` per side); the
            agent then seeks regions whose spectra resemble it.
        statistic: Reduce tile scores per patch by ``"mean"``, ``"max"`` or
            ``"std"`` (within-patch variation; the default).  With
            ``example``, ``"std"`` means the mean similarity.
        survey_prior: Survey statistic used as the BO prior (when
            ``use_prior``): ``"saliency+edges"`` (default), ``"saliency"``,
            ``"edges"``, ``"gradient"``, ``"pca"`` or ``"stats"`` (see
            :meth:`prior`).
        **core: The BO core's options (:class:`~stemscan.agents.bo.BOOptions`,
            meanings in :class:`~stemscan.agents.bo.BOAgent`), with its defaults.
    """

    name = "linear-bo"

    def __init__(
        self,
        env: gym.Env,
        seed: int | None = 0,
        *,
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
        super().__init__(env, seed, **core)
        p = self.field.patch_size
        window = max(4, min(16, p // 2)) if window is None else window
        check_int("window", window, 4, p)
        stride = max(1, window // 2) if stride is None else stride
        check_int("stride", stride, 1, window)
        if window + stride > p:
            raise ValueError(
                f"window {window} + stride {stride} px exceeds the {p}-px patch: the descriptor needs at least two "
                f"FFT tiles per side of a patch (e.g. window={max(4, p // 2)}, stride={max(1, p // 4)})"
            )
        if apodisation not in WINDOWS:
            raise ValueError(f"unknown apodisation {apodisation!r}; valid: {', '.join(WINDOWS)}")
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
        check_int("n_components", n_components, 1)
        if survey_prior not in SURVEY_PRIORS:
            raise ValueError(f"unknown survey_prior {survey_prior!r}; valid: {', '.join(SURVEY_PRIORS)}")
        if statistic not in STATISTICS:
            raise ValueError(f"unknown statistic {statistic!r}; valid: {', '.join(STATISTICS)}")
        if target is not None:
            if isinstance(target, bool) or not isinstance(target, (int, np.integer)):
                raise ValueError(f"target must be a component index (integer) or None, got {target!r}")
            if not 0 <= target < n_components:
                raise ValueError(f"target component {target} is out of range: n_components is {n_components} (valid 0..{n_components - 1})")
            if example is not None:
                raise ValueError("give either target (a component) or example (a region), not both")
        self.window = int(window)
        self.stride = int(stride)
        self.apodisation = apodisation
        self.method = method
        self.n_components = int(n_components)
        self.target = None if target is None else int(target)
        self.statistic = statistic
        self.survey_prior = survey_prior
        self._apodisation = window_function(apodisation, self.window)
        self.family = str(getattr(env.unwrapped, "family", ""))
        self.example_position: np.ndarray | None = None
        self.example_patch: np.ndarray | None = None
        self._example_tiles: np.ndarray | None = None
        if example is not None:
            self._set_example(example)

    def _set_example(self, example: Any) -> None:
        try:
            value = np.asarray(example, dtype=np.float64)
        except (TypeError, ValueError) as error:
            raise ValueError(f"example must be a (row, col) position or a 2D patch, got {example!r}") from error
        if not np.isfinite(value).all():
            raise ValueError("example contains NaN or infinity")
        if value.shape == (2,):
            if value.min() < 0 or value.max() > 1:
                raise ValueError(f"example position {value.tolist()} must lie in [0, 1]² (field fractions, row, col)")
            self.example_position = value
        elif value.ndim == 2:
            if min(value.shape) < self.window:
                raise ValueError(f"example patch of shape {value.shape} is smaller than the FFT window ({self.window} px)")
            self.example_patch = value
            self._example_tiles = self._tiles(value)
        else:
            raise ValueError(f"example must be a (row, col) position or a 2D patch, got an array of shape {value.shape}")

    def config(self) -> dict[str, Any]:
        if self.example_position is not None:
            example: Any = self.example_position.tolist()
        elif self.example_patch is not None:
            example = self.example_patch.tolist()
        else:
            example = None
        return {
            **super().config(),
            "lengthscale_cells": self.lengthscale_cells,
            "window": self.window,
            "stride": self.stride,
            "apodisation": self.apodisation,
            "method": self.method,
            "n_components": self.n_components,
            "target": self.target,
            "example": example,
            "statistic": self.statistic,
            "survey_prior": self.survey_prior,
        }

    # ----------------------------------------------------------- episode
    def _start_episode(self) -> None:
        super()._start_episode()
        self._patch_tiles: list[np.ndarray] = []
        self._scores: list[float] = []
        self._corners: list[tuple[int, int]] = []  # top-left pixel of each measured patch (for report())
        self._tile_scores: list[np.ndarray] = []  # per patch, its tiles' scores under the current decomposition
        self.decomposition = LinearDecomposition(self.method, self.n_components)
        self.component: int | None = None  # component in use (auto or target)
        if self.example_position is not None:
            self._example_tiles = None  # measured anew each episode

    def initial_cells(self) -> list[int]:
        if self.example_position is None:
            return []
        return [self.field.cell_of_position(self.example_position)]

    # -------------------------------------------------------- descriptor
    def _tiles(self, image: np.ndarray) -> np.ndarray:
        return sliding_fft_features(image, self.window, self.stride, self._apodisation)

    def descriptor(self, observation: dict[str, np.ndarray]) -> float:
        tiles = self._tiles(observation["patch"])
        self._patch_tiles.append(tiles)
        self._corners.append(self.field.geometry.from_continuous(np.asarray(observation["position"], dtype=np.float64)))
        if self.example_position is not None and self._example_tiles is None:
            cell = self.field.cell_of_position(np.asarray(observation["position"], dtype=np.float64))
            if cell == self.field.cell_of_position(self.example_position):
                self._example_tiles = tiles
        self._scores = self._score_all()
        return self._scores[-1]

    def redescribe(self) -> list[float] | None:
        return list(self._scores)

    def _score_all(self) -> list[float]:
        """Descriptor of every patch measured so far under a decomposition refitted on all of them."""
        all_tiles = np.concatenate(self._patch_tiles)
        self.decomposition.fit(all_tiles)
        k = self.decomposition.components_.shape[0]
        loadings = self.decomposition.transform(all_tiles)
        splits = np.cumsum([len(t) for t in self._patch_tiles])[:-1]
        per_patch = np.split(loadings, splits)
        if self._example_tiles is not None:
            scale = loadings.std(axis=0) + 1e-12
            reference = self.decomposition.transform(self._example_tiles).mean(axis=0)
            tile_scores = [-np.linalg.norm((lp - reference) / scale, axis=1) for lp in per_patch]
            self.component = None
        elif self.example_position is not None:
            # The example cell has not been scanned yet: nothing to compare with.
            tile_scores = [np.zeros(len(lp)) for lp in per_patch]
        else:
            if self.target is not None:
                component = min(self.target, k - 1)
            else:
                means = np.stack([lp.mean(axis=0) for lp in per_patch])
                component = int(np.argmax(means.var(axis=0))) if len(per_patch) > 1 else 0
            self.component = component
            tile_scores = [lp[:, component] for lp in per_patch]
        self._tile_scores = tile_scores
        statistic = self.statistic
        if self._example_tiles is not None and statistic == "std":
            statistic = "mean"  # similarity to an example: how alike the patch is on average
        reduce = {"mean": np.mean, "max": np.max, "std": np.std}[statistic]
        return [float(reduce(s)) for s in tile_scores]

    # ------------------------------------------------------------ report
    def report(self) -> Detections:
        """What its descriptor flags so far (the characterisation track's analyst ``self``).

        A measured patch is reported when its descriptor is an outlier
        *above* the others: modified z-score (median and 1.4826 × MAD over
        the measured patches) above
        :data:`~stemscan.agents.analysts.outliers.OUTLIER_Z` = 3.5, judged
        from :data:`MIN_REPORT_PATCHES` patches on.  It is localised inside
        the patch on its grid of FFT tiles: with ``statistic="std"`` (the
        component *changes* in the patch) at the midpoint of the two
        adjacent tiles whose scores differ most, otherwise at the tile that
        scores highest.  Kind: a change of local spectrum is a structural
        boundary, named as the family calls one
        (:func:`~stemscan.agents.analysts.outliers.family_kinds`:
        ``grain-boundary``, ``domain-wall``, ``interface``,
        ``particle-edge``; ``boundary`` elsewhere).  Confidence: a logistic
        of the excess z-score.  At most one detection per patch size
        (greedy suppression, strongest first).  Reads only what
        :meth:`descriptor` stored; changes nothing the decisions use.
        """
        shape = self.field.shape
        scores = np.asarray(getattr(self, "_scores", []), dtype=np.float64)
        if len(scores) < MIN_REPORT_PATCHES or len(self._tile_scores) != len(scores):
            return Detections.empty(shape)
        excess = excess_over_median(scores, one_sided=True)
        flagged = np.flatnonzero(excess > 0)
        if not flagged.size:
            return Detections.empty(shape)
        points = np.array([self._locate(int(i)) for i in flagged], dtype=np.float64).reshape(-1, 2)
        points = np.clip(points, 0.0, np.array(shape, dtype=np.float64) - 1.0)
        kept = suppress(points, excess[flagged], float(self.field.patch_size))
        kind = family_kinds(self.family)["boundary"]
        return Detections(points[kept], [kind] * len(kept), confidence(excess[flagged][kept]), shape)

    def _locate(self, index: int) -> tuple[float, float]:
        """Field pixel ``(row, col)`` of patch ``index``'s finding (see :meth:`report`)."""
        n = (self.field.patch_size - self.window) // self.stride + 1
        offsets = np.arange(n) * self.stride + (self.window - 1) / 2.0  # tile centres in the patch, pixels
        tiles = np.asarray(self._tile_scores[index], dtype=np.float64).reshape(n, n)
        r0, c0 = self._corners[index]
        if self.statistic == "std" and self._example_tiles is None and n > 1:
            down = np.abs(np.diff(tiles, axis=0))  # (n-1, n): tile (i, j) against (i+1, j)
            across = np.abs(np.diff(tiles, axis=1))  # (n, n-1): tile (i, j) against (i, j+1)
            if down.max() >= across.max():
                i, j = np.unravel_index(int(np.argmax(down)), down.shape)
                row, col = (offsets[i] + offsets[i + 1]) / 2.0, offsets[j]
            else:
                i, j = np.unravel_index(int(np.argmax(across)), across.shape)
                row, col = offsets[i], (offsets[j] + offsets[j + 1]) / 2.0
        else:
            i, j = np.unravel_index(int(np.argmax(tiles)), tiles.shape)
            row, col = offsets[i], offsets[j]
        return float(r0 + row), float(c0 + col)

    # ------------------------------------------------------------- prior
    def prior(self, observation: dict[str, np.ndarray]) -> np.ndarray | None:
        """Per-cell statistics of the survey, as chosen by ``survey_prior``.

        ``"saliency"`` is the learned survey prior: a CNN trained on
        simulated scenes rates each survey pixel, averaged per cell
        (:func:`~stemscan.agents.survey_saliency.survey_saliency_prior`);
        ``"saliency+edges"`` (default) adds half the standardised edge
        prior to it as a hedge for images unlike the network's training
        scenes (:func:`~stemscan.agents.survey_saliency.survey_saliency_edge_prior`).
        ``"edges"`` is the survey's edge strength (Sobel gradient
        magnitude at survey resolution, lightly smoothed) averaged over each
        grid cell (:func:`~stemscan.agents.features.survey.survey_edge_prior`:
        rims, interfaces and bright points inside the cell).  The others
        start from the survey averaged over each cell (noise down by the
        number of survey pixels per cell): ``"gradient"`` is the Sobel
        gradient magnitude of that cell-mean map (where the contrast changes
        between neighbouring cells;
        :func:`~stemscan.agents.features.survey.survey_gradient_prior`),
        ``"pca"`` the first principal component of (cell mean, within-cell
        spread, gradient), ``"stats"`` the three statistics as separate GP
        inputs (:func:`~stemscan.agents.features.survey.survey_cell_statistics`).
        """
        if self.survey_prior in CELL_PRIORS:
            return CELL_PRIORS[self.survey_prior](observation["overview"], self.field)
        stats = survey_cell_statistics(observation["overview"], self.field)
        if stats is None:
            return None  # overview coarser than the grid: no per-cell estimate
        if self.survey_prior == "stats":
            return stats
        stats = (stats - stats.mean(axis=0)) / (stats.std(axis=0) + 1e-12)
        return LinearDecomposition("pca", 1).fit(stats).transform(stats)[:, 0]
