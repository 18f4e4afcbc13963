"""Atom precision/recall and defect recall of the DCNN on noisy ``lattice-defects`` scenes.

Each scene is measured once with the env's microscope model at the given
dose (Poisson noise, normalised like the env's ``patch``) and segmented as a
whole image; scored by :func:`stemscan.agents.train.dcnn.evaluate_scene`
(atoms match within 0.3 × the median nearest-neighbour distance; a vacancy
or dopant counts as recalled when a region of its class lies within 1.5 ×
that radius).  Also reports the vacancy recall of the geometric detector
(:func:`~stemscan.agents.features.lattice.honeycomb_missing_sites` on the found atoms),
which ``dcnn-bo`` counts.

Usage::

    python benchmarks/dcnn_accuracy.py --seeds 101 102 103 104 --size 256 --dose 500
    python benchmarks/dcnn_accuracy.py --weights /tmp/other.safetensors
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from stemscan.agents.dcnn import AtomFinder
from stemscan.agents.features.lattice import bond_length, honeycomb_missing_sites, match_points
from stemscan.agents.train.dcnn import evaluate_scene
from stemscan.agents.train.dcnn_data import atom_radius, measure
from stemscan.scenes import make as make_scene


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[101, 102, 103, 104])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--dose", type=float, default=500.0, help="e⁻/pixel")
    parser.add_argument("--weights", default=None, help="weights file (default: the shipped weights)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    finder = AtomFinder.load(args.weights, device="cpu") if args.weights else AtomFinder.pretrained(device="cpu")
    totals: dict[str, list[float]] = {}
    for seed in args.seeds:
        scene = make_scene("lattice-defects", seed=seed, size=args.size)
        result = evaluate_scene(finder, scene, args.dose, np.random.default_rng(seed))
        image = measure(scene, args.dose, np.random.default_rng(seed))
        atoms = finder.find(image)
        sites, _ = honeycomb_missing_sites(atoms, image.shape, bond_length(atoms) or 1.0)
        truth = np.array([f.centroid for f in scene.features if f.kind == "vacancy"]).reshape(-1, 2)
        _, geo_precision, geo_recall = match_points(sites, truth, 1.5 * atom_radius(scene))
        result["vacancy_geometry_recall"], result["vacancy_geometry_precision"] = geo_recall, geo_precision
        print(f"seed {seed}: " + ", ".join(f"{k} {v:.3f}" for k, v in result.items()))
        for key, value in result.items():
            totals.setdefault(key, []).append(value)
    print("mean: " + ", ".join(f"{k} {np.mean(v):.3f}" for k, v in totals.items()))


if __name__ == "__main__":
    main()
