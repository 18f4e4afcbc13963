"""Decision latency of ``dkl-bo`` on one CPU thread at the env defaults: median, p90 and max, wall and CPU time.

Runs whole episodes (512×512 field, 32×32 patches -> 256 candidate cells,
10% budget, survey on) of every scene family and times every ``predict``
call twice: wall time, and the process's CPU time (``time.process_time``:
on one thread, the decision's own work, robust to other processes sharing
the CPU).  The first episode of each family is a warm-up (imports, lazy
initialisation) and is not counted.

Usage::

    python benchmarks/dkl_latency.py --episodes 3
    python benchmarks/dkl_latency.py --agent-kwargs '{"train_steps": 4}'
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch
from threadpoolctl import threadpool_limits

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan import agents as zoo
from stemscan.benchmarks import play_episode

FAMILIES = ("lattice-defects", "ferroelectric-domains", "phase-separated", "nanoparticles")


class CPUTimed:
    """Wraps an agent: records the CPU time (s) of every ``predict`` call."""

    def __init__(self, agent) -> None:
        self.agent = agent
        self.cpu_s: list[float] = []

    def reset(self, seed=None) -> None:
        self.agent.reset(seed=seed)

    def predict(self, *args, **kwargs):
        start = time.process_time()
        out = self.agent.predict(*args, **kwargs)
        self.cpu_s.append(time.process_time() - start)
        return out


def summary(values_s: list[float]) -> str:
    ms = 1000.0 * np.asarray(values_s)
    return f"{np.median(ms):.1f} / {np.percentile(ms, 90):.1f} / {ms.max():.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3, help="timed episodes per family (plus one warm-up)")
    parser.add_argument("--agent-name", default="dkl-bo")
    parser.add_argument("--agent-kwargs", default="{}", help="JSON keywords of the agent")
    args = parser.parse_args()
    kwargs = json.loads(args.agent_kwargs)
    torch.set_num_threads(1)
    print(f"{args.agent_name} {kwargs}, {args.episodes} episodes per family, one thread")
    print("| family | decisions | wall median / p90 / max (ms) | CPU median / p90 / max (ms) |")
    print("|---|---|---|---|")
    all_wall: list[float] = []
    all_cpu: list[float] = []
    with threadpool_limits(limits=1):
        for family in FAMILIES:
            env = gym.make("STEMScan-v0", scene=family)
            agent = CPUTimed(zoo.make(args.agent_name, env, seed=0, **kwargs))
            wall: list[float] = []
            for episode in range(args.episodes + 1):
                agent.cpu_s = []
                played = play_episode(env, agent, 1000 + episode)
                if episode > 0:  # episode 0 warms up
                    wall += played.latencies_s
                    all_cpu.extend(agent.cpu_s)
            cpu = all_cpu[len(all_cpu) - len(wall):]
            all_wall += wall
            print(f"| {family} | {len(wall)} | {summary(wall)} | {summary(cpu)} |", flush=True)
    print(f"| all | {len(all_wall)} | {summary(all_wall)} | {summary(all_cpu)} |")


if __name__ == "__main__":
    main()
