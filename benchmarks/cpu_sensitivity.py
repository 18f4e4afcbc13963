"""How many paper-suite episodes change when the CPU's vector kernels change?

Usage: python benchmarks/cpu_sensitivity.py [--agents linear-bo,dcnn-bo,rvae-bo]
       [--scenes all] [--seeds 0-3] [--budgets 0.05,0.1]

Runs the same slice of the paper suite twice, each in a fresh process with
one worker: once with this machine's native kernels, and once with the
kernels an AVX2-only CPU would run (``MKL_ENABLE_INSTRUCTIONS=AVX2``,
``ATEN_CPU_CAPABILITY=avx2``, ``OPENBLAS_CORETYPE=Haswell``; on a CPU
without AVX-512 both runs take the same kernels and nothing can differ).
It prints, per agent, how many episodes differ in any non-timing column
and in ``features_found``.  Kernels of different vector widths sum in a
different order, so they round differently in the last bits; this script
measures how far such differences travel into the published numbers.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

AVX2_ENV = {"MKL_ENABLE_INSTRUCTIONS": "AVX2", "ATEN_CPU_CAPABILITY": "avx2", "OPENBLAS_CORETYPE": "Haswell"}


def _child(out: str, agents: str, scenes: str, seeds: str, budgets: str) -> None:
    from stemscan.benchmarks import load_suite, run_grid
    from stemscan.benchmarks.spec import parse_seeds

    suite = load_suite("paper")
    agent_set = set(agents.split(","))
    scene_set = set(suite.scenes if scenes == "all" else scenes.split(","))
    seed_set = set(parse_seeds(seeds))
    budget_set = {float(b) for b in budgets.split(",")}
    specs = [
        s
        for s in suite.episodes()
        if s.agent in agent_set and s.scene in scene_set and s.seed in seed_set and s.env_kwargs.get("dose_budget") in budget_set
    ]
    summary = run_grid(specs, out, workers=1, progress=False)
    if summary.failed:
        sys.exit(f"episodes failed: {summary.failed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", default="linear-bo,dcnn-bo,rvae-bo")
    parser.add_argument("--scenes", default="all")
    parser.add_argument("--seeds", default="0-3")
    parser.add_argument("--budgets", default="0.05,0.1")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child, args.agents, args.scenes, args.seeds, args.budgets)
        return

    from stemscan.benchmarks import TIMING_COLUMNS, load_results

    with tempfile.TemporaryDirectory() as folder:
        outs = {"native": Path(folder) / "native.sqlite", "avx2": Path(folder) / "avx2.sqlite"}
        procs = []
        for name, out in outs.items():
            env = dict(os.environ, **(AVX2_ENV if name == "avx2" else {}))
            cmd = [sys.executable, __file__, "--child", str(out), "--agents", args.agents, "--scenes", args.scenes,
                   "--seeds", args.seeds, "--budgets", args.budgets]
            procs.append(subprocess.Popen(cmd, env=env))
        if any(p.wait() != 0 for p in procs):
            sys.exit("a run failed")
        ignore = TIMING_COLUMNS | {"id", "run_id"}
        key = ("agent", "agent_kwargs", "scene", "env_kwargs", "seed")
        rows = {name: {tuple(r[k] for k in key): r for r in load_results(out, as_frame=False)} for name, out in outs.items()}
    episodes, differ, found = Counter(), Counter(), Counter()
    for k, a in rows["native"].items():
        b = rows["avx2"][k]
        episodes[k[0]] += 1
        columns = [c for c in a if c not in ignore and a[c] != b[c]]
        differ[k[0]] += bool(columns)
        found[k[0]] += a["features_found"] != b["features_found"]
        if columns:
            print(f"differs: {k[0]}/{k[2]}/s{k[4]}/{k[3]}: {', '.join(columns)}")
    print(f"{'agent':<12} {'episodes':>8} {'rows differ':>12} {'features_found differs':>23}")
    for agent in sorted(episodes):
        print(f"{agent:<12} {episodes[agent]:>8} {differ[agent]:>12} {found[agent]:>23}")
    print(f"{'all':<12} {sum(episodes.values()):>8} {sum(differ.values()):>12} {sum(found.values()):>23}")


if __name__ == "__main__":
    main()
