"""rVAE training: the ELBO, offline and online training, pre-training windows, the command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from stemscan.agents.nets.rvae import RVAE, RVAEConfig
from stemscan.agents.rvae import encode, load_rvae
from stemscan.agents.train.rvae_data import rotate_windows, windows_from_scenes
from stemscan.agents.train.rvae_loss import elbo_loss, train_rvae
from stemscan.agents.train.rvae_online import OnlineTrainer

from ..helpers import WINDOW, dumbbells


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


def test_rotate_windows_quarter_turn() -> None:
    image = torch.zeros(1, 9, 9)
    image[0, 1, 4] = 1.0  # above the centre
    out = rotate_windows(image, torch.tensor([math.pi / 2]), 9)[0]
    r, c = divmod(int(torch.argmax(out)), 9)
    assert (r, c) in ((4, 1), (4, 7))
    with pytest.raises(ValueError, match="S >= size"):
        rotate_windows(image, torch.zeros(1), 12)


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
