"""Peak memory and wall time of scene generation for every family at 1024², 2048² and 4096².

Each (family, size) is measured in a fresh Python process, so one case's
caches and freed-but-kept memory do not colour the next.  In that process a
small scene is made first (imports, caches), then:

1. one timed generation: wall time, and the growth of the process's peak
   resident set (``ru_maxrss`` after minus before);
2. the same scene again under ``tracemalloc``: the peak of memory allocated
   by Python and numpy (numpy reports its buffers to ``tracemalloc``).

Run with one thread, e.g.::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/scene_memory.py
    python benchmarks/scene_memory.py --sizes 1024 2048 --families ferroelectric-domains

Prints a Markdown table.  Target: memory linear in the field area, 4096² in
under ~1.5 GB for every family.
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

SIZES = (1024, 2048, 4096)
SEED = 1


def _maxrss_bytes() -> int:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # kB on Linux, bytes on macOS


def measure(family: str, size: int) -> dict[str, float]:
    """Measure one (family, size) in this process (call it in a fresh one)."""
    import tracemalloc

    import stemscan.scenes as scenes

    scenes.make(family, seed=0, size=128)  # imports, tables, caches
    before = _maxrss_bytes()
    start = time.perf_counter()
    scene = scenes.make(family, seed=SEED, size=size)
    wall = time.perf_counter() - start
    rss_delta = _maxrss_bytes() - before
    features = scene.n_features
    del scene
    tracemalloc.start()
    scenes.make(family, seed=SEED, size=size)
    _, traced_peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"wall_s": wall, "rss_delta_mb": rss_delta / 2**20, "traced_peak_mb": traced_peak / 2**20, "features": features}


def _child(family: str, size: int) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", family, str(size)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": tail}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="image sides, pixels")
    parser.add_argument("--families", nargs="+", default=None, help="families (default: all)")
    parser.add_argument("--child", nargs=2, metavar=("FAMILY", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], int(args.child[1]))))
        return
    import stemscan.scenes as scenes

    families = args.families or scenes.names()
    print(f"scene generation, seed {SEED}, one thread; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    print()
    print("| family | size (px) | wall (s) | peak traced (MB) | peak RSS growth (MB) | features |")
    print("|---|---:|---:|---:|---:|---:|")
    for family in families:
        for size in args.sizes:
            r = _child(family, size)
            if "error" in r:
                print(f"| {family} | {size} | failed: {r['error']} | | | |", flush=True)
                continue
            print(f"| {family} | {size} | {r['wall_s']:.2f} | {r['traced_peak_mb']:.0f} | {r['rss_delta_mb']:.0f} | "
                  f"{r['features']} |", flush=True)


if __name__ == "__main__":
    main()
