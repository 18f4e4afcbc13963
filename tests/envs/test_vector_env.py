"""The batched vector env: Gymnasium's vector API, NEXT_STEP autoreset, and per-env trajectories identical to single envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

from stemscan.envs import ENV_ID
from stemscan.envs.vector_env import STEMScanVectorEnv

from ..conftest import SMALL

KWARGS = {"scene": "nanoparticles", "num_scenes": 3, "dose_budget": 0.3, **SMALL}


def _single_rollout(kwargs, seed, actions):
    """What sub-env ``i`` must produce: a single env under NEXT_STEP autoreset."""
    env = gym.make(ENV_ID, **kwargs).unwrapped
    obs, info = env.reset(seed=seed)
    trace, done = [(obs, 0.0, False, False, info)], False
    for action in actions:
        if done:
            obs, info = env.reset()
            trace.append((obs, 0.0, False, False, info))
            done = False
            continue
        obs, reward, terminated, truncated, info = env.step(action)
        trace.append((obs, reward, terminated, truncated, info))
        done = terminated or truncated
    return trace


@pytest.mark.parametrize("mode", ["continuous", "grid"])
def test_sub_envs_replay_single_envs_step_for_step(mode):
    n, n_steps, kwargs = 3, 40, {**KWARGS, "action_mode": mode}
    vec = gym.make_vec(ENV_ID, num_envs=n, vectorization_mode="vector_entry_point", **kwargs)
    assert isinstance(vec, STEMScanVectorEnv) and vec.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    vec.action_space.seed(4)
    actions = [vec.action_space.sample() for _ in range(n_steps)]
    obs, info = vec.reset(seed=10)
    got = [(obs, np.zeros(n), np.zeros(n, bool), np.zeros(n, bool), info)]
    for action in actions:
        got.append(vec.step(action))
        assert vec.observation_space.contains(got[-1][0])
    n_episodes_ended = 0
    for i in range(n):
        want = _single_rollout(kwargs, 10 + i, [a[i] for a in actions])
        for t, (obs_i, reward, terminated, truncated, info_i) in enumerate(want):
            v_obs, v_reward, v_term, v_trunc, v_info = got[t]
            for key in obs_i:
                assert np.array_equal(v_obs[key][i], obs_i[key]), (i, t, key)
            assert v_reward[i] == reward and v_term[i] == terminated and v_trunc[i] == truncated, (i, t)
            for key, value in info_i.items():
                assert (v_info[key][i] == value) and v_info[f"_{key}"][i], (i, t, key)
            n_episodes_ended += terminated or truncated
    assert n_episodes_ended >= n  # the rollout crossed episode boundaries: autoreset was exercised


def test_reset_mask_resets_only_the_masked_envs_and_bad_input_is_refused():
    vec = STEMScanVectorEnv(num_envs=2, **KWARGS)
    with pytest.raises(RuntimeError, match="before reset"):
        vec.step(np.full((2, 2), 0.5, dtype=np.float32))
    vec.reset(seed=0)
    obs, *_ = vec.step(np.full((2, 2), 0.5, dtype=np.float32))
    obs, info = vec.reset(options={"reset_mask": np.array([True, False])})
    assert info["steps"].tolist() == [0, 1] and not obs["visited"][0].any() and obs["visited"][1].any()
    with pytest.raises(ValueError, match="shape"):
        vec.step(np.full((3, 2), 0.5, dtype=np.float32))
    with pytest.raises(ValueError, match="outside the action space"):
        vec.step(np.array([[0.5, 0.5], [2.0, 0.5]], dtype=np.float32))
    with pytest.raises(ValueError, match="reset_mask"):
        vec.reset(options={"reset_mask": np.array([False, False])})
    with pytest.raises(ValueError, match="num_envs"):
        STEMScanVectorEnv(num_envs=0, **KWARGS)
    with pytest.raises(ValueError, match="does not render"):
        STEMScanVectorEnv(num_envs=1, render_mode="rgb_array", **KWARGS)


def test_returned_arrays_are_not_reused_and_sync_mode_still_works():
    vec = gym.make_vec(ENV_ID, num_envs=2, **KWARGS)  # the vector entry point is the default
    obs, _ = vec.reset(seed=1)
    before = {key: value.copy() for key, value in obs.items()}
    vec.step(np.full((2, 2), 0.25, dtype=np.float32))
    assert all(np.array_equal(obs[key], before[key]) for key in obs)
    sync = gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="sync", **KWARGS)
    sync_obs, _ = sync.reset(seed=1)
    assert all(np.array_equal(sync_obs[key], before[key]) for key in obs)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_continuous_actions_give_the_single_envs_corners(dtype):
    vec = STEMScanVectorEnv(num_envs=6, **KWARGS)
    vec.reset(seed=0)
    single = vec.envs[0]
    height, half = single.shape[0], single.patch_size / 2.0
    ties = (np.arange(6) + 0.5 + half) / height  # row × height − half near k + ½: rounding ties
    actions = np.stack([ties, [0.0, 1.0, 0.5, 1e-9, 1.0 - 1e-9, 0.25]], axis=1).astype(dtype)
    corners = vec._action_corners(actions, np.ones(6, dtype=bool)).copy()
    assert [tuple(c) for c in corners.tolist()] == [single.corner(a) for a in actions]
    inactive = actions.copy()
    inactive[2] = np.nan  # a resetting sub-env's action is ignored, whatever it holds
    mask = np.ones(6, dtype=bool)
    mask[2] = False
    assert np.array_equal(vec._action_corners(inactive, mask)[mask], corners[mask])
    with pytest.raises(ValueError, match="NaN"):
        vec._action_corners(inactive, np.ones(6, dtype=bool))
