"""The rVAE: peak finder, network, ELBO training, rotation invariance, encoding and safe weight storage."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest
import torch

from stemscan.agents.nets.rvae import RVAE, RVAEConfig
from stemscan.agents.features.peaks import find_peaks, window_corners
from stemscan.agents.features.windows import patch_windows
from stemscan.agents.rvae import encode, load_rvae, pretrained, pretrained_path, save_rvae
from stemscan.agents.train.rvae_data import rotate_windows, windows_from_scenes
from stemscan.agents.train.rvae_loss import elbo_loss, train_rvae
from stemscan.agents.train.rvae_online import OnlineTrainer

torch.set_num_threads(1)

BIG, WINDOW = 26, 16


def dumbbells(separation: np.ndarray, angle: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Windows of a bright and a dim Gaussian column, ``separation`` px apart along ``angle`` (rad)."""
    y, x = np.mgrid[:BIG, :BIG] - (BIG - 1) / 2
    images = []
    for s, a in zip(separation, angle):
        dy, dx = np.sin(a) * s / 2, np.cos(a) * s / 2
        bright = np.exp(-((y - dy) ** 2 + (x - dx) ** 2) / (2 * 1.8**2))
        dim = 0.5 * np.exp(-((y + dy) ** 2 + (x + dx) ** 2) / (2 * 1.8**2))
        images.append(bright + dim)
    start = (BIG - WINDOW) // 2
    out = np.stack(images)[:, start : start + WINDOW, start : start + WINDOW]
    return (out + rng.normal(0, noise, out.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def toy_model() -> RVAE:
    """An rVAE trained for a few seconds on dumbbells at random separations and rotations."""
    rng = np.random.default_rng(0)
    n = 1500
    windows = dumbbells(rng.uniform(2, 7, n), rng.uniform(-math.pi / 3, math.pi / 3, n), 0.03, rng)
    config = RVAEConfig(window=WINDOW, latent_dim=2, angle_prior=1.0)
    return train_rvae(windows, config=config, epochs=20, batch_size=64, seed=0).model


# ------------------------------------------------------------------ peaks
def test_find_peaks_recovers_columns_in_noise() -> None:
    rng = np.random.default_rng(1)
    y, x = np.mgrid[:32, :32]
    truth = np.array([[8.0, 9.0], [20.0, 24.0], [25.0, 6.0]])
    image = sum(np.exp(-((y - r) ** 2 + (x - c) ** 2) / (2 * 2.0**2)) for r, c in truth)
    image = image + rng.normal(0, 0.05, image.shape)
    peaks = find_peaks(image, sigma=1.0, min_distance=3)
    assert len(peaks) == 3
    distance = np.linalg.norm(peaks[:, None] - truth[None], axis=-1).min(axis=0)
    assert distance.max() <= 1.5


def test_find_peaks_flat_image_has_none() -> None:
    assert find_peaks(np.zeros((16, 16))).shape == (0, 2)


@pytest.mark.parametrize(
    "image, kwargs, match",
    [
        (np.zeros(16), {}, "2D image"),
        (np.full((8, 8), np.nan), {}, "NaN"),
        (np.zeros((8, 8)), {"min_distance": 0}, "min_distance"),
        (np.zeros((8, 8)), {"sigma": -1.0}, "sigma"),
    ],
)
def test_find_peaks_rejects_bad_input(image: np.ndarray, kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        find_peaks(image, **kwargs)


def test_window_corners_stay_inside() -> None:
    corners = window_corners(np.array([[0.0, 0.0], [31.0, 31.0], [16.0, 10.0]]), (32, 32), 16)
    assert corners.tolist() == [[0, 0], [16, 16], [8, 2]]
    with pytest.raises(ValueError, match="larger than the image"):
        window_corners(np.zeros((1, 2)), (8, 8), 16)


def test_patch_windows_cut_around_atoms() -> None:
    y, x = np.mgrid[:32, :32]
    patch = np.exp(-((y - 10) ** 2 + (x - 20) ** 2) / 8.0).astype(np.float32)
    windows, peaks = patch_windows(patch, 16)
    assert windows.shape == (1, 16, 16) and peaks.shape == (1, 2)
    r, c = np.unravel_index(np.argmax(windows[0]), windows[0].shape)
    assert abs(r - 8) <= 1 and abs(c - 8) <= 1  # the atom sits at the window centre
    with pytest.raises(ValueError, match="larger than the patch"):
        patch_windows(patch, 40)


# ---------------------------------------------------------------- network
def test_rvae_shapes_and_bad_input() -> None:
    model = RVAE(RVAEConfig(window=12, latent_dim=3))
    windows = torch.rand(5, 12, 12)
    recon, mean, log_var = model(windows, torch.Generator().manual_seed(0))
    assert recon.shape == (5, 12, 12) and mean.shape == (5, 6) and log_var.shape == (5, 6)
    with pytest.raises(ValueError, match=r"\(B, 12, 12\)"):
        model.encode(torch.rand(5, 16, 16))


@pytest.mark.parametrize("field, value", [("window", 2), ("latent_dim", 0), ("angle_prior", -1.0), ("hidden", 1.5)])
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        RVAEConfig(**{field: value})


def test_decoder_rotates_coordinates() -> None:
    """Decoding with angle a+pi/2 equals decoding with angle a, rotated by 90 degrees."""
    model = RVAE(RVAEConfig(window=8, latent_dim=1))
    latent = torch.tensor([[0.3, 0.0, 0.0, 0.5]])
    turned = latent.clone()
    turned[0, 0] += math.pi / 2
    a, b = model.decode(latent)[0], model.decode(turned)[0]
    assert not torch.allclose(a, b, atol=1e-4)
    assert torch.allclose(torch.rot90(a, 1, (0, 1)), b, atol=1e-4) or torch.allclose(torch.rot90(a, -1, (0, 1)), b, atol=1e-4)


def test_elbo_decreases_with_training() -> None:
    rng = np.random.default_rng(2)
    windows = dumbbells(rng.uniform(2, 7, 256), rng.uniform(-1, 1, 256), 0.03, rng)
    result = train_rvae(windows, config=RVAEConfig(window=WINDOW), epochs=12, batch_size=32, seed=0)
    assert result.losses[-1] < 0.6 * result.losses[0]
    loss, recon, kl = elbo_loss(result.model, torch.from_numpy(windows[:8]), torch.Generator().manual_seed(0))
    assert torch.isclose(loss, recon + kl) and kl > 0


def test_training_is_deterministic_given_seed() -> None:
    rng = np.random.default_rng(3)
    windows = dumbbells(rng.uniform(2, 7, 64), rng.uniform(-1, 1, 64), 0.03, rng)
    runs = [train_rvae(windows, config=RVAEConfig(window=WINDOW), epochs=2, seed=s).model for s in (5, 5, 6)]
    z = [encode(m, windows) for m in runs]
    np.testing.assert_array_equal(z[0], z[1])
    assert not np.allclose(z[0], z[2])


def test_train_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="NaN"):
        train_rvae(np.full((4, 16, 16), np.nan, dtype=np.float32))
    with pytest.raises(ValueError, match=r"\(N, W, W\)"):
        train_rvae(np.zeros((4, 16, 12), dtype=np.float32))
    with pytest.raises(ValueError, match="epochs"):
        train_rvae(np.zeros((4, 16, 16), dtype=np.float32), epochs=0)


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


def test_rotate_windows_quarter_turn() -> None:
    image = torch.zeros(1, 9, 9)
    image[0, 1, 4] = 1.0  # above the centre
    out = rotate_windows(image, torch.tensor([math.pi / 2]), 9)[0]
    r, c = divmod(int(torch.argmax(out)), 9)
    assert (r, c) in ((4, 1), (4, 7))
    with pytest.raises(ValueError, match="S >= size"):
        rotate_windows(image, torch.zeros(1), 12)


# ----------------------------------------------------------------- online
def test_online_trainer_is_bounded_and_keeps_recent_windows() -> None:
    model = RVAE(RVAEConfig(window=WINDOW))
    trainer = OnlineTrainer(model, seed=0, buffer_size=10, batch_size=4)
    assert trainer.step(3) is None  # nothing measured yet
    trainer.add(np.zeros((6, WINDOW, WINDOW), np.float32))
    trainer.add(np.ones((6, WINDOW, WINDOW), np.float32))
    assert len(trainer.buffer) == 10 and float(trainer.buffer[-1].mean()) == 1.0
    before = [p.detach().clone() for p in model.parameters()]
    assert trainer.step(3) is not None and trainer.steps == 3
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    with pytest.raises(ValueError, match="expects 16"):
        trainer.add(np.zeros((2, 8, 8), np.float32))


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


def test_windows_from_scenes_shape_and_errors() -> None:
    windows = windows_from_scenes(["lattice-defects"], n_scenes=1, patches_per_scene=4, image_size=128, seed=0)
    assert windows.ndim == 3 and windows.shape[1:] == (16, 16) and len(windows) > 0
    assert np.isfinite(windows).all()
    with pytest.raises(ValueError, match="unknown scene families"):
        windows_from_scenes(["graphene-soup"])


def test_cli_train_writes_loadable_weights(tmp_path, capsys) -> None:
    from stemscan.cli import main

    out = tmp_path / "tiny.safetensors"
    argv = ["train", "rvae", "--scenes", "lattice-defects", "--n-scenes", "1", "--patches", "3", "--epochs", "1",
            "--window", "12", "--out", str(out)]
    assert main(argv) == 0
    model = load_rvae(out)
    assert model.config.window == 12
    assert json.loads(out.with_suffix(".json").read_text())["metadata"]["scenes"] == ["lattice-defects"]
    assert "trained in" in capsys.readouterr().out
    assert main(["train", "rvae", "--scenes", "no-such-scene", "--out", str(out)]) == 2
    assert "unknown scene families" in capsys.readouterr().err


def test_building_models_leaves_the_global_generator_alone() -> None:
    from stemscan.agents.rvae import new_model

    state = torch.random.get_rng_state()
    new_model(RVAEConfig(), seed=1)
    pretrained()
    assert torch.equal(state, torch.random.get_rng_state())


# ------------------------------------------- translation off, sublattices, lattice windows
def test_translation_off_reports_zero_shift_and_costs_no_kl() -> None:
    model = RVAE(RVAEConfig(window=WINDOW, translation=False))
    windows = torch.rand(6, WINDOW, WINDOW)
    mean, log_var = model.encode(windows)
    assert torch.equal(mean[:, 1:3], torch.zeros(6, 2))
    scales = model.prior_scales()
    kl = torch.log(scales) - 0.5 * log_var + (torch.exp(log_var) + mean**2) / (2 * scales**2) - 0.5
    assert torch.allclose(kl[:, 1:3], torch.zeros(6, 2), atol=1e-6)
    shifted = mean.clone()
    shifted[:, 1:3] = 0.7  # the decoder ignores any shift when translation is off
    assert torch.allclose(model.decode(mean), model.decode(shifted))
    assert RVAEConfig.from_dict({k: v for k, v in RVAEConfig().to_dict().items() if k != "translation"}).translation
    with pytest.raises(ValueError, match="translation"):
        RVAEConfig(translation="no")


def test_bright_sublattice_splits_two_levels_only() -> None:
    from stemscan.agents.features.peaks import bright_sublattice

    assert bright_sublattice(np.array([1.0, 0.12, 0.9, 0.1, 0.11])).tolist() == [True, False, True, False, False]
    assert bright_sublattice(np.array([1.0, 0.8, 0.7])).all()  # one sublattice: everything is bright


def perovskite_patch(shift: tuple[float, float], a_px: float = 20.0) -> np.ndarray:
    """32 px patch: bright columns on a square lattice, dim ones at cell centres displaced by ``shift`` px."""
    y, x = np.mgrid[:32, :32].astype(np.float64)
    image = np.full((32, 32), 0.02)
    for i in range(-1, 3):
        for j in range(-1, 3):
            a = np.array([4.0 + i * a_px, 5.0 + j * a_px])
            b = a + a_px / 2 + np.array(shift)
            image += 0.8 * np.exp(-((y - a[0]) ** 2 + (x - a[1]) ** 2) / (2 * 1.5**2))
            image += 0.15 * np.exp(-((y - b[0]) ** 2 + (x - b[1]) ** 2) / (2 * 1.5**2))
    return image.astype(np.float32)


def test_lattice_windows_keep_the_dim_columns_off_centring() -> None:
    """Centred on the ideal site, a window shows the dim column displaced by its off-centring."""
    for shift in [(0.0, 1.5), (-1.5, 0.0)]:
        windows, centres = patch_windows(perovskite_patch(shift), 10, sigma=0.5, centring="lattice", lattice_px=20.0)
        assert len(windows) >= 1
        np.testing.assert_allclose(centres[0], [14.0, 15.0], atol=0.3)  # the ideal site, not the displaced column
        w = windows[0] - windows[0].min()
        rows, cols = np.mgrid[:10, :10] - 4.5
        offset = np.array([(w * rows).sum(), (w * cols).sum()]) / w.sum()
        assert np.dot(offset, shift) > 0.3 * np.dot(shift, shift)  # the column sits off-centre, along the shift
    peak_windows, peaks = patch_windows(perovskite_patch((0.0, 1.5)), 10, sigma=0.5, sublattice="dim")
    assert len(peak_windows) >= 1 and np.all(peaks[:, 1] % 20 != 5)  # dim columns only


def test_lattice_centring_errors() -> None:
    patch = perovskite_patch((0.0, 0.0))
    with pytest.raises(ValueError, match="needs lattice_px"):
        patch_windows(patch, 10, centring="lattice")
    with pytest.raises(ValueError, match="lattice_px must be a positive"):
        patch_windows(patch, 10, centring="lattice", lattice_px=-3.0)
    with pytest.raises(ValueError, match="unknown centring"):
        patch_windows(patch, 10, centring="middle")
    with pytest.raises(ValueError, match="unknown sublattice"):
        patch_windows(patch, 10, sublattice="medium")


# ------------------------------------- sub-pixel columns, lattice angle, standardised windows
def test_refine_peaks_finds_sub_pixel_centres_and_interior_drops_border_peaks() -> None:
    from stemscan.agents.features.peaks import interior_peaks, refine_peaks

    y, x = np.mgrid[:24, :24].astype(np.float64)
    truth = np.array([[8.3, 10.6], [15.8, 4.45]])
    image = sum(np.exp(-((y - r) ** 2 + (x - c) ** 2) / (2 * 2.0**2)) for r, c in truth)
    refined = refine_peaks(image, np.rint(truth))
    np.testing.assert_allclose(refined, truth, atol=0.02)
    assert interior_peaks(np.array([[0.0, 5.0], [5.0, 23.0], [1.0, 22.0]]), (24, 24)).tolist() == [False, False, True]


def test_bond_angles_recover_the_lattice_rotation() -> None:
    from stemscan.agents.features.windows import bond_angles, _rotation

    a_px, angle = 26.0, np.deg2rad(2.5)
    cells = np.array([[i, j] for i in range(3) for j in range(3)], dtype=np.float64) * a_px
    bright = cells @ _rotation(angle).T
    dim = (np.array([[0, 0], [0, 1], [1, 0], [1, 1]]) * a_px + a_px / 2) @ _rotation(angle).T  # the 4 cell centres
    samples = bond_angles(bright, dim, a_px)
    assert len(samples) == 16  # four bonds per cell centre
    np.testing.assert_allclose(samples, angle, atol=1e-9)
    assert bond_angles(bright, np.zeros((0, 2)), a_px).shape == (0,)


def test_lattice_windows_follow_the_lattice_angle() -> None:
    """With the lattice's rotation given, the window is centred on the rotated ideal site."""
    from stemscan.agents.features.windows import lattice_windows, _rotation

    a_px, angle = 20.0, np.deg2rad(4.0)
    a_site = np.array([6.0, 6.0])
    _, centres = lattice_windows(np.zeros((32, 32)), a_site[None], 10, a_px, angle=angle)
    expected = a_site + _rotation(angle) @ np.array([a_px / 2, a_px / 2])
    np.testing.assert_allclose(centres[0], expected, atol=1e-9)
    with pytest.raises(ValueError, match="lattice angle"):
        lattice_windows(np.zeros((32, 32)), a_site[None], 10, a_px, angle=float("nan"))


def test_standardised_model_sees_windows_up_to_offset_and_scale() -> None:
    model = RVAE(RVAEConfig(window=8, standardise=True))
    windows = torch.rand(3, 8, 8)
    prepared = model.prepare(windows)
    assert torch.allclose(prepared.mean(dim=(1, 2)), torch.zeros(3), atol=1e-6)
    np.testing.assert_allclose(encode(model, windows.numpy()), encode(model, (3.0 * windows + 0.5).numpy()), atol=1e-4)
    loss, _, _ = elbo_loss(model, windows, torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)
    with pytest.raises(ValueError, match="standardise"):
        RVAEConfig(standardise=1)
