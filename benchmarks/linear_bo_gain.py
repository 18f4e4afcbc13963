"""Gain of ``linear-bo`` against ``random`` and ``raster`` per scene family, over a few seeds.

gain = (features found / features total) / (dose used / dose of one full
frame), from the env's ``info`` (uniform scanning gives ~1).  Default env
settings (512×512 field, 32×32 patches, 10% budget, survey on).

Usage::

    python benchmarks/linear_bo_gain.py --seeds 0 1 2 --scenes phase-separated
    python benchmarks/linear_bo_gain.py --agents linear-bo --agent-kwargs '{"statistic": "max"}'
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch

import stemscan
from stemscan import agents as zoo


def run_episode(agent_name: str, scene: str, seed: int, agent_kwargs: dict) -> tuple[float, float]:
    """One episode; returns (gain, median decision latency in ms)."""
    env = gym.make("STEMScan-v0", scene=scene)
    agent = zoo.make(agent_name, env, **agent_kwargs)
    obs, info = env.reset(seed=seed)
    agent.reset(seed=seed)
    latencies = []
    done = False
    while not done:
        start = time.perf_counter()
        action, _ = agent.predict(obs)
        latencies.append(time.perf_counter() - start)
        obs, _, terminated, truncated, info = env.step(action)
        done = terminated or truncated
    found = info["features_found"] / max(info["features_total"], 1)
    return found / info["dose_fraction"], 1000.0 * float(np.median(latencies))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", default=["linear-bo", "random", "raster"])
    parser.add_argument("--scenes", nargs="+", default=stemscan.scenes.names())
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--agent-kwargs", default="{}", help="JSON keywords for the BO agents")
    args = parser.parse_args()
    torch.set_num_threads(1)
    kwargs = json.loads(args.agent_kwargs)
    print(f"agent kwargs for BO agents: {kwargs}")
    print("| scene | agent | gain mean | gains per seed | median latency ms |")
    print("|---|---|---|---|---|")
    for scene in args.scenes:
        for name in args.agents:
            own = kwargs if name.endswith("-bo") else {}
            results = [run_episode(name, scene, seed, own) for seed in args.seeds]
            gains = [g for g, _ in results]
            latency = float(np.median([lat for _, lat in results]))
            per_seed = ", ".join(f"{s}:{g:.2f}" for s, g in zip(args.seeds, gains))
            print(f"| {scene} | {name} | {np.mean(gains):.2f} | {per_seed} | {latency:.1f} |", flush=True)


if __name__ == "__main__":
    main()
