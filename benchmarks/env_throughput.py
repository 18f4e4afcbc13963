"""Env throughput as an RL user feels it: steps/s with and without resets, resets/s, vector env.

    OMP_NUM_THREADS=1 python benchmarks/env_throughput.py [--steps 20000] [--num-scenes 16] [--repeat 3] [--scene NAME]

Default configuration of ``STEMScan-v0`` (512 × 512 field, 32 × 32
patches, 10 % budget, survey on: 23 steps an episode), random continuous
actions drawn up front, one process, no rendering; each figure is the best
of ``--repeat`` runs (the machine may be shared).  Per family:

* ``steps/s`` without resets (step time only) and including resets, with
  a scene pool of ``--num-scenes`` scenes (``num_scenes=``) and with a new
  scene every episode (the default, ``--fresh-steps`` steps);
* reset time with a pooled scene and with a new scene.

Then the batched vector env (``gym.make_vec``, scene pool, resets
included) at N = 1, 8, 64 sub-envs and Gymnasium's ``SyncVectorEnv`` at
N = 8, aggregate env steps/s.  Last, the bound the exact shot-noise
sampler sets: its draws alone (random numbers read from a generator, one
Poisson count per pixel, :func:`stemscan.envs.batch_step.sample_patches`)
for sub-scans at random positions of the pool's scenes, in draws/s and
sub-scans/s: no env can step faster.  PPO training throughput:
``benchmarks/ppo_train_throughput.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import gymnasium as gym
import numpy as np

import stemscan
from stemscan.scenes import names


def _best(repeat: int, run) -> float:  # noqa: ANN001
    return max(run() for _ in range(repeat))


def step_rates(env: gym.Env, n_steps: int, seed: int) -> tuple[float, float]:
    """(steps/s counting step time only, steps/s counting resets too) over ``n_steps`` random steps."""
    actions = np.random.default_rng(seed).random((n_steps, 2), dtype=np.float32)
    env.reset(seed=seed)
    env.step(actions[0])  # untimed: loads (or, on a fresh checkout, compiles) the numba kernels
    env.reset(seed=seed)
    step_time = 0.0
    start = time.perf_counter()
    for action in actions:
        t0 = time.perf_counter()
        _, _, terminated, truncated, _ = env.step(action)
        step_time += time.perf_counter() - t0
        if terminated or truncated:
            env.reset()
    return n_steps / step_time, n_steps / (time.perf_counter() - start)


def reset_ms(env: gym.Env, n_resets: int, seed: int) -> float:
    env.reset(seed=seed)
    start = time.perf_counter()
    for _ in range(n_resets):
        env.reset()
    return (time.perf_counter() - start) / n_resets * 1e3


def vector_rate(n_envs: int, n_steps: int, mode: str, **kwargs) -> float:  # noqa: ANN003
    """Aggregate env steps/s of ``gym.make_vec`` (resets included, NEXT_STEP autoreset)."""
    env = gym.make_vec("STEMScan-v0", num_envs=n_envs, vectorization_mode=mode, **kwargs)
    rounds = max(n_steps // n_envs, 20)
    actions = np.random.default_rng(0).random((rounds, n_envs, 2), dtype=np.float32)
    env.reset(seed=0)
    env.step(actions[0])
    start = time.perf_counter()
    for action in actions:
        env.step(action)
    rate = rounds * n_envs / (time.perf_counter() - start)
    env.close()
    return rate


def sampler_rate(scene: str, num_scenes: int, n_patches: int, seed: int) -> float:
    """Sub-scans/s of the sampler alone, at random positions of a scene pool's noise maps."""
    from stemscan.envs.batch_step import sample_patches
    from stemscan.envs.bit_generator import rng_address

    env = gym.make("STEMScan-v0", scene=scene, num_scenes=num_scenes).unwrapped
    rng = np.random.default_rng(seed)
    maps = []
    for k in range(num_scenes):
        env.reset(seed=k)
        maps.append(env._noise)
    p = env.patch_size
    counts = np.empty((p, p), dtype=np.int64)
    per_map = max(n_patches // len(maps), 1)
    corners = [rng.integers(0, env.shape[0] - p + 1, size=(per_map, 2)) for _ in maps]
    address = rng_address(rng)
    for noise in maps[:1]:  # untimed: loads the kernel
        sample_patches(*address, noise.mean, noise.row, noise.aux, noise.means, noise.threshold, noise.alias, noise.log_factorial, corners[0][:1], counts)
    start = time.perf_counter()
    for noise, where in zip(maps, corners):  # the maps in turn, as episodes switch scenes
        sample_patches(*address, noise.mean, noise.row, noise.aux, noise.means, noise.threshold, noise.alias, noise.log_factorial, where, counts)
    return per_map * len(maps) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20000, help="steps per timing with a scene pool")
    parser.add_argument("--fresh-steps", type=int, default=1000, help="steps per timing with a new scene every episode")
    parser.add_argument("--num-scenes", type=int, default=16, help="scene pool size")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    parser.add_argument("--scene", default=None, help="one family (default: every family)")
    parser.add_argument("--vector-scene", default="lattice-defects", help="family of the vector env timings")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"stemscan {stemscan.__version__}, STEMScan-v0 defaults, one process; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load average {load:.1f}")  # fmt: skip
    print(f"\nbest of {args.repeat}; pool = num_scenes={args.num_scenes}")
    print("| scene | steps/s, no resets | steps/s with resets, pool | reset, pool (ms) | steps/s with resets, new scenes | reset, new scene (ms) |")
    print("|---|---:|---:|---:|---:|---:|")
    for scene in [args.scene] if args.scene else names():
        pooled = gym.make("STEMScan-v0", scene=scene, num_scenes=args.num_scenes).unwrapped  # no checker wrappers
        fresh = gym.make("STEMScan-v0", scene=scene).unwrapped
        rates = [step_rates(pooled, args.steps, seed) for seed in range(args.repeat)]
        no_resets, with_resets = max(r[0] for r in rates), max(r[1] for r in rates)
        pool_reset = min(reset_ms(pooled, 500, seed) for seed in range(args.repeat))
        fresh_rate = _best(args.repeat, lambda: step_rates(fresh, args.fresh_steps, 0)[1])
        fresh_reset = min(reset_ms(fresh, 10, seed) for seed in range(args.repeat))
        print(f"| {scene} | {no_resets:,.0f} | {with_resets:,.0f} | {pool_reset:.3f} | {fresh_rate:,.0f} | {fresh_reset:.1f} |")
    print(f"\nvector env, {args.vector_scene}, pool, resets included: aggregate env steps/s, best of {args.repeat}")
    print("| vectorisation | N | env steps/s |")
    print("|---|---:|---:|")
    kwargs = {"scene": args.vector_scene, "num_scenes": args.num_scenes}
    for mode, n_envs in (("vector_entry_point", 1), ("vector_entry_point", 8), ("vector_entry_point", 64), ("sync", 8)):
        rate = _best(args.repeat, lambda: vector_rate(n_envs, args.steps, mode, **kwargs))
        label = "STEMScanVectorEnv" if mode == "vector_entry_point" else "gymnasium SyncVectorEnv"
        print(f"| {label} | {n_envs} | {rate:,.0f} |")
    patches = _best(args.repeat, lambda: sampler_rate(args.vector_scene, args.num_scenes, args.steps, 0))
    pixels = 32 * 32  # STEMScan-v0's default patch_size
    print(f"\nexact sampler alone, {args.vector_scene} (the bound on any step rate): {patches * pixels / 1e6:.1f} M draws/s "
          f"(one count per pixel, with its random numbers), {patches:,.0f} sub-scans/s")
    print(f"load average now {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
