"""Where the vector env's time goes: the compiled step, resets and Python, per sub-env step.

    OMP_NUM_THREADS=1 python benchmarks/vector_step_breakdown.py [--num-envs 64] [--rounds 400] [--repeat 3]

``gym.make_vec("STEMScan-v0", num_envs=N)`` on a pool of 16 lattice-defects
scenes, random continuous actions, resets included (NEXT_STEP autoreset),
one process.  Prints, per sub-env step (aggregate time / (rounds × N)):

* the compiled step (:func:`stemscan.envs.batch_step.step_envs`), the
  resets (``_reset_one``: the sub-env's reset, its survey, the address
  row) and the rest (Python: actions, counters, discoveries, copies);
* the compiled step's floor with everything in cache: every row of the
  address table pointing at sub-env 0 and every corner the same, so that
  the same 1,024 pixels are drawn and recorded over and over; and the
  draws alone in the same conditions (:func:`~stemscan.envs.batch_step.sample_patches`).

The difference between the compiled step and its in-cache floor is the
memory traffic of sub-scans at random places of N episodes' maps.  Each
figure is the best of ``--repeat`` runs (the machine may be shared).
"""

from __future__ import annotations

import argparse
import os
import time

import gymnasium as gym
import numpy as np

import stemscan.envs.vector_env as vector_env
from stemscan.envs.batch_step import sample_patches
from stemscan.envs.bit_generator import rng_address


def split(n_envs: int, rounds: int, seed: int) -> tuple[float, float, float]:
    """µs per sub-env step: (compiled step, resets, the rest), over ``rounds`` batched steps."""
    env = gym.make_vec("STEMScan-v0", num_envs=n_envs, vectorization_mode="vector_entry_point",
                       scene="lattice-defects", num_scenes=16)  # fmt: skip
    actions = np.random.default_rng(seed).random((rounds, n_envs, 2), dtype=np.float32)
    env.reset(seed=seed)
    env.step(actions[0])  # untimed: loads the kernels
    spent = {"step": 0.0, "reset": 0.0}
    step_envs, reset_one = vector_env.step_envs, vector_env.STEMScanVectorEnv._reset_one

    def timed_step(*args):  # noqa: ANN002, ANN202
        start = time.perf_counter()
        inside = step_envs(*args)
        spent["step"] += time.perf_counter() - start
        return inside

    def timed_reset(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        start = time.perf_counter()
        reset_one(self, *args, **kwargs)
        spent["reset"] += time.perf_counter() - start

    vector_env.step_envs, vector_env.STEMScanVectorEnv._reset_one = timed_step, timed_reset
    try:
        start = time.perf_counter()
        for action in actions:
            env.step(action)
        total = time.perf_counter() - start
    finally:
        vector_env.step_envs, vector_env.STEMScanVectorEnv._reset_one = step_envs, reset_one
    env.close()
    per = 1e6 / (rounds * n_envs)
    return spent["step"] * per, spent["reset"] * per, (total - spent["step"] - spent["reset"]) * per


def in_cache_floor(n_envs: int, rounds: int) -> tuple[float, float]:
    """µs per sub-env step of the compiled step and of its draws alone, the same pixels every time."""
    vec = vector_env.STEMScanVectorEnv(num_envs=n_envs, scene="lattice-defects", num_scenes=16)
    vec.reset(seed=0)
    first = vec.envs[0]
    vec._addresses[:] = vec._addresses[0]
    for array in (vec._n_labels, vec._table_length, vec._episodes, vec._inverse_full_scale):
        array[:] = array[0]
    corners = np.tile(np.array([[200, 240]], dtype=np.int64), (n_envs, 1))
    active = np.ones(n_envs, dtype=np.bool_)
    noise, grid = first._noise, first.grid

    def step() -> None:
        vector_env.step_envs(
            active, corners, vec._addresses, vec._n_labels, vec._table_length, vec._episodes, vec._inverse_full_scale,
            first._tables.background, noise.means, noise.threshold, noise.alias, noise.log_factorial, grid.row_cell,
            grid.col_cell, grid.scale_255, first.shape[0], first.shape[1], vec._counts, vec._patch, vec._n_new, vec._due,
        )  # fmt: skip

    step()
    start = time.perf_counter()
    for _ in range(rounds):
        step()
    whole = (time.perf_counter() - start) / (rounds * n_envs) * 1e6
    rng = np.random.default_rng(1)
    counts = np.empty_like(vec._counts)
    where = np.tile(corners[:1], (rounds * n_envs, 1))
    tables = (noise.mean, noise.row, noise.aux, noise.means, noise.threshold, noise.alias, noise.log_factorial)
    sample_patches(*rng_address(rng), *tables, where[:1], counts)
    start = time.perf_counter()
    sample_patches(*rng_address(rng), *tables, where, counts)
    draws = (time.perf_counter() - start) / len(where) * 1e6
    return whole, draws


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=400, help="batched steps per timing")
    parser.add_argument("--repeat", type=int, default=3, help="best of this many runs")
    args = parser.parse_args()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"STEMScanVectorEnv, N = {args.num_envs}, lattice-defects, pool of 16, random actions, resets included; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, load average {load:.1f}; best of {args.repeat}")  # fmt: skip
    runs = [split(args.num_envs, args.rounds, seed) for seed in range(args.repeat)]
    best = min(runs, key=sum)
    print("| µs per sub-env step | compiled step | resets | Python, the rest | total | env steps/s |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| over the pool | {best[0]:.1f} | {best[1]:.1f} | {best[2]:.1f} | {sum(best):.1f} | {1e6 / sum(best):,.0f} |")
    floors = [in_cache_floor(args.num_envs, args.rounds) for _ in range(args.repeat)]
    whole, draws = min(f[0] for f in floors), min(f[1] for f in floors)
    print(f"\ncompiled step with everything in cache (one scene, one corner): {whole:.1f} µs a sub-env step, "
          f"of which the 1,024 exact draws {draws:.1f} µs and the bookkeeping ≈ {whole - draws:.1f} µs; "
          f"memory traffic over the pool ≈ {best[0] - whole:.1f} µs")


if __name__ == "__main__":
    main()
