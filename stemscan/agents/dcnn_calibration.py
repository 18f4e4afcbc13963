"""Calibrated defect detection of the DCNN: per-class thresholds, lattice checks, and what it cannot see.

The shipped U-Net (:mod:`stemscan.agents.dcnn`) was trained on the scene
model before imaging was put in physical units; on today's MoS2 scenes its
``vacancy`` and ``extended-defect`` channels fire on hundreds of regions
of a pristine lattice.  Rather than trusting its arg-max,
:func:`detect_defects` keeps a region of a defect class only when

1. the image is clear enough for that class: its
   :func:`~stemscan.agents.features.visibility.image_snr` is at least the
   class's ``min_snr`` and the
   :func:`~stemscan.agents.features.visibility.lattice_completeness` of the
   columns found at least its ``min_completeness`` when enough lattice was
   measured to judge it (otherwise the class is reported as *not visible*
   and has no detections, never noise);
2. its peak probability exceeds the class's ``threshold`` and it covers at
   least ``min_area`` pixels;
3. the lattice agrees.  Columns are split into those on the image's
   dominant lattice and those off it (:func:`local_consistency`
   below 0.5: a second grain or a rotated bond); a region within two bonds
   of both kinds lies on an *interface*.  An ``extended-defect`` must lie
   on an interface; a ``vacancy`` must not, and must lie within 0.6 bonds
   of a missing site of the honeycomb of the columns found that at least
   two columns predict (:func:`~stemscan.agents.features.lattice.honeycomb_missing_sites`),
   and the image there (smoothed over 0.15 bonds) must be darker than
   ``0.3`` × the 10th percentile of the found columns (the dimmer
   sublattice, e.g. S2 in MoS2): a missing column, not a dim one.
   ``dopant`` needs no check.

A class whose rule has ``method = "column-intensity"`` (the shipped
``vacancy`` rule) is not read from its probability channel at all: the
DCNN's columns locate the lattice, and a site is a vacancy when its
intensity is below that of the six columns of its own sublattice by more
than ``min_deficit`` and by more than the noise allows at ``false_alarms``
expected false detections per image
(:func:`~stemscan.agents.features.column_intensity.dim_sites`): missing Mo
or C columns and S2 columns that lost one S alike, only where the lattice
is regular.  Its ``threshold`` and ``min_area`` are then unused.

A class whose rule has ``method = "column-geometry"`` (the shipped
``extended-defect`` rule) is not read from its channel either: on a
honeycomb (:func:`~stemscan.agents.features.lattice.is_honeycomb`) its
detections are points on clusters of irregular lattice sites, grain
boundaries and Stone-Wales defects
(:func:`~stemscan.agents.features.lattice_boundaries.boundary_points`); on
other lattices, which the geometry rule does not model, the class falls
back to the ``"regions"`` rule above.

The per-class options live in ``weights/dcnn_calibration.json`` beside the
weights, with the sha256 of the weights they were chosen for and the
development seeds they were chosen on (``benchmarks/dcnn_accuracy.py``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial import cKDTree

from stemscan.agents.features.column_intensity import dim_sites
from stemscan.agents.features.lattice import bond_length, honeycomb_missing_sites, is_honeycomb, region_peaks
from stemscan.agents.features.lattice_boundaries import boundary_points
from stemscan.agents.features.site_graph import site_graph
from stemscan.agents.features.visibility import image_snr, lattice_completeness

__all__ = ["CALIBRATION_PATH", "METHODS", "ClassRule", "Calibration", "DefectReport", "calibration_record", "detect_defects", "local_consistency"]

#: The calibration of the shipped weights.
CALIBRATION_PATH = Path(__file__).resolve().parent / "weights" / "dcnn_calibration.json"

_FORMAT = "stemscan-dcnn-calibration-1"

#: Reach of the column graph the two column rules share, bonds (``dim_sites``'s default neighbourhood).
_GRAPH_REACH = 2.05

#: How a class's detections are made (:class:`ClassRule`'s ``method``).
METHODS = ("regions", "column-intensity", "column-geometry")


@dataclass(frozen=True)
class ClassRule:
    """When a region of one defect class is reported.

    Attributes:
        threshold: Class probability a region's pixels exceed (0-1).
        min_area: Smallest region, pixels.
        min_snr: Smallest :func:`~stemscan.agents.features.visibility.image_snr`
            at which the class is reported at all.
        min_completeness: Smallest :func:`~stemscan.agents.features.visibility.lattice_completeness`
            of the found columns at which the class is reported at all (0-1).
        method: ``"regions"`` (regions of the class's probability channel, checked
            against the lattice), ``"column-intensity"`` (vacancies only: sites
            darker than their sublattice, :func:`~stemscan.agents.features.column_intensity.dim_sites`)
            or ``"column-geometry"`` (extended defects: clusters of irregular honeycomb sites,
            :func:`~stemscan.agents.features.lattice_boundaries.boundary_points`; the region rule
            on other lattices).
        false_alarms: ``"column-intensity"``: expected false detections per image (> 0).
        min_deficit: ``"column-intensity"``: smallest fractional intensity deficit (0-1).
    """

    threshold: float
    min_area: int
    min_snr: float
    min_completeness: float = 0.0
    method: str = "regions"
    false_alarms: float = 0.1
    min_deficit: float = 0.1

    def __post_init__(self) -> None:
        if not (isinstance(self.threshold, (int, float)) and 0.0 < self.threshold < 1.0):
            raise ValueError(f"threshold must be a probability in (0, 1), got {self.threshold!r}")
        if isinstance(self.min_area, bool) or not isinstance(self.min_area, int) or self.min_area < 1:
            raise ValueError(f"min_area must be an integer >= 1, got {self.min_area!r}")
        if not (isinstance(self.min_snr, (int, float)) and np.isfinite(self.min_snr) and self.min_snr >= 0):
            raise ValueError(f"min_snr must be a finite number >= 0, got {self.min_snr!r}")
        if not (isinstance(self.min_completeness, (int, float)) and 0.0 <= self.min_completeness <= 1.0):
            raise ValueError(f"min_completeness must be in [0, 1], got {self.min_completeness!r}")
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if not (isinstance(self.false_alarms, (int, float)) and np.isfinite(self.false_alarms) and self.false_alarms > 0):
            raise ValueError(f"false_alarms must be a finite number > 0, got {self.false_alarms!r}")
        if not (isinstance(self.min_deficit, (int, float)) and 0.0 <= self.min_deficit < 1.0):
            raise ValueError(f"min_deficit must be in [0, 1), got {self.min_deficit!r}")


@dataclass(frozen=True)
class Calibration:
    """Per-class rules (:class:`ClassRule`) of one weights file, identified by its sha256."""

    rules: dict[str, ClassRule]
    weights_sha256: str

    @classmethod
    def load(cls, path: str | Path = CALIBRATION_PATH) -> Calibration:
        """Read a calibration JSON; ``ValueError`` naming the path and the problem when it is malformed."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"DCNN calibration file not found: {path}")
        try:
            record = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not valid JSON: {error}") from error
        if not isinstance(record, dict) or record.get("format") != _FORMAT:
            raise ValueError(f"{path} is not a stemscan DCNN calibration (expected format {_FORMAT!r})")
        try:
            rules = {str(name): ClassRule(float(r["threshold"]), int(r["min_area"]), float(r["min_snr"]),
                                          float(r.get("min_completeness", 0.0)), str(r.get("method", "regions")),
                                          float(r.get("false_alarms", 0.1)), float(r.get("min_deficit", 0.1)))
                     for name, r in dict(record["classes"]).items()}
            digest = str(record["weights_sha256"])
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"{path} has an incomplete or invalid calibration: {error}") from error
        return cls(rules, digest)

    def check_weights(self, weights: str | Path) -> None:
        """``ValueError`` when ``weights`` is not the file this calibration was chosen for."""
        digest = hashlib.sha256(Path(weights).read_bytes()).hexdigest()
        if digest != self.weights_sha256:
            raise ValueError(
                f"DCNN calibration was chosen for weights with sha256 {self.weights_sha256[:16]}..., "
                f"but {weights} has sha256 {digest[:16]}...; recalibrate with benchmarks/dcnn_accuracy.py"
            )


