"""Golden trajectories of ``STEMScan-v0``: digests of observations, rewards and info per step.

The reproducibility contract of the env: for the same seed, the same
observations, rewards and info, whatever the implementation does to go
faster.  ``tests/envs/data/golden_trajectories.json`` holds the digests
recorded from the env before the throughput work (issue 19), re-recorded
once since, on 2026-12-07, when the shot-noise sampler moved to one 64-bit
draw per pixel and the survey to the same sampler (the same Poisson
distribution, other draws for a seed; the published suites were re-run);
``test_golden.py`` replays every case and compares.  Re-record (only for
a deliberate change of draws or dynamics, said in the env's version
history) with::

    python -m tests.envs.golden
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

GOLDEN_PATH = Path(__file__).with_name("data") / "golden_trajectories.json"

FAMILIES = ("ferroelectric-domains", "lattice-defects", "nanoparticles", "phase-separated")
MODES = ("continuous", "grid")
SEEDS = (0, 1, 2)

#: Other configurations: a smaller field without survey, a very high and a very low dose.
EXTRA_CASES: tuple[dict[str, Any], ...] = (
    {"scene": "lattice-defects", "image_size": 256, "patch_size": 16, "survey": False, "dose_budget": 0.3},
    {"scene": "nanoparticles", "image_size": 128, "patch_size": 8, "electrons_per_pixel": 1e6, "dose_budget": 0.5},
    {"scene": "phase-separated", "image_size": 128, "patch_size": 16, "electrons_per_pixel": 3.0, "overview_size": 16},
)


def cases() -> list[tuple[str, dict[str, Any], int]]:
    """``(name, env kwargs, seed)`` of every golden trajectory."""
    out = []
    for family in FAMILIES:
        for mode in MODES:
            for seed in SEEDS:
                out.append((f"{family}/{mode}/{seed}", {"scene": family, "action_mode": mode}, seed))
    for index, kwargs in enumerate(EXTRA_CASES):
        for mode in MODES:
            out.append((f"extra{index}/{mode}/5", {**kwargs, "action_mode": mode}, 5))
    return out


def _obs_digest(obs: dict[str, np.ndarray]) -> str:
    h = hashlib.sha256()
    for key in sorted(obs):
        value = np.ascontiguousarray(obs[key])
        h.update(key.encode())
        h.update(str(value.dtype).encode())
        h.update(str(value.shape).encode())
        h.update(value.tobytes())
    return h.hexdigest()[:16]


def _info_digest(info: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(info, sort_keys=True, default=repr).encode()).hexdigest()[:16]


def trajectory(env: Any, seed: int, n_episodes: int = 2) -> dict[str, Any]:
    """Digests of ``n_episodes`` episodes: the first reset seeded, the next ones not.

    Actions come from the action space seeded with ``seed`` (so they do not
    touch the env's generator).
    """
    env.action_space.seed(seed)
    steps: list[list[Any]] = []
    obs, info = env.reset(seed=seed)
    steps.append(["reset", _obs_digest(obs), 0.0, _info_digest(info)])
    for episode in range(n_episodes):
        if episode:
            obs, info = env.reset()
            steps.append(["reset", _obs_digest(obs), 0.0, _info_digest(info)])
        done = False
        while not done:
            obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
            done = terminated or truncated
            steps.append([f"{int(terminated)}{int(truncated)}", _obs_digest(obs), float(reward), _info_digest(info)])
    return {"n_steps": len(steps), "steps": steps}


def record() -> dict[str, Any]:
    import gymnasium as gym

    import stemscan  # noqa: F401  (registers the id)

    return {name: trajectory(gym.make("STEMScan-v0", **kwargs).unwrapped, seed) for name, kwargs, seed in cases()}


if __name__ == "__main__":
    GOLDEN_PATH.parent.mkdir(exist_ok=True)
    GOLDEN_PATH.write_text(json.dumps(record(), indent=0, sort_keys=True) + "\n", encoding="utf-8")
    print(f"wrote {GOLDEN_PATH}")
