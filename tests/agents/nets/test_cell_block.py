"""PPO's cell-block features extractor: each cell's block of the maps, convs on the action grid."""

from __future__ import annotations

import gymnasium as gym
import pytest
import torch

import stemscan  # noqa: F401
from stemscan.agents.nets.cell_block import CellBlockExtractor

from ..helpers import TINY


def _observations(env: gym.Env, overview: torch.Tensor, visited: torch.Tensor) -> dict[str, torch.Tensor]:
    batch = overview.shape[0]
    patch = env.observation_space["patch"].shape
    return {"overview": overview, "visited": visited, "patch": torch.zeros(batch, *patch),
            "dose": torch.zeros(batch, 1), "position": torch.zeros(batch, 2)}


def test_cell_inputs_hold_each_cells_block_and_its_statistics() -> None:
    env = gym.make("STEMScan-v0", **TINY)  # 16 x 16 overview, 4 x 4 cells -> 4 x 4 pixel blocks
    extractor = CellBlockExtractor(env.observation_space, cell_grid=(4, 4))
    assert extractor.block == (4, 4)
    flat = torch.full((1, 1, 16, 16), 0.4)
    visited = torch.zeros_like(flat)
    visited[..., 4:8, 8:12] = 1.0  # cell (1, 2) scanned
    inputs, fraction = extractor.cell_inputs(flat, visited)
    assert inputs.shape == (1, 2 * 16 + 4, 4, 4) and fraction.shape == (1, 1, 4, 4)
    assert inputs[:, :16].abs().max() < 1e-3  # a flat overview standardises to zero everywhere
    assert fraction[0, 0, 1, 2] == 1.0 and fraction.sum() == 1.0
    bright = flat.clone()
    bright[0, 0, 9, 2] = 1.0  # cell (2, 0), block pixel (1, 2) -> channel 1 * 4 + 2
    inputs, _ = extractor.cell_inputs(bright, visited)
    z = inputs[0, :16]
    assert z[6, 2, 0] == z.max() and z[6, 2, 0] > 0
    block_range = inputs[0, 2 * 16 + 2]
    assert block_range[2, 0] > 0 and torch.count_nonzero(block_range) == 1


@pytest.mark.parametrize("overview_size", [16, 18, 13])
def test_features_have_one_score_per_cell_whatever_the_overview_side(overview_size: int) -> None:
    env = gym.make("STEMScan-v0", **{**TINY, "overview_size": overview_size})
    extractor = CellBlockExtractor(env.observation_space, cell_grid=(4, 4), channels=8, patch_channels=4)
    generator = torch.Generator().manual_seed(0)
    overview = torch.rand(3, 1, overview_size, overview_size, generator=generator)
    features = extractor(_observations(env, overview, torch.zeros_like(overview)))
    assert features.shape == (3, 16 + 8 + 4 + 3) == (3, extractor.features_dim)
    assert torch.isfinite(features).all()


def test_a_scanned_cell_scores_below_the_others() -> None:
    env = gym.make("STEMScan-v0", **TINY)
    extractor = CellBlockExtractor(env.observation_space, cell_grid=(4, 4))
    overview = torch.full((1, 1, 16, 16), 0.4)
    visited = torch.zeros_like(overview)
    visited[..., :4, :4] = 1.0
    scores = extractor(_observations(env, overview, visited))[0, :16]
    assert scores[0] < scores[1:].min() - 4.0  # the visited weight starts at -5