@dataclass
class DefectReport:
    """Calibrated detections of one image.

    Attributes:
        centres: Per defect class, ``(N, 2)`` region centroids ``(row, col)``, pixels.
        confidence: Per class, ``(N,)`` peak probabilities.
        visible: Per class, whether the image was clear enough to report it.
        snr: The image's :func:`~stemscan.agents.features.visibility.image_snr`.
        completeness: :func:`~stemscan.agents.features.visibility.lattice_completeness`
            of the columns found (NaN: too little lattice measured to judge).
    """

    centres: dict[str, np.ndarray]
    confidence: dict[str, np.ndarray]
    visible: dict[str, bool]
    snr: float
    completeness: float


def detect_defects(
    probabilities: np.ndarray, image: np.ndarray, class_names: tuple[str, ...], calibration: Calibration,
    atom_threshold: float = 0.5, snr: float | None = None, measured: np.ndarray | None = None,
) -> DefectReport:
    """Defect regions of a segmented image that pass the calibration (see the module docstring).

    Args:
        probabilities: ``(n_classes, H, W)`` class probabilities of ``image``.
        image: The measured 2D image (any units).
        class_names: Name of each probability channel.
        calibration: The per-class rules; classes without a rule are not reported.
        atom_threshold: Probability above which a pixel belongs to an atom column.
        snr: The image's SNR when known (e.g. the median over the sub-scans
            an analyst stitched); ``None``: :func:`image_snr` of ``image``.
        measured: ``bool`` (H, W) mask of the measured pixels (``None``: all).

    Returns:
        A :class:`DefectReport`.
    """
    probabilities = np.asarray(probabilities)
    if probabilities.ndim != 3 or probabilities.shape[0] != len(class_names):
        raise ValueError(f"probabilities must be ({len(class_names)}, H, W), got shape {probabilities.shape}")
    if probabilities.shape[1:] != np.shape(image):
        raise ValueError(f"image shape {np.shape(image)} does not match probabilities {probabilities.shape[1:]}")
    snr = image_snr(image) if snr is None else float(snr)
    atom_channels = [class_names.index(n) for n in ("atom", "dopant") if n in class_names]
    atoms, _ = region_peaks(probabilities[atom_channels].sum(axis=0), atom_threshold, 2)
    bond = bond_length(atoms)
    mask = np.ones(probabilities.shape[1:], dtype=bool) if measured is None else np.asarray(measured, dtype=bool)
    if mask.shape != probabilities.shape[1:]:
        raise ValueError(f"measured mask shape {mask.shape} does not match probabilities {probabilities.shape[1:]}")
    completeness = lattice_completeness(atoms, bond, mask)
    centres: dict[str, np.ndarray] = {}
    confidence: dict[str, np.ndarray] = {}
    visible: dict[str, bool] = {}
    empty = np.zeros((0, 2)), np.zeros(0)
    graph = None  # the column graph, built once for both column rules
    for name, rule in calibration.rules.items():
        if name not in class_names:
            continue
        judged = np.isfinite(completeness)  # too little lattice measured to judge: the SNR alone decides
        visible[name] = bool(snr >= rule.min_snr and (not judged or completeness >= rule.min_completeness))
        if not visible[name]:
            centres[name], confidence[name] = empty
            continue
        if rule.method == "column-intensity":
            graph = graph if graph is not None else site_graph(atoms, mask.shape, bond, mask, _GRAPH_REACH)
            centres[name], confidence[name] = dim_sites(atoms, image, bond, mask, rule.false_alarms, rule.min_deficit,
                                                        graph=graph)
            continue
        if rule.method == "column-geometry" and bond and is_honeycomb(atoms, mask.shape, bond):
            graph = graph if graph is not None else site_graph(atoms, mask.shape, bond, mask, _GRAPH_REACH)
            centres[name], confidence[name] = boundary_points(atoms, mask.shape, bond, mask, graph=graph)
            continue
        found, peaks = region_peaks(probabilities[class_names.index(name)], rule.threshold, rule.min_area)
        keep = np.ones(len(found), dtype=bool)
        if len(found) and name in ("vacancy", "extended-defect"):
            keep = np.zeros(len(found), dtype=bool)
            if bond:
                on = local_consistency(atoms, bond) >= 0.5
                # columns cut by the edge of the measured area are located off-centre: not evidence of a second grain
                inside = ndimage.distance_transform_edt(np.pad(mask, 1))[1:-1, 1:-1]
                index = np.clip(np.rint(atoms).astype(np.int64), 0, np.array(mask.shape) - 1)
                off = ~on & (inside[index[:, 0], index[:, 1]] > bond)
                interface = _near(found, atoms[on], 2.0 * bond) & _near(found, atoms[off], 2.0 * bond)
                if name == "extended-defect":
                    keep = interface
                else:
                    sites, support = honeycomb_missing_sites(atoms, image.shape, bond)
                    keep = _near(found, sites[support >= 2], 0.6 * bond) & ~interface & _dark(image, found, atoms, bond)
        centres[name], confidence[name] = found[keep], peaks[keep]
    return DefectReport(centres, confidence, visible, snr, completeness)


