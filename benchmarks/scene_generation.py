"""Time scene generation (the environment's reset cost) for every family.

Run with one thread, e.g.::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/scene_generation.py

Prints a Markdown table of the best and median wall time over a few
repeats at 512 and 1024 pixels.  Targets: 1024² under 1 s (goal 0.2 s).
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import stemscan.scenes as scenes  # noqa: E402


@dataclass
class Args:
    """Benchmark settings."""

    sizes: tuple[int, ...] = (512, 1024)
    """Image sides to time, pixels."""
    repeats: int = 5
    """Timed runs per (family, size); each uses a different seed."""


def time_family(family: str, size: int, repeats: int) -> tuple[float, float, int]:
    """Best and median seconds, and the median feature count, over ``repeats`` seeds."""
    scenes.make(family, seed=0, size=size)  # warm-up: imports, caches
    times, counts = [], []
    for seed in range(1, repeats + 1):
        start = time.perf_counter()
        scene = scenes.make(family, seed=seed, size=size)
        times.append(time.perf_counter() - start)
        counts.append(scene.n_features)
    return min(times), statistics.median(times), int(statistics.median(counts))


def main(args: Args = Args()) -> None:
    print("| family | size (px) | best (s) | median (s) | features (median) |")
    print("|---|---:|---:|---:|---:|")
    for family in scenes.names():
        for size in args.sizes:
            best, median, count = time_family(family, size, args.repeats)
            print(f"| {family} | {size} | {best:.3f} | {median:.3f} | {count} |")


if __name__ == "__main__":
    main()
