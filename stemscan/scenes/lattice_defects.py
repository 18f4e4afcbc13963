"""``lattice-defects``: a 2-D crystal of atom columns with point defects.

A first, simple version: a hexagonal lattice of carbon-like columns with
vacancies (missing columns) and substitutional dopants (heavier, brighter
columns), each a labelled feature.
"""

from __future__ import annotations

import numpy as np

from stemscan.scenes.base import Feature, Scene
from stemscan.scenes.columns import disk_labels, render_columns, z_contrast

__all__ = ["make_lattice_defects"]


def make_lattice_defects(
    seed: int,
    size: int,
    pixel_size: float = 0.2,
    lattice_constant: float = 2.46,
    vacancy_fraction: float = 0.004,
    dopant_fraction: float = 0.004,
    host_z: int = 6,
    dopant_z: int = 14,
) -> Scene:
    """Hexagonal lattice with vacancies and dopants.

    Args:
        seed: Scene seed.
        size: Image side, pixels.
        pixel_size: Å per pixel.
        lattice_constant: Lattice constant, Å.
        vacancy_fraction: Fraction of sites left empty.
        dopant_fraction: Fraction of sites holding a dopant.
        host_z, dopant_z: Atomic numbers of host and dopant columns.
    """
    for name, value in (("vacancy_fraction", vacancy_fraction), ("dopant_fraction", dopant_fraction)):
        if not 0 <= value <= 0.5:
            raise ValueError(f"{name} must lie in [0, 0.5], got {value}")
    if pixel_size <= 0 or lattice_constant <= 0:
        raise ValueError("pixel_size and lattice_constant must be > 0 Å")
    rng = np.random.default_rng(seed)
    a = lattice_constant / pixel_size
    if a < 4:
        raise ValueError(f"lattice constant is {a:.1f} pixels; need >= 4 pixels per lattice constant")
    n_rows = int(size / (a * np.sqrt(3) / 2)) + 2
    n_cols = int(size / a) + 2
    j, i = np.mgrid[0:n_rows, 0:n_cols]
    rows = j * a * np.sqrt(3) / 2
    cols = i * a + (j % 2) * a / 2
    sites = np.stack([rows.ravel(), cols.ravel()], axis=1) + rng.uniform(0, a, size=2)
    sites = sites[(sites[:, 0] < size) & (sites[:, 1] < size)]
    kind = rng.choice(3, size=len(sites), p=[1 - vacancy_fraction - dopant_fraction, vacancy_fraction, dopant_fraction])
    margin = (sites[:, 0] > 2) & (sites[:, 0] < size - 3) & (sites[:, 1] > 2) & (sites[:, 1] < size - 3)
    kind[~margin] = 0
    present = kind != 1
    amplitude = 0.05 * z_contrast(np.where(kind == 2, dopant_z, host_z)) / z_contrast(host_z)
    sigma = 0.5 / pixel_size  # probe blur of 0.5 Å
    image = render_columns((size, size), sites[present], amplitude[present], sigma) + np.float32(0.005)
    defects = np.flatnonzero(kind > 0)
    labels = disk_labels((size, size), sites[defects], radius=max(1.5, 0.4 * a))
    features = [
        Feature(id=k, kind="vacancy" if kind[index] == 1 else "dopant", centroid=(float(sites[index, 0]), float(sites[index, 1])))
        for k, index in enumerate(defects, start=1)
    ]
    return Scene(
        image=image.astype(np.float32),
        labels=labels,
        features=features,
        pixel_size=float(pixel_size),
        family="lattice-defects",
        params={"pixel_size": pixel_size, "lattice_constant": lattice_constant, "vacancy_fraction": vacancy_fraction,
                "dopant_fraction": dopant_fraction, "host_z": host_z, "dopant_z": dopant_z},
        seed=seed,
        atoms=sites[present],
        atom_classes=np.where(kind[present] == 2, 1, 0).astype(np.int64),
    )
