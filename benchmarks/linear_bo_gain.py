"""Gain of ``linear-bo`` against ``random`` and ``raster`` per scene family, over a few seeds.

gain = (features found / features total) / (dose used / dose of one full
frame), from the env's ``info`` (uniform scanning gives ~1).  Default env
settings (512×512 field, 32×32 patches, 10% budget, survey on); each episode
is the one ``stemscan bench`` runs for that agent, scene and seed.

Usage::

    python benchmarks/linear_bo_gain.py --seeds 0 1 2 --scenes phase-separated
    python benchmarks/linear_bo_gain.py --agents linear-bo --agent-kwargs '{"statistic": "max"}'
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import torch

import stemscan
from stemscan.benchmarks import run_episode


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
            rows = [run_episode(name, scene, seed, agent_kwargs=own) for seed in args.seeds]
            gains = [row["gain"] for row in rows]
            latency = float(np.median([row["latency_ms_median"] for row in rows]))
            per_seed = ", ".join(f"{s}:{g:.2f}" for s, g in zip(args.seeds, gains))
            print(f"| {scene} | {name} | {np.mean(gains):.2f} | {per_seed} | {latency:.1f} |", flush=True)


if __name__ == "__main__":
    main()
