"""``phase-separated``: a two-phase microstructure; interfaces are the features.

Physics
-------
Two crystalline phases at medium magnification (0.5 Å/px by default, so
the lattices show as fringes of column-like peaks), as in BiFeO3-CoFe2O4
nanocomposites: a heavy perovskite matrix (BiFeO3, square lattice 3.96 Å)
and a lighter spinel (CoFe2O4, sub-cell 4.19 Å, slightly rotated).  Each
phase's mean signal is its mass-thickness Z-contrast in the imaging model
(:mod:`stemscan.scenes.imaging`): ``thickness * sum(sigma_atom) / V_formula``
with the calibrated single-atom cross-sections (kinematic, an upper bound
for thick crystals).  At the defaults (200 kV, 80-200 mrad, 20 nm) the
matrix scatters ~0.042 of the beam and the spinel 0.39 of that.  Two
morphologies:

* ``"pillars"``: epitaxial pillars of the second phase (slightly wavy
  outlines) embedded in the matrix, ``volume_fraction`` of the area;
* ``"spinodal"``: the interpenetrating pattern of spinodal decomposition,
  a thresholded smooth random field with correlation ``domain_size / 4``.

The composition changes over ``interface_width`` (a tanh profile) and the
interface carries a thin strain-contrast dip.  A slowly varying thickness
and a thin amorphous surface layer are added.

Features: ``"interface"`` bands (``interface_half_width`` = 4 px each side)
cut into ``segment_length`` pieces, weight 1.  At the defaults a 512 px scene
(25.6 nm) has ~3-5 pillars, 35-60 interface segments.  No atom list
(``Scene.atoms`` is None): columns are not resolved individually here.
"""

from __future__ import annotations

import numpy as np

from stemscan.scenes.base import Scene
from stemscan.scenes.fields import amorphous_background, smooth_field
from stemscan.scenes.fringes import square_lattice
from stemscan.scenes.imaging import ImagingModel
from stemscan.scenes.painting import cut_into_segments, features_from_labels, region_boundaries
from stemscan.scenes.params import check_choice, check_number

__all__ = ["make_phase_separated"]


def make_phase_separated(
    seed: int,
    size: int,
    pattern: str = "pillars",
    pixel_size: float = 0.5,
    domain_size: float = 6.0,
    volume_fraction: float = 0.25,
    contrast: float | None = None,
    interface_width: float = 5.0,
    segment_length: float = 32.0,
    thickness: float = 200.0,
    voltage_kv: float = 200.0,
    convergence_mrad: float = 25.0,
    detector_inner_mrad: float = 80.0,
    detector_outer_mrad: float = 200.0,
    amorphous_thickness: float = 20.0,
) -> Scene:
    """Build a ``phase-separated`` scene.

    Args:
        seed: Seed of the scene's random generator.
        size: Image side, pixels.
        pattern: ``"pillars"`` or ``"spinodal"``.
        pixel_size: Sampling, Å per pixel (0.2-1.5, fine enough for fringes).
        domain_size: Pillar diameter, or spinodal wavelength, nm (> 0).
        volume_fraction: Area fraction of the second phase (0.05-0.6).
        contrast: Mean signal of the second phase relative to the matrix
            (0.2-1.5); ``None``: from the imaging model (CoFe2O4 / BiFeO3).
        interface_width: Width of the composition profile, Å.
        segment_length: Length of one interface feature, pixels.
        thickness: Specimen thickness, Å (10-2000).
        voltage_kv: Accelerating voltage, kV (60-300).
        convergence_mrad: Probe convergence semi-angle, mrad.
        detector_inner_mrad, detector_outer_mrad: Annular detector, mrad.
        amorphous_thickness: Amorphous surface layer, carbon-equivalent Å (0-200).
    """
    check_choice("pattern", pattern, ("pillars", "spinodal"))
    check_number("pixel_size", pixel_size, 0.2, 1.5)
    check_number("domain_size", domain_size, 0.5, 1000, low_open=True)
    check_number("volume_fraction", volume_fraction, 0.05, 0.6)
    if contrast is not None:
        check_number("contrast", contrast, 0.2, 1.5)
    check_number("thickness", thickness, 10, 2000)
    check_number("amorphous_thickness", amorphous_thickness, 0, 200)
    imaging = ImagingModel(voltage_kv=voltage_kv, convergence_mrad=convergence_mrad,
                           detector_inner_mrad=detector_inner_mrad, detector_outer_mrad=detector_outer_mrad)
    matrix_mean = thickness * _mass_thickness(imaging, _BIFEO3)
    ratio = _mass_thickness(imaging, _COFE2O4) / _mass_thickness(imaging, _BIFEO3) if contrast is None else contrast
    check_number("interface_width", interface_width, 0.5, 50)
    check_number("segment_length", segment_length, 8, 128)
    if domain_size * 10 / pixel_size < 16:
        raise ValueError(f"domain_size {domain_size} nm is under 16 pixels at pixel_size {pixel_size} Å")
    params = {
        "pattern": pattern, "pixel_size": float(pixel_size), "domain_size": float(domain_size),
        "volume_fraction": float(volume_fraction), "contrast": float(ratio),
        "interface_width": float(interface_width), "segment_length": float(segment_length),
        "thickness": float(thickness), "amorphous_thickness": float(amorphous_thickness), **imaging.to_params(),
    }
    rng = np.random.default_rng(seed)
    shape = (size, size)
    domain_px = domain_size * 10 / pixel_size
    width_px = interface_width / pixel_size
    if pattern == "pillars":
        distance = _pillar_distance(shape, domain_px, volume_fraction, rng)
    else:
        field = smooth_field(shape, domain_px / 4, rng)
        threshold = np.quantile(field[:: 4, :: 4], 1 - volume_fraction)
        distance = (field - threshold) * (domain_px / 4)  # roughly a signed distance, pixels
    phase = 0.5 * (1 + np.tanh(distance / (width_px / 2)))  # 1 inside the second phase

    coords = np.arange(size, dtype=np.float64)
    angle = rng.uniform(-0.1, 0.1)
    matrix = square_lattice(coords, coords, 3.96 / pixel_size, angle, tuple(rng.uniform(0, 2 * np.pi, 2)))
    second = square_lattice(coords, coords, 4.19 / pixel_size, angle + np.deg2rad(rng.uniform(-2, 2)),
                            tuple(rng.uniform(0, 2 * np.pi, 2)))
    fringe = 0.5  # peak-to-mean modulation of the lattice
    matrix_signal = matrix_mean * (1 - fringe + 2 * fringe * matrix)
    second_signal = matrix_mean * ratio * (1 - fringe + 2 * fringe * second)
    image = (1 - phase) * matrix_signal + phase * second_signal
    image *= 1 - 0.15 * np.exp(-((distance / width_px) ** 2))  # interface strain contrast
    image *= 1 + 0.08 * smooth_field(shape, 200 / pixel_size, rng)  # thickness
    level = imaging.amorphous_carbon(amorphous_thickness)
    image += amorphous_background(shape, rng, level=level, texture=0.5 * level, grain_px=1.5 / pixel_size)
    image = np.clip(image, 0, 0.99).astype(np.float32)

    regions = (distance > 0).astype(np.int8)
    labels = cut_into_segments(region_boundaries(regions, 4.0), segment_length, rng)
    kinds = ["interface"] * int(labels.max())
    labels, features = features_from_labels(labels, kinds, [1.0] * len(kinds), min_pixels=16)
    return Scene(image=image, labels=labels, features=features, pixel_size=float(pixel_size),
                 family="phase-separated", params=params, seed=seed)


