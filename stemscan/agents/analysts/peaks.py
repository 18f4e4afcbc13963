"""``peaks``: a classical, training-free peak and defect finder on the measured sub-scans.

What it reports, from the canvas of everything measured so far (overlaps
averaged; the survey is not used):

1. **Atom columns** — in each connected measured region, local maxima of
   the canvas smoothed with a Gaussian of ``sigma_px`` (:func:`~stemscan.agents.features.peaks.find_peaks`,
   ``threshold`` noise sigmas above the median), in measured pixels at
   least ``margin_px`` inside the measured area.
2. **Bright columns** (substitutional heavy atoms): columns whose smoothed
   height exceeds the median column height by more than ``bright_sigmas``
   robust standard deviations (1.4826 × MAD) of the heights and by a
   factor ``bright_ratio`` (so that a near-perfect lattice, whose heights
   hardly spread, gives no bright columns).
3. **Missing columns** (vacancies): around each column with fewer
   neighbours (within ``1.3 d``, ``d`` the median nearest-neighbour
   distance) than the median column, the *local* lattice translations are
   the displacements to columns within ``2.5 d`` along which at least
   ``translation_support`` of the local columns repeat (within ``0.25 d``);
   a site within ``1.3 d`` of it that local columns predict by such a
   translation at least three times, inside the measured area and with no
   column within ``0.35 d``, is a missing column.  Local, so grains of
   other orientations work; any lattice with a basis works (in a honeycomb
   only the second-neighbour vectors are translations).
4. **Contrast boundaries** (walls, interfaces, particle edges): on the
   canvas smoothed over ``boundary_sigma_px`` (which averages lattices
   away; a normalised convolution over the measured pixels only, judged
   where at least three quarters of the smoothing weight were measured), pixels whose gradient magnitude exceeds ``boundary_sigmas``
   robust standard deviations above the median gradient of the measured
   pixels and that step by at least ``boundary_contrast`` of the median
   signal (a step of height ``h`` smoothed over ``s`` pixels has a largest
   gradient ``h / (s sqrt(2 pi))``); one detection per ``patch_size`` of boundary (greedy
   non-maximum suppression along the strongest gradients).

Known limitation: within about ``2 boundary_sigma_px`` of the edge of the
measured area, a truncated smoothing window over an atomic lattice can
itself read as a contrast boundary.

Kinds: the three findings are named in the vocabulary of the family being
scanned (:data:`VOCABULARY`: what the operator calls a missing column, a
bright column and a boundary in that sample), or ``missing-column``,
``bright-column`` and ``boundary`` for other samples.  Confidence: a
logistic of the excess over the threshold in noise sigmas.  The thresholds
are generic (noise-referred) defaults, not tuned on the benchmark families.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from scipy import ndimage

from stemscan.agents.analysts.base import Analyst
from stemscan.agents.analysts.detections import Detections
from stemscan.agents.features.peaks import find_peaks
from stemscan.validation import check_int, check_number

__all__ = ["GENERIC_KINDS", "VOCABULARY", "PeakAnalyst"]

#: The analyst's own names of its findings.
GENERIC_KINDS = {"missing": "missing-column", "bright": "bright-column", "boundary": "boundary"}

#: What each family calls the analyst's findings (a finding the family has no name for keeps its generic name).
VOCABULARY: dict[str, dict[str, str]] = {
    "lattice-defects": {"missing": "vacancy", "bright": "dopant", "boundary": "grain-boundary"},
    "ferroelectric-domains": {"boundary": "domain-wall"},
    "phase-separated": {"boundary": "interface"},
    "nanoparticles": {"boundary": "particle-edge"},
}


def _confidence(excess_sigmas: np.ndarray) -> np.ndarray:
    """Logistic of the excess over the threshold, in noise sigmas (0.5 at the threshold)."""
    return 1.0 / (1.0 + np.exp(-np.asarray(excess_sigmas, dtype=np.float64)))


def _robust_sigma(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    return 1.4826 * float(np.median(np.abs(values - np.median(values)))) if values.size else 0.0


class PeakAnalyst(Analyst):
    """Classical column/defect/boundary finder (see the module docstring).

    Args:
        env: The STEMScan env (configuration only).
        seed: Unused (deterministic); kept for the common signature.
        sigma_px: Column smoothing width, pixels.
        threshold: Column threshold, noise sigmas above the median.
        min_distance_px: Smallest separation of two columns, pixels (2: a larger window would hide a column
            whose neighbour is much brighter, as the window reaches past their midpoint).
        margin_px: Columns closer than this to an unmeasured pixel are ignored.
        bright_sigmas: Bright-column threshold, robust sigmas of the column heights.
        bright_ratio: A bright column is also at least this many times the median column height.
        translation_support: Share of columns that must repeat along a displacement for it to be a translation.
        boundary_sigma_px: Boundary smoothing width, pixels (``None``: the patch size / 4).
        boundary_sigmas: Boundary threshold, robust sigmas of the gradient above its median.
        boundary_contrast: A boundary is also a step of at least this fraction of the median measured signal.
        max_columns: At most this many columns per report.
    """

    name = "peaks"

    def __init__(
        self,
        env: gym.Env,
        seed: int | None = 0,
        *,
        sigma_px: float = 1.5,
        threshold: float = 3.0,
        min_distance_px: int = 2,
        margin_px: int = 2,
        bright_sigmas: float = 4.0,
        bright_ratio: float = 1.3,
        translation_support: float = 0.7,
        boundary_sigma_px: float | None = None,
        boundary_sigmas: float = 6.0,
        boundary_contrast: float = 0.1,
        max_columns: int = 20000,
    ) -> None:
        super().__init__(env, seed)
        self.sigma_px = check_number("sigma_px", sigma_px, 0.0)
        self.threshold = check_number("threshold", threshold)
        self.min_distance_px = check_int("min_distance_px", min_distance_px, 1)
        self.margin_px = check_int("margin_px", margin_px, 0)
        self.bright_sigmas = check_number("bright_sigmas", bright_sigmas, 0.0, low_open=True)
        self.bright_ratio = check_number("bright_ratio", bright_ratio, 1.0)
        self.translation_support = check_number("translation_support", translation_support, 0.0, 1.0, low_open=True)
        default_boundary = max(self.field.patch_size / 4.0, 2.0)
        self.boundary_sigma_px = default_boundary if boundary_sigma_px is None else check_number(
            "boundary_sigma_px", boundary_sigma_px, 0.0, low_open=True)
        self.boundary_sigmas = check_number("boundary_sigmas", boundary_sigmas, 0.0, low_open=True)
        self.boundary_contrast = check_number("boundary_contrast", boundary_contrast, 0.0)
        self.max_columns = check_int("max_columns", max_columns, 1)
        names = VOCABULARY.get(self.family, {})
        self.kinds = {key: names.get(key, generic) for key, generic in GENERIC_KINDS.items()}

    def config(self) -> dict[str, Any]:
        return {
            "sigma_px": self.sigma_px, "threshold": self.threshold, "min_distance_px": self.min_distance_px,
            "margin_px": self.margin_px, "bright_sigmas": self.bright_sigmas, "bright_ratio": self.bright_ratio,
            "translation_support": self.translation_support, "boundary_sigma_px": self.boundary_sigma_px,
            "boundary_sigmas": self.boundary_sigmas, "boundary_contrast": self.boundary_contrast, "max_columns": self.max_columns,
        }  # fmt: skip

    # ------------------------------------------------------------ findings
    def _report(self) -> Detections:
        image = self.canvas.image()
        measured = self.canvas.measured
        inner = ndimage.binary_erosion(measured, iterations=self.margin_px, border_value=0) if self.margin_px else measured
        parts = [self._boundaries(image, measured)]
        columns = self.columns(image, inner)
        if len(columns) >= 8:
            smooth = ndimage.gaussian_filter(image, self.sigma_px) if self.sigma_px > 0 else image
            index = np.rint(columns).astype(np.int64)
            heights = smooth[index[:, 0], index[:, 1]]
            parts.append(self._bright(columns, heights))
            parts.append(self._missing(columns, inner))
        return Detections.concatenate(parts, self.field.shape)

    def columns(self, image: np.ndarray, inner: np.ndarray) -> np.ndarray:
        """Atom-column positions (N, 2) in the measured interior, pixels.

        Found in each connected measured region's bounding box on its own,
        so that the noise level is estimated from measured pixels (not from
        the flat fill of the unmeasured canvas).
        """
        regions, _ = ndimage.label(self.canvas.measured)
        found = []
        for box in ndimage.find_objects(regions):
            crop = image[box]
            if min(crop.shape) < 3:
                continue
            peaks = find_peaks(crop, self.sigma_px, self.min_distance_px, self.threshold, self.max_columns)
            if len(peaks):
                found.append(peaks + np.array([box[0].start, box[1].start], dtype=np.float64))
        if not found:
            return np.zeros((0, 2), dtype=np.float64)
        peaks = np.unique(np.concatenate(found), axis=0)
        index = np.rint(peaks).astype(np.int64)
        return peaks[inner[index[:, 0], index[:, 1]]]

    def _bright(self, columns: np.ndarray, heights: np.ndarray) -> Detections:
        spread = _robust_sigma(heights)
        if spread <= 0:
            return Detections.empty(self.field.shape)
        median = float(np.median(heights))
        excess = (heights - median) / spread - self.bright_sigmas
        keep = (excess > 0) & (heights > self.bright_ratio * median)
        return Detections(columns[keep], [self.kinds["bright"]] * int(keep.sum()), _confidence(excess[keep]), self.field.shape)

    def _missing(self, columns: np.ndarray, inner: np.ndarray) -> Detections:
        from scipy.spatial import cKDTree

        tree = cKDTree(columns)
        nearest = float(np.median(tree.query(columns, k=2)[0][:, 1]))
        if not nearest > 0:
            return Detections.empty(self.field.shape)
        # columns with fewer neighbours (within 1.3 d) than the typical column sit next to a gap
        coordination = np.array([len(n) - 1 for n in tree.query_ball_point(columns, 1.3 * nearest)])
        needy = np.flatnonzero(coordination < np.median(coordination))
        predicted: list[np.ndarray] = []
        for p in needy:
            centre = columns[p]
            local = columns[tree.query_ball_point(centre, 2.5 * nearest)]
            offsets = local - centre
            offsets = offsets[np.hypot(*offsets.T) > 0.5 * nearest]
            candidates = np.concatenate([offsets, -offsets])
            if not len(candidates) or len(local) < 4:
                continue
            # local translations: displacements along which most local columns repeat
            targets = (local[None, :, :] + candidates[:, None, :]).reshape(-1, 2)
            hit = (tree.query(targets, distance_upper_bound=0.25 * nearest)[0] < np.inf).reshape(len(candidates), -1)
            inside = self._inside(targets, inner).reshape(len(candidates), -1)
            tested = inside.sum(axis=1)
            support = (hit & inside).sum(axis=1) / np.maximum(tested, 1)
            translations = candidates[(tested >= 3) & (support >= self.translation_support)]
            if not len(translations):
                continue
            sites = (local[None, :, :] + translations[:, None, :]).reshape(-1, 2)
            sites = sites[np.hypot(*(sites - centre).T) <= 1.3 * nearest]
            predicted.append(sites)
        if not predicted:
            return Detections.empty(self.field.shape)
        points = np.concatenate(predicted)
        points = points[self._inside(points, inner)]
        if not len(points):
            return Detections.empty(self.field.shape)
        points = points[tree.query(points, distance_upper_bound=0.35 * nearest)[0] == np.inf]
        if not len(points):
            return Detections.empty(self.field.shape)
        # a site predicted by at least three (column, translation) pairs within 0.35 d is a missing column
        groups = cKDTree(points).query_ball_point(points, 0.35 * nearest)
        sites, support_counts, used = [], [], np.zeros(len(points), dtype=bool)
        for i in np.argsort([-len(g) for g in groups], kind="stable"):
            members = [j for j in groups[i] if not used[j]]
            if used[i] or len(members) < 3:
                continue
            used[members] = True
            sites.append(points[members].mean(axis=0))
            support_counts.append(len(members))
        if not sites:
            return Detections.empty(self.field.shape)
        confidence = 1.0 - 0.8 ** np.asarray(support_counts, dtype=np.float64)
        return Detections(np.array(sites), [self.kinds["missing"]] * len(sites), confidence, self.field.shape)

    @staticmethod
    def _inside(points: np.ndarray, mask: np.ndarray) -> np.ndarray:
        index = np.rint(points).astype(np.int64)
        ok = (index[:, 0] >= 0) & (index[:, 0] < mask.shape[0]) & (index[:, 1] >= 0) & (index[:, 1] < mask.shape[1])
        out = np.zeros(len(points), dtype=bool)
        out[ok] = mask[index[ok, 0], index[ok, 1]]
        return out

    def _boundaries(self, image: np.ndarray, measured: np.ndarray) -> Detections:
        # normalised convolution: the Gaussian mean of the *measured* pixels only, so that the edge of
        # a sub-scan (next to unmeasured pixels) is no contrast change
        weight = measured.astype(np.float64)
        coverage = ndimage.gaussian_filter(weight, self.boundary_sigma_px, mode="constant")
        smooth = ndimage.gaussian_filter(image * weight, self.boundary_sigma_px, mode="constant") / np.maximum(coverage, 1e-12)
        rows, cols = np.gradient(smooth)
        gradient = np.hypot(rows, cols)  # per pixel
        # judged where three quarters of the smoothing weight were measured (a truncated window over a
        # lattice is itself a gradient), one pixel inside the measured area
        valid = ndimage.binary_erosion(measured, border_value=0) & (coverage >= 0.75)
        values = gradient[valid]
        if values.size < 16:
            return Detections.empty(self.field.shape)
        spread = _robust_sigma(values)
        if spread <= 0:
            return Detections.empty(self.field.shape)
        excess = (gradient - np.median(values)) / spread - self.boundary_sigmas
        # a step of height h smoothed over s pixels has a largest gradient h / (s sqrt(2 pi))
        step = gradient * self.boundary_sigma_px * np.sqrt(2 * np.pi)
        level = abs(float(np.median(smooth[measured])))
        candidates = np.flatnonzero((excess > 0) & valid & (step >= self.boundary_contrast * level))
        if not candidates.size:
            return Detections.empty(self.field.shape)
        order = candidates[np.argsort(-excess.ravel()[candidates], kind="stable")]
        coords = np.stack(np.divmod(order, image.shape[1]), axis=1).astype(np.float64)
        spacing = float(self.field.patch_size)
        kept: list[int] = []
        chosen = np.empty((0, 2))
        for i, point in enumerate(coords):  # greedy non-maximum suppression, strongest first
            if not len(chosen) or np.min(np.hypot(*(chosen - point).T)) >= spacing:
                kept.append(i)
                chosen = coords[kept]
        points = chosen
        return Detections(points, [self.kinds["boundary"]] * len(kept), _confidence(excess.ravel()[order[kept]]), self.field.shape)
