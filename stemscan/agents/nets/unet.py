"""A compact U-Net for semantic segmentation of atomically resolved images.

A plain :class:`torch.nn.Module` (no trainer, no hidden options): one input
channel (a normalised detector image), ``n_classes`` output logits per pixel.
The encoder halves the resolution ``levels`` times, so inputs must have sides
divisible by ``2 ** levels`` (:class:`~stemscan.agents.dcnn.AtomFinder` pads
for you).  Convolutions are 3 × 3 with zero padding and ReLU; there is no
normalisation layer, so a single 32 × 32 patch is segmented exactly as it
would be inside a batch.
"""

from __future__ import annotations

import torch
from torch import nn

from stemscan.validation import check_int

__all__ = ["UNet"]


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, kernel_size=3, padding=1),
        nn.ReLU(inplace=True),
    )


class UNet(nn.Module):
    """U-Net segmenter: ``(B, 1, H, W)`` image -> ``(B, n_classes, H, W)`` logits.

    Args:
        n_classes: Number of segmentation classes (>= 2).
        base_channels: Feature maps at full resolution; doubled per level up
            to ``4 * base_channels``.
        levels: Number of 2× down-samplings (1-4); input sides must be
            multiples of ``2 ** levels`` pixels.
    """

    def __init__(self, n_classes: int = 5, base_channels: int = 16, levels: int = 3) -> None:
        super().__init__()
        check_int("n_classes", n_classes, 2)
        check_int("base_channels", base_channels, 1, 256)
        check_int("levels", levels, 1, 4)
        self.n_classes = n_classes
        self.base_channels = base_channels
        self.levels = levels
        widths = [base_channels * min(2**i, 4) for i in range(levels + 1)]
        self.encoders = nn.ModuleList()
        in_channels = 1
        for width in widths[:-1]:
            self.encoders.append(_double_conv(in_channels, width))
            in_channels = width
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _double_conv(widths[-2], widths[-1])
        self.upsamplers = nn.ModuleList()
        self.decoders = nn.ModuleList()
        for level in reversed(range(levels)):
            deeper, here = widths[level + 1], widths[level]
            self.upsamplers.append(nn.ConvTranspose2d(deeper, here, kernel_size=2, stride=2))
            self.decoders.append(_double_conv(2 * here, here))
        self.head = nn.Conv2d(widths[0], n_classes, kernel_size=1)

    @property
    def multiple(self) -> int:
        """Input sides must be multiples of this many pixels."""
        return 2**self.levels

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """Per-pixel class logits.

        Args:
            image: ``(B, 1, H, W)`` float tensor, ``H`` and ``W`` multiples of
                :attr:`multiple`.

        Returns:
            ``(B, n_classes, H, W)`` logits (apply ``softmax(dim=1)`` for
            probabilities).
        """
        if image.ndim != 4 or image.shape[1] != 1:
            raise ValueError(f"UNet expects a (B, 1, H, W) tensor, got shape {tuple(image.shape)}")
        if image.shape[-2] % self.multiple or image.shape[-1] % self.multiple:
            raise ValueError(
                f"UNet input sides must be multiples of {self.multiple} pixels, got {tuple(image.shape[-2:])}"
            )
        skips = []
        x = image
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)
            x = self.pool(x)
        x = self.bottleneck(x)
        for upsample, decoder, skip in zip(self.upsamplers, self.decoders, reversed(skips)):
            x = decoder(torch.cat([upsample(x), skip], dim=1))
        return self.head(x)
