"""Cost and scores of the workflows' own reports (analyst ``self``) on the calibrated env.

Plays each (agent, scene, seed) episode once through
:func:`stemscan.benchmarks.episode.run_spec` with analysts ``self`` and
``peaks`` watching (default env: 512×512 field, 32×32 patches, calibrated
dose), times every ``report()`` of the navigator, and prints one Markdown
row per episode and analyst: milliseconds per report (median and maximum),
detections, precision, recall, F1 and DEC-AUC at the end of the episode.
Use development seeds (100 and up).

Measured 2026-11-30 (development seeds 100-101, 10 % budget, one thread,
CPU shared by five jobs; the maxima include first-call imports):
milliseconds per ``self`` report, median over an episode's reports,
linear-bo 0.3-0.9 (max 13), rvae-bo 1.0-16 (max 86).  End-of-episode F1
of ``self`` (``peaks`` on the same episodes): rvae-bo on
ferroelectric-domains 0.28 and 0.36 (0.00, 0.00: walls between patches of
different polarisation); rvae-bo on lattice-defects 0.14 and 0.04 (0.14,
0.04); linear-bo 0.00-0.10 everywhere (its detections are placed on a grid
of FFT tiles, coarser than the 1-5 Å tolerances); both report nothing on
phase-separated at this dose.

Usage::

    python benchmarks/self_report_cost.py --agents linear-bo rvae-bo --seeds 100 --budget 0.1
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", nargs="+", default=["linear-bo", "rvae-bo"])
    parser.add_argument("--scenes", nargs="+",
                        default=["lattice-defects", "ferroelectric-domains", "phase-separated", "nanoparticles"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[100])
    parser.add_argument("--budget", type=float, default=0.1, help="dose budget, fraction of a full frame")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    from stemscan.agents.linear_bo import LinearBOAgent
    from stemscan.agents.rvae_bo import RVAEBOAgent
    from stemscan.benchmarks import expand_grid
    from stemscan.benchmarks.episode import run_spec

    seconds: list[float] = []

    def timed(method):
        def wrapper(self):
            t0 = time.perf_counter()
            out = method(self)
            seconds.append(time.perf_counter() - t0)
            return out

        return wrapper

    for cls in (LinearBOAgent, RVAEBOAgent):
        cls.report = timed(cls.report)
    print("| agent | scene | seed | analyst | ms/report (median, max) | detections | P | R | F1 | DEC-AUC |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for spec in expand_grid(args.agents, args.scenes, args.seeds, budgets=[args.budget], analysts=["self", "peaks"]):
        seconds.clear()
        row = run_spec(spec)
        cost = f"{1e3 * np.median(seconds):.2f}, {1e3 * np.max(seconds):.2f}" if seconds else "-"
        for r in row["identifications"]:
            shown = cost if r["analyst"] == "self" else f"(whole episode: {1e3 * r['analyst_time_s']:.0f})"
            print(f"| {spec.agent} | {spec.scene} | {spec.seed} | {r['analyst']} | {shown} | {r['detections']} | "
                  f"{r['precision']:.2f} | {r['recall']:.2f} | {r['f1']:.2f} | {r['dec_auc']:.3f} |", flush=True)


if __name__ == "__main__":
    main()
