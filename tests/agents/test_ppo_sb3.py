"""The shipped PPO policy as an SB3 PPO model: same decisions, evaluate_policy, learn() continues."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.evaluation import evaluate_policy

import stemscan.agents
from stemscan.agents.ppo_sb3 import load_sb3_ppo


def test_shipped_policy_loads_as_sb3_ppo_and_keeps_training():
    env = gym.make("STEMScan-v0", action_mode="grid")
    model = load_sb3_ppo(env, n_steps=64, batch_size=64, n_epochs=1)
    zoo = stemscan.agents.make("ppo", env, seed=0)
    obs, _ = env.reset(seed=4)
    for first in (True, False, False):
        mine, _ = model.predict(obs, deterministic=True)
        theirs, _ = zoo.predict(obs, episode_start=first)
        assert int(mine) == int(theirs)
        obs, *_ = env.step(theirs)
    rewards, lengths = evaluate_policy(model, env, n_eval_episodes=1, return_episode_rewards=True)
    assert np.isfinite(rewards[0]) and lengths[0] > 0
    before = [p.detach().clone() for p in model.policy.parameters()]
    model.learn(128)  # two rollouts: the shipped linear schedule is at half its rate at the first update
    assert any(not torch.equal(a, b) for a, b in zip(before, model.policy.parameters()))


def test_env_with_other_spaces_is_named():
    with pytest.raises(ValueError, match="action_space"):
        load_sb3_ppo(gym.make("STEMScan-v0"))  # continuous actions
