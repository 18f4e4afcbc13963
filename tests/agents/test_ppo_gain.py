"""The shipped ``ppo`` policy beats ``random`` and ``raster`` on gain, per family it was trained on (slow)."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

import stemscan  # noqa: F401
from stemscan.agents import make
from stemscan.agents.ppo import DEFAULT_POLICY_PATH
from stemscan.benchmarks import play_episode

SEEDS = range(2000, 2012)


def _trained_families() -> list[str]:
    if not DEFAULT_POLICY_PATH.is_file():
        return []
    spec = json.loads(DEFAULT_POLICY_PATH.with_suffix(".json").read_text())
    return list(spec["training"]["scenes"])


def _gains(env: gym.Env, name: str) -> np.ndarray:
    agent = make(name, env)
    gains = []
    for seed in SEEDS:
        info = play_episode(env, agent, seed, seed).info
        gains.append(info["features_found"] / info["features_total"] / info["dose_fraction"])
    return np.asarray(gains)


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_POLICY_PATH.is_file(), reason="no shipped policy")
@pytest.mark.parametrize("family", _trained_families())
def test_shipped_ppo_beats_random_and_raster_on_mean_gain(family: str) -> None:
    env = gym.make("STEMScan-v0", scene=family, action_mode="grid")
    ppo = _gains(env, "ppo")
    for baseline in ("random", "raster"):
        other = _gains(env, baseline)
        assert ppo.mean() > other.mean(), f"{family}: ppo {ppo.mean():.2f} <= {baseline} {other.mean():.2f}"
