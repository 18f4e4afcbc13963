"""STEMScan-v0 works with stable-baselines3's algorithms in the action mode that suits each."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3 import A2C, DQN, PPO, SAC
from stable_baselines3.common.env_checker import check_env
from stable_baselines3.common.vec_env import DummyVecEnv

import stemscan  # noqa: F401

#: Small field (128 px, 32 px patches, 4 x 4 cells), SB3-sized overview (64 px), ~6 patches per episode.
KWARGS = {"image_size": 128, "patch_size": 32, "overview_size": 64, "dose_budget": 0.4}

CASES = [
    (PPO, "continuous", {"n_steps": 64, "batch_size": 32, "n_epochs": 1}),
    (PPO, "grid", {"n_steps": 64, "batch_size": 32, "n_epochs": 1}),
    (A2C, "continuous", {"n_steps": 8}),
    (A2C, "grid", {"n_steps": 8}),
    (DQN, "grid", {"buffer_size": 500, "learning_starts": 64, "batch_size": 16, "train_freq": 4}),
    (SAC, "continuous", {"buffer_size": 500, "learning_starts": 64, "batch_size": 16, "train_freq": 4}),
]


@pytest.mark.parametrize("mode", ["continuous", "grid"])
def test_sb3_env_checker_passes(mode: str) -> None:
    check_env(gym.make("STEMScan-v0", action_mode=mode, **KWARGS).unwrapped, warn=True)


@pytest.mark.parametrize(("algo", "mode", "kwargs"), CASES, ids=[f"{a.__name__}-{m}" for a, m, _ in CASES])
def test_sb3_algorithm_learns_a_few_hundred_steps(algo: type, mode: str, kwargs: dict) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        env = DummyVecEnv([lambda: gym.make("STEMScan-v0", action_mode=mode, **KWARGS)] * 2)
        model = algo("MultiInputPolicy", env, seed=0, device="cpu", verbose=0, **kwargs)
        before = {k: v.clone() for k, v in model.policy.state_dict().items()}
        model.learn(total_timesteps=256)
        assert model.num_timesteps >= 256
        changed = [k for k, v in model.policy.state_dict().items() if not torch.equal(v, before[k])]
        assert changed, "no parameter was updated"
        obs = env.reset()
        actions, _ = model.predict(obs, deterministic=True)
        single = gym.make("STEMScan-v0", action_mode=mode, **KWARGS)
        for action in actions:
            assert single.action_space.contains(action if mode == "continuous" else np.int64(action))
    finally:
        torch.set_num_threads(threads)
