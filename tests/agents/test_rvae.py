"""The rVAE as the zoo uses it: rotation invariance of trained latents, encoding, safe weight storage."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch

from stemscan.agents.nets.rvae import RVAE, RVAEConfig
from stemscan.agents.rvae import encode, load_rvae, pretrained, pretrained_path, save_rvae
from stemscan.agents.train.rvae_data import rotate_windows
from stemscan.agents.train.rvae_loss import train_rvae

from .helpers import WINDOW, dumbbells

torch.set_num_threads(1)

@pytest.fixture(scope="module")
def toy_model() -> RVAE:
    """An rVAE trained for a few seconds on dumbbells at random separations and rotations."""
    rng = np.random.default_rng(0)
    n = 1500
    windows = dumbbells(rng.uniform(2, 7, n), rng.uniform(-math.pi / 3, math.pi / 3, n), 0.03, rng)
    config = RVAEConfig(window=WINDOW, latent_dim=2, angle_prior=1.0)
    return train_rvae(windows, config=config, epochs=20, batch_size=64, seed=0).model


# ---------------------------------------------------- rotation invariance
def test_z_is_invariant_to_rotation_and_angle_tracks_it(toy_model: RVAE) -> None:
    rng = np.random.default_rng(4)
    rotation = np.linspace(-0.6, 0.6, 9)
    rotated = encode(toy_model, dumbbells(np.full(9, 5.0), rotation, 0.0, rng))
    stretched = encode(toy_model, dumbbells(np.linspace(2, 7, 9), np.zeros(9), 0.0, rng))
    # z barely moves when the same structure is rotated ...
    z_rotation = np.linalg.norm(rotated[:, 3:] - rotated[:, 3:].mean(0), axis=1).max()
    # ... but does move when the structure itself changes
    z_structure = np.linalg.norm(stretched[:, 3:] - stretched[:, 3:].mean(0), axis=1).max()
    assert z_rotation < 0.25 * z_structure
    # the angle latent follows the rotation (up to the sign convention)
    assert abs(np.corrcoef(rotated[:, 0], rotation)[0, 1]) > 0.95
    assert np.ptp(rotated[:, 0]) > 0.5 * np.ptp(rotation)


def test_pretrained_z_is_rotation_invariant_on_ferroelectric_columns() -> None:
    """Shipped weights: rotating real atom windows moves z far less than going from atom to atom."""
    from stemscan.scenes import make

    model = pretrained()
    scene = make("ferroelectric-domains", seed=3, size=256)
    image = (scene.image / scene.image.max()).astype(np.float32)
    inner = scene.atoms[np.all((scene.atoms > 30) & (scene.atoms < 226), axis=1)]
    atoms = inner[np.random.default_rng(0).choice(len(inner), 8, replace=False)]
    crops = torch.from_numpy(np.stack([image[int(r) - 12 : int(r) + 12, int(c) - 12 : int(c) + 12] for r, c in atoms]))
    angles = torch.linspace(-0.5, 0.5, 7)
    z = np.stack([encode(model, rotate_windows(crop[None].repeat(7, 1, 1), angles, 16).numpy())[:, 3:] for crop in crops])
    within = z.std(axis=1).mean()  # over rotations of one atom
    across = z[:, 3].std(axis=0).mean()  # over atoms, unrotated
    assert within < 0.2 * across


# --------------------------------------------------------------- encoding
def test_encode_empty() -> None:
    model = RVAE(RVAEConfig(window=WINDOW, latent_dim=2))
    assert encode(model, np.zeros((0, WINDOW, WINDOW), np.float32)).shape == (0, 5)


# ---------------------------------------------------------------- storage
def test_save_load_roundtrip(tmp_path, toy_model: RVAE) -> None:
    path = save_rvae(toy_model, tmp_path / "m.safetensors", {"note": "toy"})
    assert json.loads(path.with_suffix(".json").read_text())["metadata"] == {"note": "toy"}
    loaded = load_rvae(path)
    windows = np.random.default_rng(0).random((4, WINDOW, WINDOW)).astype(np.float32)
    np.testing.assert_array_equal(encode(toy_model, windows), encode(loaded, windows))
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_load_rejects_bad_files(tmp_path, toy_model: RVAE) -> None:
    path = save_rvae(toy_model, tmp_path / "m.safetensors")
    config = path.with_suffix(".json")
    good = config.read_text()
    with pytest.raises(FileNotFoundError, match="weights not found"):
        load_rvae(tmp_path / "missing.safetensors")
    config.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_rvae(path)
    document = json.loads(good)
    document["config"]["window"] = 12  # the weights were trained for 16 px windows
    config.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="has shape"):
        load_rvae(path)
    document["config"] = {**json.loads(good)["config"], "colour": "red"}
    config.write_text(json.dumps(document))
    with pytest.raises(ValueError, match="unknown rVAE config keys: colour"):
        load_rvae(path)
    config.write_text(good)
    path.write_bytes(pickle.dumps({"encoder.1.weight": [1, 2, 3]}))  # a pickle is never unpickled
    with pytest.raises(ValueError, match="not a readable safetensors"):
        load_rvae(path)
    config.unlink()
    with pytest.raises(FileNotFoundError, match="config not found"):
        load_rvae(path)


def test_load_rejects_non_finite_weights(tmp_path, toy_model: RVAE) -> None:
    from safetensors.torch import save_file

    path = save_rvae(toy_model, tmp_path / "m.safetensors")
    tensors = {k: v.clone() for k, v in toy_model.state_dict().items()}
    tensors["decoder.0.bias"][0] = float("nan")
    save_file(tensors, str(path))
    with pytest.raises(ValueError, match="NaN"):
        load_rvae(path)


def test_save_rejects_other_suffix(tmp_path, toy_model: RVAE) -> None:
    with pytest.raises(ValueError, match=".safetensors"):
        save_rvae(toy_model, tmp_path / "m.pt")


@pytest.mark.parametrize("centring", ["peak", "lattice"])
def test_shipped_weights_load_and_match_their_config(centring: str) -> None:
    model = pretrained(centring)
    document = json.loads(pretrained_path(centring).with_suffix(".json").read_text())
    assert model.config.to_dict() == document["config"]
    assert document["metadata"]["n_windows"] > 1000
    assert document["metadata"]["centring"] == centring


def test_building_models_leaves_the_global_generator_alone() -> None:
    from stemscan.agents.rvae import new_model

    state = torch.random.get_rng_state()
    new_model(RVAEConfig(), seed=1)
    pretrained()
    assert torch.equal(state, torch.random.get_rng_state())
