"""Synthetic versus multislice: the numbers the imaging model is checked on and fitted to.

For a reference cell (:mod:`stemscan.scenes.reference_cells`) the synthetic
model renders a pristine patch of the same structure at a given pixel size
and samples it (cubic spline) at the multislice scan positions, so both
images describe the same probe positions.  :func:`contrast_metrics` reduces
either image to a few dimensionless numbers: its mean (scattered fraction),
each column's signal over the mean, and the darkest position over the mean.
No abTEM needed: the multislice side is read from the calibration table.

Column factors
--------------
A static (no-phonon) multislice of a crystal is coherent: atoms stacked in
one column (the two S of an S2 column) and neighbouring columns interfere,
so the crystal scatters less into the detector than the sum of its
isolated atoms (MoS2 at 80 kV: S2 column 0.73 of two S atoms; the whole
layer 0.81; graphene 0.97).  :func:`fit_column_factors` finds, per column
kind of a reference cell, the factor on the summed single-atom
cross-section that best reproduces the multislice image (non-negative
least squares over the scan); the generator applies them
(``column_factor``).  In a thick crystal (PbTiO3, 79 Å) channelling spreads
the probe along the columns and sends intensity between them; a second,
broad Gaussian per column (``column_halo``: a width and a factor per kind)
is fitted with them.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from stemscan.scenes.imaging import ImagingModel, calibration_table
from stemscan.scenes.reference_cells import PEROVSKITE_SERIES, REFERENCE_CELLS, column_kinds, reference_columns

__all__ = ["multislice_reference", "synthetic_reference", "contrast_metrics", "reference_imaging",
           "fit_column_factors", "column_factor", "column_halo", "perovskite_columns"]


def column_factor(material: str, kind: str) -> float:
    """Fitted coherence factor of column ``kind`` (e.g. ``"S2"``) in ``material``; 1 if not fitted."""
    factors = calibration_table().get("column_factors", {}).get(material, {})
    return float(factors.get(kind, 1.0))


def column_halo(material: str) -> tuple[float, dict[str, float]]:
    """Fitted halo of a thick crystal's columns: ``(width Å, {kind: factor})``; ``(0, {})`` if none."""
    halo = calibration_table().get("column_halo", {}).get(material)
    if not halo:
        return 0.0, {}
    return float(halo["width_A"]), {k: float(v) for k, v in halo["factors"].items()}


def perovskite_columns(cells: float) -> tuple[dict[str, float], float, dict[str, float]]:
    """Core factors, halo width (Å) and halo factors of a perovskite ``cells`` unit cells thick.

    Linear in thickness between the fitted references of
    :data:`~stemscan.scenes.reference_cells.PEROVSKITE_SERIES` (10 and 20
    cells of PbTiO3), the nearest one outside their range.
    """
    table = calibration_table()
    fitted = sorted(n for n, name in PEROVSKITE_SERIES.items() if name in table.get("column_factors", {}))
    if not fitted:
        return {}, 0.0, {}

    def at(n: int) -> tuple[dict[str, float], float, dict[str, float]]:
        name = PEROVSKITE_SERIES[n]
        width, halo = column_halo(name)
        return {k: float(v) for k, v in table["column_factors"][name].items()}, width, halo

    low = max([n for n in fitted if n <= cells], default=fitted[0])
    high = min([n for n in fitted if n >= cells], default=fitted[-1])
    if low == high:
        return at(low)
    w = (cells - low) / (high - low)
    (core_a, width_a, halo_a), (core_b, width_b, halo_b) = at(low), at(high)
    mix = lambda a, b: {k: (1 - w) * a.get(k, 0.0) + w * b.get(k, 0.0) for k in set(a) | set(b)}  # noqa: E731
    if not halo_a or not halo_b:  # one end without a halo: keep the other's width
        width = width_a or width_b
    else:
        width = (1 - w) * width_a + w * width_b
    return mix(core_a, core_b), width, mix(halo_a, halo_b)


def reference_imaging(name: str, **overrides: float) -> ImagingModel:
    """The imaging model with the reference cell's voltage, probe and detector."""
    spec = REFERENCE_CELLS[name]
    kwargs = dict(voltage_kv=spec.voltage_kv, convergence_mrad=spec.convergence_mrad,
                  detector_inner_mrad=spec.detector_inner_mrad, detector_outer_mrad=spec.detector_outer_mrad)
    kwargs.update(overrides)
    return ImagingModel(**kwargs)


def multislice_reference(name: str) -> np.ndarray:
    """The stored multislice image of the reference cell, ``(ny, nx)`` scattered fraction."""
    references = calibration_table().get("references", {})
    if name not in references:
        raise KeyError(f"no multislice reference {name!r} in the calibration table; run benchmarks/calibrate_haadf.py")
    return np.asarray(references[name]["image"], dtype=np.float64)