def local_consistency(atoms: np.ndarray, bond: float, reach: float = 4.0, tolerance: float = 0.12) -> np.ndarray:
    """Per column, the fraction of the columns within ``reach`` bonds that sit on the dominant honeycomb with it.

    As :func:`~stemscan.agents.features.lattice.lattice_consistency`, but
    only over neighbours: on a whole image the small error of the estimated
    lattice vectors grows with distance and makes far pairs disagree by
    chance.  The dominant orientation is the six-fold bond order of all
    bonds; a column of a second grain (or of a rotated bond) agrees with few
    of its neighbours.

    Returns:
        ``(N,)`` values in [0, 1]; ones when there are fewer than 5 columns.
    """
    atoms = np.asarray(atoms, dtype=np.float64).reshape(-1, 2)
    n = len(atoms)
    if n < 5 or not bond > 0:
        return np.ones(n)
    tree = cKDTree(atoms)
    pairs = tree.query_pairs(1.3 * bond, output_type="ndarray")
    if len(pairs) < 3:
        return np.ones(n)
    bonds = atoms[pairs[:, 1]] - atoms[pairs[:, 0]]
    theta = float(np.angle(np.exp(6j * np.arctan2(bonds[:, 0], bonds[:, 1])).mean())) / 6.0
    length = float(np.median(np.hypot(bonds[:, 0], bonds[:, 1])))
    angles = theta + np.array([0.0, 2.0, 4.0]) * np.pi / 3.0
    deltas = length * np.stack([np.sin(angles), np.cos(angles)], axis=1)
    inverse = np.linalg.inv(np.stack([deltas[0] - deltas[1], deltas[0] - deltas[2]], axis=1)).T
    near = tree.query_pairs(reach * bond, output_type="ndarray")
    fractional = (atoms[near[:, 1]] - atoms[near[:, 0]]) @ inverse
    distance = np.full(len(near), np.inf)
    for offset in (0.0, 1.0 / 3.0, 2.0 / 3.0):
        shifted = fractional - offset
        shifted -= np.round(shifted)
        distance = np.minimum(distance, np.hypot(shifted[:, 0], shifted[:, 1]))
    agree = (distance < tolerance).astype(np.float64)
    hits = np.bincount(near[:, 0], agree, n) + np.bincount(near[:, 1], agree, n)
    total = np.bincount(near[:, 0], minlength=n) + np.bincount(near[:, 1], minlength=n)
    return np.where(total > 0, hits / np.maximum(total, 1), 1.0)


