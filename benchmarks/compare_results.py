"""Compare two results files episode by episode, every non-timing column (a bit-for-bit check of a code change).

Run, e.g. before and after a refactoring that must not change behaviour::

    python benchmarks/compare_results.py make before.sqlite            # on the old code
    python benchmarks/compare_results.py make after.sqlite             # on the new code
    python benchmarks/compare_results.py compare before.sqlite after.sqlite

``make`` runs a slice of the paper suite that covers every agent on every
family at both budgets (seeds 0 and 3 by default: 112 episodes, one worker).
``compare`` matches rows by their reproduction key (agent, agent kwargs,
scene, env kwargs, seed) and compares every column but the timings, the
row and run ids and the package version
(:data:`stemscan.benchmarks.verify.IGNORED_COLUMNS`); it prints each
differing episode and exits 1 if any differs or is missing.
"""

from __future__ import annotations

import argparse
import sys

from stemscan.benchmarks import load_results, load_suite, run_grid
from stemscan.benchmarks.verify import compare_rows

KEY = ("agent", "agent_kwargs", "scene", "env_kwargs", "seed")


def make(out: str, seeds: list[int], workers: int) -> int:
    """Run the paper suite's episodes with ``seeds`` into ``out``; the number of failed episodes."""
    specs = [spec for spec in load_suite("paper").episodes() if spec.seed in seeds]
    print(f"{len(specs)} episodes -> {out}", flush=True)
    summary = run_grid(specs, out, workers=workers, progress=False)
    for label, error in summary.failed:
        print(f"FAILED {label}: {error}")
    return len(summary.failed)


def compare(reference: str, candidate: str) -> int:
    """Print the episodes that differ; the number of differing or unmatched episodes."""
    ref = {tuple(r[k] for k in KEY): r for r in load_results(reference, as_frame=False)}
    new = {tuple(r[k] for k in KEY): r for r in load_results(candidate, as_frame=False)}
    bad = 0
    for key in sorted(set(ref) ^ set(new), key=str):
        print(f"ONLY IN {'reference' if key in ref else 'candidate'}: {key}")
        bad += 1
    for key in sorted(set(ref) & set(new), key=str):
        differences = compare_rows(ref[key], new[key])
        if differences:
            bad += 1
            print(f"DIFF {key[0]}/{key[2]}/s{key[4]}: " + ", ".join(column for column, _, _ in differences))
    print(f"compared {len(set(ref) & set(new))} episodes, {bad} differ or are unmatched")
    return bad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    make_parser = sub.add_parser("make", help="run the slice into a results file")
    make_parser.add_argument("out")
    make_parser.add_argument("--seeds", default="0,3", help="comma-separated episode seeds (default 0,3)")
    make_parser.add_argument("--workers", type=int, default=1)
    compare_parser = sub.add_parser("compare", help="compare two results files")
    compare_parser.add_argument("reference")
    compare_parser.add_argument("candidate")
    args = parser.parse_args()
    if args.command == "make":
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        sys.exit(1 if make(args.out, seeds, args.workers) else 0)
    sys.exit(1 if compare(args.reference, args.candidate) else 0)


if __name__ == "__main__":
    main()