def synthetic_reference(
    name: str,
    imaging: ImagingModel | None = None,
    pixel_size: float = 0.1,
    factors: dict[str, float] | None = None,
    halo: tuple[float, dict[str, float]] | None = None,
) -> np.ndarray:
    """Synthetic image of the reference cell on the multislice scan grid, ``(ny, nx)``.

    A patch of ``reps`` cells is rendered at ``pixel_size`` Å/px with
    :meth:`ImagingModel.render`, each column's cross-section the sum of its
    atoms' times its kind's factor (``factors``; default the fitted ones),
    plus, for thick crystals, a halo of width ``halo[0]`` Å with its own
    factors (default the fitted halo; ``(0, {})`` for none); the central
    cell is sampled at the scan positions of the multislice reference.
    """
    spec = REFERENCE_CELLS[name]
    imaging = imaging or reference_imaging(name)
    xy, columns = reference_columns(name)
    kinds = column_kinds(name)
    factor = {k: (column_factor(name, k) if factors is None else float(factors.get(k, 0.0))) for k in kinds}
    halo_width, halo_factors = column_halo(name) if halo is None else halo
    summed = np.array([imaging.column_cross_section(z) for z in columns])
    sigma = summed * np.array([factor[k] for k in kinds])
    halo_sigma = summed * np.array([halo_factors.get(k, 0.0) for k in kinds])
    reps = (8, 6)
    cells = np.array(spec.cell)
    shifts = np.array([(i, j) for i in range(reps[0]) for j in range(reps[1])], dtype=np.float64) * cells
    points = (shifts[:, None, :] + xy[None, :, :]).reshape(-1, 2)
    extent = np.array(reps) * cells
    size = (int(np.ceil(extent[1] / pixel_size)), int(np.ceil(extent[0] / pixel_size)))
    rows_cols = points[:, ::-1] / pixel_size
    image = imaging.render(size, rows_cols, np.tile(sigma, len(shifts)), pixel_size).astype(np.float64)
    if halo_width > 0 and np.any(halo_sigma > 0):
        image += imaging.render(size, rows_cols, np.tile(halo_sigma, len(shifts)), pixel_size, halo_width)
    centre = (np.array(reps) // 2) * cells
    nx, ny = spec.scan_gpts
    x = centre[0] + np.arange(nx) * cells[0] / nx
    y = centre[1] + np.arange(ny) * cells[1] / ny
    yy, xx = np.meshgrid(y, x, indexing="ij")
    return ndimage.map_coordinates(image, [yy / pixel_size, xx / pixel_size], order=3, mode="nearest")


def contrast_metrics(image: np.ndarray, name: str) -> dict[str, float]:
    """Mean, column signals over the mean, and the minimum over the mean, of one cell's scan.

    Keys: ``mean`` (scattered fraction), ``column_<k>`` for each distinct
    column kind ``k`` (e.g. ``column_C``, ``column_Mo``, ``column_S2``,
    ``column_A``: value at the column position / mean), ``min`` (darkest
    position / mean).
    """
    spec = REFERENCE_CELLS[name]
    image = np.asarray(image, dtype=np.float64)
    ny, nx = image.shape
    mean = float(image.mean())
    out = {"mean": mean, "min": float(image.min()) / mean}
    for ((fx, fy), _, _), kind in zip(spec.columns, spec.kinds):
        value = float(image[int(round(fy * ny)) % ny, int(round(fx * nx)) % nx])
        out.setdefault("column_" + kind, value / mean)
    return out


def fit_column_factors(
    name: str, imaging: ImagingModel | None = None, pixel_size: float = 0.05, halo_width: float = 0.0
) -> tuple[dict[str, float], dict[str, float], float]:
    """Per-kind factors minimising the squared difference to the multislice image.

    The synthetic image is linear in the column cross-sections, so one
    basis image per column kind (factor 1, the others 0) -- and, with
    ``halo_width`` > 0, one per kind for the halo -- and a non-negative
    least-squares solve give the factors.  Returns ``(core factors, halo
    factors, relative rms residual)``.
    """
    from scipy.optimize import nnls

    truth = multislice_reference(name)
    kinds = sorted(set(column_kinds(name)))
    none: tuple[float, dict[str, float]] = (0.0, {})
    columns = [synthetic_reference(name, imaging, pixel_size, {k: 1.0}, none).ravel() for k in kinds]
    if halo_width > 0:
        columns += [synthetic_reference(name, imaging, pixel_size, {}, (halo_width, {k: 1.0})).ravel() for k in kinds]
    basis = np.stack(columns, axis=1)
    solution, _ = nnls(basis, truth.ravel())
    residual = basis @ solution - truth.ravel()
    core = {k: float(f) for k, f in zip(kinds, solution)}
    halo = {k: float(f) for k, f in zip(kinds, solution[len(kinds):])}
    return core, halo, float(np.sqrt(np.mean(residual**2)) / truth.mean())
