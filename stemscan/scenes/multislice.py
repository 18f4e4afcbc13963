"""HAADF-STEM by multislice with abTEM (the optional ``[physics]`` extra).

Used to calibrate the synthetic imaging model (:mod:`stemscan.scenes.imaging`),
to check it (the slow tests) and by ``stemscan scenes simulate``.  Nothing
else in stemscan needs abTEM: the calibration tables it produced ship with
the package.  abTEM runs lazily, in batches of ``max_batch`` probe
positions, on one thread (``dask``'s synchronous scheduler) so that a
simulation never allocates all exit waves at once.

Conventions: ASE/abTEM positions are ``(x, y, z)`` in Å with the beam along
``z``; the images returned here are indexed ``(row, col) = (y, x)`` as the
rest of stemscan.  Signals are the fraction of the incident electrons
scattered into the annular detector (abTEM normalises the probe to unit
intensity).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["require_abtem", "haadf_image", "radial_cross_section", "potential_sampling_for"]


def require_abtem() -> Any:
    """Import abTEM and ASE, or raise ``ImportError`` saying how to install them."""
    try:
        import abtem
        import ase  # noqa: F401
    except ImportError as error:
        raise ImportError(
            "multislice simulation needs abTEM and ASE, the optional extra: pip install \"stemscan[physics]\""
        ) from error
    # numpy FFTs, and no progress bar of abTEM's own (callers show one tqdm bar over the dask tasks)
    abtem.config.set({"device": "cpu", "fft": "numpy", "diagnostics.progress_bar": False})
    return abtem


def potential_sampling_for(voltage_kv: float, max_angle_mrad: float) -> float:
    """Real-space sampling (Å) whose anti-aliased angular range reaches ``max_angle_mrad``.

    abTEM keeps 2/3 of the Nyquist range: ``angle_max = (2/3) * lambda / (2 * dx)``.
    """
    from stemscan.scenes.imaging import electron_wavelength

    return float(electron_wavelength(voltage_kv) / (3.0 * max_angle_mrad * 1e-3)) * 0.98


class _ProgressCallback:
    """A dask callback advancing a tqdm bar by one per finished task."""

    def __init__(self, description: str) -> None:
        from dask.callbacks import Callback
        from tqdm.auto import tqdm

        bar_holder: dict[str, Any] = {}

        class _Callback(Callback):
            def _start_state(self, dsk, state):  # noqa: ANN001
                total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))
                bar_holder["bar"] = tqdm(total=total, desc=description, unit="task")

            def _posttask(self, key, result, dsk, state, worker_id):  # noqa: ANN001
                bar_holder["bar"].update(1)

            def _finish(self, dsk, state, errored):  # noqa: ANN001
                bar_holder["bar"].close()

        self.callback = _Callback()


def haadf_image(
    atoms: Any,
    voltage_kv: float,
    convergence_mrad: float,
    detector_inner_mrad: float,
    detector_outer_mrad: float,
    scan_gpts: tuple[int, int],
    *,
    scan_start: tuple[float, float] = (0.0, 0.0),
    scan_end: tuple[float, float] | None = None,
    slice_thickness: float = 1.0,
    method: str = "prism",
    interpolation: int = 1,
    max_batch: int = 64,
    progress: bool = False,
) -> np.ndarray:
    """Noiseless HAADF image of an ASE ``Atoms`` cell, in scattered fraction.

    Aberration-free probe, Lobato potentials (infinite projection), one
    frozen configuration (no phonons).  The scan runs over the rectangle
    ``scan_start`` .. ``scan_end`` (Å, ``(x, y)``; default the whole cell,
    end point excluded) on ``scan_gpts = (nx, ny)`` positions.

    Args:
        atoms: ``ase.Atoms`` with an orthogonal cell (beam along z).
        voltage_kv: Accelerating voltage, kV.
        convergence_mrad: Probe convergence semi-angle, mrad.
        detector_inner_mrad, detector_outer_mrad: Annular detector, mrad.
        scan_gpts: Probe positions along x and y.
        scan_start, scan_end: Scan rectangle, Å.
        slice_thickness: Multislice slice thickness, Å.
        method: ``"prism"`` (abTEM's S-matrix) or ``"multislice"`` (one
            multislice run per probe position).
        interpolation: PRISM interpolation factor (1 = exact).
        max_batch: Probe positions (or plane waves) per lazy batch.
        progress: Show a tqdm progress bar over the computation's tasks.

    Returns:
        ``float64`` (ny, nx) image, rows along y.
    """
    abtem = require_abtem()
    import dask

    if method not in ("prism", "multislice"):
        raise ValueError(f"method must be 'prism' or 'multislice', got {method!r}")
    if not 0 < detector_inner_mrad < detector_outer_mrad:
        raise ValueError(f"detector angles must satisfy 0 < inner < outer, got {detector_inner_mrad}, "
                         f"{detector_outer_mrad} mrad")
    sampling = potential_sampling_for(voltage_kv, detector_outer_mrad * 1.05)
    # grid points: fine enough for the detector's outer angle and, for PRISM, a multiple of the
    # interpolation factor (otherwise abTEM cannot keep the probe's normalisation exact)
    step = interpolation if method == "prism" else 1
    gpts = tuple(int(np.ceil(length / sampling / step)) * step for length in np.diag(atoms.cell)[:2])
    potential = abtem.Potential(atoms, gpts=gpts, parametrization="lobato", projection="infinite",
                                slice_thickness=slice_thickness)
    end = tuple(np.diag(atoms.cell)[:2]) if scan_end is None else scan_end
    scan = abtem.GridScan(start=scan_start, end=end, gpts=tuple(int(g) for g in scan_gpts), endpoint=False)
    detector = abtem.AnnularDetector(inner=detector_inner_mrad, outer=detector_outer_mrad)
    energy = voltage_kv * 1e3
    if method == "prism":
        s_matrix = abtem.SMatrix(potential=potential, energy=energy, semiangle_cutoff=convergence_mrad,
                                 interpolation=interpolation)
        measurement = s_matrix.scan(scan=scan, detectors=detector, max_batch_multislice=max_batch,
                                    max_batch_reduction=max_batch, lazy=True)
    else:
        probe = abtem.Probe(energy=energy, semiangle_cutoff=convergence_mrad)
        measurement = probe.scan(potential, scan=scan, detectors=detector, max_batch=max_batch, lazy=True)
    with dask.config.set(scheduler="synchronous"):
        if progress:
            with _ProgressCallback("multislice").callback:
                result = measurement.compute()
        else:
            result = measurement.compute()
    return np.asarray(result.array, dtype=np.float64).T


def radial_cross_section(
    atomic_number: int,
    voltage_kv: float,
    convergence_mrad: float,
    max_angle_mrad: float,
    *,
    cell: float = 7.0,
    scan_step: float = 0.25,
    max_batch: int = 64,
) -> np.ndarray:
    """Scattering cross-section of one atom per 1-mrad annulus, Å².

    A single atom in a ``cell`` × ``cell`` Å box is scanned uniformly; the
    scan-averaged fraction scattered into ``[k, k + 1)`` mrad times the box
    area is the atom's cross-section for that annulus (the integrated
    intensity of an isolated column, independent of where the probe is).

    Returns:
        ``float64`` (max_angle_mrad,) cross-sections, Å², bin ``k`` = ``[k, k+1)`` mrad.
    """
    abtem = require_abtem()
    import ase
    import dask

    atoms = ase.Atoms(numbers=[int(atomic_number)], positions=[(cell / 2, cell / 2, 1.0)], cell=(cell, cell, 2.0))
    sampling = potential_sampling_for(voltage_kv, max_angle_mrad * 1.02)
    potential = abtem.Potential(atoms, sampling=sampling, parametrization="lobato", projection="infinite",
                                slice_thickness=2.0)
    probe = abtem.Probe(energy=voltage_kv * 1e3, semiangle_cutoff=convergence_mrad)
    n = int(round(cell / scan_step))
    scan = abtem.GridScan(start=(0, 0), end=(cell, cell), gpts=(n, n), endpoint=False)
    detector = abtem.FlexibleAnnularDetector(step_size=1.0, inner=0.0, outer=float(max_angle_mrad))
    measurement = probe.scan(potential, scan=scan, detectors=detector, max_batch=max_batch, lazy=True)
    with dask.config.set(scheduler="synchronous"):
        result = measurement.compute()
    bins = np.asarray(result.array, dtype=np.float64).reshape(n, n, -1).mean(axis=(0, 1))
    if bins.size < max_angle_mrad:
        raise RuntimeError(f"abTEM returned {bins.size} angular bins, expected {max_angle_mrad}")
    return bins[: int(max_angle_mrad)] * cell * cell
