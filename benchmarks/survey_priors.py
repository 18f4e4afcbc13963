"""The BO workflows' survey priors compared on development seeds: cell ranking and gain (issue 20, item 6).

Three measurements, development seeds only (the paper suite reports on 0-19):

* **ranking**: for each scene, the weight of the features each grid cell
  holds (each feature's weight spread over its pixels) is the best any
  prior could point at; a prior's score at ``k`` is the weight in the
  ``k`` cells it rates highest over the weight in the best ``k`` cells
  (13 and 26: the sub-scans of the 5 % and 10 % budgets).  Seeds 100-119
  by default; no agent runs, seconds.
* **gain** (``--gains``): ``linear-bo`` with each prior
  (``survey_prior="gradient"``: Sobel gradient of the cell-mean map;
  ``"edges"``: the survey's edge strength averaged per cell;
  ``"saliency"``: the shipped survey-saliency CNN) on seeds 100-109 at
  both budgets, IQM gain per family through the benchmark's runner (~1 min
  per prior on 2 cores).
* **leave one family out** (``--leave-one-out``): for each family, a
  survey-saliency network trained on the *other* families only
  (``--loo-scenes`` scenes each, ``--loo-epochs`` epochs; the shipped one
  sees every family) ranks the held-out family's cells, next to the edge
  prior: how the learned prior may fare on images unlike its training
  scenes (~2 min per family on 2 cores).

Usage::

    python benchmarks/survey_priors.py
    python benchmarks/survey_priors.py --gains --workers 2
    python benchmarks/survey_priors.py --leave-one-out --workers 2
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import gymnasium as gym
import numpy as np

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents.base import FieldConfig
from stemscan.agents.features.survey import survey_edge_prior, survey_gradient_prior
from stemscan.agents.survey_saliency import survey_saliency_edge_prior, survey_saliency_prior
from stemscan.benchmarks.aggregate import iqm
from stemscan.benchmarks.runner import run_grid
from stemscan.benchmarks.spec import expand_grid
from stemscan.benchmarks.store import load_results
from stemscan.cli_types import positive_int, seed_list

FAMILIES = ("ferroelectric-domains", "lattice-defects", "nanoparticles", "phase-separated")
PRIORS = {"gradient": survey_gradient_prior, "edges": survey_edge_prior, "saliency": survey_saliency_prior,
          "saliency+edges": survey_saliency_edge_prior}
TOP = (13, 26)


def cell_weights(env: gym.Env) -> np.ndarray:
    """``(n_cells,)`` feature weight inside each grid cell of the reset env (each feature's weight spread over its pixels)."""
    base = env.unwrapped
    labels, weights = base._labels, base.tracker.weights
    area = np.bincount(labels.ravel(), minlength=len(weights)).astype(np.float64)
    area[0] = np.inf  # label 0 is no feature
    per_pixel = (weights / area)[labels]
    g = base.geometry
    rows, cols = g.cell_rows(np.arange(base.shape[0])), g.cell_cols(np.arange(base.shape[1]))
    cells = rows[:, None] * g.n_cols + cols[None, :]
    return np.bincount(cells.ravel(), weights=per_pixel.ravel(), minlength=g.n_cells)


def ranking(seeds: list[int], priors: dict | None = None, families: tuple[str, ...] = FAMILIES) -> dict[tuple[str, str, int], float]:
    """Mean ranking score per (family, prior, k) over ``seeds`` (``priors``: name -> function, default :data:`PRIORS`)."""
    scores: dict[tuple[str, str, int], list[float]] = {}
    for family in families:
        env = gym.make("STEMScan-v0", scene=family)
        field = FieldConfig(env)
        for seed in seeds:
            obs, _ = env.reset(seed=seed)
            value = cell_weights(env)
            if value.sum() == 0:
                continue  # no feature: nothing to rank
            for name, prior in (priors or PRIORS).items():
                order = np.argsort(-prior(obs["overview"], field), kind="stable")
                for k in TOP:
                    best = np.sort(value)[::-1][:k].sum()
                    scores.setdefault((family, name, k), []).append(value[order[:k]].sum() / best)
    return {key: float(np.mean(v)) for key, v in scores.items()}


def gains(seeds: list[int], workers: int) -> dict[tuple[str, str], float]:
    """IQM gain of ``linear-bo`` per (family, prior) over ``seeds`` and the budgets 5 % and 10 %."""
    out = {}
    with tempfile.TemporaryDirectory(prefix="stemscan-priors-") as folder:
        for name in PRIORS:
            path = Path(folder) / f"{name}.sqlite"
            specs = expand_grid(["linear-bo"], FAMILIES, seeds, [0.05, 0.1], agent_kwargs={"linear-bo": {"survey_prior": name}})
            run_grid(specs, path, workers=workers, progress=False)
            rows = load_results(path, as_frame=False)
            for family in FAMILIES:
                out[(family, name)] = float(iqm(np.array([r["gain"] for r in rows if r["scene"] == family])))
                assert all(json.loads(r["agent_kwargs"]) == {"survey_prior": name} for r in rows)
    return out


def leave_one_out(seeds: list[int], n_scenes: int, epochs: int, workers: int) -> dict[tuple[str, str, int], float]:
    """Ranking of each family by a network trained on the other families, and by the edge prior."""
    from functools import partial

    from stemscan.agents.train.survey_saliency import SaliencyTrainConfig, train_survey_saliency

    out = {}
    for family in FAMILIES:
        others = [f for f in FAMILIES if f != family]
        net, _ = train_survey_saliency(SaliencyTrainConfig(scenes=others, n_scenes=n_scenes, epochs=epochs, workers=workers))
        priors = {"edges": survey_edge_prior, "saliency, family held out": partial(survey_saliency_prior, net=net),
                  "saliency+edges, family held out": partial(survey_saliency_edge_prior, net=net)}
        out.update(ranking(seeds, priors, (family,)))
    return out


def print_ranking(scores: dict[tuple[str, str, int], float], names) -> None:  # noqa: ANN001
    """One Markdown row per prior in ``names``: its ranking score per family and k, and their mean."""
    print("| prior | " + " | ".join(f"{f} k={k}" for f in FAMILIES for k in TOP) + " | mean |")
    print("|---|" + "---:|" * (len(FAMILIES) * len(TOP) + 1))
    for name in names:
        values = [scores[(f, name, k)] for f in FAMILIES for k in TOP]
        print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {np.mean(values):.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=seed_list, default=list(range(100, 120)), help="ranking seeds (default 100-119)")
    parser.add_argument("--gains", action="store_true", help="also run linear-bo with each prior")
    parser.add_argument("--gain-seeds", type=seed_list, default=list(range(100, 110)), help="gain seeds (default 100-109)")
    parser.add_argument("--leave-one-out", action="store_true", help="also train a network per held-out family")
    parser.add_argument("--loo-scenes", type=positive_int, default=400, help="scenes per training family (default 400)")
    parser.add_argument("--loo-epochs", type=positive_int, default=5, help="epochs per network (default 5)")
    parser.add_argument("--workers", type=positive_int, default=2)
    args = parser.parse_args()
    scores = ranking(args.seeds)
    print(f"ranking: share of the best attainable cell weight in the prior's top k cells, seeds {args.seeds[0]}-{args.seeds[-1]}")
    print_ranking(scores, PRIORS)
    if args.leave_one_out:
        held = leave_one_out(args.seeds, args.loo_scenes, args.loo_epochs, args.workers)
        names = ("edges", "saliency, family held out", "saliency+edges, family held out")
        print(f"\nleave one family out ({args.loo_scenes} scenes per other family, {args.loo_epochs} epochs), same seeds")
        print_ranking(held, names)
    if args.gains:
        result = gains(args.gain_seeds, args.workers)
        print(f"\nlinear-bo IQM gain, seeds {args.gain_seeds[0]}-{args.gain_seeds[-1]}, budgets 5 % and 10 %")
        print("| prior | " + " | ".join(FAMILIES) + " | mean |")
        print("|---|" + "---:|" * (len(FAMILIES) + 1))
        for name in PRIORS:
            values = [result[(f, name)] for f in FAMILIES]
            print(f"| {name} | " + " | ".join(f"{v:.2f}" for v in values) + f" | {np.mean(values):.2f} |")


if __name__ == "__main__":
    main()
