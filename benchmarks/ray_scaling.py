"""Episodes per second with N workers on the Ray backend (and the local one, for comparison).

Usage: python benchmarks/ray_scaling.py [--workers 1,2] [--episodes 40] [--agent oracle] [--backends ray,local]

For each backend and N: start the backend with N CPUs (Ray: `ray.init(num_cpus=N)`
outside the timing; local: a process pool), run a warm-up grid, then time
`run_grid` on fresh episodes.  Prints episodes/s and the speed-up over N = 1.
Target (Ray): N workers give at least 0.8·N× the episodes/s of one, N ≤ cores.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path


def rate(backend: str, workers: int, specs, warmup) -> float:
    from stemscan.benchmarks import run_grid

    ray = None
    if backend == "ray":
        from stemscan.benchmarks.ray_backend import import_ray
        from stemscan.benchmarks.worker import THREAD_ENV

        ray = import_ray()
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": dict(THREAD_ENV)})
    try:
        with tempfile.TemporaryDirectory() as folder:
            if backend == "ray":
                run_grid(warmup, Path(folder) / "warm.sqlite", backend=backend, workers=workers, progress=False)
            start = time.perf_counter()
            summary = run_grid(specs, Path(folder) / "r.sqlite", backend=backend, workers=workers, progress=False)
            elapsed = time.perf_counter() - start
        assert summary.done == len(specs), summary
    finally:
        if ray is not None:
            ray.shutdown()
    return len(specs) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--agent", default="oracle")
    parser.add_argument("--scene", default="lattice-defects")
    parser.add_argument("--backends", default="ray,local")
    args = parser.parse_args()

    from stemscan.benchmarks import expand_grid
    from stemscan.benchmarks.runner import default_workers

    counts = [int(n) for n in args.workers.split(",")]
    specs = expand_grid([args.agent], [args.scene], f"100-{99 + args.episodes}")
    warmup = expand_grid([args.agent], [args.scene], f"1000-{999 + 2 * max(counts)}")
    print(f"{args.agent} on {args.scene}, {args.episodes} episodes, {default_workers()} cores visible")
    for backend in args.backends.split(","):
        base = None
        for n in counts:
            r = rate(backend, n, specs, warmup)
            base = base or r
            print(f"{backend:5s} N={n}: {r:6.2f} episodes/s, speed-up {r / base:.2f}x (0.8*N = {0.8 * n:.1f})")


if __name__ == "__main__":
    main()
