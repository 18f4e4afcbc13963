"""The BO core's GP: refits only when due (``WarmGP``), survey prior as standardised inputs (``prior_inputs``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stemscan.agents.bo import WarmGP, prior_inputs

BOUNDS = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)


def _data(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(np.random.default_rng(0).random((n, 2)), dtype=torch.float64)
    return x, torch.sin(6 * x[:, 0]) + x[:, 1]


def test_warm_gp_fits_first_then_every_refit_every_observations() -> None:
    gp = WarmGP(refit_every=3)
    fits = []
    for n in range(2, 10):
        x, y = _data(n)
        gp.model(x, y, BOUNDS, None, 0.25)
        fits.append(gp.n_fits)
    # fits at n = 2 (first), 5 and 8 (three new observations each); cached in between
    assert fits == [1, 1, 1, 2, 2, 2, 3, 3]
    assert gp.n_at_last_fit == 8 and gp.hyperparameters is not None


def test_warm_gp_between_fits_is_the_exact_posterior_with_cached_hyperparameters() -> None:
    gp = WarmGP(refit_every=10)
    x, y = _data(6)
    gp.model(x[:5], y[:5], BOUNDS, None, 0.25)
    cached = {k: v.clone() for k, v in gp.hyperparameters.items()}
    model = gp.model(x, y, BOUNDS, None, 0.25)  # one more observation: no refit
    assert gp.n_fits == 1
    for name, value in model.named_parameters():
        assert torch.equal(value.detach(), cached[name]), name
    with torch.no_grad():
        mean = model.posterior(x).mean.reshape(-1)
    assert torch.allclose(mean, y, atol=0.3)  # it has seen the new point


def test_prior_inputs_standardise_and_drop_constant_columns() -> None:
    rng = np.random.default_rng(1)
    informative = rng.normal(3.0, 2.0, 16)
    columns = prior_inputs(np.stack([informative, np.ones(16)], axis=1), 16, "Toy.prior()")
    assert columns.shape == (16, 1)
    np.testing.assert_allclose(columns[:, 0].mean(), 0.0, atol=1e-12)
    np.testing.assert_allclose(columns[:, 0].std(), 1.0)
    assert prior_inputs(np.ones(16), 16, "Toy.prior()") is None
    assert prior_inputs(None, 16, "Toy.prior()") is None


@pytest.mark.parametrize(
    ("estimates", "match"),
    [(np.zeros(15), r"Toy.prior\(\) returned shape"), (np.zeros((16, 9)), "1 <= m <= 8"), (np.full(16, np.nan), "NaN")],
)
def test_prior_inputs_name_the_problem(estimates: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        prior_inputs(estimates, 16, "Toy.prior()")
