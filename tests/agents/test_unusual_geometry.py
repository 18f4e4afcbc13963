"""Zoo agents on fields and patches unlike the published geometry: wide fields, small patches, long budgets."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents import make as make_agent


def _play(env: gym.Env, agent, seed: int = 0) -> tuple[list[tuple[float, float]], dict]:  # noqa: ANN001
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    positions = []
    while True:
        action, _ = agent.predict(obs)
        obs, _, terminated, truncated, info = env.step(action)
        positions.append(tuple(np.round(obs["position"], 5)))
        if terminated or truncated:
            return positions, info


@pytest.mark.parametrize("name", ["linear-bo", "dcnn-bo"])
def test_bo_agents_work_on_a_field_more_than_200_cells_wide(tmp_path, name: str) -> None:
    """The lengthscale prior mode (2 cells / 202 cells) used to fall below the GP's floor and raise in GPyTorch."""
    torch.set_num_threads(1)
    path = tmp_path / "wide.npy"
    np.save(path, np.random.default_rng(0).random((64, 6464)).astype(np.float32))
    env = gym.make("STEMScan-v0", scene=f"file:{path}", dose_budget=0.02)
    positions, info = _play(env, make_agent(name, env, seed=0, device="cpu") if name == "dcnn-bo" else make_agent(name, env, seed=0))
    assert len(positions) >= 4 and len(set(positions)) == len(positions)


@pytest.mark.parametrize("patch_size", [8, 16, 20])
@pytest.mark.parametrize("name", ["linear-bo", "dkl-bo"])
def test_fft_workflows_fit_their_window_to_small_patches(name: str, patch_size: int) -> None:
    torch.set_num_threads(1)
    env = gym.make("STEMScan-v0", scene="lattice-defects", image_size=128, patch_size=patch_size, dose_budget=0.12)
    agent = make_agent(name, env, seed=0)
    assert agent.config()["window"] + agent.config()["stride"] <= patch_size
    positions, _ = _play(env, agent)
    assert len(set(positions)) == len(positions) > 3
    with pytest.raises(ValueError, match="two FFT tiles per side"):
        make_agent(name, env, window=patch_size, stride=1)


def test_default_window_is_unchanged_at_the_published_patch_size() -> None:
    env = gym.make("STEMScan-v0", scene="lattice-defects", image_size=128)
    config = make_agent("linear-bo", env).config()
    assert (config["window"], config["stride"]) == (16, 8)


@pytest.mark.parametrize("scene", ["file:", "lattice-defects"])
def test_ppo_does_not_rescan_a_cell_before_covering_the_field(tmp_path, scene: str) -> None:
    """Out of its training regime (a long budget, a blank image) the policy used to pick one cell again and again."""
    torch.set_num_threads(1)
    if scene == "file:":
        image = np.zeros((512, 512), dtype=np.float32)
        image[500:, 500:] = 1.0
        np.save(tmp_path / "blob.npy", image)
        scene = f"file:{tmp_path / 'blob.npy'}"
    env = gym.make("STEMScan-v0", scene=scene, dose_budget=0.3)
    positions, info = _play(env, make_agent("ppo", env, seed=0))
    assert len(positions) > 60 and len(set(positions)) == len(positions)
    assert info["coverage"] == pytest.approx(len(positions) * 32 * 32 / 512**2)
