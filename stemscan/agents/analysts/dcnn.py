"""``dcnn``: the shipped DCNN segmentation, turned into detections.

Each sub-scan is segmented by the pretrained U-Net
(:class:`~stemscan.agents.dcnn.AtomFinder`) as it arrives; the class
probabilities are pasted into a field-sized canvas (overlaps averaged,
:class:`ProbabilityCanvas`).  A report labels the measured pixels by their
most probable class; each connected region (at least ``min_area`` pixels)
of a defect class (``dopant``, ``vacancy``, ``extended-defect``) is one
detection at its centroid, with the region's mean class probability as its
confidence.  ``extended-defect`` is named in the family's vocabulary of
extended features (``grain-boundary`` for ``lattice-defects``, and so on,
:data:`EXTENDED_NAME`).

With ``calibrated=True`` (the default) the regions must also pass the
shipped calibration (:func:`~stemscan.agents.dcnn_calibration.detect_defects`:
per-class probability threshold and area, lattice checks for vacancies and
extended defects), and a class whose required image SNR (the median
:func:`~stemscan.agents.features.visibility.image_snr` of the sub-scans)
is not reached is not reported at all; :attr:`DCNNAnalyst.visible` says
which classes the last report could see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from scipy import ndimage

from stemscan.agents.analysts.base import Analyst
from stemscan.agents.analysts.detections import Detections
from stemscan.agents.base import FieldConfig
from stemscan.agents.dcnn import DEFECT_CLASSES, WEIGHTS_PATH, AtomFinder
from stemscan.agents.dcnn_calibration import CALIBRATION_PATH, Calibration, detect_defects
from stemscan.agents.features.visibility import image_snr
from stemscan.validation import check_int

__all__ = ["EXTENDED_NAME", "DCNNAnalyst", "ProbabilityCanvas", "segmentation_detections"]

#: What each family calls the DCNN's ``extended-defect`` class.
EXTENDED_NAME: dict[str, str] = {
    "lattice-defects": "grain-boundary",
    "ferroelectric-domains": "domain-wall",
    "phase-separated": "interface",
    "nanoparticles": "particle-edge",
}


class ProbabilityCanvas:
    """Per-class probabilities of every segmented sub-scan in one field-sized canvas (overlaps averaged).

    Args:
        field: The env's geometry.
        n_classes: Channels of the segmentation.
    """

    def __init__(self, field: FieldConfig, n_classes: int) -> None:
        self.field = field
        self.sums = np.zeros((n_classes, *field.shape), dtype=np.float32)
        self.counts = np.zeros(field.shape, dtype=np.int32)

    def clear(self) -> None:
        self.sums.fill(0.0)
        self.counts.fill(0)

    def add(self, probabilities: np.ndarray, corner: tuple[int, int]) -> None:
        """Paste ``(n_classes, P, P)`` probabilities at top-left ``corner``."""
        r0, c0 = corner
        p = self.field.patch_size
        self.sums[:, r0 : r0 + p, c0 : c0 + p] += probabilities
        self.counts[r0 : r0 + p, c0 : c0 + p] += 1

    def probabilities(self) -> np.ndarray:
        """Mean probabilities ``(n_classes, H, W)`` (zeros where nothing was segmented)."""
        return self.sums / np.maximum(self.counts, 1)[None]


def segmentation_detections(
    probabilities: np.ndarray,
    measured: np.ndarray,
    class_names: tuple[str, ...],
    kinds: dict[str, str],
    min_area: int,
    shape: tuple[int, int],
) -> Detections:
    """One detection per connected region of a defect class (argmax over classes, measured pixels only)."""
    labels = np.argmax(probabilities, axis=0)
    parts = []
    for name in DEFECT_CLASSES:
        if name not in class_names:
            continue
        channel = class_names.index(name)
        mask = (labels == channel) & measured
        regions, count = ndimage.label(mask)
        if not count:
            continue
        index = np.arange(1, count + 1)
        areas = ndimage.sum_labels(mask, regions, index)
        centres = np.asarray(ndimage.center_of_mass(mask, regions, index), dtype=np.float64).reshape(-1, 2)
        confidence = np.asarray(ndimage.mean(probabilities[channel], regions, index), dtype=np.float64).reshape(-1)
        keep = areas >= min_area
        parts.append(Detections(centres[keep], [kinds.get(name, name)] * int(keep.sum()),
                                np.clip(confidence[keep], 0.0, 1.0), shape))
    return Detections.concatenate(parts, shape)


class DCNNAnalyst(Analyst):
    """The shipped U-Net's defect regions as detections (see the module docstring).

    Args:
        env: The STEMScan env (configuration only).
        seed: Unused (deterministic).
        weights: Weights file of ``stemscan train dcnn``; ``None``: the shipped weights.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        min_area: Smallest region reported, pixels (uncalibrated mode).
        calibrated: Report only regions that pass the shipped calibration
            (needs the shipped weights; see the module docstring).
    """

    name = "dcnn"

    def __init__(
        self, env: gym.Env, seed: int | None = 0, *, weights: str | None = None, device: str = "auto", min_area: int = 4,
        calibrated: bool = True,
    ) -> None:
        super().__init__(env, seed)
        if weights is not None and not isinstance(weights, (str, Path)):
            raise TypeError(f"weights must be a path or None, got {type(weights).__name__}")
        self.weights = None if weights is None else str(weights)
        self.device = str(device)
        self.min_area = check_int("min_area", min_area, 1)
        self.finder = AtomFinder.load(self.weights or WEIGHTS_PATH, device=device)
        self.probs = ProbabilityCanvas(self.field, len(self.finder.class_names))
        self.kinds = {"extended-defect": EXTENDED_NAME.get(self.family, "extended-defect")}
        if not isinstance(calibrated, bool):
            raise TypeError(f"calibrated must be True or False, got {calibrated!r}")
        self.calibrated = calibrated
        self.calibration = None
        if calibrated:
            self.calibration = Calibration.load(CALIBRATION_PATH)
            self.calibration.check_weights(self.weights or WEIGHTS_PATH)
        self.snrs: list[float] = []
        #: Per defect class, whether the last calibrated report could see it (empty before one).
        self.visible: dict[str, bool] = {}

    def config(self) -> dict[str, Any]:
        return {"weights": self.weights, "device": self.device, "min_area": self.min_area, "calibrated": self.calibrated}

    def _start_episode(self) -> None:
        self.probs.clear()
        self.snrs.clear()
        self.visible = {}

    def _observe_patch(self, patch: np.ndarray, corner: tuple[int, int]) -> None:
        self.probs.add(self.finder.probabilities(patch), corner)
        if self.calibrated:
            self.snrs.append(image_snr(patch))

    def _report(self) -> Detections:
        if self.calibrated:
            return self._calibrated_report()
        return segmentation_detections(self.probs.probabilities(), self.canvas.measured, self.finder.class_names,
                                       self.kinds, self.min_area, self.field.shape)

    def _calibrated_report(self) -> Detections:
        """Detections that pass the calibration, on the measured pixels of the stitched probabilities."""
        measured = self.canvas.measured
        probs = self.probs.probabilities()
        background = self.finder.class_index("background") if "background" in self.finder.class_names else 0
        probs[:, ~measured] = 0.0
        probs[background, ~measured] = 1.0
        snr = float(np.median(self.snrs)) if self.snrs else 0.0
        report = detect_defects(probs, self.canvas.image(fill=0.0), self.finder.class_names, self.calibration, snr=snr,
                                measured=measured)
        self.visible = dict(report.visible)
        parts = [Detections(report.centres[name], [self.kinds.get(name, name)] * len(report.centres[name]),
                            np.clip(report.confidence[name], 0.0, 1.0), self.field.shape)
                 for name in DEFECT_CLASSES if name in report.centres]
        return Detections.concatenate(parts, self.field.shape)
