"""The protocol and the model-free agents: random, raster, oracle."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from stemscan import agents
from stemscan.envs import ENV_ID
from stemscan.benchmarks import play_episode

from ..conftest import SMALL


def _actions(name: str, seed: int, mode: str = "continuous", n: int = 10) -> list:
    env = gym.make(ENV_ID, action_mode=mode, dose_budget=1.0, **SMALL)
    agent = agents.make(name, env, seed=seed)
    obs, _ = env.reset(seed=0)
    out = []
    for step in range(n):
        action, state = agent.predict(obs, episode_start=step == 0)
        assert state is None
        assert env.action_space.contains(np.asarray(action, dtype=env.action_space.dtype))
        out.append(np.asarray(action).tolist())
        obs, _, terminated, truncated, _ = env.step(action)
        if terminated or truncated:
            break
    return out


def test_names_follow_the_design_card():
    assert agents.names() == ["random", "raster", "oracle", "linear-bo", "dcnn-bo", "rvae-bo", "dkl-bo", "ppo"]


@pytest.mark.parametrize("name", ["random", "raster", "oracle"])
@pytest.mark.parametrize("mode", ["continuous", "grid"])
def test_reproducible_from_seed(name, mode):
    assert _actions(name, 3, mode) == _actions(name, 3, mode)


def test_random_depends_on_seed_and_never_repeats_a_cell():
    a, b = _actions("random", 1, "grid", n=30), _actions("random", 2, "grid", n=30)
    assert a != b
    assert len(set(a)) == len(a)


def test_raster_scans_row_major_from_top_left():
    cells = _actions("raster", 0, "grid", n=10)
    assert cells == list(range(10))
    env = gym.make(ENV_ID, action_mode="grid", **SMALL)
    serpentine = agents.make("raster", env, serpentine=True)
    obs, _ = env.reset(seed=0)
    order = [int(serpentine.predict(obs)[0]) for _ in range(10)]
    assert order == [0, 1, 2, 3, 4, 5, 6, 7, 15, 14]


def test_agents_reset_replays_the_episode():
    env = gym.make(ENV_ID, action_mode="grid", **SMALL)
    agent = agents.make("random", env, seed=5)
    obs, _ = env.reset(seed=0)
    first = [int(agent.predict(obs)[0]) for _ in range(5)]
    agent.reset(seed=5)
    assert [int(agent.predict(obs)[0]) for _ in range(5)] == first


def test_oracle_beats_random_on_every_family():
    from stemscan.scenes import names

    for family in names():
        env = gym.make(ENV_ID, scene=family).unwrapped
        found = {}
        for name in ("oracle", "random"):
            found[name] = play_episode(env, agents.make(name, env, seed=0), seed=11).info["features_found"]
        assert found["oracle"] > found["random"], family


def test_unknown_agent_lists_valid_names():
    env = gym.make(ENV_ID, **SMALL)
    with pytest.raises(ValueError, match="unknown agent 'genius'; valid names: random, raster, oracle"):
        agents.make("genius", env)


def test_unknown_agent_option_is_named():
    env = gym.make(ENV_ID, **SMALL)
    with pytest.raises(TypeError, match="raster.*zigzag"):
        agents.make("raster", env, zigzag=True)


@pytest.mark.parametrize(
    "mutate, error, match",
    [
        (lambda o: o.pop("overview"), ValueError, "missing the key 'overview'"),
        (lambda o: o.__setitem__("patch", np.zeros((4, 4), np.float32)), ValueError, "shape"),
        (lambda o: o.__setitem__("patch", np.full((16, 16), np.nan, np.float32)), ValueError, "NaN"),
    ],
)
def test_bad_observations(mutate, error, match):
    env = gym.make(ENV_ID, **SMALL)
    agent = agents.make("random", env)
    obs, _ = env.reset(seed=0)
    mutate(obs)
    with pytest.raises(error, match=match):
        agent.predict(obs)


def test_not_a_dict_observation():
    env = gym.make(ENV_ID, **SMALL)
    with pytest.raises(TypeError, match="dict"):
        agents.make("raster", env).predict(np.zeros(3))
