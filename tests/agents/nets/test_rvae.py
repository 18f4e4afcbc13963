"""The rVAE network: shapes, config checks, rotation of the decoder's coordinates, translation and standardisation options."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stemscan.agents.nets.rvae import RVAE, RVAEConfig
from stemscan.agents.rvae import encode
from stemscan.agents.train.rvae_loss import elbo_loss

from ..helpers import WINDOW


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
