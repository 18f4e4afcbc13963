"""``nanoparticles``: crystalline particles on an amorphous support.

Physics
-------
Pt nanoparticles (fcc) on an amorphous carbon film at 0.5 Å/px.  Each
particle's signal is its mass-thickness Z-contrast in the imaging model
(:mod:`stemscan.scenes.imaging`): projected thickness of a sphere (slightly
wavy outline) times Pt's atom density (0.0662 Å⁻³) times its calibrated
cross-section (kinematic, an upper bound for the thickest particles),
modulated ±25 % by lattice fringes of its own random orientation: one set
of {111} planes (2.3 Å) or two crossing sets as seen along <110>.
Overlapping particles add.  The support is a speckled amorphous carbon film
``support_thickness`` thick with slow thickness variation.  Defaults: 200
kV, 25 mrad, 80-200 mrad detector, 3 nm carbon: a 3 nm particle's centre
scatters ~0.02 of the beam (±25 % fringes), the support ~3e-4.

Particles are placed one by one.  With probability ``aggregation`` a new
particle is attached to a random existing one (touching it with a small
sintering overlap); otherwise it lands on a free spot of the support.

Features
--------
* ``"junction"`` (weight 2): a disk around the contact point of two
  touching particles, where a sintering neck (extra material filling the
  contact) is rendered.
* ``"particle-edge"`` (weight 0.25): the rim of a particle that touches
  none, a band cut into ``segment_length`` pieces.

At the defaults a 512 px scene (25.6 nm) holds ~14 particles of median
diameter 3 nm, ~5-10 junctions and ~20-40 edge segments.  ``Scene.atoms``
is None (columns are not resolved individually).
"""

from __future__ import annotations

import numpy as np

from stemscan.scenes.base import Scene
from stemscan.scenes.fields import amorphous_background
from stemscan.scenes.fringes import plane_wave
from stemscan.scenes.imaging import ImagingModel
from stemscan.scenes.painting import cut_into_segments, features_from_labels, paint_disks
from stemscan.scenes.params import check_number

__all__ = ["make_nanoparticles"]

_FCC_SPACINGS = (2.26, 1.96)  # Pt {111} and {200}, Å
_PT_Z = 78
_PT_ATOMS_PER_A3 = 4 / 3.924**3


