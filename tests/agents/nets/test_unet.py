"""The U-Net."""

from __future__ import annotations


import pytest
import torch

from stemscan.agents.nets import UNet


def test_unet_output_shape_and_bad_sizes() -> None:
    net = UNet(n_classes=5, base_channels=4, levels=3)
    out = net(torch.zeros(2, 1, 32, 40))
    assert out.shape == (2, 5, 32, 40)
    with pytest.raises(ValueError, match="multiples of 8"):
        net(torch.zeros(1, 1, 30, 32))
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        net(torch.zeros(1, 2, 32, 32))
    with pytest.raises(ValueError, match="levels"):
        UNet(levels=0)
