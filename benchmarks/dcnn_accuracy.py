"""Per-class precision/recall of the DCNN on ``lattice-defects`` graphene and MoS2, raw and calibrated.

Each scene is segmented as a whole image, noise-free ("clean") and as the
env measures it (Poisson noise) at the family's calibrated dose
(:mod:`stemscan.envs.dose_defaults`: graphene 2e4, MoS2 4e3 e⁻/px) and at
1/8 of it.  Two detectors are scored:

* ``raw``: every connected region of a defect class with probability > 0.5
  and >= 4 pixels (what the arg-max analyst reported before calibration);
* ``cal``: :func:`stemscan.agents.dcnn_calibration.detect_defects` with the
  shipped calibration (per-class threshold / min area, lattice checks, and
  no detections of a class the image's SNR cannot show).

A vacancy or dopant detection is right when it matches (one-to-one) a true
one within 1.5 × the atom radius (0.3 × median nearest-neighbour distance);
an extended-defect detection is right when it lies within 1.5 × that radius
of a labelled grain-boundary or Stone-Wales pixel, and such a feature is
recalled when a detection lies that close to it.  Points within 3 pixels of
the edge are not scored.  Counts are pooled over seeds (recall counts the
truths of every seed); ``- (not visible)`` marks a class the calibrated
detector declared not visible on every seed, ``kh`` one it hid on k seeds.  ``pristine`` rows use MoS2
scenes with no defects at all (every detection is false).

Usage (tune on development seeds 100+, report on 0-9)::

    python benchmarks/dcnn_accuracy.py --seeds 100 101 102 103 104 105
    python benchmarks/dcnn_accuracy.py --seeds 0 1 2 3 4 5 6 7 8 9
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from scipy import ndimage

from stemscan.agents.dcnn import AtomFinder
from stemscan.agents.dcnn_calibration import CALIBRATION_PATH, Calibration, detect_defects
from stemscan.agents.features.lattice import match_points, region_peaks
from stemscan.agents.train.dcnn_data import atom_radius, measure
from stemscan.envs.dose_defaults import default_acquisition
from stemscan.scenes import make as make_scene

CLASSES = ("vacancy", "dopant", "extended-defect")
EXTENDED_KINDS = ("grain-boundary", "stone-wales")


def inner(points: np.ndarray, shape: tuple[int, int], border: float = 3.0) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    keep = ((points[:, 0] >= border) & (points[:, 0] <= shape[0] - 1 - border)
            & (points[:, 1] >= border) & (points[:, 1] <= shape[1] - 1 - border))
    return points[keep]


def score(scene, found: dict[str, np.ndarray]) -> dict[str, tuple[int, int, int, int]]:
    """Per class ``(right detections, detections, recalled truths, truths)``."""
    radius = 1.5 * atom_radius(scene)
    out = {}
    for name in CLASSES:
        points = inner(found.get(name, np.zeros((0, 2))), scene.shape)
        if name == "extended-defect":
            ids = [i + 1 for i, f in enumerate(scene.features) if f.kind in EXTENDED_KINDS]
            mask = np.isin(scene.labels, ids)
            if mask.any():
                distance = ndimage.distance_transform_edt(~mask)
                idx = np.clip(np.rint(points).astype(int), 0, np.array(scene.shape) - 1)
                right = int(np.sum(distance[idx[:, 0], idx[:, 1]] <= radius))
            else:
                right = 0
            recalled = 0
            for i in ids:
                near = ndimage.distance_transform_edt(scene.labels != i)
                idx = np.clip(np.rint(points).astype(int), 0, np.array(scene.shape) - 1)
                recalled += int(np.any(near[idx[:, 0], idx[:, 1]] <= radius))
            out[name] = (right, len(points), recalled, len(ids))
        else:
            truth = inner(np.array([f.centroid for f in scene.features if f.kind == name]), scene.shape)
            matches, _, _ = match_points(points, truth, radius)
            out[name] = (matches, len(points), matches, len(truth))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[100, 101, 102, 103])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--low-factor", type=float, default=8.0, help="the low dose is the calibrated one / this")
    parser.add_argument("--weights", default=None, help="weights file (default: the shipped weights)")
    parser.add_argument("--calibration", default=str(CALIBRATION_PATH), help="calibration JSON")
    args = parser.parse_args()
    torch.set_num_threads(1)
    finder = AtomFinder.load(args.weights, device="cpu") if args.weights else AtomFinder.pretrained(device="cpu")
    calibration = Calibration.load(args.calibration)
    header = f"{'material':9s} {'image':8s} {'snr':>5s} {'det':4s} " + " ".join(f"{c + ' P/R (n)':>26s}" for c in CLASSES)
    print(header)
    cases = [("graphene", {}), ("mos2", {}), ("pristine", {"vacancy_fraction": 0.0, "dopant_fraction": 0.0,
                                                        "grain_boundary": False})]
    for label, extra in cases:
        material = "mos2" if label == "pristine" else label
        dose = default_acquisition("lattice-defects", {"material": material, "pixel_size": 0.2})[0]
        for condition, electrons in (("clean", None), ("dose", dose), ("low", dose / args.low_factor)):
            totals = {d: {c: np.zeros(4, int) for c in CLASSES} for d in ("raw", "cal")}
            snrs, hidden = [], {c: 0 for c in CLASSES}
            for seed in args.seeds:
                scene = make_scene("lattice-defects", seed=seed, size=args.size, material=material, **extra)
                image = scene.image if electrons is None else measure(scene, electrons, np.random.default_rng(seed))
                probs = finder.probabilities(image)
                raw = {c: region_peaks(probs[finder.class_index(c)], 0.5, 4)[0] for c in CLASSES}
                report = detect_defects(probs, image, finder.class_names, calibration)
                snrs.append(report.snr)
                for c, v in report.visible.items():
                    hidden[c] += not v
                for det, found in (("raw", raw), ("cal", report.centres)):
                    for c, counts in score(scene, found).items():
                        totals[det][c] += counts
            name = f"{condition}" + ("" if electrons is None else f"@{electrons:.0f}")
            for det in ("raw", "cal"):
                cells = []
                for c in CLASSES:
                    right, n_found, recalled, n_true = totals[det][c]
                    if det == "cal" and hidden[c] == len(args.seeds):
                        cells.append(f"{'- (not visible)':>26s}")
                        continue
                    p = right / n_found if n_found else float("nan")
                    r = recalled / n_true if n_true else float("nan")
                    mark = f"{hidden[c]}h" if det == "cal" and hidden[c] else ""
                    cells.append(f"{mark}{p:5.2f}/{r:4.2f} ({n_found:4d}/{n_true:3d})".rjust(26))
                print(f"{label:9s} {name:8s} {np.mean(snrs):5.1f} {det:4s} " + " ".join(cells), flush=True)


if __name__ == "__main__":
    main()
