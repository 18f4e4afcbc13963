"""STEMScan-v0 against Gymnasium's and SB3's checkers, spaces, registration."""

from __future__ import annotations

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import stemscan
from stemscan.envs import ENV_ID
from stemscan.envs.stem_scan_env import STEMScanEnv

from ..conftest import SMALL

IDS = [env_id for env_id in gym.registry if env_id.startswith("STEMScan")]
MODES = ["continuous", "grid"]


def test_registered_ids():
    assert ENV_ID in IDS
    stemscan.register_envs()  # idempotent
    assert [i for i in gym.registry if i.startswith("STEMScan")] == IDS


def test_make_with_module_prefix():
    env = gym.make("stemscan:STEMScan-v0")
    obs, info = env.reset(seed=0)
    assert set(obs) == {"patch", "position", "dose", "overview", "visited"}
    assert info["features_total"] > 0


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("mode", MODES)
def test_gymnasium_check_env(env_id, mode):
    env = gym.make(env_id, action_mode=mode, **SMALL)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env.unwrapped, skip_render_check=False)


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("mode", MODES)
def test_sb3_check_env(env_id, mode):
    env = gym.make(env_id, action_mode=mode, **SMALL).unwrapped
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # The one expected warning: `patch` is a 2-D float32 image in [0, 1]
        # (kept 2-D for microscopists); SB3's MultiInputPolicy flattens it.
        warnings.filterwarnings("ignore", message="Your observation patch has an unconventional shape")
        # DESIGN.md fixes the continuous action as a patch centre in [0, 1]²;
        # SB3 users wrap with gymnasium.wrappers.RescaleAction(env, -1, 1).
        warnings.filterwarnings("ignore", message="We recommend you to use a symmetric and normalized Box action space")
        sb3_check_env(env, warn=True, skip_render_check=True)


def test_default_spaces_are_sb3_friendly():
    env = gym.make(ENV_ID)
    space = env.observation_space
    assert space["overview"].dtype == np.uint8 and space["overview"].shape == (1, 64, 64)
    assert space["visited"].dtype == np.uint8 and space["visited"].shape == (1, 64, 64)
    assert space["patch"].dtype == np.float32 and space["patch"].shape == (32, 32)
    assert env.action_space.shape == (2,)
    grid = gym.make(ENV_ID, action_mode="grid")
    assert grid.action_space.n == 256


def test_spec_to_json_roundtrip():
    env = gym.make(ENV_ID, dose_budget=0.05, scene_kwargs={}, action_mode="grid")
    spec = json.loads(env.spec.to_json())
    assert spec["id"] == ENV_ID
    assert spec["kwargs"]["dose_budget"] == 0.05
    again = gym.make(gym.envs.registration.EnvSpec.from_json(env.spec.to_json()))
    assert again.unwrapped.action_mode == "grid"


def test_default_episode_is_a_few_dozen_steps():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    steps = 0
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        done = terminated or truncated
        steps += 1
    assert 15 <= steps <= 60


def test_observations_are_fresh_copies():
    env = gym.make(ENV_ID, **SMALL).unwrapped
    obs, _ = env.reset(seed=0)
    obs["overview"][...] = 7
    obs2, *_ = env.step(np.array([0.5, 0.5], dtype=np.float32))
    obs2["patch"][...] = -1
    obs3, *_ = env.step(np.array([0.1, 0.1], dtype=np.float32))
    assert not np.shares_memory(obs2["patch"], obs3["patch"])
    assert obs3["overview"].max() != 7 or obs3["overview"].min() != 7


def test_render_rgb_array():
    env = gym.make(ENV_ID, render_mode="rgb_array", **SMALL)
    env.reset(seed=1)
    for action in ([0.2, 0.2], [0.8, 0.6]):
        env.step(np.array(action, dtype=np.float32))
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.shape == (128, 128, 3)
    # scanned area is drawn at full brightness, the survey dimmer
    assert frame.std() > 5


def test_vector_envs_run():
    for vector_cls in (gym.vector.SyncVectorEnv, gym.vector.AsyncVectorEnv):
        envs = vector_cls([lambda: gym.make(ENV_ID, **SMALL) for _ in range(4)])
        try:
            obs, info = envs.reset(seed=[0, 1, 2, 3])
            assert obs["overview"].shape == (4, 1, 64, 64)
            for _ in range(5):
                obs, reward, terminated, truncated, info = envs.step(envs.action_space.sample())
            assert reward.shape == (4,)
        finally:
            envs.close()


@pytest.mark.parametrize("kwargs, message", [
    ({"dose_budget": 1e308}, "dose_budget must be a number in"),
    ({"dose_budget": True}, "dose_budget must be a number in"),
    ({"dose_budget": "0.1"}, "dose_budget must be a number in"),
    ({"survey_dose": 0.0}, "survey_dose must be > 0 when the survey is on"),
    ({"survey_dose": 2.0}, "survey_dose must be a number in"),
    ({"survey": "no"}, "survey must be True or False"),
    ({"electrons_per_pixel": 1e20}, "electrons_per_pixel must be"),  # counts beyond 2**53: not drawn exactly
    ({"electrons_per_pixel": 10**400}, "electrons_per_pixel must be finite"),
    ({"electrons_per_pixel": 5e-324}, "too small to derive a dwell time"),
    ({"electrons_per_pixel": 1e15, "overview_size": 4, "survey_dose": 1.0, "dose_budget": 2.0}, "survey's dose per sample"),
])
def test_bad_budget_and_survey_values_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        STEMScanEnv(image_size=128, patch_size=32, **kwargs)


def test_numpy_scalars_are_accepted_and_a_survey_can_be_off():
    env = STEMScanEnv(image_size=128, patch_size=32, dose_budget=np.float32(0.2), survey=False, survey_dose=0.0)
    env.reset(seed=0)
    assert env.budget > 0


@pytest.mark.parametrize("action", [[10**400, 0], [0.5 + 1j, 0.5], ["0.5", "0.5"], [True, False]])
def test_unreal_actions_are_refused(action):
    env = STEMScanEnv(image_size=128, patch_size=32)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="continuous action must be 2 real numbers"):
        env.step(action)


def test_advance_checks_what_the_compiled_step_would_write_into():
    env = STEMScanEnv(image_size=128, patch_size=16, dose_budget=1.0)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="float32 array of shape"):
        env.advance(0, 0, np.empty((8, 8), dtype=np.float32))  # wrote past the buffer before
    with pytest.raises(ValueError, match="float32 array of shape"):
        env.advance(0, 0, np.empty((16, 16), dtype=np.float64))
    with pytest.raises(TypeError, match="r0 must be an integer"):
        env.advance(0.0, 0, np.empty((16, 16), dtype=np.float32))
    patch = np.empty((16, 16), dtype=np.float32)
    reward, terminated, truncated = env.advance(np.int16(8), 4, patch)
    assert 0.0 <= patch.min() and patch.max() <= 1.0 and env.steps == 1
