"""Same seed, same trajectory as recorded (tests/envs/golden.py): observations, rewards and info, bit for bit."""

from __future__ import annotations

import json

import gymnasium as gym
import pytest

from stemscan.envs import ENV_ID

from .golden import GOLDEN_PATH, cases, trajectory

GOLDEN = json.loads(GOLDEN_PATH.read_text(encoding="utf-8"))


@pytest.mark.parametrize(("name", "kwargs", "seed"), cases(), ids=[case[0] for case in cases()])
def test_trajectory_matches_golden(name, kwargs, seed):
    got = trajectory(gym.make(ENV_ID, **kwargs).unwrapped, seed)
    want = GOLDEN[name]
    for index, (a, b) in enumerate(zip(got["steps"], want["steps"])):
        assert a == b, f"{name}: step record {index} differs: {a} != {b}"
    assert got["n_steps"] == want["n_steps"]
