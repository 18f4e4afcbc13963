"""``lattice-defects``: a 2-D material with point and extended defects.

Physics
-------
A single layer seen along its normal: a graphene honeycomb (C columns, one
atom each) or a MoS2-like 2H lattice (projected honeycomb of Mo columns and
S2 columns of two S atoms).  The image is the fraction of the incident
electrons scattered into the annular detector, from the imaging model of
:mod:`stemscan.scenes.imaging`: each column contributes its calibrated
cross-section (sum over its atoms, from multislice tables, times the
column kind's coherence factor fitted to a multislice of the pristine
layer, :mod:`stemscan.scenes.calibration`) spread by the aberration-free
probe of ``convergence_mrad`` at ``voltage_kv``.  Dopants take the factor
of the site they replace; an S2 column that lost one S, that of the Mo
site (a single atom).  A thin
amorphous carbon layer (``amorphous_thickness``, surface contamination)
lies underneath.

Default imaging conditions follow the published low-voltage work on each
material: graphene at 60 kV (below its ~86 kV knock-on threshold, as in
Krivanek et al., Nature 464, 571 (2010)), MoS2 at 80 kV; a 30 mrad probe and
an 80-200 mrad detector.  At these defaults the mean scattered fraction of
pristine graphene is ~2.5e-4 and of MoS2 ~1.9e-3 (multislice: 2.5e-4 and
1.9e-3; ``benchmarks/signal_calibration.py``).

Defects (features)
------------------
* ``"vacancy"``: a missing column (graphene, Mo site) or a missing S atom
  (an S2 column with one S left).
* ``"dopant"``: a substitutional heavy atom (Si in graphene, W on a Mo site).
* ``"stone-wales"`` (graphene only): one C-C bond rotated by 90° (a 55-77
  ring cluster), labelled as a disk around the rotated bond.
* ``"grain-boundary"``: the band where two grains of different orientation
  meet (a meandering line across the field), cut into ``segment_length``
  pieces.  Atoms of the two grains that come closer than 0.6 bond lengths
  are merged into one column.

Point defects are *not* scattered uniformly.  Each site gets a hot-spot
score: a smooth random "strain" field plus a term that decays with the
distance to the grain boundary.  Sites are drawn without replacement with
probability ``exp(3 * clustering * score)``: ``clustering=0`` is uniform
(no prior helps), ``clustering=1`` packs defects near the boundary and in
strained patches.  The number of defects does not depend on ``clustering``.

Atom classes (``Scene.atom_classes``): 0 host column, 1 dopant column.

At the defaults (graphene, 0.2 Å/px) a 512 px scene is 10 nm wide, holds
about 4,000 columns, ~16 vacancies, ~16 dopants, ~2 Stone-Wales defects and
~20 grain-boundary segments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

from stemscan.scenes.base import Scene
from stemscan.scenes.fields import amorphous_background, smooth_field
from stemscan.scenes.calibration import column_factor
from stemscan.scenes.imaging import ImagingModel
from stemscan.scenes.lattices import honeycomb_sites, rotation
from stemscan.scenes.painting import cut_into_segments, features_from_labels, paint_disks
from stemscan.scenes.params import check_choice, check_number

__all__ = ["make_lattice_defects", "MATERIALS"]

HOST, DOPANT = 0, 1


@dataclass(frozen=True)
class Material:
    """A projected honeycomb material.

    Attributes:
        lattice_constant: Hexagonal lattice constant ``a``, Å.
        columns: Atoms in a column of sublattice 0 and 1, as atomic numbers.
        dopant_z: Default substitutional dopant.
        dopant_sublattice: Sublattices a dopant may replace.
        stone_wales: Whether Stone-Wales bond rotations occur.
        voltage_kv: Default accelerating voltage, kV.
        column_kinds: Calibration kind of the columns of sublattice 0 and 1
            (keys of the fitted column factors, :mod:`stemscan.scenes.calibration`).
    """

    lattice_constant: float
    columns: tuple[tuple[int, ...], tuple[int, ...]]
    dopant_z: int
    dopant_sublattice: tuple[int, ...]
    stone_wales: bool
    voltage_kv: float
    column_kinds: tuple[str, str]


MATERIALS: dict[str, Material] = {
    "graphene": Material(2.46, ((6,), (6,)), 14, (0, 1), True, 60.0, ("C", "C")),
    "mos2": Material(3.16, ((42,), (16, 16)), 74, (0,), False, 80.0, ("Mo", "S2")),
}


def make_lattice_defects(
    seed: int,
    size: int,
    material: str = "graphene",
    pixel_size: float = 0.2,
    vacancy_fraction: float = 0.004,
    dopant_fraction: float = 0.004,
    stone_wales_fraction: float | None = None,
    grain_boundary: bool = True,
    misorientation: float | None = None,
    clustering: float = 0.7,
    dopant_z: int | None = None,
    segment_length: float = 32.0,
    voltage_kv: float | None = None,
    convergence_mrad: float = 30.0,
    detector_inner_mrad: float = 80.0,
    detector_outer_mrad: float = 200.0,
    source_size: float = 0.0,
    amorphous_thickness: float = 0.3,
    probe_fwhm: float | None = None,
) -> Scene:
    """Build a ``lattice-defects`` scene.

    Args:
        seed: Seed of the scene's random generator.
        size: Image side, pixels.
        material: ``"graphene"`` or ``"mos2"``.
        pixel_size: Sampling, Å per pixel (0.05-0.5).
        vacancy_fraction: Vacancies per lattice site (0-0.05).
        dopant_fraction: Dopants per lattice site (0-0.05).
        stone_wales_fraction: Stone-Wales defects per site (0-0.01); ``None``:
            0.0005 for graphene, 0 for MoS2 (where it is not allowed).
        grain_boundary: Whether a grain boundary crosses the field.
        misorientation: Angle between the two grains, degrees (3-27);
            ``None`` draws one in [10, 25].
        clustering: Strength of defect clustering near the boundary and in
            strained patches, 0 (uniform) to 1.
        dopant_z: Atomic number of the dopant; ``None``: 14 (Si) in graphene,
            74 (W) in MoS2.  Must exceed the host's.
        segment_length: Length of one grain-boundary feature, pixels.
        voltage_kv: Accelerating voltage, kV (60-300); ``None``: 60 for
            graphene, 80 for MoS2.
        convergence_mrad: Probe convergence semi-angle, mrad.
        detector_inner_mrad, detector_outer_mrad: Annular detector, mrad.
        source_size: Effective source size (FWHM), Å, blurring the probe.
        amorphous_thickness: Amorphous carbon contamination under the
            layer, Å (0-50; 0.3 Å is ~8 % of a graphene layer's atoms).
        probe_fwhm: Legacy: a Gaussian probe of this FWHM (Å) instead of the
            aberration-free probe (training augmentation); ``None``.
    """
    check_choice("material", material, tuple(MATERIALS))
    spec = MATERIALS[material]
    check_number("pixel_size", pixel_size, 0.05, 0.5)
    check_number("vacancy_fraction", vacancy_fraction, 0, 0.05)
    check_number("dopant_fraction", dopant_fraction, 0, 0.05)
    if stone_wales_fraction is None:
        stone_wales_fraction = 0.0005 if spec.stone_wales else 0.0
    check_number("stone_wales_fraction", stone_wales_fraction, 0, 0.01)
    if stone_wales_fraction > 0 and not spec.stone_wales:
        raise ValueError(f"stone_wales_fraction must be 0 for material {material!r} (no Stone-Wales defects)")
    if not isinstance(grain_boundary, (bool, np.bool_)):
        raise ValueError(f"grain_boundary must be True or False, got {grain_boundary!r}")
    if misorientation is not None:
        check_number("misorientation", misorientation, 3, 27)
    check_number("clustering", clustering, 0, 1)
    dopant_z = spec.dopant_z if dopant_z is None else dopant_z
    host_z = max(spec.columns[s][0] for s in spec.dopant_sublattice)
    if isinstance(dopant_z, bool) or not isinstance(dopant_z, (int, np.integer)) or not host_z < dopant_z <= 92:
        raise ValueError(f"dopant_z must be an integer atomic number in ({host_z}, 92], got {dopant_z!r}")
    check_number("segment_length", segment_length, 8, 128)
    check_number("amorphous_thickness", amorphous_thickness, 0, 50)
    imaging = ImagingModel(
        voltage_kv=spec.voltage_kv if voltage_kv is None else voltage_kv, convergence_mrad=convergence_mrad,
        detector_inner_mrad=detector_inner_mrad, detector_outer_mrad=detector_outer_mrad, source_size=source_size,
        probe_fwhm=probe_fwhm,
    )
    params = {
        "material": material, "pixel_size": float(pixel_size), "vacancy_fraction": float(vacancy_fraction),
        "dopant_fraction": float(dopant_fraction), "stone_wales_fraction": float(stone_wales_fraction),
        "grain_boundary": bool(grain_boundary), "misorientation": misorientation, "clustering": float(clustering),
        "dopant_z": int(dopant_z), "segment_length": float(segment_length),
        "amorphous_thickness": float(amorphous_thickness), **imaging.to_params(),
    }

    rng = np.random.default_rng(seed)
    a_px = spec.lattice_constant / pixel_size
    bond_px = a_px / np.sqrt(3)
    sigma = imaging.resolution_fwhm / 2.3548 / pixel_size
    if bond_px < 2.5 * sigma or bond_px < 3:
        raise ValueError(
            f"pixel_size {pixel_size} Å with a {imaging.resolution_fwhm:.2f} Å probe cannot resolve the {material} "
            "lattice; use a smaller pixel_size, a larger convergence_mrad or a smaller probe_fwhm"
        )
    shape = (size, size)
    margin = 2 * a_px
    angle = rng.uniform(0, np.pi / 3)
    sites, sublattice = honeycomb_sites(size, a_px, angle, rng.uniform(0, a_px, 2), margin)

    # grain boundary: second grain replaces the first on one side of a meandering line
    boundary_distance = None
    if grain_boundary:
        theta = np.deg2rad(misorientation if misorientation is not None else rng.uniform(10, 25))
        line = _meandering_line(size, rng)
        other, other_sub = honeycomb_sites(size, a_px, angle + theta, rng.uniform(0, a_px, 2), margin)
        keep_one = line(sites) < 0
        keep_two = line(other) >= 0
        sites = np.concatenate([sites[keep_one], other[keep_two]])
        sublattice = np.concatenate([sublattice[keep_one], other_sub[keep_two]])
        sites, sublattice = _merge_close(sites, sublattice, 0.6 * bond_px)
        boundary_distance = np.abs(line(sites))

    # per-site column cross-sections, Å²: summed atoms times the fitted coherence factor of the column kind
    factors = np.array([column_factor(material, kind) for kind in spec.column_kinds])
    intensity = (np.array([imaging.column_cross_section(c) for c in spec.columns]) * factors)[sublattice]
    classes = np.full(len(sites), HOST, dtype=np.int64)
    present = np.ones(len(sites), dtype=bool)

    # hot-spot score, then defect sites drawn with Gumbel top-k (weighted, no replacement)
    strain = smooth_field(shape, 12.0 / pixel_size, rng)
    pix = np.clip(np.rint(sites).astype(np.int64), 0, size - 1)
    score = strain[pix[:, 0], pix[:, 1]].astype(np.float64)
    gb_half_width = bond_px
    defect_radius = max(3.0, 0.5 * a_px)
    inside = np.all((sites >= defect_radius + 1) & (sites <= size - 2 - defect_radius), axis=1)
    eligible = inside
    if boundary_distance is not None:
        score = score + 2.5 * np.exp(-boundary_distance * pixel_size / 15.0)
        eligible = eligible & (boundary_distance > gb_half_width + defect_radius + 0.5 * a_px)
    log_weight = 3.0 * clustering * score
    n_sites = int(inside.sum())
    taken = np.empty((0, 2))

    neighbours = cKDTree(sites).query(sites, k=4)[1][:, 1:]
    sw_centres = []
    n_sw = int(round(stone_wales_fraction * n_sites))
    sw_pick, taken = _pick(rng, log_weight, eligible, sites, taken, n_sw, 2 * (defect_radius + a_px) + 2)
    for index in sw_pick:
        partner = neighbours[index, rng.integers(3)]
        centre = (sites[index] + sites[partner]) / 2
        turn = rotation(np.pi / 2)
        for k in (index, partner):
            sites[k] = centre + turn @ (sites[k] - centre)
        sw_centres.append(centre)
    dopant_ok = eligible & np.isin(sublattice, spec.dopant_sublattice)
    dopant_sites, taken = _pick(rng, log_weight, dopant_ok, sites, taken, int(round(dopant_fraction * n_sites)),
                                2 * defect_radius + 2)
    classes[dopant_sites] = DOPANT
    intensity[dopant_sites] = imaging.cross_section(dopant_z) * factors[sublattice[dopant_sites]]
    vacancy_sites, taken = _pick(rng, log_weight, eligible, sites, taken, int(round(vacancy_fraction * n_sites)),
                                 2 * defect_radius + 2)
    multi = np.array([len(c) for c in spec.columns])[sublattice[vacancy_sites]] > 1
    # one atom of the column left: a single-atom column, scaled like sublattice 0's single atoms
    intensity[vacancy_sites[multi]] = imaging.column_cross_section(spec.columns[1][1:]) * factors[0]
    present[vacancy_sites[~multi]] = False

    # static displacements (thermal / strain), 0.03 Å rms
    sites = sites + rng.normal(0, 0.03 / pixel_size, sites.shape)
    image = imaging.render(shape, sites[present], intensity[present], pixel_size)
    level = imaging.amorphous_carbon(amorphous_thickness)
    image += amorphous_background(shape, rng, level=level, texture=0.35 * level, grain_px=1.0 / pixel_size,
                                  thickness_variation=0.2, thickness_correlation_px=30.0 / pixel_size)
    np.clip(image, 0, 0.99, out=image)

    # labels: boundary segments first, point defects painted on top
    labels = np.zeros(shape, dtype=np.int32)
    kinds: list[str] = []
    if boundary_distance is not None:
        band = np.abs(line.grid(size)) <= gb_half_width
        labels = cut_into_segments(band, segment_length, rng)
        kinds += ["grain-boundary"] * int(labels.max())
    point_sets = [("stone-wales", np.array(sw_centres).reshape(-1, 2), defect_radius + 0.5 * a_px),
                  ("dopant", sites[dopant_sites], defect_radius),
                  ("vacancy", sites[vacancy_sites], defect_radius)]
    for kind, centres, radius in point_sets:
        paint_disks(labels, centres, radius, first_id=len(kinds) + 1)
        kinds += [kind] * len(centres)
    labels, features = features_from_labels(labels, kinds, [1.0] * len(kinds))

    inside_field = np.all((sites >= -0.5) & (sites <= size - 0.5), axis=1) & present
    return Scene(
        image=image.astype(np.float32, copy=False),
        labels=labels,
        features=features,
        pixel_size=float(pixel_size),
        family="lattice-defects",
        params=params,
        seed=seed,
        atoms=sites[inside_field],
        atom_classes=classes[inside_field],
    )


class _MeanderingLine:
    """A gently curved line across the field, as a signed-distance-like function (pixels)."""

    def __init__(self, size: int, rng: np.random.Generator) -> None:
        self.centre = rng.uniform(0.3, 0.7, 2) * size
        phi = rng.uniform(0, np.pi)
        self.normal = np.array([np.cos(phi), np.sin(phi)])
        self.tangent = np.array([-self.normal[1], self.normal[0]])
        self.amplitude = rng.uniform(0.02, 0.06) * size
        self.wavenumber = 2 * np.pi / (rng.uniform(0.6, 1.2) * size)
        self.phase = rng.uniform(0, 2 * np.pi)

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """Signed value at (N, 2) ``(row, col)`` points."""
        rel = np.asarray(points, dtype=np.float64) - self.centre
        return rel @ self.normal + self.amplitude * np.sin(self.wavenumber * (rel @ self.tangent) + self.phase)

    def grid(self, size: int) -> np.ndarray:
        """Signed value at every pixel of a ``size`` x ``size`` field (separable evaluation)."""
        rows = np.arange(size) - self.centre[0]
        cols = np.arange(size) - self.centre[1]
        across = (rows * self.normal[0])[:, None] + (cols * self.normal[1])[None, :]
        a = self.wavenumber * self.tangent[0] * rows + self.phase
        b = self.wavenumber * self.tangent[1] * cols
        wave = np.outer(np.sin(a), np.cos(b)) + np.outer(np.cos(a), np.sin(b))
        return across + self.amplitude * wave


def _meandering_line(size: int, rng: np.random.Generator) -> _MeanderingLine:
    return _MeanderingLine(size, rng)


def _merge_close(sites: np.ndarray, sublattice: np.ndarray, distance: float) -> tuple[np.ndarray, np.ndarray]:
    """Replace pairs of columns closer than ``distance`` by one at their midpoint."""
    pairs = cKDTree(sites).query_pairs(distance, output_type="ndarray")
    if len(pairs) == 0:
        return sites, sublattice
    drop = np.zeros(len(sites), dtype=bool)
    sites = sites.copy()
    for i, j in pairs:
        if drop[i] or drop[j]:
            continue
        sites[i] = (sites[i] + sites[j]) / 2
        drop[j] = True
    return sites[~drop], sublattice[~drop]


def _pick(
    rng: np.random.Generator,
    log_weight: np.ndarray,
    eligible: np.ndarray,
    sites: np.ndarray,
    taken: np.ndarray,
    count: int,
    separation: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``count`` eligible sites without replacement, ``P ∝ exp(log_weight)``.

    Gumbel top-k, visited in order and skipping sites closer than
    ``separation`` pixels to an already chosen defect (so labels never
    overlap).  Returns the chosen indices and the updated list of taken
    positions.
    """
    keys = log_weight + rng.gumbel(size=len(log_weight))
    keys[~eligible] = -np.inf
    chosen: list[int] = []
    if count > 0:
        for index in np.argsort(-keys):
            if not np.isfinite(keys[index]) or len(chosen) == count:
                break
            if len(taken) and np.min(np.sum((taken - sites[index]) ** 2, axis=1)) < separation**2:
                continue
            chosen.append(int(index))
            taken = np.vstack([taken, sites[index]])
    return np.array(chosen, dtype=np.int64), taken
