"""Calibrated DCNN detections: no vacancies on a pristine MoS2 lattice, a planted vacancy found, SNR gate, files."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from scipy import ndimage

from stemscan.agents.dcnn import WEIGHTS_PATH, AtomFinder
from stemscan.agents.dcnn_calibration import CALIBRATION_PATH, Calibration, ClassRule, detect_defects
from stemscan.agents.features.visibility import image_snr
from stemscan.agents.train.dcnn_data import measure
from stemscan.scenes import make as make_scene


@pytest.fixture(scope="module")
def finder() -> AtomFinder:
    return AtomFinder.pretrained(device="cpu")


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    return Calibration.load()


def test_shipped_calibration_matches_the_shipped_weights(calibration: Calibration) -> None:
    calibration.check_weights(WEIGHTS_PATH)  # raises on a sha256 mismatch
    assert {"vacancy", "extended-defect", "dopant"} <= set(calibration.rules)


def test_calibration_rejects_other_weights(tmp_path, calibration: Calibration) -> None:
    other = tmp_path / "other.safetensors"
    other.write_bytes(WEIGHTS_PATH.read_bytes() + b" ")
    with pytest.raises(ValueError, match="sha256"):
        calibration.check_weights(other)


def test_malformed_calibration_names_the_file(tmp_path) -> None:
    bad = tmp_path / "cal.json"
    bad.write_text(json.dumps({"format": "stemscan-dcnn-calibration-1", "classes": {"vacancy": {"threshold": 2}}}))
    with pytest.raises(ValueError, match="cal.json"):
        Calibration.load(bad)
    with pytest.raises(ValueError, match="threshold"):
        ClassRule(1.5, 4, 0.0)


def test_no_vacancy_on_a_pristine_mos2_lattice(finder: AtomFinder, calibration: Calibration) -> None:
    scene = make_scene("lattice-defects", seed=3, size=128, material="mos2", vacancy_fraction=0.0,
                       dopant_fraction=0.0, grain_boundary=False)
    for image in (scene.image, measure(scene, 4000.0, np.random.default_rng(0))):
        probs = finder.probabilities(image)
        raw = int((probs[finder.class_index("vacancy")] > 0.5).sum())
        report = detect_defects(probs, image, finder.class_names, calibration)
        assert raw > 0  # the uncalibrated network does fire here
        assert len(report.centres["vacancy"]) == 0


def test_finds_a_planted_vacancy(finder: AtomFinder, calibration: Calibration) -> None:
    scene = make_scene("lattice-defects", seed=5, size=128, material="graphene", vacancy_fraction=0.003,
                       dopant_fraction=0.0, grain_boundary=False, stone_wales_fraction=0.0)
    truth = np.array([f.centroid for f in scene.features if f.kind == "vacancy"])
    assert len(truth) >= 1
    report = detect_defects(finder.probabilities(scene.image), scene.image, finder.class_names, calibration)
    found = report.centres["vacancy"]
    assert len(found) >= 1
    assert np.min(np.hypot(*(found[:, None, :] - truth[None, :, :]).transpose(2, 0, 1))) < 4.0


def test_too_noisy_image_reports_the_class_not_visible(finder: AtomFinder, calibration: Calibration) -> None:
    scene = make_scene("lattice-defects", seed=5, size=128, material="graphene")
    image = measure(scene, 500.0, np.random.default_rng(0))  # ~0.1 detected electrons per pixel
    report = detect_defects(finder.probabilities(image), image, finder.class_names, calibration)
    assert report.snr < calibration.rules["vacancy"].min_snr
    assert report.visible["vacancy"] is False and len(report.centres["vacancy"]) == 0


def test_image_snr_grows_with_dose() -> None:
    scene = make_scene("lattice-defects", seed=1, size=96, material="mos2")
    values = [image_snr(measure(scene, dose, np.random.default_rng(0))) for dose in (300.0, 3000.0, 30000.0)]
    assert values[0] < values[1] < values[2] < image_snr(scene.image)
    with pytest.raises(ValueError, match="NaN"):
        image_snr(np.full((8, 8), np.nan))
    with pytest.raises(ValueError, match="shape"):
        image_snr(np.zeros(5))


def test_calibration_file_is_json_with_provenance() -> None:
    record = json.loads(CALIBRATION_PATH.read_text())
    assert record["weights_sha256"] and "seeds" in record["chosen_on"]


def test_lattice_completeness_drops_when_columns_are_lost() -> None:
    from stemscan.agents.features.lattice import bond_length
    from stemscan.agents.features.visibility import lattice_completeness

    scene = make_scene("lattice-defects", seed=2, size=128, material="graphene", vacancy_fraction=0.0,
                       grain_boundary=False, stone_wales_fraction=0.0)
    atoms = np.asarray(scene.atoms)
    bond = bond_length(atoms)
    mask = np.ones(scene.shape, dtype=bool)
    full = lattice_completeness(atoms, bond, mask)
    thinned = lattice_completeness(atoms[np.random.default_rng(0).random(len(atoms)) > 0.1], bond, mask)
    assert full > 0.95 and thinned < 0.85
    assert np.isnan(lattice_completeness(atoms[:3], bond, mask))
    with pytest.raises(ValueError, match="measured"):
        lattice_completeness(atoms, bond, np.ones(5, dtype=bool))


def test_rule_methods_are_checked_and_old_files_read_as_regions(tmp_path) -> None:
    with pytest.raises(ValueError, match="method"):
        ClassRule(0.5, 4, 0.0, method="magic")
    with pytest.raises(ValueError, match="false_alarms"):
        ClassRule(0.5, 4, 0.0, method="column-intensity", false_alarms=float("nan"))
    with pytest.raises(ValueError, match="min_deficit"):
        ClassRule(0.5, 4, 0.0, method="column-intensity", min_deficit=1.0)
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": "stemscan-dcnn-calibration-1", "weights_sha256": "0" * 64,
                               "classes": {"vacancy": {"threshold": 0.5, "min_area": 4, "min_snr": 1.5}}}))
    assert Calibration.load(old).rules["vacancy"].method == "regions"
    assert Calibration.load().rules["vacancy"].method == "column-intensity"


def test_mos2_vacancies_by_column_intensity(finder: AtomFinder, calibration: Calibration) -> None:
    """Shipped rule on MoS2 with a missing Mo and lighter S2 columns: every reported vacancy is a true one."""
    scene = make_scene("lattice-defects", seed=7, size=256, material="mos2", vacancy_fraction=0.008)
    truth = np.array([f.centroid for f in scene.features if f.kind == "vacancy"])
    report = detect_defects(finder.probabilities(scene.image), scene.image, finder.class_names, calibration)
    found = report.centres["vacancy"]
    assert len(truth) >= 3 and len(found) >= 2
    assert np.all(np.min(np.hypot(*(found[:, None, :] - truth[None, :, :]).transpose(2, 0, 1)), axis=1) < 4.0)


def test_no_vacancy_reported_on_a_mos2_grain_boundary(finder: AtomFinder, calibration: Calibration) -> None:
    """Found columns at a boundary can look like a honeycomb with a missing site; the one-grain check skips them."""
    scene = make_scene("lattice-defects", seed=101, size=256, material="mos2")
    image = measure(scene, 4000.0, np.random.default_rng(101))
    found = detect_defects(finder.probabilities(image), image, finder.class_names, calibration).centres["vacancy"]
    boundary = np.isin(scene.labels, [i + 1 for i, f in enumerate(scene.features) if f.kind == "grain-boundary"])
    index = np.rint(found).astype(int)
    assert len(found) and not boundary[index[:, 0], index[:, 1]].any()


def test_extended_defects_by_column_geometry(finder: AtomFinder, calibration: Calibration) -> None:
    """Shipped rule on MoS2 at dose: extended-defect points lie on the grain boundary, none on a pristine lattice."""
    assert calibration.rules["extended-defect"].method == "column-geometry"
    scene = make_scene("lattice-defects", seed=9, size=256, material="mos2")
    image = measure(scene, 4000.0, np.random.default_rng(9))
    probs = finder.probabilities(image)
    found = detect_defects(probs, image, finder.class_names, calibration).centres["extended-defect"]
    band = np.isin(scene.labels, [i + 1 for i, f in enumerate(scene.features) if f.kind == "grain-boundary"])
    near = ndimage.distance_transform_edt(~band)
    index = np.rint(found).astype(int)
    assert len(found) >= 3 and np.mean(near[index[:, 0], index[:, 1]] <= 6.0) >= 0.9
    pristine = make_scene("lattice-defects", seed=9, size=256, material="mos2", grain_boundary=False)
    image = measure(pristine, 4000.0, np.random.default_rng(9))
    report = detect_defects(finder.probabilities(image), image, finder.class_names, calibration)
    assert report.visible["extended-defect"] and len(report.centres["extended-defect"]) == 0


def test_column_geometry_falls_back_to_regions_off_the_honeycomb(finder: AtomFinder, calibration: Calibration) -> None:
    """On a perovskite (square) lattice the geometry rule does not apply: the region rule decides, as before."""
    from stemscan.agents.features.lattice import bond_length, is_honeycomb, region_peaks

    scene = make_scene("ferroelectric-domains", seed=4, size=192)
    probs = finder.probabilities(scene.image)
    atoms, _ = region_peaks(probs[[finder.class_index("atom"), finder.class_index("dopant")]].sum(axis=0), 0.5, 2)
    assert len(atoms) > 50 and not is_honeycomb(atoms, scene.shape, bond_length(atoms))
    regions = Calibration({**calibration.rules, "extended-defect": replace(calibration.rules["extended-defect"], method="regions")},
                          calibration.weights_sha256)
    geometry = detect_defects(probs, scene.image, finder.class_names, calibration).centres["extended-defect"]
    assert np.array_equal(geometry, detect_defects(probs, scene.image, finder.class_names, regions).centres["extended-defect"])


def test_columns_cut_by_sub_scan_edges_are_not_boundaries(finder: AtomFinder, calibration: Calibration) -> None:
    """Graphene seen through 32 px sub-scans: the DCNN places cut columns off-centre; the one-bond margin skips them."""
    from stemscan.agents.features.lattice import bond_length, region_peaks
    from stemscan.agents.features.lattice_boundaries import boundary_points

    scene = make_scene("lattice-defects", seed=13, size=256, material="graphene", grain_boundary=False,
                       vacancy_fraction=0.0, dopant_fraction=0.0, stone_wales_fraction=0.0)
    mask = np.zeros(scene.shape, dtype=bool)
    for r, c in np.random.default_rng(0).integers(0, 256 - 32, (16, 2)):
        mask[r : r + 32, c : c + 32] = True
    image = np.where(mask, scene.image, 0.0)
    probs = finder.probabilities(image)
    report = detect_defects(probs, image, finder.class_names, calibration, measured=mask)
    assert report.visible["extended-defect"] and len(report.centres["extended-defect"]) == 0
    atoms, _ = region_peaks(probs[[finder.class_index("atom"), finder.class_index("dopant")]].sum(axis=0) * mask, 0.5, 2)
    assert len(boundary_points(atoms, scene.shape, bond_length(atoms), mask, edge=0.0)[0]) > 0  # what the margin removes
