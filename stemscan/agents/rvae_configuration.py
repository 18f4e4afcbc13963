"""rvae-bo's self-configuration: recognise the crystal from the first sub-scans and choose the workflow.

With ``centring="auto"`` (the default) :class:`~stemscan.agents.rvae_bo.RVAEBOAgent`
holds its first ``n_initial`` patches back while
:func:`~stemscan.agents.features.lattice_estimate.perovskite_lattice` looks
for a perovskite-like crystal in them (a dim column bonded 4-fold to the
corners of each square cell of bright columns).  If it finds one, the
episode runs the ferroelectric workflow with the measured cell side
(pooled over the episode; windows resampled to the cell the lattice model
was trained at) and the settings of :data:`AUTO_SETTINGS`; otherwise the
peak-centred workflow.  The held-back patches are then replayed through the
chosen workflow, so its state is as if chosen from the start.  Operator
keywords override every choice.

Ferroelectric domains (``centring="lattice"``): domains differ only in the
*direction* of the B-site off-centring, and the A-site cage is 4-fold
symmetric, so a rotation-invariant ``z`` cannot tell a domain from its 90°-
or 180°-rotated neighbour.  In a window centred on the ideal B site (in the
crystal's frame: the lattice angle is pooled from bright-to-dim bonds over
the episode, :func:`~stemscan.agents.features.windows.bond_angles`) the off-centred B
column is a blob displaced along the polarisation; the shipped lattice
model (translation off, wide angle prior, standardised windows) explains it
as one canonical displaced blob turned by the angle latent, so the angle
*is* the polarisation direction, treated circularly.  Walls are where that
field changes: the ``"contrast"`` descriptor scores each measured patch by
how much its target latent differs from nearby measured patches (and within
itself), so the GP heads for the boundaries between domains.

With one or two B sites per 32-px sub-scan, a wall shows only as a change
*between* sub-scans.  ``boundary="change"`` therefore treats wall finding as
boundary (level-set) estimation: each patch's angle latent becomes a
domain value ``(cos, sin)`` in the fitted polarisation frame, a GP per
component interpolates it over the grid, and the next cell is the unscanned
one whose expected change to a grid neighbour under the joint posterior is
largest (:func:`~stemscan.agents.bo.acquisition.expected_change`; the BO
core's ``search="change"``): it brackets a wall between two measured
domains, bisects towards it and then follows it.

:class:`SelfConfiguration` is a mixin of the agent: it reads and sets the
agent's configuration attributes (``requested``, ``centring``,
``lattice_px``, ``descriptor_kind``, ``boundary``, ``edge_px``,
``window_scale``, ``search``, ``model``) and calls its ``_begin`` and
``_add_patch``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stemscan.agents.features.lattice_estimate import enough_evidence, perovskite_lattice
from stemscan.agents.features.windows import lattice_columns
from stemscan.agents.rvae import pretrained_path, weights_metadata

__all__ = ["AUTO", "AUTO_SETTINGS", "SelfConfiguration", "parse_example"]

#: The value of ``centring``, ``boundary`` (and the default of ``descriptor``
#: and ``edge_px``) that lets the agent configure itself from the first
#: patches (see :class:`RVAEBOAgent`).
AUTO = "auto"

#: Self-configuration: what each centring implies when the operator leaves
#: ``descriptor``, ``boundary`` and ``edge_px`` to the agent (chosen on
#: development seeds 100-115, ``benchmarks/rvae_bo_gain.py``; ``edge_px`` is in
#: window pixels, scaled to the measured lattice).
AUTO_SETTINGS: dict[str, dict[str, Any]] = {
    "peak": {"descriptor": "outlier", "boundary": None, "edge_px": 0.0},
    "lattice": {"descriptor": "contrast", "boundary": "change", "edge_px": 2.0},
}


class SelfConfiguration:
    """The agent's choice of workflow: what was asked for (``requested``) resolved per episode."""

    @staticmethod
    def search_for(boundary: str | None) -> str:
        """The BO core's ``search`` for a boundary criterion (None: maximise the descriptor)."""
        return "maximum" if boundary is None else boundary

    def _configure(self, centring: str, lattice_px: float | None) -> None:
        """Set the episode's effective centring and what follows from it (operator choices win over ``AUTO``)."""
        auto = AUTO_SETTINGS[centring]
        requested = self.requested
        self.centring = centring
        self.model, self._initial_state = self._models[centring]
        trained = self.model_lattice_px(centring)
        self.lattice_px = lattice_px if lattice_px is not None else trained
        #: Patch pixels per window pixel: the measured cell over the cell the lattice weights were trained on.
        self.window_scale = 1.0 if centring != "lattice" or trained is None else float(self.lattice_px) / trained
        self.descriptor_kind = (
            "similarity" if self.example_given
            else requested["descriptor"] if requested["descriptor"] is not None else auto["descriptor"]
        )
        self.boundary = auto["boundary"] if requested["boundary"] == AUTO else requested["boundary"]
        self.edge_px = float(
            auto["edge_px"] * self.window_scale if requested["edge_px"] is None else requested["edge_px"]
        )
        self.search = self.search_for(self.boundary)

    def model_lattice_px(self, centring: str) -> float | None:
        """Cell side (pixels) the ``centring`` model's lattice windows were trained at, from its metadata, or None."""
        if centring != "lattice":
            return None
        if self.requested["centring"] != AUTO and self.requested["lattice_px"] is not None:
            return self.requested["lattice_px"]  # the operator's model and sampling: no resampling
        value = weights_metadata(pretrained_path("lattice")).get("lattice_px")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
            raise ValueError(f"the shipped lattice rVAE's metadata has no valid lattice_px (got {value!r})")
        return float(value)

    @property
    def resolved(self) -> dict[str, Any]:
        """This episode's effective settings: what the agent chose where the operator left it ``AUTO``."""
        return {
            "centring": self.centring, "lattice_px": self.lattice_px, "descriptor": self.descriptor_kind,
            "boundary": self.boundary, "edge_px": self.edge_px, "window_scale": self.window_scale,
            "perovskite": self.perovskite,
        }

    def _pools_lattice(self) -> bool:
        """Whether the cell side is the agent's own estimate, refined over the episode (not an operator's value)."""
        return self.perovskite is not None and self.requested["lattice_px"] is None

    def _recognise(self, final: bool) -> bool:
        """Self-configuration: try to decide the centring from the held-back patches; True once decided.

        A perovskite-like crystal (:func:`~stemscan.agents.features.lattice_estimate.perovskite_lattice`)
        gets lattice-centred windows at the measured cell side and, unless
        the operator chose otherwise, the wall search of :data:`AUTO_SETTINGS`;
        anything else (or an operator's ``z`` target that the lattice model
        lacks) gets peak-centred windows.  The decision waits for
        ``n_initial`` patches (no longer once a perovskite is recognised),
        and up to twice that while dim columns are seen beside bright ones
        but there are too few bonds to tell.  A perovskite seen in the
        bonds before ``n_initial`` patches is accepted at once only when the
        bright columns' spacing confirmed the cell (dim columns at the edge
        midpoints of a square lattice have 4-fold bonds too, of 0.71 the
        cell); otherwise the verdict waits for ``n_initial`` patches.
        """
        pending = self._pending or []
        estimate = perovskite_lattice(self._pending_columns)
        seen_dim = any(len(dim) and len(bright) for bright, dim in self._pending_columns)  # a bond to be had
        undecided = len(pending) < self.n_initial or (seen_dim and not enough_evidence(self._pending_columns))
        if estimate is None and not final and undecided:
            return False
        if estimate is not None and estimate.bright_spacing_px is None and len(pending) < self.n_initial:
            return False  # bonds alone: wait for the bright spacing, up to n_initial patches (then the bonds decide)
        lattice_dim = self._models["lattice"][0].config.latent_dim
        if isinstance(self.target, int) and self.target >= lattice_dim:
            estimate = None  # the operator's z target exists only in the peak-centred model
        self.perovskite = estimate
        if estimate is None:
            centring, lattice_px = "peak", self.requested["lattice_px"]
        else:
            centring = "lattice"
            lattice_px = self.requested["lattice_px"] if self.requested["lattice_px"] is not None else estimate.lattice_px
        self._pending = None
        self._configure(centring, lattice_px)
        self._begin()
        for observation in pending:  # replay through the configured workflow, as if chosen from the start
            self._add_patch(observation)
        return True

    def _hold_back(self, observation: dict[str, np.ndarray]) -> bool:
        """Self-configuration: keep a measured patch back and try to decide; True while still undecided."""
        self._pending.append({key: np.array(value) for key, value in observation.items()})
        _, bright, dim = lattice_columns(observation["patch"], self.smoothing, self.min_distance, self.threshold)
        self._pending_columns.append((bright, dim))
        return not self._recognise(final=len(self._pending) >= 2 * self.n_initial)


def parse_example(example: Any, field: Any) -> tuple[np.ndarray | None, int | None]:
    """An operator's ``example=``: ``(patch, None)`` for a (P, P) patch, ``(None, cell)`` for a position, or ``(None, None)``.

    Args:
        example: ``None``, a (P, P) patch (array or nested list) or a
            position ``[row, col]`` in [0, 1]² (fractions of the field).
        field: The agent's :class:`~stemscan.agents.base.FieldConfig`.
    """
    if example is None:
        return None, None
    try:
        array = np.asarray(example, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError("example must be a (P, P) patch or a [row, col] position in [0, 1]²") from error
    if not np.isfinite(array).all():
        raise ValueError("example contains NaN or infinity")
    p = field.patch_size
    if array.shape == (2,):
        if array.min() < 0 or array.max() > 1:
            raise ValueError(f"example position {array.tolist()} is outside [0, 1]² (fractions of the field)")
        return None, field.cell_of_position(array)
    if array.shape == (p, p):
        return array.astype(np.float32), None
    raise ValueError(f"example must be a ({p}, {p}) patch or a [row, col] position, got shape {array.shape}")
