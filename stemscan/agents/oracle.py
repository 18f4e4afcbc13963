"""``oracle``: the upper bound — reads the hidden scene and scans greedily.

The one agent allowed to read ground truth (``env.unwrapped.scene`` and the
env's discovery bookkeeping).  Each step it evaluates every candidate
sub-scan (grid cells, plus half-patch-offset windows in continuous mode) and
picks the one that completes the most undiscovered feature weight; ties and
steps where nothing can be completed go to the largest partial progress, then
to the most unscanned pixels.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from stemscan.agents.base import Agent

__all__ = ["OracleAgent", "best_candidate"]


def best_candidate(value: np.ndarray, progress: np.ndarray, fresh: np.ndarray) -> int:
    """The oracle's choice among candidates (:meth:`OracleAgent.candidate_values`): most value, then progress, then fresh pixels."""
    return int(np.lexsort((-fresh, -progress, -value))[0])


class OracleAgent(Agent):
    """Greedy ground-truth agent (an upper bound, not a workflow)."""

    name = "oracle"

    def __init__(self, env: gym.Env, seed: int | None = 0) -> None:
        super().__init__(env, seed)
        self._env = env.unwrapped
        self._scene_id: int | None = None

    def _lanes_for(self, n: int) -> list[Agent]:
        """Refuse a batch: the oracle reads the hidden scene of the one env it was made on."""
        raise ValueError(
            f"the oracle reads the hidden scene of the env it was made on and cannot act for a batch of {n} envs; "
            "make one oracle per env (stemscan.agents.make('oracle', env_i)) and step each env with its own"
        )

    def _candidates(self) -> tuple[np.ndarray, np.ndarray]:
        """Top-left corners (n, 2) of candidate windows and their labels (n, P, P)."""
        scene = self._env.scene
        if scene is None:
            raise RuntimeError("the oracle needs env.reset() before predict()")
        if self._scene_id != id(scene):
            p = self.field.patch_size
            geometry = self.field.geometry
            if self.field.action_mode == "grid":
                corners = geometry.cell_corners()
            else:
                stride = max(p // 2, 1)
                r = np.unique(np.r_[np.arange(0, geometry._max_r + 1, stride), geometry._max_r])
                c = np.unique(np.r_[np.arange(0, geometry._max_c + 1, stride), geometry._max_c])
                corners = np.stack(np.meshgrid(r, c, indexing="ij"), axis=-1).reshape(-1, 2)
            windows = sliding_window_view(scene.labels, (p, p))
            self._corners = corners
            self._window_labels = windows[corners[:, 0], corners[:, 1]].reshape(len(corners), -1)
            self._scene_id = id(scene)
        return self._corners, self._window_labels

    def candidate_values(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """What each candidate sub-scan would gain now, from the hidden scene.

        Returns:
            ``(corners (n, 2), value (n,), progress (n,), fresh (n,))``: top-left
            pixels; the undiscovered feature weight the sub-scan completes; the
            weight it advances, each feature counted by the fraction of its
            needed pixels it adds (at most 1, so completed ones count in
            full); its unscanned pixels.  In grid mode candidate ``k`` is cell ``k``.
        """
        corners, labels = self._candidates()
        p = self.field.patch_size
        scanned, found = self._env.discovery_state()
        tracker = self._env.tracker
        unscanned = ~sliding_window_view(scanned, (p, p))[corners[:, 0], corners[:, 1]].reshape(len(corners), -1)
        n_labels = tracker.n_labels
        index = np.arange(len(corners))[:, None] * n_labels + labels
        new = np.bincount(index[unscanned], minlength=len(corners) * n_labels).reshape(len(corners), n_labels)
        open_ = ~found
        open_[0] = False
        weights = tracker.weights * open_
        completes = (tracker.scanned[None, :] + new) >= tracker.needed[None, :]
        value = (completes * weights).sum(axis=1)
        progress = (np.minimum(new / tracker.needed, 1.0) * weights).sum(axis=1)
        return corners, value, progress, unscanned.sum(axis=1)

    def _predict(self, observation: dict[str, np.ndarray], deterministic: bool) -> Any:
        corners, value, progress, fresh = self.candidate_values()
        best = best_candidate(value, progress, fresh)
        r0, c0 = corners[best]
        if self.field.action_mode == "grid":
            return np.int64(best)  # candidate k is cell k
        return self.field.geometry.centre_fraction(int(r0), int(c0))
