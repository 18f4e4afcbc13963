"""rvae-bo's analysis of each sub-scan: windows, online training, latents and the per-patch descriptor.

:class:`LatentDescriptor` is a mixin of :class:`~stemscan.agents.rvae_bo.RVAEBOAgent`:
it cuts each measured patch into atom windows (peak- or lattice-centred,
:mod:`stemscan.agents.features.windows`), adds them to the online trainer,
encodes every patch measured so far with the current model, chooses the
target latent and turns it into one descriptor per patch
(:mod:`stemscan.agents.features.latents`), the BO core's ``descriptor`` /
``redescribe`` hooks; in the boundary search, the per-patch domain values
(``field_values``).  It reads the configuration the agent and
:class:`~stemscan.agents.rvae_configuration.SelfConfiguration` set
(``model``, ``centring``, ``lattice_px``, ``window_scale``, ``descriptor_kind``, ...).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stemscan.agents.features.latents import (
    ANGLE,
    choose_target,
    describe_patches,
    domain_values,
    example_target,
)
from stemscan.agents.features.windows import patch_windows
from stemscan.agents.rvae import encode

__all__ = ["LatentDescriptor"]


class LatentDescriptor:
    """Per-patch descriptors from rVAE latents of atom windows (mixin of the ``rvae-bo`` agent)."""

    model: Any
    centring: str
    field: Any

    def windows(self, patch: np.ndarray) -> np.ndarray:
        """The windows of one patch, (N, window, window) (lattice mode: at the current lattice angle)."""
        return self._cut(patch)[0]

    def _cut(self, patch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Windows of one patch and their centres, patch pixels (:func:`~stemscan.agents.features.windows.patch_windows`)."""
        return patch_windows(
            patch, self.model.config.window, self.smoothing, self.min_distance, self.threshold, self.max_windows,
            centring=self.centring, lattice_px=self.lattice_px, lattice_angle=self.lattice_angle,
            scale=self.window_scale,
        )

    def _lattice_windows(self, patch: np.ndarray) -> np.ndarray:
        """Lattice mode: the patch's windows at the pooled lattice angle and cell (earlier patches re-cut when they move)."""
        windows, recut = self._cutter.add(patch)
        self.lattice_angle = self._cutter.angle
        self.lattice_px, self.window_scale = self._cutter.lattice_px, self._cutter.scale
        if recut is not None:
            self._windows = recut
        return windows

    def descriptor(self, observation: dict[str, np.ndarray]) -> float:
        if self._pending is not None:
            if self._hold_back(observation):
                self._descriptors = [0.0] * len(self._pending)  # no values yet: the core scans space-filling
                return 0.0
            self._descriptors = self._describe_all()
            return self._descriptors[-1]
        self._add_patch(observation)
        self._descriptors = self._describe_all()
        return self._descriptors[-1]

    def _add_patch(self, observation: dict[str, np.ndarray]) -> None:
        """Windows of a newly measured patch into the episode's buffers, and the online training steps."""
        position = np.asarray(observation["position"], dtype=np.float64)
        corner = self.field.geometry.from_continuous(position)
        if self.centring == "lattice":
            windows = self._lattice_windows(observation["patch"])
        else:
            windows, centres = self._cut(observation["patch"])
            self._window_centres.append(np.asarray(centres, dtype=np.float64).reshape(-1, 2) + np.array(corner, dtype=np.float64))
            self._patches.append(np.array(observation["patch"], dtype=np.float32))
        self._windows.append(windows)
        self._positions.append(position)
        self._corners.append(corner)
        if self._example_cell is not None and self._example_windows is None:
            cell = self.field.cell_of_position(np.asarray(observation["position"], dtype=np.float64))
            if cell == self._example_cell and len(windows):
                self._example_windows = windows
        self.trainer.add(windows)
        self.trainer.step(self.online_steps)

    def redescribe(self) -> list[float] | None:
        return list(self._descriptors)

    def target_candidates(self) -> list[int | str]:
        """What the automatic rule chooses from: every ``z`` index, plus the angle in lattice mode."""
        z = list(range(self.model.config.latent_dim))
        return z + [ANGLE] if self.centring == "lattice" else z

    def _describe_all(self) -> list[float]:
        """Descriptors of every patch so far under the current model and target."""
        latents = [encode(self.model, w) for w in self._windows]
        self._latents = latents
        example = None if self._example_windows is None else encode(self.model, self._example_windows)
        if self.target is not None:
            target = self.target
        elif example is not None and any(len(z) for z in latents):
            target = example_target(latents, example, self.target_candidates())
        else:
            target = choose_target(latents, self.target_candidates())
        self.chosen_target = target
        g = self.field.geometry
        positions = np.array(self._positions).reshape(-1, 2) * np.array([g.n_rows, g.n_cols])  # in grid cells
        return describe_patches(latents, target, self.descriptor_kind, example, positions, self.contrast_cells)

    # ------------------------------------------------------- boundary search
    def field_values(self) -> np.ndarray | None:
        """Boundary search: per measured patch, its signed domain value (NaN rows for patches without windows).

        Angle target: the patch mean of ``(cos α, sin α)``, ``α`` the angle
        latent measured from the fitted polarisation frame
        (:func:`~stemscan.agents.features.latents.polar_offset`), so the
        ``polar_fold`` domain directions sit at ``α = 2πk / polar_fold``.
        ``z`` target: the patch mean minus the median over patches (level 0).
        The BO core models this field and scans where it changes.

        Returns:
            ``(n_patches, d)`` values, or None before any patch has windows.
        """
        target = self.chosen_target if self.chosen_target is not None else 0
        return domain_values(self._latents, target, self.polar_fold)
