"""What an episode shows: the observation, the info dict and the rendered frame.

:class:`EpisodeViews` is a mixin of :class:`~stemscan.envs.stem_scan_env.STEMScanEnv`,
reading the episode state kept by :class:`~stemscan.envs.episode.EpisodeAcquisition`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from stemscan.envs.render import render_frame

__all__ = ["EpisodeViews"]


class EpisodeViews:
    """Observation, info and rendering of the current episode (a mixin of ``STEMScanEnv``)."""

    def _observation(self) -> dict[str, np.ndarray]:
        budget_fraction = min(self.dose_used / self.budget, 1.0) if self.budget > 0 else 1.0
        return {
            "patch": self._last_patch,  # a new array at each step and reset, never read again: handed out, not copied
            "position": self._last_position,  # likewise
            "dose": np.array([budget_fraction], dtype=np.float32),
            "overview": self._coarse_u8[0:1].copy(),
            "visited": self._coarse_u8[1:2].copy(),
        }

    def _info(self) -> dict[str, Any]:
        tracker = self.tracker
        return {
            "new_features": int(self._last_new.size),
            "new_feature_ids": self._last_new.tolist(),
            "features_found": tracker.n_found,
            "features_total": tracker.total,
            "weight_found": tracker.weight_found,
            "dose_used": self.dose_used,
            "dose_budget": self.budget,
            "dose_fraction": self.dose_used / self.frame_dose,
            "budget_fraction": self.dose_used / self.budget if self.budget > 0 else 1.0,
            "coverage": self._n_scanned / self._n_pixels,
            "scan_time_s": self.scan_time_s,
            "steps": self.steps,
            "scored": bool(self.scene.scored) if self.scene is not None else False,
        }

    def render(self) -> np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='rgb_array' to the constructor")
            return None
        if self.scene is None:
            raise RuntimeError("render() called before reset()")
        return render_frame(
            measured=self._measured,
            scanned=self.scanned_mask(),
            survey=self._survey if self.survey else None,
            grid=self.grid,
            boxes=self._boxes,
            patch_size=self.patch_size,
            features=self.scene.features,
            found=self.tracker.found,
        )
