"""A physics scene source: a 2-D material with point defects, imaged by multislice (abTEM).

:func:`simulate_scene` builds a monolayer (graphene or 2H-MoS2, the
orthogonal cells of :mod:`stemscan.scenes.reference_cells`) as an ASE
``Atoms`` object large enough for the field, puts point defects on random
sites (from ``seed``), simulates the HAADF image with abTEM's PRISM
algorithm and returns a :class:`~stemscan.scenes.Scene` whose labels are
exact: each defect is a disk around its site, of kind

* ``"vacancy"``: a missing C atom (graphene) or a missing S atom of an S2
  column (MoS2: a sulphur vacancy, the common point defect);
* ``"dopant"``: a substitution (Si for C in graphene, W for Mo in MoS2, or
  ``dopant_z``).

The image is the scattered fraction into the detector (no noise: the env
adds shot noise), so the scene plugs into ``STEMScan-v0`` like a generated
one (``family="lattice-defects"``, ``params["source"] = "multislice"``).
Save it with :func:`stemscan.scenes.scene_file.save_scene`;
``stemscan.scenes.load`` reads it back with labels and units.

Cost: a 256² field at 0.2 Å/px (51 Å) of graphene takes about a minute on
one core with the default PRISM interpolation 4 (see the README).  Needs
the ``[physics]`` extra.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from stemscan.scenes.base import Scene
from stemscan.scenes.painting import features_from_labels, paint_disks
from stemscan.scenes.params import check_choice, check_int, check_number
from stemscan.scenes.reference_cells import REFERENCE_CELLS, supercell_columns

__all__ = ["simulate_scene", "DOPANTS"]

#: Default substitutional dopant and the in-cell column indices it may replace, per material.
DOPANTS: dict[str, tuple[int, tuple[int, ...]]] = {"graphene": (14, (0, 1, 2, 3)), "mos2": (74, (0, 2))}
#: In-cell column indices that can lose an atom, per material.
_VACANCY_COLUMNS: dict[str, tuple[int, ...]] = {"graphene": (0, 1, 2, 3), "mos2": (1, 3)}


def simulate_scene(
    material: str = "graphene",
    size: int = 256,
    seed: int = 0,
    pixel_size: float = 0.2,
    vacancy_fraction: float = 0.004,
    dopant_fraction: float = 0.004,
    dopant_z: int | None = None,
    voltage_kv: float | None = None,
    convergence_mrad: float = 30.0,
    detector_inner_mrad: float = 80.0,
    detector_outer_mrad: float = 200.0,
    interpolation: int = 4,
    max_batch: int = 64,
    progress: bool = True,
) -> Scene:
    """Simulate a defective monolayer with abTEM and return it as a labelled scene.

    Args:
        material: ``"graphene"`` or ``"mos2"``.
        size: Field side, pixels (32-1024).
        seed: Seed of the defect placement.
        pixel_size: Scan step, Å (0.05-0.5).
        vacancy_fraction, dopant_fraction: Defects per eligible column (0-0.05).
        dopant_z: Dopant atomic number; ``None``: Si (graphene) or W (MoS2).
        voltage_kv: Accelerating voltage, kV; ``None``: 60 (graphene), 80 (MoS2).
        convergence_mrad: Probe convergence semi-angle, mrad.
        detector_inner_mrad, detector_outer_mrad: Annular detector, mrad.
        interpolation: PRISM interpolation factor (1 = exact; 4 is within a
            few per cent for fields over 2 nm and ~10x faster).
        max_batch: Plane waves / probe positions per lazy batch (memory).
        progress: Show a tqdm progress bar.

    Raises:
        ImportError: abTEM or ASE missing (the ``[physics]`` extra).
        ValueError: a parameter out of range, naming it.
    """
    from stemscan.scenes.multislice import haadf_image, require_abtem

    check_choice("material", material, tuple(REFERENCE_CELLS))
    check_int("size", size, 32, 1024)
    check_int("seed", seed, 0)
    check_number("pixel_size", pixel_size, 0.05, 0.5)
    check_number("vacancy_fraction", vacancy_fraction, 0, 0.05)
    check_number("dopant_fraction", dopant_fraction, 0, 0.05)
    check_int("interpolation", interpolation, 1, 16)
    check_int("max_batch", max_batch, 1, 4096)
    spec = REFERENCE_CELLS[material]
    default_dopant, dopant_columns = DOPANTS[material]
    dopant_z = default_dopant if dopant_z is None else check_int("dopant_z", dopant_z, 1, 92)
    voltage_kv = spec.voltage_kv if voltage_kv is None else check_number("voltage_kv", voltage_kv, 60, 300)
    require_abtem()
    import ase

    rng = np.random.default_rng(seed)
    extent = size * pixel_size
    repeats = (int(np.ceil(extent / spec.cell[0])) + 1, int(np.ceil(extent / spec.cell[1])) + 1)
    xy, numbers, index = supercell_columns(material, repeats)
    heights = [spec.columns[k][2] for k in index]
    numbers = [list(z) for z in numbers]
    rows_cols = xy[:, ::-1] / pixel_size  # scan position k * pixel_size is pixel k

    a_px = spec.cell[0] / pixel_size
    radius = max(3.0, 0.5 * a_px)
    inside = np.all((rows_cols >= radius + 1) & (rows_cols <= size - 2 - radius), axis=1)
    taken: list[np.ndarray] = []

    def pick(candidates: np.ndarray, count: int) -> list[int]:
        chosen: list[int] = []
        for k in rng.permutation(np.flatnonzero(candidates)):
            if len(chosen) == count:
                break
            if taken and np.min(np.sum((np.array(taken) - rows_cols[k]) ** 2, axis=1)) < (2 * radius + 2) ** 2:
                continue
            chosen.append(int(k))
            taken.append(rows_cols[k])
        return chosen

    dopant_ok = inside & np.isin(index, dopant_columns)
    dopants = pick(dopant_ok, int(round(dopant_fraction * dopant_ok.sum())))
    vacancy_ok = inside & np.isin(index, _VACANCY_COLUMNS[material])
    vacancies = pick(vacancy_ok, int(round(vacancy_fraction * vacancy_ok.sum())))
    for k in dopants:
        numbers[k] = [dopant_z]
    for k in vacancies:
        numbers[k] = numbers[k][1:]  # a single-atom column disappears; an S2 column keeps one S
        heights[k] = heights[k][1:]

    atom_numbers, atom_positions = [], []
    for (x, y), zs, hs in zip(xy, numbers, heights):
        for z, h in zip(zs, hs):
            atom_numbers.append(z)
            atom_positions.append((x, y, h))
    cell = (repeats[0] * spec.cell[0], repeats[1] * spec.cell[1], spec.thickness)
    atoms = ase.Atoms(numbers=atom_numbers, positions=atom_positions, cell=cell, pbc=True)

    start = time.perf_counter()
    image = haadf_image(atoms, voltage_kv, convergence_mrad, detector_inner_mrad, detector_outer_mrad,
                        (size, size), scan_end=(extent, extent), method="prism", interpolation=interpolation,
                        max_batch=max_batch, progress=progress)
    seconds = time.perf_counter() - start

    labels = np.zeros((size, size), dtype=np.int32)
    kinds: list[str] = []
    for kind, sites in (("dopant", dopants), ("vacancy", vacancies)):
        paint_disks(labels, rows_cols[sites].reshape(-1, 2), radius, first_id=len(kinds) + 1)
        kinds += [kind] * len(sites)
    labels, features = features_from_labels(labels, kinds, [1.0] * len(kinds), min_pixels=1)

    present = np.array([len(z) > 0 for z in numbers])
    in_field = np.all((rows_cols >= -0.5) & (rows_cols <= size - 0.5), axis=1) & present
    classes = np.zeros(len(xy), dtype=np.int64)
    classes[dopants] = 1
    params: dict[str, Any] = {
        "source": "multislice", "simulator": "abTEM PRISM", "material": material, "pixel_size": float(pixel_size),
        "vacancy_fraction": float(vacancy_fraction), "dopant_fraction": float(dopant_fraction),
        "dopant_z": int(dopant_z), "voltage_kv": float(voltage_kv), "convergence_mrad": float(convergence_mrad),
        "detector_inner_mrad": float(detector_inner_mrad), "detector_outer_mrad": float(detector_outer_mrad),
        "interpolation": int(interpolation), "simulation_seconds": round(seconds, 1),
    }
    return Scene(image=np.maximum(image, 0).astype(np.float32), labels=labels, features=features,
                 pixel_size=float(pixel_size), family="lattice-defects", params=params, seed=int(seed),
                 atoms=rows_cols[in_field], atom_classes=classes[in_field])
