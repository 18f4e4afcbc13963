"""What rvae-bo's latents show: its ``report()`` (the characterisation track's analyst ``self``) and the per-patch latents.

A mixin of :class:`~stemscan.agents.rvae_bo.RVAEBOAgent`: it reads only what
the agent's decisions already computed (latents, windows, positions, the
chosen target) and never trains, encodes or draws.
"""

from __future__ import annotations

import numpy as np

from stemscan.agents.analysts.detections import Detections
from stemscan.agents.analysts.outliers import family_kinds
from stemscan.agents.features.latent_report import column_heights, domain_walls, unusual_windows
from stemscan.agents.features.latents import target_values
from stemscan.agents.rvae import encode

__all__ = ["LatentReport"]


class LatentReport:
    """``report()``, ``wall_mode`` and ``target_latents()`` of the rVAE workflow."""

    @property
    def wall_mode(self) -> bool:
        """Whether :meth:`report` looks for walls: lattice-centred windows, a boundary search or ``"contrast"``."""
        return self.centring == "lattice" or self.boundary is not None or self.descriptor_kind == "contrast"

    def report(self) -> Detections:
        """What its latents show so far (the characterisation track's analyst ``self``).

        Reads only the latents, windows and positions its decisions already
        computed (the last :meth:`descriptor` call's); trains, encodes and
        draws nothing, so reports never change the decisions.

        * Wall mode (:attr:`wall_mode`; the self-configured mode on a
          perovskite): :func:`~stemscan.agents.features.latent_report.domain_walls`
          between neighbouring measured patches of different domain value
          (:meth:`field_values`), named as the family names a boundary
          (``domain-wall`` for ``ferroelectric-domains``).
        * Otherwise (peak-centred windows, the ``"outlier"`` descriptor's
          windows): :func:`~stemscan.agents.features.latent_report.unusual_windows`,
          sites of windows whose target latent is an outlier (modified
          z-score above 3.5), named ``bright`` / ``missing`` column or
          ``boundary`` in the family's vocabulary
          (:func:`~stemscan.agents.analysts.outliers.family_kinds`:
          ``dopant`` / ``vacancy`` / ``grain-boundary`` for
          ``lattice-defects``).

        Nothing is reported while the agent is still recognising the crystal
        (its first patches are held back, see :attr:`resolved`).
        """
        shape = self.field.shape
        kinds = family_kinds(getattr(self, "family", ""))
        latents = getattr(self, "_latents", [])
        if getattr(self, "_pending", None) is not None or not latents or len(latents) != len(self._corners):
            return Detections.empty(shape)  # not reset yet, no patch yet, or still recognising the crystal
        target = self.chosen_target if self.chosen_target is not None else 0
        if self.wall_mode:
            half = (self.field.patch_size - 1) / 2.0
            centres = np.array(self._corners, dtype=np.float64).reshape(-1, 2) + half
            return domain_walls(self.field_values(), centres, target, self.polar_fold, self.field.patch_size,
                                kinds["boundary"], shape)
        for k in range(len(self._heights), len(self._patches)):  # heights of the patches new since the last report
            local = self._window_centres[k] - np.array(self._corners[k], dtype=np.float64)
            self._heights.append(column_heights(self._patches[k], local, self.smoothing))
        return unusual_windows(latents, self._window_centres, self._heights, target, kinds, shape)

    def target_latents(self) -> list[np.ndarray]:
        """Per measured patch, its windows' values of the chosen target (for inspection): (N,) or (N, 2) for the angle."""
        target = 0 if self.chosen_target is None else self.chosen_target
        out = []
        for w in self._windows:
            v = target_values(encode(self.model, w), target) if len(w) else np.zeros((0, 1))
            out.append(v[:, 0] if v.shape[1] == 1 else v)
        return out
