"""PPO's scan-map features extractor."""

from __future__ import annotations


import gymnasium as gym
import torch

import stemscan  # noqa: F401

from ..helpers import TINY


def test_map_channels_of_a_flat_overview_carry_no_contrast() -> None:
    from stemscan.agents.nets.scan_map import ScanMapExtractor

    env = gym.make("STEMScan-v0", **TINY)
    extractor = ScanMapExtractor(env.observation_space, cell_grid=(4, 4))
    flat = torch.full((1, 1, 16, 16), 0.4)
    channels = extractor.map_channels(flat, torch.zeros_like(flat))
    assert channels.shape == (1, 4, 16, 16)
    assert channels[:, :3].abs().max() < 1e-3
    step = flat.clone()
    step[..., 8:] = 0.8
    edges = extractor.map_channels(step, torch.zeros_like(step))[0, 2]
    assert edges[:, 7:9].min() > 0 and torch.allclose(edges[:, :5], torch.zeros(16, 5), atol=1e-5)
