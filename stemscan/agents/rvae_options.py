"""rvae-bo's keywords: their checks, the choices they offer, and the models they load.

:func:`check_options` refuses a bad keyword of
:class:`~stemscan.agents.rvae_bo.RVAEBOAgent` with a ``ValueError`` naming
it, before anything is loaded; :func:`load_models` loads the rVAE of each
window centring an episode may use (both when the agent chooses itself).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from stemscan.agents.features.latents import DESCRIPTORS
from stemscan.agents.features.windows import CENTRINGS
from stemscan.agents.rvae import load_rvae, new_model, pretrained_path
from stemscan.agents.rvae_configuration import AUTO
from stemscan.agents.survey_saliency import CELL_PRIORS
from stemscan.validation import check_int, check_number, check_positive

__all__ = ["BOUNDARIES", "SURVEY_PRIORS", "check_options", "load_models"]

#: Boundary-search criteria (``boundary=``): the BO core's ``search`` targets (:class:`~stemscan.agents.bo.BOAgent`).
BOUNDARIES = ("change", "straddle")

#: Survey statistics offered as the BO prior (see :meth:`~stemscan.agents.rvae_bo.RVAEBOAgent.prior`).
SURVEY_PRIORS = tuple(CELL_PRIORS)


def check_options(
    *,
    descriptor: str | None,
    online_steps: int,
    batch_size: int,
    buffer_size: int,
    min_distance: int,
    max_windows: int,
    lr: float,
    smoothing: float,
    threshold: float,
    survey_prior: str,
    boundary: str | None,
    boundary_kappa: float,
    polar_fold: int,
    edge_px: float | None,
    centring: str,
    lattice_px: float | None,
    weights: str | None,
) -> None:
    """Raise ``ValueError`` (``TypeError`` for ``weights``) naming the first keyword out of its range."""
    if descriptor is not None and descriptor not in DESCRIPTORS:
        raise ValueError(f"unknown descriptor {descriptor!r}; valid: None (automatic), {', '.join(DESCRIPTORS)}")
    for name, value, low in (
        ("online_steps", online_steps, 0), ("batch_size", batch_size, 1), ("buffer_size", buffer_size, 1),
        ("min_distance", min_distance, 1), ("max_windows", max_windows, 1),
    ):
        check_int(name, value, low)
    check_positive("lr", lr)
    check_number("smoothing", smoothing, 0.0)
    check_number("threshold", threshold)
    if survey_prior not in SURVEY_PRIORS:
        raise ValueError(f"unknown survey_prior {survey_prior!r}; valid: {', '.join(SURVEY_PRIORS)}")
    if boundary is not None and boundary != AUTO and boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; valid: {AUTO!r}, None, {', '.join(map(repr, BOUNDARIES))}")
    check_number("boundary_kappa", boundary_kappa, 0.0)
    check_int("polar_fold", polar_fold, 2)
    if edge_px is not None:
        check_number("edge_px", edge_px, 0.0)
    if centring != AUTO and centring not in CENTRINGS:
        raise ValueError(f"unknown centring {centring!r}; valid: {AUTO!r}, {', '.join(CENTRINGS)}")
    if lattice_px is not None or centring == "lattice":
        bad = isinstance(lattice_px, bool) or not isinstance(lattice_px, (int, float)) or not np.isfinite(lattice_px)
        if bad or lattice_px <= 0:
            raise ValueError(f"lattice_px must be a cell side > 0 in pixels (needed for centring='lattice'), got {lattice_px!r}")
    if centring == AUTO and weights is not None:
        raise ValueError("weights= belong to one kind of window: give centring='peak' or 'lattice' with them")
    if weights is not None and not isinstance(weights, str):
        raise TypeError(f"weights must be a path string or None, got {type(weights).__name__}")


def load_models(centring: str, weights: str | None, pretrained: bool, seed: int | None) -> dict[str, tuple[Any, dict[str, Any]]]:
    """``{centring: (model, its starting state dict)}`` for every centring an episode may use (both for ``AUTO``).

    ``weights`` replaces the shipped weights; ``pretrained=False`` keeps only
    the architecture, with fresh weights drawn from ``seed``.
    """
    models: dict[str, tuple[Any, dict[str, Any]]] = {}
    for kind in CENTRINGS if centring == AUTO else (centring,):
        base = load_rvae(weights if weights is not None else pretrained_path(kind))
        if not pretrained:
            base = new_model(base.config, 0 if seed is None else int(seed))
        models[kind] = (base, copy.deepcopy(base.state_dict()))
    return models
