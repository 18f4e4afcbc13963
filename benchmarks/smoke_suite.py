"""Time the built-in `smoke` suite end to end (`stemscan bench --suite smoke`, fresh results file).

Usage: python benchmarks/smoke_suite.py [--workers K] [--repeats R]

Prints the wall time of each run of the CLI (process start, worker start-up,
12 episodes, SQLite writes) and the median.  Target: under 60 s on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="bench --workers (default: all cores)")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    times = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder) / "smoke.sqlite"
            cmd = [sys.executable, "-m", "stemscan.cli", "bench", "--suite", "smoke", "--out", str(out), "--no-progress"]
            if args.workers:
                cmd += ["--workers", str(args.workers)]
            start = time.perf_counter()
            result = subprocess.run(cmd, capture_output=True, text=True)
            elapsed = time.perf_counter() - start
            if result.returncode != 0:
                sys.exit(f"bench failed:\n{result.stdout}\n{result.stderr}")
            times.append(elapsed)
            print(f"run {repeat + 1}: {elapsed:.2f} s  ({result.stdout.strip()})")
    print(f"smoke suite wall time: median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s (target < 60 s)")


if __name__ == "__main__":
    main()
