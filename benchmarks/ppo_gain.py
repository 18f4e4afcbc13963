"""Gain of the shipped ``ppo`` agent versus ``random`` and ``raster``, per scene family, same seeds.

Run: ``python benchmarks/ppo_gain.py [--seeds N] [--first-seed S] [--policy FILE.safetensors]``.  For each
family and seed, every agent runs one episode of the default ``STEMScan-v0``
(grid actions) with :func:`stemscan.evaluate`, the benchmark's protocol and
seeds (env reset with the seed, agent seeded with ``agent_seed(seed)``), so
all agents see the same scene and survey.  gain = (features found / features
total) / dose fraction, from ``info``.  Prints mean, interquartile mean and standard error per agent and
family, and how often ppo's gain beats each baseline on the same seed.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import stemscan
from stemscan.scenes import names as scene_names

AGENTS = ("ppo", "random", "raster")


def iqm(values: np.ndarray) -> float:
    """Interquartile mean: the mean of the middle 50% of the sorted values."""
    v = np.sort(values)
    k = len(v) // 4
    return float(v[k : len(v) - k].mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--first-seed", type=int, default=1000, help="seeds first-seed .. first-seed+seeds-1")
    parser.add_argument("--scenes", default="all")
    parser.add_argument("--policy", default=None, help="a policy .safetensors (default: the shipped one)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    families = scene_names() if args.scenes == "all" else args.scenes.split(",")
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    start = time.perf_counter()
    print(f"gain = found fraction / dose fraction; {args.seeds} seeds ({seeds.start}..{seeds.stop - 1}), grid actions")
    print(f"{'family':24s} {'agent':8s} {'mean':>6s} {'IQM':>6s} {'sem':>6s}   ppo > agent on")
    for family in families:
        gains = {
            name: np.array([
                row["gain"] for row in stemscan.evaluate(
                    name, family, list(seeds), env_kwargs={"action_mode": "grid"},
                    agent_kwargs={"policy_path": args.policy} if name == "ppo" and args.policy else None,
                )
            ])
            for name in AGENTS
        }
        for name in AGENTS:
            g = gains[name]
            wins = "" if name == "ppo" else f"{int((gains['ppo'] > g).sum())}/{len(g)} seeds"
            print(f"{family:24s} {name:8s} {g.mean():6.2f} {iqm(g):6.2f} {g.std(ddof=1) / np.sqrt(len(g)):6.2f}   {wins}")
    print(f"wall time {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
