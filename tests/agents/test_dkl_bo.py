"""The ``dkl-bo`` agent: episodes on every family, determinism, option checks; its model pieces."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents import registry
from stemscan.agents.bo.dkl import DeepKernelGP, OnlineDKL, exact_mll_loss
from stemscan.agents.dkl_bo import DKLBOAgent, survey_windows
from stemscan.benchmarks import play_episode

FAMILIES = ["lattice-defects", "ferroelectric-domains", "phase-separated", "nanoparticles"]


def small_env(scene: str = "phase-separated", action_mode: str = "continuous") -> gym.Env:
    """256×256 field (64 cells of 32 px), a budget for about ten patches."""
    return gym.make("STEMScan-v0", scene=scene, image_size=256, dose_budget=0.15, action_mode=action_mode)


def rollout(agent: DKLBOAgent, env: gym.Env, seed: int) -> list:
    return [np.asarray(action).tolist() for action in play_episode(env, agent, seed, seed).actions]


@pytest.mark.parametrize("scene", FAMILIES)
def test_episode_runs_on_every_family(scene: str) -> None:
    env = small_env(scene)
    agent = registry.make("dkl-bo", env, seed=0)
    actions = rollout(agent, env, seed=1)
    assert len(actions) >= 8
    assert len(set(map(tuple, actions))) == len(actions)  # no cell scanned twice
    assert np.isfinite(agent.descriptors).all() and len(agent.descriptors) == len(actions) - 1
    assert agent.n_fits > 0 and agent.n_fits % agent.train_steps == 0  # the deep kernel was trained


def test_same_seed_same_actions_and_episodes_are_independent() -> None:
    env_a, env_b = small_env(), small_env()
    a = registry.make("dkl-bo", env_a, seed=3)
    b = registry.make("dkl-bo", env_b, seed=3)
    first = rollout(a, env_a, seed=5)
    assert first == rollout(b, env_b, seed=5)
    assert first == rollout(a, env_a, seed=5)  # training restarts from the seeded weights each episode
    grid = small_env(action_mode="grid")
    cells = rollout(registry.make("dkl-bo", grid, seed=3), grid, seed=5)
    assert all(isinstance(c, int) for c in cells)


def test_config_rebuilds_the_agent() -> None:
    env = small_env()
    agent = registry.make("dkl-bo", env, seed=2, embedding=3, train_steps=4, statistic="mean")
    config = json.loads(json.dumps(agent.config()))
    assert config["embedding"] == 3 and config["train_steps"] == 4 and config["statistic"] == "mean"
    clone = registry.make("dkl-bo", small_env(), **config)
    assert rollout(agent, env, seed=4) == rollout(clone, small_env(), seed=4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"embedding": 0}, "embedding"),
        ({"embedding": 9}, "embedding"),
        ({"survey_cells": 2}, "survey_cells must be odd"),
        ({"survey_cells": 9}, "survey_cells"),
        ({"survey_px": 3}, "survey_px"),
        ({"train_steps": 0}, "train_steps"),
        ({"lr": 0.0}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"embedding": 2.5}, "embedding"),
        ({"target": 7}, "out of range"),
        ({"statistic": "median"}, "statistic"),
        ({"acquisition": "pi"}, "acquisition"),
    ],
)
def test_invalid_options_raise_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        DKLBOAgent(small_env(), **kwargs)


def test_unknown_options_are_named() -> None:
    with pytest.raises(ValueError, match="no option 'depth'"):
        registry.check_agent_kwargs("dkl-bo", {"depth": 3})
    registry.check_agent_kwargs("dkl-bo", {"embedding": 2, "beta": 2.0, "window": 8})


def test_survey_windows_are_centred_on_their_cells() -> None:
    overview = np.zeros((1, 16, 16), dtype=np.uint8)
    overview[0, 4:8, 8:12] = 255  # grid cell (1, 2) of a 4 × 4 grid, 4 survey px per cell
    windows = survey_windows(overview, 4, 4, cells=3, pixels=4)
    assert windows.shape == (16, 144)
    centre = windows.reshape(16, 12, 12)[1 * 4 + 2]
    assert centre[4:8, 4:8].min() > centre[:4].max()  # the bright cell sits in the middle of its own window
    assert np.allclose(survey_windows(np.full((16, 16), 7), 4, 4, 3, 4), 0.0)  # a constant survey: no contrast
    with pytest.raises(ValueError, match="survey"):
        survey_windows(np.full((16, 16), np.nan), 4, 4, 3, 4)


def test_exact_mll_loss_is_gpytorchs() -> None:
    from gpytorch.mlls import ExactMarginalLogLikelihood

    generator = torch.Generator().manual_seed(0)
    x = torch.rand(9, 4, dtype=torch.float64, generator=generator)
    y = torch.randn(9, dtype=torch.float64, generator=generator)
    gp = DeepKernelGP(x, y, 4)
    gp.covar_module.base_kernel.lengthscale = torch.tensor([0.3, 0.5, 0.7, 1.1])
    gp.covar_module.outputscale = 1.7
    gp.likelihood.noise = 0.05
    gp.train()
    expected = -ExactMarginalLogLikelihood(gp.likelihood, gp)(gp(x), y)
    assert exact_mll_loss(gp, x, y).item() == pytest.approx(expected.item(), rel=1e-10)


def test_online_dkl_training_lowers_the_loss_and_is_seeded() -> None:
    rng = np.random.default_rng(0)
    windows = torch.as_tensor(rng.normal(size=(12, 144)))
    positions = torch.as_tensor(rng.random((12, 2)))
    y = torch.as_tensor(windows[:, :72].mean(dim=1).numpy() * 5.0)
    y = (y - y.mean()) / y.std()
    first, second = OnlineDKL(12, 2, 40, 0.03, seed=1), OnlineDKL(12, 2, 40, 0.03, seed=1)
    first.fit(positions, windows, y)
    with torch.no_grad():
        before = exact_mll_loss(first.gp, first.embed(positions, windows), y).item()
    first.fit(positions, windows, y)  # warm start: training continues
    with torch.no_grad():
        after = exact_mll_loss(first.gp, first.embed(positions, windows), y).item()
    assert after < before
    second.fit(positions, windows, y)
    second.fit(positions, windows, y)
    for a, b in zip(first.encoder.parameters(), second.encoder.parameters()):
        assert torch.equal(a, b)
    other = OnlineDKL(12, 2, 40, 0.03, seed=2)
    assert not torch.equal(next(other.encoder.parameters()), next(OnlineDKL(12, 2, 40, 0.03, seed=1).encoder.parameters()))
