"""``ferroelectric-domains``: a perovskite whose B-site displacements form domains.

Physics
-------
An ABO3 perovskite (PbTiO3-like by default) seen along [001]: a square
lattice of bright A-site columns (Pb, Z=82), dimmer B-site columns at the
cell centres (Ti with the O of the same column) and faint O-only columns
on the cell edges.  The signal is the scattered fraction of the imaging
model (:mod:`stemscan.scenes.imaging`): each column's cross-section is the
sum over the ``thickness / lattice_constant`` unit cells it crosses of its
atoms' calibrated single-atom cross-sections, times the factors of its
kind (A, BO, O) fitted to multislice simulations of 39.5 Å and 79 Å of
PbTiO3 at 200 kV: a sharp core and a broad halo (channelling and coherent
interference, :mod:`stemscan.scenes.calibration`), interpolated linearly in
thickness, spread by the aberration-free probe.  Outside 39.5-79 Å the
nearest fit is used and the signal scales linearly with thickness, which
overestimates heavy columns of thicker specimens; other A/B elements use
the PbTiO3 factors.  Defaults: 200 kV, 25 mrad,
80-200 mrad detector, an 8 nm thick lamella with 2 nm of amorphous surface
damage (carbon-equivalent), as in aberration-corrected HAADF of
ferroelectric oxide films.

Each domain has one in-plane polarisation direction; its B-site columns
are shifted along it by ``displacement`` (default 15 pm = 1 pixel at 0.15
Å/px).  Tetragonal domains use the four cube axes, rhombohedral ones the
four projected diagonals.  The polarisation field is smoothed over
``wall_width`` so it rotates or shrinks across a wall as in real 90° and
180° walls.  The lattice itself is the same in every domain, so at the
defaults a wall is practically invisible in the raw image (a sub-pixel
shift of a dim column) but plain in the B-site displacement map obtained by
fitting column positions.

Domains
-------
``pattern="voronoi"``: a tessellation faceted along the low-index planes of
the crystal ({100} and {110} walls), coloured so neighbouring domains
differ.  ``pattern="stripes"``: a/c-like stripe bundles, 90° walls along
{110} with period ``domain_size``, and a 180° wall between two bundles.

Features: ``"domain-wall"`` bands (``wall_half_width`` each side) cut into
``segment_length`` pieces, weight 1; ``"wall-junction"`` disks where three
or more domains meet, weight 2.  At the defaults a 512 px scene (7.7 nm)
holds ~8 domains, ~35 wall segments and ~8 junctions.

Atom classes (``Scene.atom_classes``): 0 A-site, 1 B-site.  Only these
HAADF-visible columns are listed in ``Scene.atoms``; the faint O-only
columns are rendered but not listed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from stemscan.scenes.base import Scene
from stemscan.scenes.domains import colour_regions, junction_points, voronoi_regions
from stemscan.scenes.fields import amorphous_background
from stemscan.scenes.calibration import perovskite_columns
from stemscan.scenes.imaging import ImagingModel
from stemscan.scenes.lattices import rotation
from stemscan.scenes.painting import cut_into_segments, features_from_labels, paint_disks, region_boundaries
from stemscan.scenes.params import check_choice, check_int, check_number

__all__ = ["make_ferroelectric_domains"]

A_SITE, B_SITE = 0, 1
_DIRECTIONS = {
    "tetragonal": np.array([[0.0, 1.0], [1.0, 0.0], [0.0, -1.0], [-1.0, 0.0]]),
    "rhombohedral": np.array([[1.0, 1.0], [1.0, -1.0], [-1.0, -1.0], [-1.0, 1.0]]) / np.sqrt(2),
}
_COARSE = 4  # domain maps are built on a grid 4x coarser than the image


def make_ferroelectric_domains(
    seed: int,
    size: int,
    pixel_size: float = 0.15,
    lattice_constant: float = 3.95,
    displacement: float = 15.0,
    domain_size: float = 40.0,
    pattern: str = "voronoi",
    symmetry: str = "tetragonal",
    wall_width: float = 4.0,
    a_site_z: int = 82,
    b_site_z: int = 22,
    segment_length: float = 32.0,
    thickness: float = 80.0,
    voltage_kv: float = 200.0,
    convergence_mrad: float = 25.0,
    detector_inner_mrad: float = 80.0,
    detector_outer_mrad: float = 200.0,
    source_size: float = 0.0,
    amorphous_thickness: float = 20.0,
    probe_fwhm: float | None = None,
) -> Scene:
    """Build a ``ferroelectric-domains`` scene.

    Args:
        seed: Seed of the scene's random generator.
        size: Image side, pixels.
        pixel_size: Sampling, Å per pixel (0.05-0.5).
        lattice_constant: Pseudo-cubic lattice constant, Å (3-5).
        displacement: B-site off-centring along the polarisation, pm (0-60).
        domain_size: Typical domain width, Å (>= 3 lattice constants).
        pattern: ``"voronoi"`` or ``"stripes"``.
        symmetry: ``"tetragonal"`` (P along <100>) or ``"rhombohedral"``
            (P along projected <111>).
        wall_width: Width over which the polarisation turns at a wall, Å.
        a_site_z, b_site_z: Atomic numbers on the A and B sites.
        segment_length: Length of one domain-wall feature, pixels.
        thickness: Specimen thickness along the beam, Å (4-500).
        voltage_kv: Accelerating voltage, kV (60-300).
        convergence_mrad: Probe convergence semi-angle, mrad.
        detector_inner_mrad, detector_outer_mrad: Annular detector, mrad.
        source_size: Effective source size (FWHM), Å.
        amorphous_thickness: Amorphous surface layer, carbon-equivalent Å (0-200).
        probe_fwhm: Legacy: a Gaussian probe of this FWHM (Å) instead of the
            aberration-free probe; ``None``.
    """
    check_number("pixel_size", pixel_size, 0.05, 0.5)
    check_number("lattice_constant", lattice_constant, 3.0, 5.0)
    check_number("displacement", displacement, 0, 60)
    check_number("domain_size", domain_size, 3 * lattice_constant, 1e4)
    check_choice("pattern", pattern, ("voronoi", "stripes"))
    check_choice("symmetry", symmetry, tuple(_DIRECTIONS))
    check_number("wall_width", wall_width, 0.5, 50)
    check_int("a_site_z", a_site_z, 1, 92)
    check_int("b_site_z", b_site_z, 1, 92)
    check_number("segment_length", segment_length, 8, 128)
    check_number("thickness", thickness, 4, 500)
    check_number("amorphous_thickness", amorphous_thickness, 0, 200)
    imaging = ImagingModel(voltage_kv=voltage_kv, convergence_mrad=convergence_mrad,
                           detector_inner_mrad=detector_inner_mrad, detector_outer_mrad=detector_outer_mrad,
                           source_size=source_size, probe_fwhm=probe_fwhm)
    a_px = lattice_constant / pixel_size
    sigma = imaging.resolution_fwhm / 2.3548 / pixel_size
    if a_px / 2 < 2.5 * sigma or a_px < 8:
        raise ValueError(
            f"pixel_size {pixel_size} Å with a {imaging.resolution_fwhm:.2f} Å probe cannot resolve the perovskite "
            "lattice; use a smaller pixel_size, a larger convergence_mrad or a smaller probe_fwhm"
        )
    params = {
        "pixel_size": float(pixel_size), "lattice_constant": float(lattice_constant),
        "displacement": float(displacement), "domain_size": float(domain_size), "pattern": pattern,
        "symmetry": symmetry, "wall_width": float(wall_width), "a_site_z": int(a_site_z),
        "b_site_z": int(b_site_z), "segment_length": float(segment_length), "thickness": float(thickness),
        "amorphous_thickness": float(amorphous_thickness), **imaging.to_params(),
    }
    rng = np.random.default_rng(seed)
    shape = (size, size)
    angle = np.deg2rad(rng.uniform(-3, 3))

    # domain map on a coarse grid, polarisation direction index per pixel
    coarse_shape = (-(-size // _COARSE),) * 2
    domain_px = domain_size / pixel_size / _COARSE
    if pattern == "voronoi":
        polar = _voronoi_domains(coarse_shape, domain_px, angle, rng)
    else:
        polar = _stripe_domains(coarse_shape, domain_px, angle, rng)
    directions = _DIRECTIONS[symmetry] @ rotation(angle).T

    # lattice sites and B-site displacements (smoothed polarisation field)
    a_sites = _square_sites(size, a_px, angle, rng.uniform(0, a_px, 2))
    half = np.array([0.5, 0.5]) @ rotation(angle).T * a_px
    b_sites = a_sites + half
    o_sites = np.concatenate([a_sites + np.array([0.5, 0.0]) @ rotation(angle).T * a_px,
                              a_sites + np.array([0.0, 0.5]) @ rotation(angle).T * a_px])
    smooth = wall_width / pixel_size / _COARSE / 2
    field = [ndimage.gaussian_filter(directions[polar, k], smooth, mode="nearest") for k in range(2)]
    cell = np.clip((b_sites / _COARSE).astype(np.int64), 0, coarse_shape[0] - 1)
    polarisation = np.stack([f[cell[:, 0], cell[:, 1]] for f in field], axis=1)
    shift_px = displacement / 100.0 / pixel_size
    b_sites = b_sites + shift_px * polarisation
    jitter = 0.02 / pixel_size  # 2 pm rms static disorder
    a_sites = a_sites + rng.normal(0, jitter, a_sites.shape)
    b_sites = b_sites + rng.normal(0, jitter, b_sites.shape)

    # image: column cross-sections (cells along the beam x atoms per cell) on an amorphous surface layer
    cells = thickness / lattice_constant
    summed = {"A": cells * imaging.cross_section(a_site_z), "BO": cells * imaging.column_cross_section([b_site_z, 8]),
              "O": cells * imaging.cross_section(8)}
    positions = np.concatenate([a_sites, b_sites, o_sites])
    counts = {"A": len(a_sites), "BO": len(b_sites), "O": len(o_sites)}

    def per_column(factors: dict[str, float]) -> np.ndarray:
        return np.concatenate([np.full(n, summed[k] * factors.get(k, 0.0)) for k, n in counts.items()])

    core_factors, halo_width, halo_factors = perovskite_columns(cells)
    image = imaging.render(shape, positions, per_column({k: core_factors.get(k, 1.0) for k in summed}), pixel_size)
    if halo_width > 0:  # channelling in the thick crystal: a broad share of each column between the columns
        image += imaging.render(shape, positions, per_column(halo_factors), pixel_size, column_width=halo_width)
    level = imaging.amorphous_carbon(amorphous_thickness)
    image += amorphous_background(shape, rng, level=level, texture=0.2 * level, grain_px=1.0 / pixel_size,
                                  thickness_variation=0.1, thickness_correlation_px=30.0 / pixel_size)
    np.clip(image, 0, 0.99, out=image)

    # features: wall bands cut into segments, junction disks on top
    full = np.kron(polar, np.ones((_COARSE, _COARSE), dtype=polar.dtype))[:size, :size]
    wall_half_width = max(3.0, 0.3 * a_px)
    labels = cut_into_segments(region_boundaries(full, wall_half_width), segment_length, rng)
    kinds = ["domain-wall"] * int(labels.max())
    junctions = junction_points(polar, 3, merge_distance=a_px / _COARSE) * _COARSE
    junction_radius = max(4.0, 0.5 * a_px)
    paint_disks(labels, junctions, junction_radius, first_id=len(kinds) + 1)
    weights = [1.0] * len(kinds) + [2.0] * len(junctions)
    kinds += ["wall-junction"] * len(junctions)
    labels, features = features_from_labels(labels, kinds, weights, min_pixels=8)

    atoms = np.concatenate([a_sites, b_sites])
    classes = np.concatenate([np.full(len(a_sites), A_SITE), np.full(len(b_sites), B_SITE)]).astype(np.int64)
    inside = np.all((atoms >= -0.5) & (atoms <= size - 0.5), axis=1)
    return Scene(
        image=image.astype(np.float32, copy=False),
        labels=labels,
        features=features,
        pixel_size=float(pixel_size),
        family="ferroelectric-domains",
        params=params,
        seed=seed,
        atoms=atoms[inside],
        atom_classes=classes[inside],
    )


def _square_sites(size: int, a_px: float, angle: float, offset: np.ndarray) -> np.ndarray:
    """Square lattice of A sites covering the field (plus one cell of margin)."""
    n = int(np.ceil(size * np.sqrt(2) / a_px / 2)) + 2
    i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1), indexing="ij")
    points = np.stack([i.ravel(), j.ravel()], axis=1) * a_px
    points = points @ rotation(angle).T + size / 2 + offset
    keep = np.all((points >= -a_px) & (points <= size - 1 + a_px), axis=1)
    return points[keep]


def _voronoi_domains(shape: tuple[int, int], domain_px: float, angle: float, rng: np.random.Generator) -> np.ndarray:
    """Faceted Voronoi domains coloured with four polarisation directions."""
    n_seeds = max(2, int(round(shape[0] * shape[1] / domain_px**2)))
    seeds = rng.uniform(0, 1, (n_seeds, 2)) * np.array(shape)
    regions = voronoi_regions(shape, seeds, angle, faceting=0.85)
    colour = colour_regions(regions, 4, rng)
    return colour[regions].astype(np.int64)


def _stripe_domains(shape: tuple[int, int], domain_px: float, angle: float, rng: np.random.Generator) -> np.ndarray:
    """a1/a2 stripe bundles (90° walls on {110}) split by a 180° wall."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    diagonal = rng.choice([-1.0, 1.0])
    u = np.cos(angle) * rows - np.sin(angle) * cols
    v = np.sin(angle) * rows + np.cos(angle) * cols
    along = (u + diagonal * v) / np.sqrt(2)
    across = (u - diagonal * v) / np.sqrt(2)
    width = domain_px * rng.uniform(0.8, 1.2)
    stripe = np.floor((along + rng.uniform(0, width)) / width).astype(np.int64) % 2
    bend = 0.1 * shape[0] * np.sin(2 * np.pi * along / shape[0] + rng.uniform(0, 2 * np.pi))
    bundle = (across - across.mean() + rng.uniform(-0.2, 0.2) * shape[0] + bend > 0).astype(np.int64)
    return stripe + 2 * bundle  # directions 0/1 (one bundle) and 2/3 (reversed, the other)
