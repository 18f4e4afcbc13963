"""Navigator vs analyst inside each BO workflow: prior only, descriptor only, both (issue 20, item 5).

Every BO workflow has two sources of information: the *survey prior* (the
coarse low-dose overview, read once at reset: where it looks) and the
*descriptor* (its analysis of each measured sub-scan: what it makes of
what it sees).  The ablations switch one off:

* prior only: ``use_descriptor=False`` -- after the initial cells, the
  unscanned cell the survey prior rates highest; no patch is analysed;
* descriptor only: ``use_prior=False`` -- a Latin-hypercube start and the
  GP on the descriptor alone;
* both: the workflow as published (read from the paper suite's results).

The ablation episodes have the paper suite's keys except for the agent
keywords, so they are paired with the published rows seed by seed.

Usage (runs what is missing into ``--out``, then prints the table)::

    python benchmarks/bo_ablations.py --workers 2
    python benchmarks/bo_ablations.py --seeds 0-9 --budgets 0.05,0.1 --out benchmarks/results/ablations.sqlite
"""

from __future__ import annotations

import argparse
import numpy as np

from stemscan.benchmarks.aggregate import iqm
from stemscan.benchmarks.runner import run_grid
from stemscan.benchmarks.spec import expand_grid
from stemscan.benchmarks.store import load_results
from stemscan.cli_types import positive_int, seed_list

WORKFLOWS = ("linear-bo", "dcnn-bo", "rvae-bo", "dkl-bo")
SCENES = ("lattice-defects", "ferroelectric-domains", "phase-separated", "nanoparticles")
ABLATIONS = {"prior only": {"use_descriptor": False}, "descriptor only": {"use_prior": False}}


def gains(rows: list[dict], agent: str, kwargs: str, scene: str) -> np.ndarray:
    """Per-episode gains of ``agent`` with exactly the JSON keywords ``kwargs`` on ``scene``."""
    return np.array([r["gain"] for r in rows if r["agent"] == agent and r["agent_kwargs"] == kwargs
                     and r["scene"] == scene], dtype=np.float64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=seed_list, default=list(range(10)), help="seeds (default 0-9, the paper suite's)")
    parser.add_argument("--budgets", default="0.05,0.1", help="comma-separated dose budgets (default the paper suite's)")
    parser.add_argument("--out", default="benchmarks/results/ablations.sqlite", help="results file of the ablations")
    parser.add_argument("--paper", default="benchmarks/results/paper.sqlite", help="published paper suite (the 'both' rows)")
    parser.add_argument("--workers", type=positive_int, default=2)
    args = parser.parse_args()
    budgets = [float(b) for b in args.budgets.split(",")]
    specs = []
    for kwargs in ABLATIONS.values():
        specs += expand_grid(WORKFLOWS, SCENES, args.seeds, budgets, agent_kwargs={a: kwargs for a in WORKFLOWS})
    summary = run_grid(specs, args.out, workers=args.workers, progress=False)
    print(f"ablation episodes: {summary}")
    ablated = load_results(args.out, as_frame=False)
    paper = load_results(args.paper, as_frame=False)
    keyed = {name: f'{{"{next(iter(kw))}":false}}' for name, kw in ABLATIONS.items()}
    seeds = set(args.seeds)
    paper = [r for r in paper if r["seed"] in seeds and any(abs(r["dose_budget"] - b) < 1e-9 for b in budgets)]
    print(f"\nIQM gain over seeds {min(seeds)}-{max(seeds)} and budgets {budgets} (mean in brackets)\n")
    print("| scene | workflow | prior only | descriptor only | both |")
    print("|---|---|---|---|---|")
    for scene in SCENES:
        for agent in WORKFLOWS:
            cells = []
            for name in ABLATIONS:
                g = gains(ablated, agent, keyed[name], scene)
                cells.append(f"{iqm(g):.2f} ({g.mean():.2f})" if len(g) else "–")
            both = gains(paper, agent, "{}", scene)
            cells.append(f"{iqm(both):.2f} ({both.mean():.2f})" if len(both) else "–")
            print(f"| {scene} | {agent} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
