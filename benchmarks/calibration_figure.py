"""Figure: synthetic imaging model versus multislice for the same structures (docs/calibration.png).

For each reference cell stored in the calibration table: the multislice
image (abTEM PRISM), the synthetic model's image of the same columns at the
generator's pixel size (sampled on the same probe positions), both tiled
3 x 2 cells on one colour scale, and a line profile along ``y`` through the
column at ``x = 0`` (graphene: C, C, hole; MoS2: Mo, S2, hole; PbTiO3: Pb,
O), in scattered fraction.

    python benchmarks/calibration_figure.py -o docs/calibration.png
"""

from __future__ import annotations

import argparse

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from stemscan.scenes import parameters
from stemscan.scenes.calibration import multislice_reference, synthetic_reference
from stemscan.scenes.imaging import calibration_table
from stemscan.scenes.reference_cells import REFERENCE_CELLS

PIXEL = {"graphene": parameters("lattice-defects")["pixel_size"], "mos2": parameters("lattice-defects")["pixel_size"],
         "pbtio3": parameters("ferroelectric-domains")["pixel_size"]}
TITLES = {"graphene": "graphene, 60 kV", "mos2": "2H-MoS$_2$, 80 kV", "pbtio3": "PbTiO$_3$ [001] 79 Å, 200 kV"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", default="docs/calibration.png")
    args = parser.parse_args()
    names = [name for name in PIXEL if name in calibration_table()["references"]]
    fig, axes = plt.subplots(len(names), 3, figsize=(11, 3.3 * len(names)), squeeze=False,
                             gridspec_kw={"width_ratios": [1, 1, 1.4]})
    for row, name in enumerate(names):
        spec = REFERENCE_CELLS[name]
        truth = multislice_reference(name)
        synthetic = synthetic_reference(name, pixel_size=PIXEL[name])
        extent = (0, 2 * spec.cell[0], 3 * spec.cell[1], 0)
        vmax = max(truth.max(), synthetic.max())
        for col, (image, label) in enumerate(((truth, "multislice (abTEM PRISM)"),
                                              (synthetic, f"stemscan model ({PIXEL[name]} Å/px)"))):
            ax = axes[row, col]
            ax.imshow(np.tile(image, (3, 2)), cmap="inferno", vmin=0, vmax=vmax, extent=extent)
            ax.set_title(f"{TITLES[name]}: {label}", fontsize=8)
            ax.set_xlabel("x (Å)", fontsize=8)
            ax.set_ylabel("y (Å)", fontsize=8)
            ax.tick_params(labelsize=7)
        y = np.arange(truth.shape[0] * 2) * spec.cell[1] / truth.shape[0]
        ax = axes[row, 2]
        ax.plot(y, np.tile(truth[:, 0], 2), "k-", label=f"multislice, mean {truth.mean():.2e}")
        ax.plot(y, np.tile(synthetic[:, 0], 2), "C1--", label=f"stemscan, mean {synthetic.mean():.2e}")
        ax.set_yscale("log")
        ax.set_xlabel("y along x = 0 (Å)", fontsize=8)
        ax.set_ylabel("scattered fraction", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    fig.suptitle("HAADF 80-200 mrad, aberration-free probe: calibrated synthetic model vs multislice", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
