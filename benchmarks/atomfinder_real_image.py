"""AtomFinder on a real atomic-resolution ADF image, scored against a classical peak finder.

The real image is the experimental ADF test image shipped inside the
``atomap`` wheel on PyPI (``atomap/tests/datasets/test_ADF_cropped.hdf5``,
400×380 px, 0.093 Å/px; GPL-3.0, so it is *not* copied into this project).
Get it without installing atomap::

    pip download --no-deps atomap==0.4.2 -d /tmp/atomap
    python benchmarks/atomfinder_real_image.py --wheel /tmp/atomap/atomap-0.4.2-py3-none-any.whl

or pass ``--image`` (an ``.hdf5`` written by HyperSpy, ``.npy``, or any image
Pillow reads).  An installed ``atomap`` is found automatically.  Without an
image the script says so and exits 0.

Reference: ``skimage.feature.peak_local_max`` on the image smoothed with a
Gaussian (``--sigma``), at least ``--min-distance`` px apart and above
``--threshold-rel`` of the maximum.  Found columns match reference ones
one-to-one within 1/3 of the reference's median nearest-neighbour distance;
points within ``--border`` px of the edge are not scored.
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from scipy import ndimage
from scipy.spatial import cKDTree
from skimage.feature import peak_local_max

from stemscan.agents.dcnn import AtomFinder
from stemscan.agents.features.lattice import match_points

_MEMBER = "atomap/tests/datasets/test_ADF_cropped.hdf5"
_DATASET = "Experiments/__unnamed__/data"


def read_hdf5(source) -> np.ndarray:
    import h5py

    with h5py.File(source, "r") as handle:
        return np.asarray(handle[_DATASET], dtype=np.float32)


def load_image(args: argparse.Namespace) -> tuple[np.ndarray, str] | None:
    """The real image and where it came from, or ``None`` when none is available."""
    if args.image is not None:
        path = Path(args.image)
        if path.suffix in (".hdf5", ".h5", ".hspy"):
            return read_hdf5(path), str(path)
        if path.suffix == ".npy":
            return np.load(path, allow_pickle=False).astype(np.float32), str(path)
        from PIL import Image

        return np.asarray(Image.open(path).convert("F"), dtype=np.float32), str(path)
    if args.wheel is not None:
        with zipfile.ZipFile(args.wheel) as wheel:
            return read_hdf5(io.BytesIO(wheel.read(_MEMBER))), f"{args.wheel}:{_MEMBER}"
    spec = importlib.util.find_spec("atomap")
    if spec is not None and spec.submodule_search_locations:
        path = Path(list(spec.submodule_search_locations)[0]) / "tests" / "datasets" / "test_ADF_cropped.hdf5"
        if path.is_file():
            return read_hdf5(path), str(path)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="real image file (.hdf5 from HyperSpy, .npy, .png/.tif)")
    parser.add_argument("--wheel", help="an atomap wheel holding the test ADF image")
    parser.add_argument("--sigma", type=float, default=2.0, help="reference Gaussian smoothing, px")
    parser.add_argument("--min-distance", type=int, default=5, help="reference minimum peak separation, px")
    parser.add_argument("--threshold-rel", type=float, default=0.2, help="reference threshold, fraction of max")
    parser.add_argument("--border", type=float, default=6.0, help="unscored margin, px")
    parser.add_argument("--threshold", type=float, default=0.5, help="AtomFinder probability threshold")
    args = parser.parse_args()
    torch.set_num_threads(1)
    loaded = load_image(args)
    if loaded is None:
        print("no real image available: pass --image or --wheel (see the docstring); skipping")
        return 0
    image, source = loaded
    print(f"image {source}: {image.shape[0]}x{image.shape[1]} px, range {image.min():.0f}-{image.max():.0f}")

    smooth = ndimage.gaussian_filter(image.astype(np.float64), args.sigma)
    reference = peak_local_max(smooth, min_distance=args.min_distance, threshold_rel=args.threshold_rel,
                               exclude_border=False).astype(np.float64)
    finder = AtomFinder.pretrained(device="cpu")
    start = time.perf_counter()
    found = finder.find(image, threshold=args.threshold)
    seconds = time.perf_counter() - start

    height, width = image.shape

    def inner(points: np.ndarray) -> np.ndarray:
        keep = np.all((points >= args.border) & (points <= np.array([height, width]) - 1 - args.border), axis=1)
        return points[keep]

    reference, found = inner(reference), inner(found)
    spacing = float(np.median(cKDTree(reference).query(reference, k=2)[0][:, 1]))
    radius = spacing / 3.0
    matches, precision, recall = match_points(found, reference, radius)
    print(f"classical reference: {len(reference)} columns (sigma {args.sigma}, min_distance {args.min_distance}, "
          f"threshold_rel {args.threshold_rel}); median spacing {spacing:.1f} px; match radius {radius:.1f} px")
    print(f"AtomFinder: {len(found)} columns in {seconds * 1000:.0f} ms; matched {matches}")
    print(f"precision {precision:.3f}  recall {recall:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
