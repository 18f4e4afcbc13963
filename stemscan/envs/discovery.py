"""The reward rule: which ground-truth features a scan has discovered.

A feature is discovered once at least ``threshold`` of its labelled pixels
have been scanned at imaging dose (the survey never counts).  Each feature is
rewarded once, with its weight.
"""

from __future__ import annotations

import numba
import numpy as np

__all__ = ["DiscoveryTracker", "needed_pixels"]

_NONE = np.empty(0, dtype=np.int64)
_NONE.flags.writeable = False
_NEVER = np.iinfo(np.int64).max


@numba.njit(cache=True, nogil=True)
def _mark_reached(scanned, pending, found, ids):  # noqa: ANN001, ANN202
    """Ids (ascending, into ``ids``) with ``scanned ≥ pending``, marked found and no longer pending; returns their number."""
    n = 0
    for k in range(scanned.shape[0]):
        if scanned[k] >= pending[k]:
            pending[k] = _NEVER
            found[k] = True
            ids[n] = k
            n += 1
    return n


def needed_pixels(labels: np.ndarray, n_labels: int, threshold: float, area: np.ndarray | None = None) -> np.ndarray:
    """``int64`` (K + 1,): scanned pixels that discover each feature, ``max(ceil(threshold × area), 1)`` (label 0: never).

    ``area`` is ``np.bincount(labels.ravel())`` if given (the env keeps it per
    scene, :mod:`stemscan.envs.scene_tables`, and these counts too).
    """
    if area is None:
        area = np.bincount(labels.ravel(), minlength=n_labels)
    if area.size > n_labels:  # the env's compiled step indexes ``scanned`` by label
        raise ValueError(f"labels go up to {area.size - 1} but there are weights for {n_labels - 1} features")
    needed = np.maximum(np.ceil(threshold * area), 1).astype(np.int64)
    needed[0] = _NEVER  # label 0 is never a feature
    return needed


class DiscoveryTracker:
    """Counts scanned pixels per feature and reports newly discovered ones.

    Args:
        labels: ``int32`` (H, W) feature labels (0 = none, k = feature k).
        weights: ``float64`` (K + 1,) weight per label value (index 0 unused).
        threshold: Fraction of a feature's pixels that must be scanned, in (0, 1].
        area: Optional ``np.bincount(labels.ravel())`` computed before (the
            env keeps it per scene, :mod:`stemscan.envs.scene_tables`).
        needed: Optional :func:`needed_pixels` of these labels and threshold
            computed before (read, not changed; the env keeps them per scene).
    """

    def __init__(
        self,
        labels: np.ndarray,
        weights: np.ndarray,
        threshold: float = 0.5,
        area: np.ndarray | None = None,
        needed: np.ndarray | None = None,
    ) -> None:
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"discovery threshold must lie in (0, 1], got {threshold}")
        self.labels = labels
        self.weights = np.asarray(weights, dtype=np.float64)
        self.n_labels = len(self.weights)
        if needed is None:
            needed = needed_pixels(labels, self.n_labels, threshold, area)
        elif needed.shape != (self.n_labels,) or needed.dtype != np.int64:
            raise ValueError(f"needed must be int64 of shape ({self.n_labels},), got {needed.dtype} {needed.shape}")
        self.needed = needed
        self.scanned = np.zeros(self.n_labels, dtype=np.int64)
        self.found = np.zeros(self.n_labels, dtype=bool)
        # ``needed`` with undiscoverable entries (label 0, features already found) at +inf (read by the compiled step)
        self.pending = needed.copy()
        self._ids = np.empty(self.n_labels, dtype=np.int64)  # collect()'s scratch
        self.n_found = 0
        self.weight_found = 0.0
        self.last_weight = 0.0  # weight of the ids the last collect() returned
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
        :attr:`last_weight` is then the weight of the ids returned (the step's reward).
        """
        if self.total == 0:
            self.last_weight = 0.0
            return _NONE
        new = self._ids[: _mark_reached(self.scanned, self.pending, self.found, self._ids)].copy()
        self.last_weight = float(self.weights[new].sum()) if new.size else 0.0
        if new.size:
            self.n_found += int(new.size)
            self.weight_found += self.last_weight
        return new

    @property
    def all_found(self) -> bool:
        return self.total > 0 and self.n_found == self.total
