"""Agents check every observation field against the env's space; SB3 zips with pickled tensors; lazy subpackages."""

from __future__ import annotations

import io
import subprocess
import sys
import time
import zipfile

import gymnasium as gym
import numpy as np
import pytest

import stemscan.agents

ENV = {"image_size": 128, "patch_size": 32, "overview_size": 64}
G = ENV["overview_size"]

BAD = [
    ("overview", np.full((1, G, G), np.nan), r"observation\['overview'\] must hold integers 0..255, got dtype float"),
    ("overview", np.zeros((1, G, G), np.float32), r"observation\['overview'\] must hold integers 0..255, got dtype float"),
    ("visited", np.full((1, G, G), 300, np.int64), r"observation\['visited'\] has values outside \[0, 255\]"),
    ("visited", np.full((1, G, G), -1, np.int16), r"observation\['visited'\] has values outside \[0, 255\]"),
    ("position", [np.nan, 0.5], r"observation\['position'\] contains NaN or infinity"),
    ("position", [5, -3], r"observation\['position'\] has values outside \[0, 1\]"),
    ("position", np.array([0.5, 1.5], np.float32), r"observation\['position'\] has values outside \[0, 1\]"),
    ("position", [[0.1, 0.2], [0.3]], r"observation\['position'\] is not a numeric array"),
    ("dose", "x", r"observation\['dose'\] is not a number"),
    ("dose", [np.inf], r"observation\['dose'\] contains NaN or infinity"),
    ("dose", [-0.5], r"observation\['dose'\] has values outside \[0, 1\]"),
    ("dose", [True], r"observation\['dose'\] is not a number"),
    ("patch", np.full((32, 32), np.inf, np.float32), r"observation\['patch'\] contains NaN or infinity"),
    ("patch", np.full((32, 32), 2.0, np.float32), r"observation\['patch'\] has values outside \[0, 1\]"),
    ("patch", np.zeros((32, 32), np.complex64), r"observation\['patch'\] is not a number"),
]


@pytest.fixture(scope="module")
def env_obs():
    env = gym.make("STEMScan-v0", **ENV)
    obs, _ = env.reset(seed=0)
    return env, obs


@pytest.mark.parametrize("name", ["random", "raster", "oracle"])
@pytest.mark.parametrize(("key", "value", "match"), BAD, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD)])
def test_every_field_is_checked(env_obs, name, key, value, match):
    env, obs = env_obs
    agent = stemscan.agents.make(name, env)
    with pytest.raises(ValueError, match=match):
        agent.predict({**obs, key: value})


def test_valid_observations_of_other_dtypes_and_lists_pass(env_obs):
    env, obs = env_obs
    agent = stemscan.agents.make("raster", env)
    reference = agent.predict(obs, episode_start=True)[0]
    plain = {
        "patch": obs["patch"].astype(np.float64),
        "position": obs["position"].tolist(),
        "dose": [float(obs["dose"][0])],
        "overview": obs["overview"].astype(np.int64),
        "visited": obs["visited"].astype(np.uint16),
    }
    np.testing.assert_array_equal(agent.predict(plain, episode_start=True)[0], reference)


def test_a_bad_entry_of_a_batch_is_named(env_obs):
    env, obs = env_obs
    agent = stemscan.agents.make("random", env)
    batch = {key: np.stack([value, value]) for key, value in obs.items()}
    actions, _ = agent.predict(batch, episode_start=np.array([True, True]))
    assert actions.shape == (2, 2)
    batch["position"] = batch["position"].copy()
    batch["position"][1] = [np.nan, 0.5]
    with pytest.raises(ValueError, match=r"observation\['position'\] contains NaN"):
        agent.predict(batch)


def test_the_check_is_cheap(env_obs):
    env, obs = env_obs
    agent = stemscan.agents.make("random", env)
    agent._check_observation(obs)
    best = np.inf
    for _ in range(5):  # best of 5 rounds: robust to a busy machine
        start = time.perf_counter()
        for _ in range(2_000):
            agent._check_observation(obs)
        best = min(best, (time.perf_counter() - start) / 2_000)
    assert best < 30e-6, f"{best * 1e6:.1f} µs per observation"


# ----------------------------------------------------------------- SB3 zips
def test_an_sb3_zip_with_a_pickled_policy_is_refused_without_torch_advice(tmp_path):
    import torch
    from stable_baselines3.common.policies import MultiInputActorCriticPolicy
    from stable_baselines3.common.save_util import data_to_json

    env = gym.make("STEMScan-v0", action_mode="grid", **ENV)
    data = {"observation_space": env.observation_space, "action_space": env.action_space,  # as PPO.save writes them
            "policy_class": MultiInputActorCriticPolicy, "n_epochs": 4, "n_steps": 32}
    payload = io.BytesIO()
    torch.save({"weight": torch.zeros(2), "call": print}, payload)  # a pickled function beside the tensors
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.writestr("data", data_to_json(data))
        archive.writestr("policy.pth", payload.getvalue())
        archive.writestr("_stable_baselines3_version", "2.0.0")
    with pytest.raises(ValueError) as caught:
        stemscan.agents.make(f"sb3:{evil}", env)
    message = str(caught.value)
    assert "'policy.pth' holds pickled Python objects" in message and "refuses to unpickle" in message
    assert "weights_only" not in message and "trust" not in message
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


# ------------------------------------------------------- lazy subpackages
def test_subpackages_are_attributes_after_a_plain_import():
    code = (
        "import sys, stemscan\n"
        "assert 'stemscan.scenes' not in sys.modules and 'torch' not in sys.modules\n"
        "assert {'scenes', 'agents', 'envs', 'benchmarks'} <= set(dir(stemscan))\n"
        "assert callable(stemscan.scenes.load) and callable(stemscan.scenes.make)\n"
        "assert callable(stemscan.agents.make) and stemscan.envs.__name__ == 'stemscan.envs'\n"
        "assert stemscan.benchmarks.__name__ == 'stemscan.benchmarks'\n"
        "assert stemscan.scenes is sys.modules['stemscan.scenes']\n"
        "try:\n"
        "    stemscan.nope\n"
        "except AttributeError as error:\n"
        "    assert 'nope' in str(error)\n"
        "else:\n"
        "    raise SystemExit('no AttributeError')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
