"""Decision latency of the BO core and of ``linear-bo`` on one CPU core.

Runs whole episodes at the default env settings (512×512 field, 32×32
patches -> 256 candidate cells, 10% budget, survey on) and times every
``predict`` call: median over all decisions, and separately over the steps
that refit GP hyperparameters.  BLAS and torch are limited to one thread.
The first episode is a warm-up (imports, lazy initialisation) and is not
counted.

Usage::

    python benchmarks/bo_latency.py --episodes 3
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np
import torch
from threadpoolctl import threadpool_limits

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents.bo import BOAgent
from stemscan.agents.linear_bo import LinearBOAgent
from stemscan.benchmarks import play_episode


class MeanIntensityBO(BOAgent):
    """The BO core with a trivial descriptor (mean patch intensity): measures the core's own cost."""

    def descriptor(self, observation: dict[str, np.ndarray]) -> float:
        return float(np.mean(observation["patch"]))


def time_episode(agent: BOAgent, env: gym.Env, seed: int) -> tuple[list[float], list[bool]]:
    """Latencies (s) of every decision of one episode, and whether each one refitted hyperparameters."""
    fits: list[int] = []  # the agent's fit count after the reset and after each step
    played = play_episode(env, agent, seed, on_step=lambda obs, info: fits.append(agent.n_fits))
    refits = [after > before for before, after in zip(fits, fits[1:])]
    return played.latencies_s, refits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3)
    parser.add_argument("--scene", default="phase-separated")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        for label, cls in (("bo-core (mean intensity)", MeanIntensityBO), ("linear-bo", LinearBOAgent)):
            env = gym.make("STEMScan-v0", scene=args.scene)
            agent = cls(env, seed=0)
            time_episode(agent, env, seed=1000)  # warm-up
            all_lat, all_refit = [], []
            for seed in range(args.episodes):
                lat, refit = time_episode(agent, env, seed)
                all_lat += lat
                all_refit += refit
            lat = 1000.0 * np.asarray(all_lat)
            refit = np.asarray(all_refit)
            print(
                f"{label:26s} decisions={lat.size:4d}  median={np.median(lat):7.2f} ms  "
                f"p90={np.percentile(lat, 90):7.2f} ms  max={lat.max():7.1f} ms  "
                f"median without refit={np.median(lat[~refit]):6.2f} ms  "
                f"median refit={np.median(lat[refit]) if refit.any() else float('nan'):7.1f} ms ({refit.sum()} refits)"
            )


if __name__ == "__main__":
    main()
