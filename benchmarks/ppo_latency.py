"""Decision latency of the shipped ``ppo`` agent on one CPU core (default STEMScan-v0 geometry).

Run: ``python benchmarks/ppo_latency.py [--episodes N]``.  Prints the median,
90th percentile and max of ``agent.predict`` wall time over every decision of
N episodes (a few warm-up decisions excluded), one torch thread; also the
CPU time of those calls, which a busy shared machine does not inflate.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

import stemscan  # noqa: F401
from stemscan.agents import make


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=20)
    parser.add_argument("--scene", default="lattice-defects")
    parser.add_argument("--action-mode", default="grid", choices=["grid", "continuous"])
    args = parser.parse_args()
    torch.set_num_threads(1)

    env = gym.make("STEMScan-v0", scene=args.scene, action_mode=args.action_mode)
    agent = make("ppo", env)
    obs, _ = env.reset(seed=0)
    for _ in range(5):  # warm-up
        agent.predict(obs)
    latencies_ms, cpu_ms = [], []
    for seed in range(args.episodes):
        obs, _ = env.reset(seed=seed)
        done, first = False, True
        while not done:
            start, cpu_start = time.perf_counter(), time.thread_time()
            action, _ = agent.predict(obs, episode_start=first)
            latencies_ms.append((time.perf_counter() - start) * 1e3)
            cpu_ms.append((time.thread_time() - cpu_start) * 1e3)
            first = False
            obs, _, terminated, truncated, _ = env.step(action)
            done = terminated or truncated
    lat = np.asarray(latencies_ms)
    print(f"ppo decision latency, 1 torch thread, {args.scene}, {args.action_mode} actions, {lat.size} decisions:")
    cpu = np.asarray(cpu_ms)
    print(f"  wall: median {np.median(lat):.2f} ms   p90 {np.percentile(lat, 90):.2f} ms   max {lat.max():.2f} ms")
    print(f"  CPU time of the calling thread: median {np.median(cpu):.2f} ms   p90 {np.percentile(cpu, 90):.2f} ms")


if __name__ == "__main__":
    main()
