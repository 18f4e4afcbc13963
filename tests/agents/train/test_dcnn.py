"""Training data and training of the DCNN segmenter."""

from __future__ import annotations


import numpy as np
import pytest
import torch

from stemscan.agents.dcnn import AtomFinder, CLASS_NAMES
from stemscan.agents.train.dcnn import make_batch, train_dcnn, TrainConfig
from stemscan.agents.train.dcnn_data import class_map
from stemscan.scenes import make as make_scene


def test_class_map_marks_atoms_dopants_and_vacancies() -> None:
    scene = make_scene("lattice-defects", seed=3, size=128, vacancy_fraction=0.02, dopant_fraction=0.02)
    target = class_map(scene)
    assert target.shape == scene.shape and target.dtype == np.int64
    atom = CLASS_NAMES.index("atom")
    rows, cols = np.rint(scene.atoms[scene.atom_classes == 0]).astype(int).T
    inside = (rows >= 0) & (rows < 128) & (cols >= 0) & (cols < 128)
    at_atoms = target[rows[inside], cols[inside]]
    assert np.mean((at_atoms == atom) | (at_atoms == CLASS_NAMES.index("vacancy"))) > 0.95
    for kind in ("vacancy", "dopant"):
        centres = [f.centroid for f in scene.features if f.kind == kind]
        assert centres, f"fixture scene should contain a {kind}"
        r, c = np.rint(centres[0]).astype(int)
        assert target[r, c] == CLASS_NAMES.index(kind)


def test_class_map_rejects_scene_without_atoms() -> None:
    scene = make_scene("lattice-defects", seed=0, size=64)
    scene.atoms = np.zeros((0, 2))
    with pytest.raises(ValueError, match="lists no atoms"):
        class_map(scene)


def test_batches_are_reproducible_from_the_seed() -> None:
    config = TrainConfig(batch_size=4, crops_per_scene=2)
    a = make_batch(config, np.random.default_rng(5))
    b = make_batch(config, np.random.default_rng(5))
    c = make_batch(config, np.random.default_rng(6))
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (4, 1, 64, 64) and a[1].shape == (4, 64, 64)


def test_training_a_few_steps_runs_and_round_trips(tmp_path) -> None:
    torch.set_num_threads(1)
    config = TrainConfig(steps=3, batch_size=2, crop=32, scene_size=64, crops_per_scene=2, base_channels=4)
    finder, losses = train_dcnn(config)
    assert len(losses) == 3 and np.isfinite(losses).all()
    again, _ = train_dcnn(config)
    for p, q in zip(finder.models[0].parameters(), again.models[0].parameters()):
        assert torch.equal(p, q)  # same seed, same weights
    path = finder.save(tmp_path / "w.safetensors")
    loaded = AtomFinder.load(path, device="cpu")
    image = np.random.default_rng(0).random((40, 36)).astype(np.float32)
    np.testing.assert_array_equal(loaded.probabilities(image), finder.probabilities(image))
    assert loaded.metadata["train_config"]["steps"] == 3


def test_train_config_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="crop must be a multiple"):
        train_dcnn(TrainConfig(crop=30))
    with pytest.raises(ValueError, match="steps"):
        train_dcnn(TrainConfig(steps=-1))