#: (atomic numbers of one formula unit, its volume in Å³)
_BIFEO3 = ((83, 26, 8, 8, 8), 3.96**3)
_COFE2O4 = ((27, 26, 26, 8, 8, 8, 8), 8.38**3 / 8)


def _mass_thickness(imaging: ImagingModel, compound: tuple[tuple[int, ...], float]) -> float:
    """Scattered fraction per Å of thickness of a compound: ``sum(sigma) / V``, 1/Å."""
    numbers, volume = compound
    return imaging.column_cross_section(numbers) / volume


def _pillar_distance(
    shape: tuple[int, int], diameter: float, fraction: float, rng: np.random.Generator
) -> np.ndarray:
    """Signed distance-like map (pixels, > 0 inside) of wavy pillars in a matrix."""
    height, width = shape
    target = fraction * height * width
    distance = np.full(shape, -np.inf, dtype=np.float32)
    centres: list[np.ndarray] = []
    radii: list[float] = []
    area = 0.0
    for _ in range(500):
        if area >= target:
            break
        radius = diameter / 2 * rng.lognormal(0, 0.15)
        centre = rng.uniform(-0.3 * radius, np.array(shape) + 0.3 * radius)
        if any(np.hypot(*(centre - c)) < radius + r + 0.15 * diameter for c, r in zip(centres, radii)):
            continue
        centres.append(centre)
        radii.append(radius)
        area += np.pi * radius**2
        _stamp_pillar(distance, centre, radius, rng)
    return distance


def _stamp_pillar(distance: np.ndarray, centre: np.ndarray, radius: float, rng: np.random.Generator) -> None:
    """Max-combine one pillar's signed radial distance into ``distance``."""
    harmonics = np.arange(2, 6)
    amplitude = rng.normal(0, 0.04, len(harmonics)) * radius
    phases = rng.uniform(0, 2 * np.pi, len(harmonics))
    reach = int(np.ceil(radius * 1.5))
    r0, c0 = np.floor(centre).astype(int) - reach
    rows = np.arange(max(r0, 0), min(r0 + 2 * reach + 1, distance.shape[0]))
    cols = np.arange(max(c0, 0), min(c0 + 2 * reach + 1, distance.shape[1]))
    if len(rows) == 0 or len(cols) == 0:
        return
    dr = rows[:, None] - centre[0]
    dc = cols[None, :] - centre[1]
    theta = np.arctan2(dr, dc)
    edge = radius + np.tensordot(amplitude, np.cos(harmonics[:, None, None] * theta + phases[:, None, None]), 1)
    local = (edge - np.hypot(dr, dc)).astype(np.float32)
    window = distance[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    np.maximum(window, local, out=window)
