"""Env steps per second and resets per second, one process, no rendering.

    python benchmarks/env_throughput.py [--steps 20000] [--resets 20] [--scene NAME]

Default configuration of ``STEMScan-v0`` (512 × 512 field, 32 × 32 patches,
10 % budget, survey on), random actions drawn up front.  Step time excludes
resets (timed apart); the reset rate is scene generation + survey.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np

import stemscan
from stemscan.scenes import names


def steps_per_second(env: gym.Env, n_steps: int, seed: int) -> float:
    rng = np.random.default_rng(seed)
    actions = rng.random((n_steps, 2), dtype=np.float32)
    env.reset(seed=seed)
    env.step(actions[0])  # untimed: loads (or, on a fresh checkout, compiles) the numba kernels
    env.reset(seed=seed)
    elapsed = 0.0
    for action in actions:
        start = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        elapsed += time.perf_counter() - start
        if terminated or truncated:
            env.reset()
    return n_steps / elapsed


def resets_per_second(env: gym.Env, n_resets: int, seed: int) -> float:
    start = time.perf_counter()
    for index in range(n_resets):
        env.reset(seed=seed + index)
    return n_resets / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--resets", type=int, default=20)
    parser.add_argument("--scene", default=None, help="one family (default: every family)")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    print(f"stemscan {stemscan.__version__}, STEMScan-v0 defaults, one process")
    print("| scene | steps/s | resets/s |")
    print("|---|---:|---:|")
    for scene in [args.scene] if args.scene else names():
        env = gym.make("STEMScan-v0", scene=scene).unwrapped  # unwrapped: no checker wrappers on the hot path
        sps = steps_per_second(env, args.steps, seed=0)
        rps = resets_per_second(env, args.resets, seed=0)
        print(f"| {scene} | {sps:,.0f} | {rps:.1f} |")


if __name__ == "__main__":
    main()
