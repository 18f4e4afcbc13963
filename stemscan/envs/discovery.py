"""The reward rule: which ground-truth features a scan has discovered.

A feature is discovered once at least ``threshold`` of its labelled pixels
have been scanned at imaging dose (the survey never counts).  Each feature is
rewarded once, with its weight.
"""

from __future__ import annotations

import numpy as np

__all__ = ["DiscoveryTracker"]

_NONE = np.empty(0, dtype=np.int64)
_NONE.flags.writeable = False
_NEVER = np.iinfo(np.int64).max


class DiscoveryTracker:
    """Counts scanned pixels per feature and reports newly discovered ones.

    Args:
        labels: ``int32`` (H, W) feature labels (0 = none, k = feature k).
        weights: ``float64`` (K + 1,) weight per label value (index 0 unused).
        threshold: Fraction of a feature's pixels that must be scanned, in (0, 1].
        area: Optional ``np.bincount(labels.ravel())`` computed before (the
            env keeps it per scene, :mod:`stemscan.envs.scene_tables`).
    """

    def __init__(self, labels: np.ndarray, weights: np.ndarray, threshold: float = 0.5, area: np.ndarray | None = None) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"discovery threshold must lie in (0, 1], got {threshold}")
        self.labels = labels
        self.weights = np.asarray(weights, dtype=np.float64)
        self.n_labels = len(self.weights)
        if area is None:
            area = np.bincount(labels.ravel(), minlength=self.n_labels)
        if area.size > self.n_labels:  # the env's compiled step indexes ``scanned`` by label
            raise ValueError(f"labels go up to {area.size - 1} but there are weights for {self.n_labels - 1} features")
        self.needed = np.maximum(np.ceil(threshold * area), 1).astype(np.int64)
        self.needed[0] = _NEVER  # label 0 is never a feature
        self.scanned = np.zeros(self.n_labels, dtype=np.int64)
        self.found = np.zeros(self.n_labels, dtype=bool)
        # ``needed`` with undiscoverable entries (label 0, features already found) at +inf (read by the compiled step)
        self.pending = self.needed.copy()
        self.n_found = 0
        self.weight_found = 0.0
        self.total = self.n_labels - 1

    def update(self, patch_labels: np.ndarray, newly_scanned: np.ndarray) -> np.ndarray:
        """Account for newly scanned pixels; return the ids discovered now.

        Args:
            patch_labels: Labels of the pixels of the sub-scan.
            newly_scanned: Boolean mask of those never scanned before.
        """
        if self.total == 0:
            return _NONE
        fresh = patch_labels if newly_scanned.all() else patch_labels[newly_scanned]
        # dense over the (few) labels: a handful of whole-array operations beats fancy indexing
        self.scanned += np.bincount(fresh.ravel(), minlength=self.n_labels)
        return self.collect()

    def collect(self) -> np.ndarray:
        """Mark and return the ids whose ``scanned`` count reached the threshold since the last call.

        For callers that add to :attr:`scanned` themselves (the env's compiled step).
        """
        if self.total == 0:
            return _NONE
        new = np.flatnonzero(self.scanned >= self.pending)
        if new.size:
            self.pending[new] = _NEVER
            self.found[new] = True
            self.n_found += int(new.size)
            self.weight_found += float(self.weights[new].sum())
        return new

    @property
    def all_found(self) -> bool:
        return self.total > 0 and self.n_found == self.total
