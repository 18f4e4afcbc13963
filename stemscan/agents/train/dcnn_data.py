"""Training data of the DCNN segmenter: random atomically resolved scenes, measured, and their class maps.

:func:`random_scene` draws a scene of the atomically resolved families at
random pixel size, probe size and defect densities; :func:`measure` adds
the env's shot noise; :func:`class_map` paints the per-pixel target
(:data:`~stemscan.agents.dcnn.CLASS_NAMES`) from the scene's ground truth.
"""

from __future__ import annotations

import math

import numpy as np

from stemscan.agents.dcnn import CLASS_NAMES
from stemscan.envs.microscope import Microscope
from stemscan.scenes import Scene
from stemscan.scenes import make as make_scene

__all__ = ["atom_radius", "class_map", "measure", "random_scene"]

_ATOM, _DOPANT, _VACANCY, _EXTENDED = (CLASS_NAMES.index(n) for n in ("atom", "dopant", "vacancy", "extended-defect"))

_EXTENDED_KINDS = ("grain-boundary", "stone-wales")


def atom_radius(scene: Scene) -> float:
    """Radius (pixels) of the disk marking one atom column: 0.3 × median nearest-neighbour distance, >= 1.5."""
    from scipy.spatial import cKDTree

    atoms = np.asarray(scene.atoms, dtype=np.float64)
    if len(atoms) < 2:
        return 1.5
    distances = cKDTree(atoms).query(atoms, k=2)[0][:, 1]
    return max(1.5, 0.3 * float(np.median(distances)))


def _paint(target: np.ndarray, centres: np.ndarray, radius: float, value: int) -> None:
    """Set pixels within ``radius`` of each centre to ``value`` (in place)."""
    centres = np.asarray(centres, dtype=np.float64).reshape(-1, 2)
    if len(centres) == 0:
        return
    height, width = target.shape
    reach = int(math.ceil(radius))
    offsets = np.arange(-reach, reach + 1)
    base = np.rint(centres).astype(np.int64)
    rows = base[:, 0, None, None] + offsets[None, :, None]  # (N, k, 1)
    cols = base[:, 1, None, None] + offsets[None, None, :]  # (N, 1, k)
    inside = (rows - centres[:, 0, None, None]) ** 2 + (cols - centres[:, 1, None, None]) ** 2 <= radius**2
    inside &= (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    rows, cols = np.broadcast_arrays(rows, cols)
    target[rows[inside], cols[inside]] = value


def class_map(scene: Scene) -> np.ndarray:
    """Per-pixel training target of a scene, ``int64`` (H, W) indices into ``CLASS_NAMES``.

    Painted in order of priority (later wins): extended-defect regions (the
    labelled pixels of grain-boundary and Stone-Wales features), atom-column
    disks, dopant disks (``lattice-defects`` atoms of class 1), vacancy disks
    (1.5 × the atom radius, at each vacancy feature's centroid).

    Raises:
        ValueError: The scene lists no atoms (it is not atomically resolved).
    """
    if scene.atoms is None or len(scene.atoms) == 0:
        raise ValueError(f"scene of family {scene.family!r} lists no atoms; cannot build a segmentation target")
    target = np.zeros(scene.shape, dtype=np.int64)
    kinds = np.array(["none", *scene.feature_kinds()])
    extended = np.isin(kinds, _EXTENDED_KINDS)
    target[extended[scene.labels]] = _EXTENDED
    radius = atom_radius(scene)
    atoms = np.asarray(scene.atoms)
    classes = np.zeros(len(atoms), dtype=np.int64) if scene.atom_classes is None else np.asarray(scene.atom_classes)
    dopants = classes == 1 if scene.family == "lattice-defects" else np.zeros(len(atoms), dtype=bool)
    _paint(target, atoms[~dopants], radius, _ATOM)
    _paint(target, atoms[dopants], radius, _DOPANT)
    vacancies = [f.centroid for f in scene.features if f.kind == "vacancy"]
    _paint(target, np.array(vacancies).reshape(-1, 2), 1.5 * radius, _VACANCY)
    return target


def random_scene(rng: np.random.Generator, size: int) -> Scene:
    """One atomically resolved scene with random family, material, sampling, probe and defect densities."""
    for _ in range(20):
        seed = int(rng.integers(2**31 - 1))
        probe = float(rng.uniform(0.7, 1.3))
        choice = rng.random()
        try:
            if choice < 0.75:
                material = "graphene" if choice < 0.5 else "mos2"
                return make_scene(
                    "lattice-defects", seed=seed, size=size, material=material,
                    pixel_size=float(np.exp(rng.uniform(np.log(0.08), np.log(0.32)))), probe_fwhm=probe,
                    vacancy_fraction=float(rng.uniform(0.0, 0.04)), dopant_fraction=float(rng.uniform(0.0, 0.04)),
                    stone_wales_fraction=float(rng.uniform(0.0, 0.004)) if material == "graphene" else 0.0,
                    grain_boundary=bool(rng.random() < 0.6), clustering=float(rng.uniform(0, 1)),
                )
            return make_scene(
                "ferroelectric-domains", seed=seed, size=size,
                pixel_size=float(np.exp(rng.uniform(np.log(0.06), np.log(0.25)))), probe_fwhm=probe,
            )
        except ValueError:  # sampling too coarse for this probe: draw again
            continue
    raise RuntimeError("could not draw a resolvable training scene in 20 attempts")


def measure(scene: Scene, electrons_per_pixel: float, rng: np.random.Generator) -> np.ndarray:
    """Noisy normalised image of ``scene`` at ``electrons_per_pixel``, as the env measures it."""
    microscope = Microscope(electrons_per_pixel=electrons_per_pixel)
    counts = microscope.counts(scene.image, electrons_per_pixel, rng)
    return microscope.normalise(counts, electrons_per_pixel, max(float(scene.image.max()), 1e-6))
