"""``dcnn-bo``: DCNN atom/defect segmentation + Bayesian optimisation (the seed's supervised workflow).

Decision step, each time a sub-scan arrives:

1. The pretrained U-Net (:class:`~stemscan.agents.dcnn.AtomFinder`)
   segments the patch into background / atom / dopant / vacancy /
   extended-defect probabilities.
2. The descriptor (``descriptor="instances"``, the default) is the
   expected number of defect *instances* in the patch, what a
   microscopist would count, from the segmentation plus the lattice
   geometry of the columns it finds:

   * dopants: connected regions of the ``dopant`` class, each weighted by
     its peak probability;
   * vacancies: honeycomb sites with no column, found geometrically
     (:func:`~stemscan.agents.features.lattice.honeycomb_missing_sites`: a column with
     two neighbours predicts its third), plus ``vacancy``-class regions
     not already counted;
   * extended defects (grain boundaries, Stone-Wales): ``extended-defect``
     regions, plus (optional, ``boundary_weight``, off by default) a
     multiple of the fraction of columns that do not sit on the patch's
     dominant lattice
     (:func:`~stemscan.agents.features.lattice.lattice_consistency`: where a grain
     boundary crosses the patch, the columns of the second grain).

   The geometric terms apply when the columns form a honeycomb (median
   coordination at most 3); the bond length is the episode's running median.
   ``descriptor="share"`` is the older pixel-share descriptor: the fraction
   of pixels whose most probable class is a target class.  ``target``
   restricts either to one class (e.g. ``"vacancy"``).
3. The shared BO core (:class:`~stemscan.agents.bo.BOAgent`) updates its GP
   over grid cells and picks the next unscanned cell.

The survey is too coarse (one sample per several Å) to segment atoms, but
heavy-atom dopants, disordered regions, rims and interfaces still show in
it: with ``survey_saliency=True`` and ``survey_edges=True`` (the defaults)
the learned survey prior (a CNN trained on simulated scenes rates each
cell) hedged by the survey's per-cell edge strength
(:func:`~stemscan.agents.survey_saliency.survey_saliency_edge_prior`) is
the BO prior (it seeds the first cells, weights the acquisition as a
belief and is a GP input whose weight the GP learns); either alone is
that prior alone.  ``survey_prior=True`` adds the per-cell fraction of
bright-outlier survey pixels (the prior of earlier releases) as a second
column; with more than one column the acquisition is not weighted by a
belief.  Decides from observations only.  Runs
on the CPU, or a GPU when one is available (``device="auto"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from stemscan.agents.analysts.dcnn import EXTENDED_NAME, ProbabilityCanvas, segmentation_detections
from stemscan.agents.analysts.detections import Detections
from stemscan.agents.bo import BOAgent, BOOptions
from stemscan.agents.dcnn import ATOM_CLASSES, DEFECT_CLASSES, WEIGHTS_PATH, AtomFinder
from stemscan.agents.features.lattice import (
    bond_length,
    honeycomb_missing_sites,
    is_honeycomb,
    lattice_consistency,
    region_peaks,
)
from stemscan.agents.features.survey import cell_of_overview_pixel, survey_edge_prior, survey_gradient_prior
from stemscan.agents.survey_saliency import survey_saliency_edge_prior, survey_saliency_prior
from stemscan.validation import check_bool, check_number

if TYPE_CHECKING:
    from typing_extensions import Unpack

__all__ = ["DCNNBOAgent", "DESCRIPTORS", "TARGETS"]

#: Accepted ``descriptor`` values (see the module docstring).
DESCRIPTORS: tuple[str, ...] = ("instances", "share")

#: Accepted ``target`` values: all defect classes together, or one class.
TARGETS: tuple[str, ...] = ("defects", *DEFECT_CLASSES, "atom")

_OUTLIER_SIGMAS = 3.0


class DCNNBOAgent(BOAgent):
    """The supervised workflow: U-Net segmentation -> defect density -> GP-UCB over grid cells.

    Args:
        env: The STEMScan env.
        seed: Seed of the agent's generator.
        target: What to look for: ``"defects"`` (dopant + vacancy +
            extended-defect), or one class of :data:`TARGETS`.
        survey_saliency: Use the learned survey prior
            (:func:`~stemscan.agents.survey_saliency.survey_saliency_prior`)
            as a BO prior column (ignored when ``use_prior`` is False).
        survey_edges: Use the survey's per-cell edge strength
            (:func:`~stemscan.agents.features.survey.survey_edge_prior`); with
            ``survey_saliency`` (both on, the default) the two make one column,
            the learned prior hedged by the edges
            (:func:`~stemscan.agents.survey_saliency.survey_saliency_edge_prior`).
        survey_prior: Add the fraction of bright-outlier survey pixels per
            cell as a prior column (off by default since the survey priors;
            with more than one column the acquisition is not weighted by a
            belief, see :class:`~stemscan.agents.bo.BOAgent`).
        survey_gradient: Add the survey gradient
            (:func:`~stemscan.agents.features.survey.survey_gradient_prior`: where the
            mesoscale contrast changes) as a further prior column.
        weights: Path of a weights file written by ``stemscan train dcnn``;
            ``None`` uses the shipped weights.
        device: ``"auto"`` (GPU when available), ``"cpu"`` or ``"cuda"``.
        descriptor: ``"instances"`` (defect instances counted from the
            segmentation and the lattice geometry) or ``"share"`` (pixel
            share of the target classes).
        boundary_weight: Defect instances credited to a patch all of whose
            columns are off its dominant lattice (``"instances"`` only; >= 0).
            Off (0) by default (see the README); the segmentation's own
            ``extended-defect`` regions are still counted.
        **core: The BO core's options (:class:`~stemscan.agents.bo.BOOptions`,
            meanings in :class:`~stemscan.agents.bo.BOAgent`).  ``beta``
            defaults to 1 (less exploration than the core's 4): the instance
            count is a sharp descriptor (chosen on development seeds, see the
            README).  ``lengthscale_cells`` is recorded in :meth:`config`
            when given.
    """

    name = "dcnn-bo"

    def __init__(
        self,
        env: gym.Env,
        seed: int | None = 0,
        *,
        target: str = "defects",
        survey_saliency: bool = True,
        survey_edges: bool = True,
        survey_prior: bool = False,
        survey_gradient: bool = False,
        weights: str | None = None,
        device: str = "auto",
        descriptor: str = "instances",
        boundary_weight: float = 0.0,
        **core: Unpack[BOOptions],
    ) -> None:
        super().__init__(env, seed, **{"beta": 1.0, **core})
        self._lengthscale_given = core.get("lengthscale_cells") is not None
        if target not in TARGETS:
            raise ValueError(f"unknown target {target!r}; valid: {', '.join(TARGETS)}")
        if weights is not None and not isinstance(weights, (str, Path)):
            raise TypeError(f"weights must be a path or None, got {type(weights).__name__}")
        if descriptor not in DESCRIPTORS:
            raise ValueError(f"unknown descriptor {descriptor!r}; valid: {', '.join(DESCRIPTORS)}")
        self.target = target
        self.descriptor_kind = descriptor
        self.boundary_weight = check_number("boundary_weight", boundary_weight, 0.0)
        self.survey_saliency = check_bool("survey_saliency", survey_saliency)
        self.survey_edges = bool(survey_edges)
        self.survey_prior = bool(survey_prior)
        self.survey_gradient = bool(survey_gradient)
        self.weights = None if weights is None else str(weights)
        self.device = str(device)
        self._bonds: list[float] = []
        self.finder = AtomFinder.load(self.weights or WEIGHTS_PATH, device=device)
        self.family = str(getattr(env.unwrapped, "family", ""))
        names = DEFECT_CLASSES if target == "defects" else (target,)
        self._channels = [self.finder.class_index(name) for name in names]
        self._canvas = ProbabilityCanvas(self.field, len(self.finder.class_names))

    def config(self) -> dict[str, Any]:
        return {
            **super().config(),
            "target": self.target,
            "descriptor": self.descriptor_kind,
            "boundary_weight": self.boundary_weight,
            "survey_saliency": self.survey_saliency,
            "survey_edges": self.survey_edges,
            "survey_prior": self.survey_prior,
            "survey_gradient": self.survey_gradient,
            "weights": self.weights,
            "device": self.device,
            # Only when set, so that rows of the default configuration stay as they were.
            **({"lengthscale_cells": self.lengthscale_cells} if self._lengthscale_given else {}),
        }

    def segment(self, patch: np.ndarray) -> np.ndarray:
        """Class probabilities ``(n_classes, P, P)`` of one patch."""
        return self.finder.probabilities(patch)

    def _start_episode(self) -> None:
        super()._start_episode()
        self._bonds: list[float] = []  # per-patch bond lengths this episode, pixels
        if hasattr(self, "_canvas"):
            self._canvas.clear()

    def report(self) -> Detections:
        """The defects its segmentation shows so far (the characterisation track's analyst ``self``).

        The segmentations of every sub-scan it has seen (pasted into a field
        canvas, overlaps averaged) turned into detections as the ``dcnn``
        analyst does (:func:`~stemscan.agents.analysts.dcnn.segmentation_detections`:
        one per connected defect-class region of at least 4 pixels,
        confidence its mean probability).  Under SB3's protocol the
        navigator never receives the observation of the episode's last
        step, so that sub-scan is missing here.
        """
        family = str(getattr(self, "family", ""))
        return segmentation_detections(self._canvas.probabilities(), self._canvas.counts > 0, self.finder.class_names,
                                       {"extended-defect": EXTENDED_NAME.get(family, "extended-defect")}, 4, self.field.shape)

    def descriptor(self, observation: dict[str, np.ndarray]) -> float:
        """The patch's defect-instance count (``"instances"``) or target-class pixel share (``"share"``)."""
        probs = self.segment(observation["patch"])
        if "position" in observation and probs.shape[1:] == (self.field.patch_size,) * 2:  # remembered for report()
            self._canvas.add(probs, self.field.geometry.from_continuous(np.asarray(observation["position"], dtype=np.float64)))
        if self.descriptor_kind == "share" or self.target == "atom":
            labels = np.argmax(probs, axis=0)
            return float(np.isin(labels, self._channels).mean())
        counts = self.defect_counts(probs)
        if self.target == "defects":
            return float(sum(counts.values()))
        return float(counts[self.target])

    def defect_counts(self, probs: np.ndarray) -> dict[str, float]:
        """Expected defect instances per class in one segmented patch (see the module docstring).

        Args:
            probs: ``(n_classes, P, P)`` class probabilities of the patch.

        Returns:
            ``{"dopant": ..., "vacancy": ..., "extended-defect": ...}``.
        """
        finder = self.finder
        shape = probs.shape[1:]
        atom_probability = sum(probs[finder.class_index(name)] for name in ATOM_CLASSES if name in finder.class_names)
        atoms, _ = region_peaks(atom_probability)
        bond = bond_length(atoms)
        if bond is not None:
            self._bonds.append(bond)
        bond = float(np.median(self._bonds)) if self._bonds else None
        _, dopant_peaks = region_peaks(probs[finder.class_index("dopant")])
        vacancy_regions, vacancy_peaks = region_peaks(probs[finder.class_index("vacancy")])
        _, extended_peaks = region_peaks(probs[finder.class_index("extended-defect")])
        vacancies = float(vacancy_peaks.sum())
        extended = float(extended_peaks.sum())
        if bond is not None and is_honeycomb(atoms, shape, bond):
            sites, _ = honeycomb_missing_sites(atoms, shape, bond)
            if len(sites) and len(vacancy_regions):
                far = np.min(np.hypot(*(vacancy_regions[:, None, :] - sites[None, :, :]).transpose(2, 0, 1)), axis=1) > bond
                vacancies = float(len(sites) + vacancy_peaks[far].sum())
            else:
                vacancies += float(len(sites))
            if self.boundary_weight > 0:
                extended += self.boundary_weight * float(np.mean(lattice_consistency(atoms, bond) < 0.5))
        return {"dopant": float(dopant_peaks.sum()), "vacancy": vacancies, "extended-defect": extended}

    def prior(self, observation: dict[str, np.ndarray]) -> np.ndarray | None:
        """Per-cell survey statistics: edge strength, bright-outlier share, survey gradient.

        Columns (each only when enabled and not constant): the survey's edge
        strength per cell (``survey_edges``,
        :func:`~stemscan.agents.features.survey.survey_edge_prior`), the fraction of
        survey pixels brighter than median + 3 robust sigmas (heavy atoms,
        disorder; ``survey_prior``), and the Sobel gradient magnitude of the
        per-cell survey mean (interfaces between regions; ``survey_gradient``,
        :func:`~stemscan.agents.features.survey.survey_gradient_prior`).  With several,
        the GP's linear mean learns how much each predicts the descriptor.
        """
        columns = []
        if self.survey_saliency:
            survey = survey_saliency_edge_prior if self.survey_edges else survey_saliency_prior
            saliency = survey(observation["overview"], self.field)
            if saliency is not None and saliency.std() > 0:
                columns.append(saliency)
        elif self.survey_edges:
            edges = survey_edge_prior(observation["overview"], self.field)
            if edges is not None and edges.std() > 0:
                columns.append(edges)
        if self.survey_prior:
            share = self._bright_share(observation)
            if share is not None:
                columns.append(share)
        if self.survey_gradient:
            gradient = survey_gradient_prior(observation["overview"], self.field)
            if gradient is not None and gradient.std() > 0:
                columns.append(gradient)
        if not columns:
            return None
        return columns[0] if len(columns) == 1 else np.stack(columns, axis=1)

    def _bright_share(self, observation: dict[str, np.ndarray]) -> np.ndarray | None:
        """Per-cell fraction of survey pixels brighter than median + 3 robust sigmas, or ``None`` if constant."""
        overview = np.asarray(observation["overview"], dtype=np.float64)[0]
        median = float(np.median(overview))
        spread = 1.4826 * float(np.median(np.abs(overview - median)))
        if spread <= 0:
            return None
        outliers = (overview > median + _OUTLIER_SIGMAS * spread).astype(np.float64)
        cells = cell_of_overview_pixel(self.field)
        counts = np.bincount(cells.ravel(), minlength=self.n_cells)
        if (counts == 0).any():
            return None  # overview coarser than the grid: no per-cell estimate
        fraction = np.bincount(cells.ravel(), weights=outliers.ravel(), minlength=self.n_cells) / counts
        return fraction if fraction.std() > 0 else None
