"""Tests of the DCNN segmenter, the AtomFinder and the shipped weights."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from stemscan.agents.dcnn import AtomFinder, CLASS_NAMES, normalise_image, WEIGHTS_PATH
from stemscan.agents.train.dcnn import evaluate_scene
from stemscan.agents.train.dcnn_data import measure
from stemscan.scenes import make as make_scene
from stemscan.envs.dose_defaults import default_acquisition

#: The env's default imaging dose on graphene (scenes are in physical scattered fraction), e⁻/px.
GRAPHENE_DOSE = default_acquisition("lattice-defects", {"material": "graphene", "pixel_size": 0.2})[0]


@pytest.fixture(scope="module")
def finder() -> AtomFinder:
    torch.set_num_threads(1)
    return AtomFinder.pretrained(device="cpu")


# ------------------------------------------------------------ weight files
def test_shipped_weights_are_small_and_documented() -> None:
    assert WEIGHTS_PATH.stat().st_size < 3_000_000
    record = json.loads(WEIGHTS_PATH.with_suffix(".json").read_text())
    assert record["command"].startswith("stemscan train dcnn")
    import hashlib

    assert hashlib.sha256(WEIGHTS_PATH.read_bytes()).hexdigest() == record["sha256"]


def test_corrupt_weights_file_gives_clear_error(tmp_path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(b"\x00" * 5 + b"not a safetensors file")
    with pytest.raises(ValueError, match="not a valid DCNN weights file"):
        AtomFinder.load(path)
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(WEIGHTS_PATH.read_bytes()[:1000])
    with pytest.raises(ValueError, match="not a valid DCNN weights file"):
        AtomFinder.load(truncated)
    with pytest.raises(FileNotFoundError):
        AtomFinder.load(tmp_path / "missing.safetensors")


def test_mismatched_weights_file_gives_clear_error(tmp_path) -> None:
    from safetensors.torch import load_file, save_file

    from stemscan.agents.dcnn import _read_metadata

    tensors = load_file(WEIGHTS_PATH)
    metadata = _read_metadata(WEIGHTS_PATH.read_bytes())
    name = next(k for k in tensors if k.endswith("head.weight"))
    wrong = dict(tensors)
    wrong[name] = torch.zeros(3, *tensors[name].shape[1:])
    save_file(wrong, tmp_path / "shape.safetensors", metadata=metadata)
    with pytest.raises(ValueError, match="has shape"):
        AtomFinder.load(tmp_path / "shape.safetensors")
    missing = {k: v for k, v in tensors.items() if k != name}
    save_file(missing, tmp_path / "missing.safetensors", metadata=metadata)
    with pytest.raises(ValueError, match="missing tensors"):
        AtomFinder.load(tmp_path / "missing.safetensors")
    save_file(tensors, tmp_path / "nometa.safetensors")
    with pytest.raises(ValueError, match="not a stemscan DCNN weights file"):
        AtomFinder.load(tmp_path / "nometa.safetensors")


# --------------------------------------------------------------- inference
def test_bad_images_give_clear_errors(finder: AtomFinder) -> None:
    with pytest.raises(ValueError, match="2D"):
        finder.find(np.zeros((2, 32, 32)))
    with pytest.raises(ValueError, match="NaN"):
        image = np.zeros((32, 32))
        image[3, 4] = np.nan
        finder.find(image)
    with pytest.raises(ValueError, match="at least"):
        finder.find(np.zeros((2, 40)))
    with pytest.raises(ValueError, match="real numbers"):
        finder.find(np.full((8, 8), "a"))
    with pytest.raises(ValueError, match="threshold"):
        finder.find(np.zeros((16, 16)), threshold=1.5)
    with pytest.raises(ValueError, match="unknown class"):
        finder.find_class(np.zeros((16, 16)), "ghost")


def test_probabilities_are_normalised_for_odd_sizes(finder: AtomFinder) -> None:
    image = np.random.default_rng(1).random((37, 45))
    probs = finder.probabilities(image)
    assert probs.shape == (len(CLASS_NAMES), 37, 45) and probs.dtype == np.float32
    np.testing.assert_allclose(probs.sum(axis=0), 1.0, atol=1e-5)
    assert finder.find(np.zeros((20, 20))).shape[1] == 2  # flat image: no crash


def test_normalisation_ignores_gain_and_offset() -> None:
    image = np.random.default_rng(2).random((32, 32)).astype(np.float32)
    np.testing.assert_allclose(normalise_image(image), normalise_image(7.0 * image + 100.0), atol=1e-4)
    assert not normalise_image(np.ones((8, 8))).any()


#: Shipped weights on lattice-defects seed 11, 64 px, the env's default graphene dose, noise default_rng(0),
#: recorded when the scenes became physically calibrated (issue 15); the weights file's own
#: ``reference_prediction`` was taken on the former scenes at 500 e/px.
RECORDED_PREDICTION = {
    "class_means": [0.6361598968505859, 0.19098281860351562, 3.827423824986909e-06, 0.0006254130275920033,
                    0.17222809791564941],
    "first_atoms": [[0.21834232001399637, 9.957726414166293], [1.427341324243122, 15.870336326517819],
                    [0.45205396583419183, 27.763404038249135], [0.0, 40.45406033357087],
                    [3.0319504540943103, 3.4111738569063577]],
}


def test_weights_reproduce_a_recorded_prediction(finder: AtomFinder) -> None:
    scene = make_scene("lattice-defects", seed=11, size=64)
    image = measure(scene, GRAPHENE_DOSE, np.random.default_rng(0))
    probs = finder.probabilities(image)
    record = RECORDED_PREDICTION
    np.testing.assert_allclose(probs[:, ::8, ::8].mean(axis=(1, 2)), record["class_means"], atol=1e-4)
    np.testing.assert_allclose(finder.find(image)[:5], np.array(record["first_atoms"]), atol=1e-3)


def test_atom_precision_and_recall_on_noisy_lattice_defects(finder: AtomFinder) -> None:
    precisions, recalls = [], []
    for seed in (101, 102):
        scene = make_scene("lattice-defects", seed=seed, size=256)
        result = evaluate_scene(finder, scene, GRAPHENE_DOSE, np.random.default_rng(seed))
        precisions.append(result["atom_precision"])
        recalls.append(result["atom_recall"])
    assert min(precisions) >= 0.95, precisions
    assert min(recalls) >= 0.95, recalls