def make_nanoparticles(
    seed: int,
    size: int,
    pixel_size: float = 0.5,
    diameter: float = 3.0,
    size_spread: float = 0.3,
    coverage: float = 0.15,
    aggregation: float = 0.5,
    segment_length: float = 32.0,
    support_thickness: float = 30.0,
    voltage_kv: float = 200.0,
    convergence_mrad: float = 25.0,
    detector_inner_mrad: float = 80.0,
    detector_outer_mrad: float = 200.0,
) -> Scene:
    """Build a ``nanoparticles`` scene.

    Args:
        seed: Seed of the scene's random generator.
        size: Image side, pixels.
        pixel_size: Sampling, Å per pixel (0.2-0.8, fine enough for fringes).
        diameter: Median particle diameter, nm (> 0).
        size_spread: Log-normal spread of the diameters (0-1).
        coverage: Fraction of the support covered by particles (0.01-0.5).
        aggregation: Probability that a particle is attached to another (0-1).
        segment_length: Length of one particle-edge feature, pixels.
        support_thickness: Amorphous carbon support film, Å (0-500).
        voltage_kv: Accelerating voltage, kV (60-300).
        convergence_mrad: Probe convergence semi-angle, mrad.
        detector_inner_mrad, detector_outer_mrad: Annular detector, mrad.
    """
    check_number("pixel_size", pixel_size, 0.2, 0.8)
    check_number("diameter", diameter, 0, 100, low_open=True)
    check_number("size_spread", size_spread, 0, 1)
    check_number("coverage", coverage, 0.01, 0.5)
    check_number("aggregation", aggregation, 0, 1)
    check_number("segment_length", segment_length, 8, 128)
    check_number("support_thickness", support_thickness, 0, 500)
    imaging = ImagingModel(voltage_kv=voltage_kv, convergence_mrad=convergence_mrad,
                           detector_inner_mrad=detector_inner_mrad, detector_outer_mrad=detector_outer_mrad)
    per_angstrom = _PT_ATOMS_PER_A3 * imaging.cross_section(_PT_Z)  # scattered fraction per Å of Pt
    diameter_px = diameter * 10 / pixel_size
    if not 8 <= diameter_px <= size:
        raise ValueError(f"diameter {diameter} nm is {diameter_px:.0f} px; it must lie in [8, size] pixels")
    params = {
        "pixel_size": float(pixel_size), "diameter": float(diameter), "size_spread": float(size_spread),
        "coverage": float(coverage), "aggregation": float(aggregation), "segment_length": float(segment_length),
        "support_thickness": float(support_thickness), **imaging.to_params(),
    }
    rng = np.random.default_rng(seed)
    shape = (size, size)
    centres, radii, contacts = _place_particles(size, diameter_px / 2, size_spread, coverage, aggregation, rng)

    level = imaging.amorphous_carbon(support_thickness)
    image = amorphous_background(shape, rng, level=level, texture=0.2 * level, grain_px=1.5 / pixel_size,
                                 thickness_variation=0.15, thickness_correlation_px=100 / pixel_size)
    touched = np.zeros(len(centres), dtype=bool)
    for i, j, _ in contacts:
        touched[i] = touched[j] = True
    rims = np.zeros(shape, dtype=bool)
    for k, (centre, radius) in enumerate(zip(centres, radii)):
        _render_particle(image, rims if not touched[k] else None, centre, radius, pixel_size, per_angstrom, rng)
    for i, j, point in contacts:
        _render_neck(image, point, min(radii[i], radii[j]), pixel_size, per_angstrom)
    np.clip(image, 0, 0.99, out=image)

    labels = cut_into_segments(rims, segment_length, rng)
    kinds = ["particle-edge"] * int(labels.max())
    points = np.array([point for _, _, point in contacts]).reshape(-1, 2)
    junction_radius = max(6.0, 0.08 * diameter_px + 4)
    paint_disks(labels, points, junction_radius, first_id=len(kinds) + 1)
    weights = [0.25] * len(kinds) + [2.0] * len(points)
    kinds += ["junction"] * len(points)
    labels, features = features_from_labels(labels, kinds, weights, min_pixels=12)
    return Scene(image=image.astype(np.float32, copy=False), labels=labels, features=features,
                 pixel_size=float(pixel_size), family="nanoparticles", params=params, seed=seed)


def _place_particles(
    size: int, median_radius: float, spread: float, coverage: float, aggregation: float, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[float], list[tuple[int, int, np.ndarray]]]:
    """Random sequential placement with attachment; returns centres, radii, contacts.

    Each contact is ``(i, j, point)`` with the contact point on the line of
    centres, inside the field.
    """
    centres: list[np.ndarray] = []
    radii: list[float] = []
    contacts: list[tuple[int, int, np.ndarray]] = []
    covered, target = 0.0, coverage * size * size
    for _ in range(2000):
        if covered >= target:
            break
        radius = median_radius * rng.lognormal(0, spread)
        radius = float(np.clip(radius, 4, size / 4))
        if centres and rng.random() < aggregation:
            host = int(rng.integers(len(centres)))
            direction = rng.uniform(0, 2 * np.pi)
            gap = radius + radii[host] - rng.uniform(0.03, 0.12) * min(radius, radii[host])
            centre = centres[host] + gap * np.array([np.sin(direction), np.cos(direction)])
        else:
            centre = rng.uniform(0, size, 2)
        if np.any(centre < -0.5 * radius) or np.any(centre > size - 1 + 0.5 * radius):
            continue
        near = [
            (k, float(np.hypot(*(centre - c))), r) for k, (c, r) in enumerate(zip(centres, radii))
            if np.hypot(*(centre - c)) < radius + r + 3
        ]
        # accept free spots, or touching with a small overlap (no particle swallowing another)
        if any(d < 0.85 * (radius + r) for _, d, r in near):
            continue
        index = len(centres)
        centres.append(centre)
        radii.append(radius)
        covered += np.pi * radius**2
        for k, d, r in near:
            if d <= radius + r + 1:
                point = centres[k] + (centre - centres[k]) * (r - (r + radius - d) / 2) / d
                if np.all((point >= 0) & (point <= size - 1)):
                    contacts.append((k, index, point))
    return centres, radii, contacts


