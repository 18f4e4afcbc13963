"""The survey-saliency CNN: where in the low-dose survey the features are, one score per survey pixel.

A small fully convolutional network (3×3 convolutions with growing
dilation, so that each output sees ~30 survey pixels around it, then a 1×1
convolution to one channel) maps the survey, standardised per image
(:func:`standardise_survey`), to a score map of the same size.  Averaged
over a grid cell the scores rank cells by the feature weight they are
expected to hold (:mod:`stemscan.agents.survey_saliency`); the
scale is a logit (trained with a softmax over cells), only the order and
the differences matter.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = ["MAX_SIZES", "SaliencyConfig", "SurveySaliencyNet", "standardise_survey"]

#: Bounds on the architecture read from a weights file's config (checked before building).
MAX_SIZES = {"channels": 256, "layers": 16, "dilation": 64}


@dataclass(frozen=True)
class SaliencyConfig:
    """Architecture of :class:`SurveySaliencyNet`."""

    channels: int = 32
    """Channels of every hidden layer."""
    dilations: tuple[int, ...] = (1, 1, 2, 4, 8, 1)
    """Dilation of each 3×3 layer (one layer per entry)."""

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "dilations": list(self.dilations)}

    @classmethod
    def from_dict(cls, data: Any) -> SaliencyConfig:
        """Config from a JSON table; ``ValueError`` naming the bad key or size."""
        if not isinstance(data, dict) or set(data) != {"channels", "dilations"}:
            raise ValueError(f"a saliency config has exactly the keys 'channels' and 'dilations', got {data!r}")
        channels, dilations = data["channels"], data["dilations"]
        if isinstance(channels, bool) or not isinstance(channels, int) or not 1 <= channels <= MAX_SIZES["channels"]:
            raise ValueError(f"channels must be an integer in [1, {MAX_SIZES['channels']}], got {channels!r}")
        if not isinstance(dilations, list) or not 1 <= len(dilations) <= MAX_SIZES["layers"] or not all(
            isinstance(d, int) and not isinstance(d, bool) and 1 <= d <= MAX_SIZES["dilation"] for d in dilations
        ):
            raise ValueError(
                f"dilations must be a list of 1 to {MAX_SIZES['layers']} integers in [1, {MAX_SIZES['dilation']}], got {dilations!r}"
            )
        return cls(channels=channels, dilations=tuple(dilations))


class SurveySaliencyNet(nn.Module):
    """Survey ``(B, 1, S, S)`` standardised → score map ``(B, S, S)`` (any S ≥ 1)."""

    def __init__(self, config: SaliencyConfig | None = None) -> None:
        super().__init__()
        self.config = config or SaliencyConfig()
        layers: list[nn.Module] = []
        width_in = 1
        for dilation in self.config.dilations:
            layers += [
                nn.Conv2d(width_in, self.config.channels, 3, padding=dilation, dilation=dilation, padding_mode="replicate"),
                nn.ReLU(),
            ]
            width_in = self.config.channels
        layers.append(nn.Conv2d(width_in, 1, 1))
        self.body = nn.Sequential(*layers)

    def forward(self, survey: torch.Tensor) -> torch.Tensor:
        return self.body(survey)[:, 0]


def standardise_survey(survey: np.ndarray) -> np.ndarray:
    """``float32`` survey(s) ``(..., S, S)`` less their mean over the image, over their standard deviation (+1e-3).

    The network's input: the survey's absolute scale (dose, detector gain,
    the uint8 full scale) drops out.  Counts of a blank survey stay ~0.
    """
    image = np.asarray(survey, dtype=np.float32)
    mean = image.mean(axis=(-2, -1), keepdims=True)
    spread = image.std(axis=(-2, -1), keepdims=True)
    return (image - mean) / (spread + np.float32(1e-3))
