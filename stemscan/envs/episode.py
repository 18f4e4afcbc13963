"""One episode's state and its acquisitions: the sub-scans, the survey, the scanned pixels.

:class:`EpisodeAcquisition` is a mixin of :class:`~stemscan.envs.stem_scan_env.STEMScanEnv`:
the env resolves its arguments and picks each episode's scene;
this part starts the episode on it (the scene's cached tables, the
episode buffers, the discovery tracker, the survey) and acquires every
sub-scan through the compiled step (:func:`~stemscan.envs.batch_step.acquire_from_rng`),
charging dose and time.  It reads the env's configuration attributes
(``shape``, ``patch_size``, ``microscope``, ``grid``, ``geometry``, ``survey``,
``survey_cost``, ``patch_dose``, ``budget``, ``discovery_threshold``) and its
``np_random``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stemscan.envs.batch_step import acquire_from_rng
from stemscan.envs.bit_generator import rng_address
from stemscan.envs.discovery import DiscoveryTracker
from stemscan.envs.record import acquire_survey
from stemscan.envs.scene_tables import scene_tables
from stemscan.scenes import Scene

__all__ = ["EpisodeAcquisition"]

_NO_IDS = np.empty(0, dtype=np.int64)
#: Largest episode stamp of the ``uint16`` scanned-pixel map before it is cleared and the count restarts.
_MAX_EPISODE = np.iinfo(np.uint16).max


class EpisodeAcquisition:
    """The episode's state and acquisitions (a mixin of ``STEMScanEnv``)."""

    def _begin_episode(self, scene: Scene) -> None:
        """Start an episode on ``scene``: its per-scene tables, fresh episode state, and the survey if on."""
        self.scene = scene
        self._signal = scene.image
        self._labels = scene.labels
        # Whole-field, episode-independent work: once per scene (cached while the scene lives).
        tables = scene_tables(scene, self.microscope, self.grid)
        self._tables = tables
        self._full_scale = tables.full_scale
        self._noise = tables.noise
        self._counts_to_patch = tables.counts_to_patch
        if getattr(self, "_counts", None) is None:
            self._counts = np.empty((self.patch_size, self.patch_size), dtype=np.int64)  # the sub-scan's raw counts
            self._rng = None
        # Episode buffers are reused across resets and never cleared: a pixel is scanned in this episode
        # when its stamp equals the episode's (stemscan.envs.record), and ``_measured`` is read only there.
        if getattr(self, "_stamp", None) is None or self._stamp.shape != self.shape:
            self._stamp = np.zeros(self.shape, dtype=np.uint16)
            self._measured = np.zeros(self.shape, dtype=np.float32)
            self._episode = 0
        self._episode += 1
        if self._episode > _MAX_EPISODE:  # the stamps wrap: clear them once every 65,535 episodes
            self._stamp.fill(0)
            self._episode = 1
        threshold = self.discovery_threshold
        needed = tables.discovery_needed(scene.labels, threshold)
        self.tracker = DiscoveryTracker(scene.labels, tables.weights, threshold, area=tables.label_area, needed=needed)
        self._n_scanned = 0
        self._n_pixels = self.shape[0] * self.shape[1]
        g = self.grid.size
        self._survey = np.zeros((g, g), dtype=np.float64)
        # Per coarse cell: [0] sum of the overview's pixel values (scanned pixels' measurements,
        # the survey value for the rest), [1] pixels scanned; and the uint8 observation of both.
        self._coarse_sums = np.zeros((2, g, g), dtype=np.float64)
        self._coarse_u8 = np.zeros((2, g, g), dtype=np.uint8)
        self._boxes: list[tuple[int, int]] = []
        self.dose_used = 0.0
        self.scan_time_s = 0.0
        self.steps = 0
        if self.survey:
            self._acquire_survey()
        self._last_patch = np.zeros((self.patch_size, self.patch_size), dtype=np.float32)
        self._last_position = np.array([0.5, 0.5], dtype=np.float32)
        self._done = False
        self._last_new = np.empty(0, dtype=np.int64)

    def _acquire_survey(self) -> None:
        """Coarse low-dose overview: one sample per coarse cell, signal averaged over the cell."""
        grid = self.grid
        g = grid.size
        electrons = self.survey_cost / (g * g)  # e⁻ per survey sample
        noise = self._tables.survey_noise(self.microscope, electrons)
        function, state = self._generator_address()
        acquire_survey(
            function, state, noise.mean, noise.row, noise.aux, noise.means, noise.threshold, noise.alias,
            noise.log_factorial, np.empty((g, g), dtype=np.int64), self._tables.background,
            np.float32(1.0 / (electrons * self._full_scale)), grid.area, self._survey, self._coarse_sums, self._coarse_u8,
        )  # fmt: skip
        self.dose_used += self.survey_cost
        self.scan_time_s += self.microscope.survey_time_s(g, g)

    def _generator_address(self) -> tuple[int, int]:
        """:func:`~stemscan.envs.bit_generator.rng_address` of ``np_random``, re-read when it was replaced."""
        rng = self.np_random
        if rng is not self._rng:
            self._rng, self._rng_address = rng, rng_address(rng)
        return self._rng_address

    def _check_running(self) -> None:
        if self._done:
            raise RuntimeError("step() called after the episode ended (terminated or truncated) or before reset(); call reset()")

    def advance(self, r0: int, c0: int, patch: np.ndarray) -> tuple[float, bool, bool]:
        """Acquire the sub-scan with top-left pixel ``(r0, c0)`` into ``patch`` and update the episode.

        The core of :meth:`step` without building the observation and info.
        ``r0``, ``c0`` are integers; ``patch`` a writeable, C-contiguous
        ``float32`` (P, P) array (the compiled step writes into it unchecked,
        so it is checked here).  Returns ``(reward, terminated, truncated)``.
        """
        for name, value in (("r0", r0), ("c0", c0)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{name} must be an integer pixel, got {value!r}")
        p = self.patch_size
        if not (isinstance(patch, np.ndarray) and patch.dtype == np.float32 and patch.shape == (p, p)
                and patch.flags.c_contiguous and patch.flags.writeable):  # fmt: skip
            shown = f"{patch.dtype} {patch.shape}" if isinstance(patch, np.ndarray) else type(patch).__name__
            raise ValueError(f"patch must be a writeable C-contiguous float32 array of shape ({p}, {p}), got {shown}")
        return self._advance(int(r0), int(c0), patch)

    def _advance(self, r0: int, c0: int, patch: np.ndarray) -> tuple[float, bool, bool]:
        """:meth:`advance` for arguments known to be right (:meth:`step`'s)."""
        self._check_running()
        p = self.patch_size
        grid = self.grid
        tables = self._tables
        noise, tracker = self._noise, self.tracker
        if not (0 <= r0 <= self.shape[0] - p and 0 <= c0 <= self.shape[1] - p):
            raise ValueError(f"sub-scan at ({r0}, {c0}) is outside the {self.shape} field")
        function, state = self._generator_address()
        # the draws of ShotNoiseMap.sample, read from np_random in the kernel
        n_new, due = acquire_from_rng(
            function, state, noise.mean, noise.row, noise.aux, noise.means, noise.threshold, noise.alias,
            noise.log_factorial, self._counts, self._counts_to_patch, tables.background, tables.inverse_full_scale,
            r0, c0, patch, self._stamp, self._episode, self._measured, self._labels, tracker.scanned, tracker.pending,
            self._survey, grid.row_cell, grid.col_cell, grid.scale_255, self._coarse_sums, self._coarse_u8,
        )  # fmt: skip
        self._n_scanned += n_new
        new_ids, reward = (tracker.collect(), tracker.last_weight) if due else (_NO_IDS, 0.0)
        self._boxes.append((r0, c0))
        self.dose_used += self.patch_dose
        self.scan_time_s += self._subscan_time_s
        self.steps += 1
        self._last_patch = patch
        self._last_position = self.geometry.centre_fraction(r0, c0)
        self._last_new = new_ids
        terminated = self.tracker.all_found
        truncated = (not terminated) and self.dose_used + self.patch_dose > self.budget * (1 + 1e-12)
        self._done = terminated or truncated
        return reward, terminated, truncated

    def __getstate__(self) -> dict[str, Any]:
        """Pickle and deepcopy state, less the generator's address (the copy reads its own generator)."""
        state = self.__dict__.copy()
        state["_rng"] = None
        return state

    def discovery_state(self) -> tuple[np.ndarray, np.ndarray]:
        """``(scanned mask (H, W) bool, found flags (K + 1,) bool)`` — read-only copies.

        Ground-truth bookkeeping: only the oracle and evaluation may use it.
        """
        return self.scanned_mask(), self.tracker.found.copy()

    def scanned_mask(self) -> np.ndarray:
        """``bool`` (H, W): the pixels scanned at imaging dose in this episode (a new array)."""
        if getattr(self, "_stamp", None) is None:
            return np.zeros(self.shape, dtype=bool)
        return self._stamp == self._episode
