"""The learned survey prior: a CNN trained on simulated scenes rates each grid cell from the survey.

:func:`survey_saliency_prior` runs the shipped
:class:`~stemscan.agents.nets.survey_saliency.SurveySaliencyNet` on the
low-dose survey (``observation["overview"]``) and averages its score map
over each grid cell: high where the simulated scenes it was trained on
(every family, development seeds 1000 and up, three survey doses) held the
most ground-truth feature weight for a survey that looked like this one.
Where :func:`~stemscan.agents.features.survey.survey_edge_prior` rates
every edge alike (a particle's plain rim as much as the neck where two
particles touch), the network learned which survey patterns hold features.

It is a learned model of the synthetic families: on an image unlike them
it may rate cells worse than the edge prior (the README gives the
leave-one-family-out figures).  ``stemscan train survey-saliency`` retrains
it, on other families or parameters too.

Weights are read only from safetensors plus a JSON config beside them
(architecture, training facts, SHA-256), checked before use
(:mod:`stemscan.agents.weights_file`).
"""

from __future__ import annotations

import json
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stemscan.agents.base import FieldConfig
from stemscan.agents.features.survey import _cell_means, _overview_image, survey_edge_prior, survey_gradient_prior
from stemscan.agents.nets.survey_saliency import SaliencyConfig, SurveySaliencyNet, standardise_survey
from stemscan.agents.weights_file import check_state, read_json, read_safetensors, recorded_sha256, sha256_bytes, verify_sha256
from stemscan.atomic import write_bytes_atomic, write_text_atomic

__all__ = [
    "CELL_PRIORS",
    "PRETRAINED",
    "load_survey_saliency",
    "pretrained_survey_saliency",
    "save_survey_saliency",
    "saliency_map",
    "survey_saliency_prior",
    "survey_saliency_edge_prior",
]

#: The shipped weights (``stemscan train survey-saliency`` with its defaults).
PRETRAINED = Path(__file__).resolve().parent / "weights" / "survey_saliency.safetensors"
_MODEL = "stemscan-survey-saliency"


def save_survey_saliency(net: SurveySaliencyNet, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write ``net``'s weights to ``path`` (``.safetensors``) and its config to the ``.json`` beside it, atomically."""
    from safetensors.torch import save

    target = Path(path)
    if target.suffix != ".safetensors":
        raise ValueError(f"survey-saliency weights must be saved to a .safetensors file, got {str(target)!r}")
    raw = save({name: value.detach().contiguous().clone() for name, value in net.state_dict().items()})
    document = {"model": _MODEL, "config": net.config.to_dict(), "metadata": metadata or {}, "sha256": sha256_bytes(raw)}
    write_bytes_atomic(target, raw)
    write_text_atomic(target.with_suffix(".json"), json.dumps(document, indent=2, sort_keys=True) + "\n")
    return target


def load_survey_saliency(path: str | os.PathLike) -> SurveySaliencyNet:
    """The network saved at ``path`` by :func:`save_survey_saliency`, in eval mode.

    The config's sizes are bounded before the network is built; every
    tensor must have the network's name, shape and dtype (never cast) and
    finite values; the file must match the SHA-256 recorded in the JSON.

    Raises:
        FileNotFoundError: The weights or their ``.json`` are missing.
        ValueError: The files do not describe a valid survey-saliency network.
    """
    target = Path(path)
    config_file = target.with_suffix(".json")
    if not target.is_file():
        raise FileNotFoundError(f"survey-saliency weights not found: {str(target)!r}")
    if not config_file.is_file():
        raise FileNotFoundError(f"survey-saliency config not found: {str(config_file)!r} (expected next to the weights)")
    document = read_json(config_file, "survey-saliency config")
    if not isinstance(document, dict) or document.get("model") != _MODEL or "config" not in document:
        raise ValueError(f"{str(config_file)!r} is not a survey-saliency config (needs model={_MODEL!r} and 'config')")
    try:
        config = SaliencyConfig.from_dict(document["config"])
    except ValueError as error:
        raise ValueError(f"invalid survey-saliency config in {str(config_file)!r}: {error}") from error
    expected_sha256 = recorded_sha256(document, str(config_file))
    tensors, raw = read_safetensors(target)
    net = SurveySaliencyNet(config)
    check_state(target, tensors, net.state_dict())
    verify_sha256(target, raw, expected_sha256, str(config_file))
    net.load_state_dict(tensors, strict=True)
    net.eval()
    return net


@lru_cache(maxsize=1)
def pretrained_survey_saliency() -> SurveySaliencyNet:
    """The shipped network (loaded once per process; do not modify it)."""
    return load_survey_saliency(PRETRAINED)


def saliency_map(overview: np.ndarray, field: FieldConfig, net: SurveySaliencyNet | None = None) -> np.ndarray:
    """``(S, S)`` float64 saliency scores of the survey (``observation["overview"]``, ``(1, S, S)`` or ``(S, S)``).

    ``net`` defaults to the shipped one.  Runs in no-grad mode on the CPU
    with the caller's torch thread setting; deterministic.
    """
    image = _overview_image(overview, field)
    network = pretrained_survey_saliency() if net is None else net
    with torch.no_grad():
        scores = network(torch.from_numpy(standardise_survey(image))[None, None])[0]
    return scores.double().numpy()


def survey_saliency_prior(overview: np.ndarray, field: FieldConfig, net: SurveySaliencyNet | None = None) -> np.ndarray | None:
    """``(n_cells,)`` mean saliency score of the survey inside each grid cell (higher = more expected feature weight).

    ``None`` when some grid cell holds no survey pixel (overview coarser
    than the grid), as the other survey priors.
    """
    return _cell_means(saliency_map(overview, field, net), field)


def _standardised(values: np.ndarray) -> np.ndarray:
    spread = values.std()
    return (values - values.mean()) / spread if spread > 0 else np.zeros_like(values)


def survey_saliency_edge_prior(
    overview: np.ndarray, field: FieldConfig, edge_weight: float = 0.5, net: SurveySaliencyNet | None = None
) -> np.ndarray | None:
    """``(n_cells,)`` the standardised learned prior plus ``edge_weight`` × the standardised edge prior.

    A hedge for images unlike the network's training scenes: the generic
    edge strength (:func:`~stemscan.agents.features.survey.survey_edge_prior`)
    keeps a share of the vote where the network has not learned what
    matters.  ``None`` when the overview is coarser than the grid.
    """
    saliency = survey_saliency_prior(overview, field, net)
    edges = survey_edge_prior(overview, field)
    if saliency is None or edges is None:
        return None
    return _standardised(saliency) + edge_weight * _standardised(edges)


#: The one-column survey priors by ``survey_prior`` name (``linear-bo``, ``rvae-bo``, ``dkl-bo``).
CELL_PRIORS = {
    "saliency": survey_saliency_prior,
    "saliency+edges": survey_saliency_edge_prior,
    "edges": survey_edge_prior,
    "gradient": survey_gradient_prior,
}
