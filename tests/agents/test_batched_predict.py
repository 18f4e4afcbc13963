"""Zoo agents take batched observations, as SB3's policies do: VecEnvs and evaluate_policy work."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv

import stemscan.agents

ENV = {"image_size": 128, "patch_size": 32, "overview_size": 64, "dose_budget": 0.3}
AGENTS = ["random", "raster", "linear-bo", "dcnn-bo", "rvae-bo", "dkl-bo", "ppo"]


def _env(action_mode: str = "continuous") -> gym.Env:
    return gym.make("STEMScan-v0", scene="phase-separated", action_mode=action_mode, **ENV)


@pytest.mark.parametrize("name", AGENTS)
def test_evaluate_policy_on_a_vec_env(name):
    vec = DummyVecEnv([_env, _env])
    vec.seed(3)
    agent = stemscan.agents.make(name, vec.envs[0], seed=0)
    rewards, lengths = evaluate_policy(agent, vec, n_eval_episodes=2, return_episode_rewards=True)
    assert len(rewards) == 2 and all(np.isfinite(rewards)) and all(n > 0 for n in lengths)


@pytest.mark.parametrize("action_mode", ["continuous", "grid"])
def test_a_batch_of_one_decides_as_the_unbatched_agent(action_mode):
    env = _env(action_mode)
    single = stemscan.agents.make("linear-bo", env, seed=5)
    batched = stemscan.agents.make("linear-bo", env, seed=5)
    obs, _ = env.reset(seed=1)
    first, done = True, False
    while not done:
        a, _ = single.predict(obs, episode_start=first)
        b, _ = batched.predict({k: v[None] for k, v in obs.items()}, episode_start=np.array([first]))
        assert b.shape == (1, *np.shape(a)) and np.array_equal(b[0], a)
        obs, _, terminated, truncated, _ = env.step(a)
        first, done = False, terminated or truncated


def test_envs_of_a_batch_keep_their_own_episodes():
    envs = gym.vector.SyncVectorEnv([_env, _env])
    agent = stemscan.agents.make("raster", _env(), seed=0)
    obs, _ = envs.reset(seed=[0, 1])
    starts = np.array([True, True])
    actions, _ = agent.predict(obs, episode_start=starts)
    assert actions.shape == (2, 2)
    np.testing.assert_array_equal(actions[0], actions[1])  # raster: both start at the first cell
    obs, *_ = envs.step(actions)
    more, _ = agent.predict(obs, episode_start=np.array([False, True]))  # env 1 restarts
    np.testing.assert_array_equal(more[1], actions[1])
    assert not np.array_equal(more[0], actions[0])


def test_bad_batches_are_named():
    env = _env()
    agent = stemscan.agents.make("random", env, seed=0)
    obs, _ = env.reset(seed=0)
    batch = {k: np.stack([v, v]) for k, v in obs.items()}
    with pytest.raises(ValueError, match="2 flags for a batch of 2|episode_start has 3 flags"):
        agent.predict(batch, episode_start=np.array([True, True, False]))
    batch["dose"] = batch["dose"][:1]
    with pytest.raises(ValueError, match="disagree in batch size"):
        agent.predict(batch)


def test_evaluate_policy_on_a_subprocess_vec_env():
    from stable_baselines3.common.vec_env import SubprocVecEnv

    vec = SubprocVecEnv([_env, _env], start_method="forkserver")
    try:
        vec.seed(5)
        agent = stemscan.agents.make("linear-bo", _env(), seed=0)
        rewards, lengths = evaluate_policy(agent, vec, n_eval_episodes=2, return_episode_rewards=True)
    finally:
        vec.close()
    assert len(rewards) == 2 and all(np.isfinite(rewards)) and all(n > 0 for n in lengths)


def test_the_oracle_refuses_a_batch_it_cannot_see():
    env = gym.make("STEMScan-v0", scene="phase-separated", image_size=128, overview_size=32)
    obs, _ = env.reset(seed=0)
    batch = {key: np.stack([value, value]) for key, value in obs.items()}
    with pytest.raises(ValueError, match="one oracle per env"):
        stemscan.agents.make("oracle", env).predict(batch)


def test_agents_refuse_an_env_whose_wrapper_reshapes_the_observations():
    stacked = gym.wrappers.FrameStackObservation(gym.make("STEMScan-v0", scene="phase-separated", image_size=128), 3)
    for name in ("random", "linear-bo"):
        with pytest.raises(ValueError, match="a wrapper changed"):
            stemscan.agents.make(name, stacked)
