"""The pristine structures the imaging model is checked against by multislice.

One orthogonal unit cell each of monolayer graphene (60 kV) and 2H-MoS2
(80 kV), at the default detector (80-200 mrad) and a 30 mrad probe, and
of cubic PbTiO3 seen along [001], 79 Å and 39.5 Å thick (200 kV, 25 mrad):
the defaults of ``lattice-defects`` and ``ferroelectric-domains``.  The
multislice side (:func:`reference_atoms`, needs ASE) repeats the cell
``repeats`` times so the probe never wraps onto itself, and scans the central
cell on ``scan_gpts`` positions chosen so that every column lies on a scan
position.  The synthetic side (:func:`reference_columns`) lists the same
columns without ASE.  Reference images live in the calibration table
(``data/haadf_calibration.json``, key ``references``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["ReferenceCell", "REFERENCE_CELLS", "reference_atoms", "reference_columns", "scan_window",
           "supercell_columns", "column_kinds"]


@dataclass(frozen=True)
class ReferenceCell:
    """An orthogonal cell with its imaging conditions.

    Attributes:
        cell: ``(x, y)`` cell lengths, Å.
        columns: ``((fx, fy), (Z, ...), (z, ...))``: fractional in-plane position,
            atomic numbers and heights (Å) of the atoms in each column.
        voltage_kv, convergence_mrad, detector_inner_mrad, detector_outer_mrad:
            Imaging conditions of the reference simulation.
        scan_gpts: Probe positions ``(nx, ny)`` over one cell.
        repeats: Cells along ``(x, y)`` in the simulated potential.
        thickness: Box height along the beam, Å.
        kinds: Name of each column's kind (its calibration factor's key).
        slice_thickness: Multislice slice thickness, Å.
    """

    cell: tuple[float, float]
    columns: tuple[tuple[tuple[float, float], tuple[int, ...], tuple[float, ...]], ...]
    voltage_kv: float
    convergence_mrad: float
    detector_inner_mrad: float
    detector_outer_mrad: float
    scan_gpts: tuple[int, int]
    repeats: tuple[int, int]
    thickness: float
    kinds: tuple[str, ...]
    slice_thickness: float = 1.0


_GRAPHENE_A = 2.46
_MOS2_A = 3.16
_S_HEIGHT = 1.56  # S above/below the Mo plane, Å
_PTO_A = 3.95


def _stack(z: int, offset: float, cells: int) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """One atom of ``z`` per perovskite cell along the beam, starting ``offset`` cells in."""
    return (z,) * cells, tuple(1.0 + (k + offset) * _PTO_A for k in range(cells))


def _perovskite_columns(cells: int) -> tuple:
    pb, pb_h = _stack(82, 0.0, cells)
    ti, ti_h = _stack(22, 0.5, cells)
    o_apical, o_apical_h = _stack(8, 0.0, cells)
    o_side, o_side_h = _stack(8, 0.5, cells)
    return (((0.0, 0.0), pb, pb_h), ((0.5, 0.5), ti + o_apical, ti_h + o_apical_h),
            ((0.5, 0.0), o_side, o_side_h), ((0.0, 0.5), o_side, o_side_h))


REFERENCE_CELLS: dict[str, ReferenceCell] = {
    "graphene": ReferenceCell(
        cell=(_GRAPHENE_A, np.sqrt(3) * _GRAPHENE_A),
        columns=(((0.0, 0.0), (6,), (2.0,)), ((0.0, 1 / 3), (6,), (2.0,)),
                 ((0.5, 0.5), (6,), (2.0,)), ((0.5, 5 / 6), (6,), (2.0,))),
        voltage_kv=60.0, convergence_mrad=30.0, detector_inner_mrad=80.0, detector_outer_mrad=200.0,
        scan_gpts=(24, 42), repeats=(6, 4), thickness=4.0, kinds=("C", "C", "C", "C"),
    ),
    "mos2": ReferenceCell(
        cell=(_MOS2_A, np.sqrt(3) * _MOS2_A),
        columns=(((0.0, 0.0), (42,), (3.5,)), ((0.0, 1 / 3), (16, 16), (3.5 - _S_HEIGHT, 3.5 + _S_HEIGHT)),
                 ((0.5, 0.5), (42,), (3.5,)), ((0.5, 5 / 6), (16, 16), (3.5 - _S_HEIGHT, 3.5 + _S_HEIGHT))),
        voltage_kv=80.0, convergence_mrad=30.0, detector_inner_mrad=80.0, detector_outer_mrad=200.0,
        scan_gpts=(30, 54), repeats=(5, 3), thickness=7.0, kinds=("Mo", "S2", "Mo", "S2"),
    ),
    "pbtio3": ReferenceCell(
        cell=(_PTO_A, _PTO_A), columns=_perovskite_columns(20),
        voltage_kv=200.0, convergence_mrad=25.0, detector_inner_mrad=80.0, detector_outer_mrad=200.0,
        scan_gpts=(20, 20), repeats=(4, 4), thickness=20 * _PTO_A + 2.0, kinds=("A", "BO", "O", "O"),
        slice_thickness=_PTO_A / 2,
    ),
    "pbtio3-10uc": ReferenceCell(
        cell=(_PTO_A, _PTO_A), columns=_perovskite_columns(10),
        voltage_kv=200.0, convergence_mrad=25.0, detector_inner_mrad=80.0, detector_outer_mrad=200.0,
        scan_gpts=(20, 20), repeats=(4, 4), thickness=10 * _PTO_A + 2.0, kinds=("A", "BO", "O", "O"),
        slice_thickness=_PTO_A / 2,
    ),
}

#: Perovskite references by number of unit cells along the beam (the thickness series of the halo fit).
PEROVSKITE_SERIES = {10: "pbtio3-10uc", 20: "pbtio3"}


def _spec(name: str) -> ReferenceCell:
    if name not in REFERENCE_CELLS:
        raise ValueError(f"unknown reference cell {name!r}; valid: {', '.join(REFERENCE_CELLS)}")
    return REFERENCE_CELLS[name]


def column_kinds(name: str) -> tuple[str, ...]:
    """The kind of each column of one cell (keys of the fitted column factors)."""
    return _spec(name).kinds


def reference_columns(name: str) -> tuple[np.ndarray, list[tuple[int, ...]]]:
    """Columns of one cell: ``(N, 2)`` ``(x, y)`` positions in Å and the atomic numbers of each."""
    spec = _spec(name)
    positions = np.array([[fx * spec.cell[0], fy * spec.cell[1]] for (fx, fy), _, _ in spec.columns])
    return positions, [tuple(z) for _, z, _ in spec.columns]


def supercell_columns(name: str, repeats: tuple[int, int]) -> tuple[np.ndarray, list[tuple[int, ...]], np.ndarray]:
    """Columns of ``repeats`` cells: ``(x, y)`` Å (N, 2), atomic numbers, and the column index in the cell."""
    spec = _spec(name)
    xy, numbers = reference_columns(name)
    shifts = np.array([(i, j) for i in range(repeats[0]) for j in range(repeats[1])], dtype=np.float64)
    positions = (shifts[:, None, :] * np.array(spec.cell) + xy[None, :, :]).reshape(-1, 2)
    index = np.tile(np.arange(len(xy)), len(shifts))
    return positions, [numbers[k] for k in index], index


def reference_atoms(name: str, repeats: tuple[int, int] | None = None) -> Any:
    """``ase.Atoms`` of the reference cell repeated ``repeats`` (default: the spec's) times.

    The central cell of the default repeat starts at ``(repeats // 2) * cell``
    (see :func:`scan_window`).
    """
    import ase

    spec = _spec(name)
    repeats = spec.repeats if repeats is None else repeats
    numbers, positions = [], []
    for i in range(repeats[0]):
        for j in range(repeats[1]):
            for (fx, fy), zs, heights in spec.columns:
                for z, h in zip(zs, heights):
                    numbers.append(z)
                    positions.append(((i + fx) * spec.cell[0], (j + fy) * spec.cell[1], h))
    cell = (repeats[0] * spec.cell[0], repeats[1] * spec.cell[1], spec.thickness)
    return ase.Atoms(numbers=numbers, positions=positions, cell=cell, pbc=True)


def scan_window(name: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """``(start, end)`` ``(x, y)`` in Å of the central cell of :func:`reference_atoms`."""
    spec = _spec(name)
    start = ((spec.repeats[0] // 2) * spec.cell[0], (spec.repeats[1] // 2) * spec.cell[1])
    return start, (start[0] + spec.cell[0], start[1] + spec.cell[1])
