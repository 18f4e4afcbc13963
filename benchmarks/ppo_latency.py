"""Decision latency of the shipped ``ppo`` agent on one CPU core (default STEMScan-v0 geometry).

Run: ``python benchmarks/ppo_latency.py [--episodes N]``.  Prints the median,
90th percentile and max of ``agent.predict`` wall time over every decision of
N episodes (a few warm-up decisions excluded), one torch thread; also the
CPU time of those calls, which a busy shared machine does not inflate.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import stemscan  # noqa: F401
from stemscan.agents import make
from stemscan.benchmarks import play_episode


class CpuTimed:
    """Wraps an agent's ``predict`` and records the calling thread's CPU time of each call, ms."""

    def __init__(self, agent: Any) -> None:
        self.agent = agent
        self.cpu_ms: list[float] = []

    def reset(self, seed: int | None = None) -> None:
        self.agent.reset(seed=seed)

    def predict(self, obs: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True) -> Any:
        start = time.thread_time()
        out = self.agent.predict(obs, state, episode_start, deterministic)
        self.cpu_ms.append((time.thread_time() - start) * 1e3)
        return out


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
    timed = CpuTimed(agent)
    latencies_ms: list[float] = []
    for seed in range(args.episodes):
        latencies_ms += [1e3 * s for s in play_episode(env, timed, seed).latencies_s]
    cpu_ms = timed.cpu_ms
    lat = np.asarray(latencies_ms)
    print(f"ppo decision latency, 1 torch thread, {args.scene}, {args.action_mode} actions, {lat.size} decisions:")
    cpu = np.asarray(cpu_ms)
    print(f"  wall: median {np.median(lat):.2f} ms   p90 {np.percentile(lat, 90):.2f} ms   max {lat.max():.2f} ms")
    print(f"  CPU time of the calling thread: median {np.median(cpu):.2f} ms   p90 {np.percentile(cpu, 90):.2f} ms")


if __name__ == "__main__":
    main()
