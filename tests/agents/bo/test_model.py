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


# ------------------------------------------------ closed-form fit objective
def _model(n: int, prior_columns: list[int] | None, seed: int = 0):
    from stemscan.agents.bo import build_gp

    d = 2 + len(prior_columns or [])
    rng = np.random.default_rng(seed)
    x = torch.as_tensor(rng.random((n, d)))
    y = torch.sin(6 * x[:, 0]) + x[:, 1] + 0.1 * torch.as_tensor(rng.normal(size=n))
    bounds = torch.tensor([[0.0] * d, [1.0] * d], dtype=torch.float64)
    return build_gp(x, y, bounds, None, prior_columns, 0.125)


@pytest.mark.parametrize("prior_columns", [None, [2], [2, 3]])
def test_matern_objective_equals_gpytorch_mll_value_and_gradient(prior_columns: list[int] | None) -> None:
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from stemscan.agents.bo.likelihood import MaternObjective

    model = _model(14, prior_columns)
    objective = MaternObjective(model)
    rng = np.random.default_rng(5)
    for _ in range(3):
        theta = objective.start + rng.normal(0.0, 0.5, objective.start.size)
        theta[0] = rng.uniform(1e-3, 0.5)  # the noise, above its floor
        value, gradient = objective(theta)
        objective.write(model, theta)
        model.train()
        for parameter in model.parameters():
            parameter.grad = None
        mll = ExactMarginalLogLikelihood(model.likelihood, model)
        loss = -mll(model(*model.train_inputs), model.train_targets)
        loss.backward()
        expected = np.concatenate([p.grad.reshape(-1).numpy() for p in model.parameters()])
        assert value == pytest.approx(loss.item(), rel=1e-10)
        np.testing.assert_allclose(gradient, expected, rtol=1e-7, atol=1e-10)


def test_matern_objective_refuses_a_model_of_another_layout() -> None:
    from botorch.models import SingleTaskGP

    from stemscan.agents.bo.likelihood import MaternObjective

    x = torch.rand(6, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    model = SingleTaskGP(x, x.sum(dim=1, keepdim=True))  # BoTorch's default RBF kernel
    with pytest.raises(ValueError, match="Matérn-5/2"):
        MaternObjective(model)


@pytest.mark.parametrize(("n", "prior_columns"), [(8, None), (20, [2]), (35, None)])
def test_fit_gp_matches_botorchs_fit_after_rounding(n: int, prior_columns: list[int] | None) -> None:
    import warnings

    from botorch.optim.fit import fit_gpytorch_mll_scipy
    from gpytorch.mlls import ExactMarginalLogLikelihood

    from stemscan.agents.bo import FIT_OPTIONS, HYPERPARAMETER_DECIMALS, fit_gp, gp_hyperparameters

    ours, reference = _model(n, prior_columns, seed=n), _model(n, prior_columns, seed=n)
    assert fit_gp(ours)
    reference.train()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit_gpytorch_mll_scipy(ExactMarginalLogLikelihood(reference.likelihood, reference), method="L-BFGS-B", options=dict(FIT_OPTIONS))
    expected = {k: torch.round(v, decimals=HYPERPARAMETER_DECIMALS) for k, v in gp_hyperparameters(reference).items()}
    for name, value in gp_hyperparameters(ours).items():
        torch.testing.assert_close(value, expected[name], atol=2 * 10.0**-HYPERPARAMETER_DECIMALS, rtol=0, msg=name)


def test_fit_gp_is_deterministic_and_keeps_the_start_on_failure() -> None:
    from stemscan.agents.bo import fit_gp, gp_hyperparameters

    first, second = _model(12, [2]), _model(12, [2])
    fit_gp(first), fit_gp(second)
    for (name, a), b in zip(gp_hyperparameters(first).items(), gp_hyperparameters(second).values()):
        assert torch.equal(a, b), name
    broken = _model(12, None)
    with torch.no_grad():
        broken.likelihood.noise_covar.raw_noise.fill_(float("nan"))
    start = gp_hyperparameters(broken)
    assert fit_gp(broken) is False
    for name, value in gp_hyperparameters(broken).items():
        assert torch.equal(value.isnan(), start[name].isnan()), name