def _peak_signal(radius: float, pixel_size: float, per_angstrom: float) -> float:
    """Centre signal of a sphere of ``radius`` pixels: thickness (Å) times signal per Å of Pt."""
    return 2 * radius * pixel_size * per_angstrom


def _render_neck(image: np.ndarray, point: np.ndarray, radius: float, pixel_size: float, per_angstrom: float) -> None:
    """Add the sintering neck filling the contact between two particles (a Gaussian blob)."""
    sigma = max(1.5, 0.15 * radius)
    reach = int(np.ceil(3 * sigma))
    r0, c0 = np.rint(point).astype(int)
    rows = np.arange(max(r0 - reach, 0), min(r0 + reach + 1, image.shape[0]))
    cols = np.arange(max(c0 - reach, 0), min(c0 + reach + 1, image.shape[1]))
    blob = np.exp(-((rows[:, None] - point[0]) ** 2 + (cols[None, :] - point[1]) ** 2) / (2 * sigma**2))
    neck = 0.35 * _peak_signal(radius, pixel_size, per_angstrom) * blob
    image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] += neck.astype(np.float32)


def _render_particle(
    image: np.ndarray,
    rims: np.ndarray | None,
    centre: np.ndarray,
    radius: float,
    pixel_size: float,
    per_angstrom: float,
    rng: np.random.Generator,
) -> None:
    """Add one particle's signal to ``image``; mark its rim band in ``rims`` if given."""
    harmonics = np.arange(2, 7)
    amplitude = rng.normal(0, 0.03, len(harmonics)) * radius
    phases = rng.uniform(0, 2 * np.pi, len(harmonics))
    spacing = _FCC_SPACINGS[int(rng.integers(2))] / pixel_size
    angle = rng.uniform(0, np.pi)
    crossed = rng.random() < 0.5
    phase = rng.uniform(0, 2 * np.pi, 2)
    reach = int(np.ceil(radius * 1.3)) + 3
    r0, c0 = np.floor(centre).astype(int) - reach
    rows = np.arange(max(r0, 0), min(r0 + 2 * reach + 1, image.shape[0]))
    cols = np.arange(max(c0, 0), min(c0 + 2 * reach + 1, image.shape[1]))
    if len(rows) == 0 or len(cols) == 0:
        return
    dr = rows[:, None] - centre[0]
    dc = cols[None, :] - centre[1]
    theta = np.arctan2(dr, dc)
    edge = radius + np.tensordot(amplitude, np.cos(harmonics[:, None, None] * theta + phases[:, None, None]), 1)
    rho = np.hypot(dr, dc) / edge
    thickness = np.sqrt(np.clip(1 - rho**2, 0, None))
    fringes = plane_wave(rows, cols, spacing, angle, phase[0])
    if crossed:
        fringes = 0.5 * (fringes + plane_wave(rows, cols, spacing, angle + np.deg2rad(70.5), phase[1]))
    peak = _peak_signal(radius, pixel_size, per_angstrom)
    signal = peak * thickness * (1 + 0.25 * fringes)
    window = (slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1))
    image[window] += signal.astype(np.float32)
    if rims is not None:
        band = np.abs(np.hypot(dr, dc) - edge) <= 3.0
        rims[window] |= band
