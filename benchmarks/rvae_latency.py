"""Decision latency of ``rvae-bo`` on one CPU thread at the env defaults, with a per-component breakdown.

Runs whole episodes (512×512 field, 32×32 patches, 10% budget, survey on,
~23 decisions each) with ``torch.set_num_threads(1)`` and prints the median
and 90th percentile of ``predict`` wall time for several ``online_steps``
(gradient steps of online training per decision), then the median cost of
each part of one decision: atom finding + window cutting, encoding one
patch's windows, one online gradient step, and re-describing every patch.

Usage::

    python benchmarks/rvae_latency.py --episodes 3 --scene ferroelectric-domains
    python benchmarks/rvae_latency.py --agent-kwargs \
        '{"centring": "lattice", "lattice_px": 26.333, "descriptor": "contrast"}'
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import numpy as np
import torch

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan import agents as zoo
from stemscan.agents.rvae import encode
from stemscan.benchmarks import play_episode


def episode_latencies(
    scene: str, seed: int, online_steps: int, agent_kwargs: dict | None = None
) -> tuple[list[float], dict[str, list[float]]]:
    """``predict`` wall times (s) of one episode and the agent's per-part timings (s)."""
    env = gym.make("STEMScan-v0", scene=scene)
    agent = zoo.make("rvae-bo", env, seed=seed, online_steps=online_steps, **(agent_kwargs or {}))
    parts: dict[str, list[float]] = {"windows": [], "encode": [], "train_step": [], "describe_all": []}
    steps = 0

    def time_parts(obs: dict, info: dict) -> None:
        """The parts, timed apart on the patch just acquired (not part of the decision before it)."""
        nonlocal steps
        steps += 1
        if steps == 1:
            return  # the reset observation has no patch yet
        t0 = time.perf_counter()
        windows = agent.windows(obs["patch"])
        t1 = time.perf_counter()
        encode(agent.model, windows)
        t2 = time.perf_counter()
        parts["windows"].append(t1 - t0)
        parts["encode"].append(t2 - t1)
        if len(agent.trainer.buffer):
            state = {k: v.clone() for k, v in agent.model.state_dict().items()}
            optimiser = {k: v for k, v in agent.trainer.optimizer.state_dict().items()}
            generator_state = agent.trainer.generator.get_state()
            t3 = time.perf_counter()
            agent.trainer.step(1)
            parts["train_step"].append(time.perf_counter() - t3)
            agent.model.load_state_dict(state)  # undo: the benchmark must not change the episode
            agent.trainer.optimizer.load_state_dict(optimiser)
            agent.trainer.generator.set_state(generator_state)
            agent.trainer.steps -= 1
        if agent._windows:
            t4 = time.perf_counter()
            agent._describe_all()
            parts["describe_all"].append(time.perf_counter() - t4)

    played = play_episode(env, agent, seed, on_step=time_parts)
    return played.latencies_s, parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scene", default="ferroelectric-domains")
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--online-steps", nargs="+", type=int, default=[0, 1, 2, 4])
    parser.add_argument("--agent-kwargs", default="{}", help="JSON keywords for rvae-bo (besides online_steps)")
    args = parser.parse_args()
    kwargs = json.loads(args.agent_kwargs)
    torch.set_num_threads(1)
    print(f"rvae-bo kwargs: {kwargs}")
    print(f"scene {args.scene}, {args.episodes} episode(s) per setting, torch threads = {torch.get_num_threads()}")
    print("| online_steps | decisions | median ms | p90 ms | max ms |")
    print("|---|---|---|---|---|")
    all_parts: dict[str, list[float]] = {}
    for steps in args.online_steps:
        latencies: list[float] = []
        for seed in range(args.episodes):
            lat, parts = episode_latencies(args.scene, seed, steps, kwargs)
            latencies += lat[1:]  # the first decision only reads the survey
            for key, values in parts.items():
                all_parts.setdefault(key, []).extend(values)
        ms = 1000.0 * np.array(latencies)
        print(f"| {steps} | {len(ms)} | {np.median(ms):.1f} | {np.percentile(ms, 90):.1f} | {ms.max():.1f} |", flush=True)
    print("\n| part of one decision | median ms |")
    print("|---|---|")
    for key, values in all_parts.items():
        print(f"| {key} | {1000.0 * float(np.median(values)):.2f} |")


if __name__ == "__main__":
    main()
