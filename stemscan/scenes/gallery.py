"""A one-picture gallery: a sample of every scene family with its features outlined."""

from __future__ import annotations

import os

import numpy as np

from stemscan.atomic import atomic_path
from stemscan.scenes.registry import make, names

__all__ = ["save_gallery"]

_KIND_COLOURS = {
    "vacancy": "#00e5ff", "dopant": "#ffd400", "stone-wales": "#ff7f0e", "grain-boundary": "#ff3b3b",
    "domain-wall": "#ff3b3b", "wall-junction": "#ffd400", "interface": "#ff3b3b",
    "junction": "#ffd400", "particle-edge": "#00e5ff",
}


def save_gallery(path: str, seed: int = 0, size: int = 256) -> None:
    """Save a PNG with one panel per family: the noiseless image, features outlined by kind.

    The file is written atomically (a temporary file in the same folder,
    then :func:`os.replace`).

    Args:
        path: Output image path (format from the suffix, e.g. ``.png``).
        seed: Scene seed for every family.
        size: Image side of each scene, pixels.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from skimage.segmentation import find_boundaries

    families = names()
    fig, axes = plt.subplots(1, len(families), figsize=(4.2 * len(families), 4.9), squeeze=False)
    for ax, family in zip(axes[0], families):
        scene = make(family, seed=seed, size=size)
        ax.imshow(scene.image, cmap="gray", interpolation="nearest")
        overlay = np.zeros(scene.image.shape + (4,))
        edges = find_boundaries(scene.labels, mode="inner") & (scene.labels > 0)
        kinds = np.array([""] + scene.feature_kinds())
        for kind in sorted(set(kinds[1:])):
            colour = matplotlib.colors.to_rgba(_KIND_COLOURS.get(kind, "#ff00ff"))
            overlay[edges & (kinds[scene.labels] == kind)] = colour
        ax.imshow(overlay, interpolation="nearest")
        width_nm = size * scene.pixel_size / 10
        ax.set_title(f"{family}\n{scene.pixel_size:g} Å/px ({width_nm:.1f} nm), {scene.n_features} features",
                     fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        handles = [Line2D([], [], color=_KIND_COLOURS.get(kind, "#ff00ff"), lw=3, label=kind)
                   for kind in sorted(set(kinds[1:]))]
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.01), ncol=2, fontsize=8, frameon=False)
    fig.tight_layout()
    fmt = (os.path.splitext(path)[1] or ".png").lstrip(".")
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, dpi=110, format=fmt)
    finally:
        plt.close(fig)
