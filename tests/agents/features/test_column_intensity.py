"""Vacancies from column intensities: missing and lighter columns found, pristine lattices and grain boundaries quiet."""

from __future__ import annotations

import numpy as np
import pytest

from stemscan.agents.features.column_intensity import dim_sites
from stemscan.agents.features.lattice import bond_length
from stemscan.agents.train.dcnn_data import measure
from stemscan.scenes import make as make_scene


def _truth(scene) -> np.ndarray:  # noqa: ANN001
    return np.array([f.centroid for f in scene.features if f.kind == "vacancy"]).reshape(-1, 2)


def _hits(found: np.ndarray, truth: np.ndarray, radius: float = 3.0) -> np.ndarray:
    """Per found site, whether a true vacancy lies within ``radius`` pixels."""
    if len(found) == 0 or len(truth) == 0:
        return np.zeros(len(found), dtype=bool)
    return np.min(np.hypot(*(found[:, None, :] - truth[None, :, :]).transpose(2, 0, 1)), axis=1) < radius


@pytest.mark.parametrize("material", ["graphene", "mos2"])
def test_finds_missing_and_lighter_columns_only(material: str) -> None:
    """Ground-truth columns as the found ones: every report is a true vacancy (C, Mo or single-S) and most are found."""
    scene = make_scene("lattice-defects", seed=11, size=256, material=material, vacancy_fraction=0.01,
                       dopant_fraction=0.0, grain_boundary=False, stone_wales_fraction=0.0)
    atoms = np.asarray(scene.atoms)
    truth = _truth(scene)
    assert len(truth) >= 4
    found, confidence = dim_sites(atoms, scene.image, bond_length(atoms))
    assert len(found) >= 0.6 * len(truth)
    assert _hits(found, truth).all()
    assert np.all((confidence >= 0.9) & (confidence <= 1.0))


def test_single_sulfur_vacancies_are_found_in_mos2() -> None:
    """A column that lost one of its two S atoms is lighter, not missing: still a vacancy."""
    scene = make_scene("lattice-defects", seed=11, size=256, material="mos2", vacancy_fraction=0.01,
                       dopant_fraction=0.0, grain_boundary=False, stone_wales_fraction=0.0)
    atoms = np.asarray(scene.atoms)
    found, _ = dim_sites(atoms, scene.image, bond_length(atoms))
    present = _hits(atoms, found, 1.0)  # found sites that are (dim) columns, not empty sites
    assert present.any()


def test_pristine_lattice_and_grain_boundary_report_nothing() -> None:
    for seed in (1, 2):
        pristine = make_scene("lattice-defects", seed=seed, size=256, material="mos2", vacancy_fraction=0.0,
                              dopant_fraction=0.0, grain_boundary=False)
        image = measure(pristine, 4000.0, np.random.default_rng(seed))
        atoms = np.asarray(pristine.atoms)
        assert len(dim_sites(atoms, image, bond_length(atoms))[0]) == 0
        boundary = make_scene("lattice-defects", seed=seed, size=256, material="graphene", vacancy_fraction=0.0,
                              dopant_fraction=0.0, grain_boundary=True, stone_wales_fraction=0.0)
        atoms = np.asarray(boundary.atoms)
        assert len(dim_sites(atoms, boundary.image, bond_length(atoms))[0]) == 0


def test_unmeasured_area_is_not_judged() -> None:
    scene = make_scene("lattice-defects", seed=11, size=256, material="graphene", vacancy_fraction=0.01,
                       dopant_fraction=0.0, grain_boundary=False, stone_wales_fraction=0.0)
    atoms = np.asarray(scene.atoms)
    measured = np.zeros(scene.shape, dtype=bool)
    measured[:, :128] = True
    found, _ = dim_sites(atoms, np.where(measured, scene.image, 0.0), bond_length(atoms), measured)
    assert len(found) and np.all(found[:, 1] < 128 - 2.0 * bond_length(atoms))
    assert _hits(found, _truth(scene)).all()


def test_bad_inputs_are_named() -> None:
    atoms = np.random.default_rng(0).random((20, 2)) * 50
    with pytest.raises(ValueError, match="2-D"):
        dim_sites(atoms, np.zeros(5), 5.0)
    with pytest.raises(ValueError, match="false_alarms"):
        dim_sites(atoms, np.zeros((64, 64)), 5.0, false_alarms=0.0)
    assert dim_sites(atoms, np.zeros((64, 64)), None)[0].shape == (0, 2)
    assert dim_sites(atoms[:3], np.zeros((64, 64)), 5.0)[0].shape == (0, 2)
