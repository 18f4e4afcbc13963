"""Decision latency of ``dcnn-bo`` and inference latency of the DCNN on one CPU core.

Times (1) ``AtomFinder.probabilities`` on a 32×32 patch (the per-decision
segmentation), (2) ``AtomFinder.find`` on a 512×512 image, and (3) every
``predict`` call of ``dcnn-bo`` over whole episodes at the default env
settings (512×512 field, 32×32 patches, 10% budget, survey on), first
episode excluded as warm-up.  torch and BLAS are limited to one thread.

Usage::

    python benchmarks/dcnn_latency.py --episodes 3
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch
from threadpoolctl import threadpool_limits

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents import make as make_agent
from stemscan.agents.dcnn import AtomFinder
from stemscan.benchmarks import play_episode


def median_ms(function, repeats: int) -> float:
    """Median wall time of ``function()`` in ms over ``repeats`` calls (after 3 warm-up calls)."""
    for _ in range(3):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=3, help="timed episodes (plus one warm-up)")
    parser.add_argument("--scene", default="lattice-defects")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        finder = AtomFinder.pretrained(device="cpu")
        rng = np.random.default_rng(0)
        patch = rng.random((32, 32)).astype(np.float32)
        image = rng.random((512, 512)).astype(np.float32)
        print(f"AtomFinder.probabilities 32x32: {median_ms(lambda: finder.probabilities(patch), 200):.2f} ms (median)")
        print(f"AtomFinder.find 512x512:        {median_ms(lambda: finder.find(image), 10):.1f} ms (median)")

        env = gym.make("STEMScan-v0", scene=args.scene)
        agent = make_agent("dcnn-bo", env, device="cpu")
        latencies: list[float] = []
        for episode in range(args.episodes + 1):
            played = play_episode(env, agent, episode)
            if episode > 0:  # episode 0 warms up
                latencies += played.latencies_s
        ms = 1000.0 * np.asarray(latencies)
        print(f"dcnn-bo predict ({args.scene}, {args.episodes} episodes, {len(ms)} decisions): "
              f"median {np.median(ms):.1f} ms, p90 {np.percentile(ms, 90):.1f} ms, max {ms.max():.1f} ms")


if __name__ == "__main__":
    main()