def _dark(image: np.ndarray, points: np.ndarray, atoms: np.ndarray, bond: float, fraction: float = 0.3) -> np.ndarray:
    """Whether the smoothed image at each point is below ``fraction`` × its 10th percentile at the atom columns."""
    from scipy import ndimage

    smooth = ndimage.gaussian_filter(np.asarray(image, dtype=np.float64), 0.15 * bond)
    low = float(np.min(smooth))

    def at(xy: np.ndarray) -> np.ndarray:
        index = np.clip(np.rint(xy).astype(np.int64), 0, np.array(smooth.shape) - 1)
        return smooth[index[:, 0], index[:, 1]] - low

    return at(points) < fraction * float(np.percentile(at(atoms), 10.0))


def _near(points: np.ndarray, anchors: np.ndarray, radius: float) -> np.ndarray:
    """Whether each point has an anchor within ``radius``."""
    if len(anchors) == 0:
        return np.zeros(len(points), dtype=bool)
    return cKDTree(anchors).query(points)[0] <= radius


def calibration_record(rules: dict[str, ClassRule], weights: str | Path, **provenance: Any) -> dict[str, Any]:
    """The JSON record of a calibration of ``weights`` (with ``provenance``: seeds, command...)."""
    return {
        "format": _FORMAT,
        "weights_sha256": hashlib.sha256(Path(weights).read_bytes()).hexdigest(),
        "classes": {name: {"threshold": r.threshold, "min_area": r.min_area, "min_snr": r.min_snr,
                           "min_completeness": r.min_completeness, "method": r.method,
                           "false_alarms": r.false_alarms, "min_deficit": r.min_deficit}
                    for name, r in rules.items()},
        **provenance,
    }
