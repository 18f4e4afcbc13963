"""Identification scores: an analyst's detections matched one-to-one to the ground truth.

Pure functions of a :class:`~stemscan.agents.analysts.Detections` and a
scene's truth (feature records and label image).  The evaluation reads the
hidden scene; analysts never do.

Matching rule
    A detection may match a ground-truth feature when its distance to the
    feature is at most the family's tolerance (:data:`TOLERANCE_A`, in Å,
    converted with the scene's ``pixel_size``).  The distance to a point
    feature (a vacancy, a junction) is the distance to its centroid; to an
    extended feature (:data:`EXTENDED_KINDS`: walls, boundaries, interfaces,
    particle edges) it is the distance to the feature's nearest labelled
    pixel.  Pairs are chosen by ``scipy.optimize.linear_sum_assignment``:
    the most matches, then the smallest summed distance; every detection and
    every feature is used at most once (a duplicate detection is a false
    positive).

Scores
    *Identification* (kind-aware): a pair counts only when the detection's
    kind equals the feature's kind; per kind and overall, precision = TP /
    detections, recall = TP / features, F1 = 2 TP / (2 TP + FP + FN).
    *Localisation* (kind-agnostic): the same with kinds ignored.  With
    nothing to find and nothing claimed, every score is 1; otherwise an
    empty ratio is 0 (nothing claimed: precision 0; nothing to find but
    something claimed: recall 0).

Dose-efficiency curve
    ``(budget_fraction, F1)`` at the dose checkpoints of an episode (a step
    function held after each report, 0 before the first), and its area on
    ``[0, 1]`` of the budget: DEC-AUC, in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stemscan.agents.analysts.detections import Detections
from stemscan.benchmarks import metrics

__all__ = [
    "DEFAULT_TOLERANCE_A",
    "EXTENDED_KINDS",
    "TOLERANCE_A",
    "MatchResult",
    "dec_auc",
    "distance_matrix",
    "match",
    "score_scene",
    "tolerance_px",
]

#: Matching tolerance per scene family, Å.  About half the spacing that
#: separates two distinct features of the family: half a graphene/MoS2 bond
#: plus the column-finding error for point defects (1 Å = 5 px at 0.2 Å/px);
#: one perovskite cell (3.95 Å) for walls and junctions of the ferroelectric;
#: 5 Å (10 px at 0.5 Å/px) for the mesoscale interfaces, particle edges and
#: junctions.
TOLERANCE_A: dict[str, float] = {
    "lattice-defects": 1.0,
    "ferroelectric-domains": 4.0,
    "phase-separated": 5.0,
    "nanoparticles": 5.0,
}

#: Tolerance of other families and loaded images, Å.
DEFAULT_TOLERANCE_A = 2.0

#: Kinds whose distance is measured to the nearest labelled pixel, not the centroid.
EXTENDED_KINDS: frozenset[str] = frozenset({"grain-boundary", "domain-wall", "interface", "particle-edge"})


def tolerance_px(family: str, pixel_size: float) -> float:
    """The matching tolerance of ``family`` in pixels of size ``pixel_size`` Å."""
    if not (np.isfinite(pixel_size) and pixel_size > 0):
        raise ValueError(f"pixel_size must be a positive number of Å, got {pixel_size!r}")
    return TOLERANCE_A.get(family, DEFAULT_TOLERANCE_A) / float(pixel_size)


def distance_matrix(positions: np.ndarray, centroids: np.ndarray, kinds: Sequence[str], labels: np.ndarray | None) -> np.ndarray:
    """Distances (N detections, K features), pixels (see the module docstring).

    Args:
        positions: (N, 2) detection ``(row, col)``.
        centroids: (K, 2) feature centroids.
        kinds: K feature kinds; those in :data:`EXTENDED_KINDS` use ``labels``.
        labels: (H, W) label image (feature ``k`` has id ``k + 1``), or ``None``
            to use centroids for every feature.
    """
    points = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    centres = np.asarray(centroids, dtype=np.float64).reshape(-1, 2)
    out = np.hypot(points[:, None, 0] - centres[None, :, 0], points[:, None, 1] - centres[None, :, 1])
    if labels is None or not len(points):
        return out
    extended = [k for k, kind in enumerate(kinds) if kind in EXTENDED_KINDS]
    if not extended:
        return out
    from scipy.spatial import cKDTree

    flat = np.asarray(labels).ravel()
    order = np.argsort(flat, kind="stable")
    bounds = np.searchsorted(flat[order], np.arange(len(kinds) + 2))
    width = labels.shape[1]
    for k in extended:
        pixels = order[bounds[k + 1] : bounds[k + 2]]
        if pixels.size:
            coords = np.stack(np.divmod(pixels, width), axis=1).astype(np.float64)
            out[:, k] = cKDTree(coords).query(points)[0]
    return out


@dataclass(frozen=True)
class MatchResult:
    """Matched pairs and counts of one report.

    Attributes:
        pairs: ``(detection index, feature index)`` of each match.
        true_positives, false_positives, false_negatives: Counts.
        per_kind: ``{kind: {"tp", "fp", "fn", "precision", "recall", "f1"}}``
            over the kinds of the truth and the detections (kind-aware only).
    """

    pairs: list[tuple[int, int]]
    true_positives: int
    false_positives: int
    false_negatives: int
    per_kind: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        return _precision(self.true_positives, self.false_positives, self.false_negatives)

    @property
    def recall(self) -> float:
        return _recall(self.true_positives, self.false_positives, self.false_negatives)

    @property
    def f1(self) -> float:
        return _f1(self.true_positives, self.false_positives, self.false_negatives)


def _precision(tp: int, fp: int, fn: int) -> float:
    if tp + fp:
        return tp / (tp + fp)
    return 1.0 if fn == 0 else 0.0


def _recall(tp: int, fp: int, fn: int) -> float:
    if tp + fn:
        return tp / (tp + fn)
    return 1.0 if fp == 0 else 0.0


def _f1(tp: int, fp: int, fn: int) -> float:
    denominator = 2 * tp + fp + fn
    return 2 * tp / denominator if denominator else 1.0


def match(
    distances: np.ndarray,
    tolerance: float,
    detection_kinds: Sequence[str] | None = None,
    feature_kinds: Sequence[str] | None = None,
) -> MatchResult:
    """One-to-one matching within ``tolerance`` (pixels) that maximises the matches, then minimises distance.

    Args:
        distances: (N detections, K features), pixels (:func:`distance_matrix`).
        tolerance: Largest matching distance, pixels (inclusive).
        detection_kinds, feature_kinds: When both are given, only equal
            kinds may match (identification); otherwise kinds are ignored
            (localisation) and ``per_kind`` is empty.
    """
    from scipy.optimize import linear_sum_assignment

    d = np.asarray(distances, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"distances must be an (N detections, K features) matrix, got shape {d.shape}")
    if not (np.isfinite(tolerance) and tolerance >= 0):
        raise ValueError(f"tolerance must be a non-negative number of pixels, got {tolerance!r}")
    n, k = d.shape
    allowed = d <= tolerance
    kind_aware = detection_kinds is not None and feature_kinds is not None
    if kind_aware:
        det = np.asarray(list(detection_kinds), dtype=object)
        truth = np.asarray(list(feature_kinds), dtype=object)
        if det.shape != (n,) or truth.shape != (k,):
            raise ValueError(f"kinds must number {n} detections and {k} features, got {det.shape[0]} and {truth.shape[0]}")
        allowed &= det[:, None] == truth[None, :]
    pairs: list[tuple[int, int]] = []
    if n and k and allowed.any():
        # infeasible pairs cost more than any set of feasible ones, so the most matches win first
        big = (tolerance + 1.0) * (min(n, k) + 1)
        cost = np.where(allowed, d, big)
        rows, cols = linear_sum_assignment(cost)
        pairs = [(int(r), int(c)) for r, c in zip(rows, cols) if allowed[r, c]]
    tp = len(pairs)
    per_kind: dict[str, dict[str, float]] = {}
    if kind_aware:
        matched_truth = {c for _, c in pairs}
        for kind in sorted(set(map(str, det)) | set(map(str, truth))):
            ktp = sum(1 for _, c in pairs if truth[c] == kind)
            kfp = int(np.sum(det == kind)) - ktp
            kfn = sum(1 for c in range(k) if truth[c] == kind and c not in matched_truth)
            per_kind[kind] = {"tp": ktp, "fp": kfp, "fn": kfn, "precision": _precision(ktp, kfp, kfn),
                              "recall": _recall(ktp, kfp, kfn), "f1": _f1(ktp, kfp, kfn)}
    return MatchResult(pairs, tp, n - tp, k - tp, per_kind)


def score_scene(detections: Detections, scene: Any) -> dict[str, Any]:
    """Identification and localisation scores of ``detections`` against ``scene``'s truth.

    Returns:
        ``{"precision", "recall", "f1", "localisation_f1", "detections",
        "per_kind"}`` (kind-aware unless named localisation).

    Raises:
        ValueError: The scene is unscored (no ground truth).
    """
    if not getattr(scene, "scored", True):
        raise ValueError("the scene has no ground truth (unscored); nothing to score")
    kinds = [f.kind for f in scene.features]
    centroids = np.array([f.centroid for f in scene.features], dtype=np.float64).reshape(-1, 2)
    tolerance = tolerance_px(scene.family, scene.pixel_size)
    distances = distance_matrix(detections.positions, centroids, kinds, scene.labels)
    identified = match(distances, tolerance, [str(k) for k in detections.kinds], kinds)
    located = match(distances, tolerance)
    return {
        "precision": identified.precision,
        "recall": identified.recall,
        "f1": identified.f1,
        "localisation_f1": located.f1,
        "detections": len(detections),
        "per_kind": identified.per_kind,
    }


def dec_auc(curve: Sequence[Sequence[float]]) -> float:
    """Area under a dose-efficiency curve ``[(budget_fraction, F1), ...]`` on [0, 1], in [0, 1].

    A step function: 0 before the first point, each F1 held until the next
    point and the last one until the whole budget (fractions beyond 1 are
    clipped).
    """
    return metrics.discovery_auc(curve, 1.0)
