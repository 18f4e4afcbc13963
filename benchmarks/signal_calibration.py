"""Synthetic scenes against multislice: mean scattered fraction and column contrast.

For each reference structure (pristine graphene at 60 kV, 2H-MoS2 at 80 kV,
79 Å and 39.5 Å of PbTiO3 [001] at 200 kV; 80-200 mrad detector) prints

* the mean scattered fraction of the generator's default scene
  (``make("lattice-defects", seed=0, size=512)``, ``material="mos2"``,
  ``make("ferroelectric-domains", seed=0, size=512)``, and with
  ``thickness=39.5`` for the 10-cell PbTiO3 reference) and of the pristine
  multislice cell, and their ratio;
* the contrast metrics of :func:`stemscan.scenes.calibration.contrast_metrics`
  (column signal / mean, darkest position / mean) for the synthetic model
  rendered at the generator's pixel size and for the multislice image.

The multislice numbers come from the calibration table; ``--simulate``
re-runs abTEM (the ``[physics]`` extra; ~1 min for the 2-D layers, ~5 min
for PbTiO3, one core).

    python benchmarks/signal_calibration.py
    python benchmarks/signal_calibration.py --simulate --references graphene,mos2
"""

from __future__ import annotations

import argparse

import stemscan.scenes as scenes
from stemscan.scenes.calibration import contrast_metrics, multislice_reference, synthetic_reference
from stemscan.scenes.imaging import calibration_table
from stemscan.scenes.reference_cells import REFERENCE_CELLS

#: reference -> (family, family params) of the generator's default scene of that material
GENERATORS = {
    "graphene": ("lattice-defects", {}),
    "mos2": ("lattice-defects", {"material": "mos2"}),
    "pbtio3": ("ferroelectric-domains", {}),
    "pbtio3-10uc": ("ferroelectric-domains", {"thickness": 39.5}),
}


def simulate(name: str):
    from threadpoolctl import threadpool_limits

    from stemscan.scenes.multislice import haadf_image
    from stemscan.scenes.reference_cells import reference_atoms, scan_window

    spec = REFERENCE_CELLS[name]
    start, end = scan_window(name)
    with threadpool_limits(1):
        return haadf_image(reference_atoms(name), spec.voltage_kv, spec.convergence_mrad, spec.detector_inner_mrad,
                           spec.detector_outer_mrad, spec.scan_gpts, scan_start=start, scan_end=end,
                           slice_thickness=spec.slice_thickness, method="prism")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulate", action="store_true", help="re-simulate the references with abTEM")
    parser.add_argument("--references", default=",".join(REFERENCE_CELLS), help="comma-separated reference cells")
    args = parser.parse_args()
    stored = calibration_table()["references"]
    print(f"calibration: {calibration_table()['simulator']}")
    print("| structure | kV | generator mean | multislice mean | ratio |")
    print("|---|---|---|---|---|")
    rows = []
    for name in args.references.split(","):
        if name not in stored and not args.simulate:
            print(f"| {name} | (no stored reference; run benchmarks/calibrate_haadf.py) | | | |")
            continue
        spec = REFERENCE_CELLS[name]
        truth_image = simulate(name) if args.simulate else multislice_reference(name)
        family, params = GENERATORS[name]
        scene = scenes.make(family, seed=0, size=512, **params)
        generated = float(scene.image.mean())
        truth = contrast_metrics(truth_image, name)
        print(f"| {name} | {spec.voltage_kv:.0f} | {generated:.3e} | {truth['mean']:.3e} | "
              f"{generated / truth['mean']:.3f} |")
        synthetic = contrast_metrics(synthetic_reference(name, pixel_size=scene.pixel_size), name)
        rows.append((name, scene.pixel_size, truth, synthetic))
    print()
    print("| structure | metric | synthetic (at the generator's pixel size) | multislice | ratio |")
    print("|---|---|---|---|---|")
    for name, pixel, truth, synthetic in rows:
        for key in truth:
            print(f"| {name} ({pixel} Å/px) | {key} | {synthetic[key]:.4g} | {truth[key]:.4g} | "
                  f"{synthetic[key] / truth[key]:.3f} |")


if __name__ == "__main__":
    main()
