"""The hyperparameter objective of the BO core's GP in closed form: value and analytic gradient in NumPy.

BoTorch fits a GP by handing ``ExactMarginalLogLikelihood`` to SciPy's
L-BFGS-B; each evaluation runs GPyTorch's module machinery and autograd,
several milliseconds of Python overhead for a kernel matrix of a few dozen
rows.  A refit takes 60-100 evaluations, so one decision in four waited
0.2-0.6 s.  :class:`MaternObjective` computes the *same* objective for the
models :func:`~stemscan.agents.bo.model.build_gp` makes (Matérn-5/2 ARD in a
scale kernel, Gaussian likelihood, constant or survey-linear mean, their
priors and constraints), with the gradient written out by hand, at tens of
microseconds per evaluation; tests check value and gradient against
GPyTorch's.

The objective, as GPyTorch's ``ExactMarginalLogLikelihood`` (``n`` data)::

    f(θ) = −[ log N(y | μ(X), s·C_ℓ(X, X) + σ²I) + Σ log p(hyperparameter) ] / n

over the raw parameters ``θ`` in the order of ``model.named_parameters()``:
noise ``σ² = raw`` (bounded below, no transform), mean constant and survey
weights (untransformed), outputscale ``s = softplus(raw)``, lengthscales
``ℓ = lower + softplus(raw)``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.linalg.lapack import dpotrf, dpotrs
from scipy.special import gammaln

__all__ = ["MaternObjective"]

_SQRT5 = math.sqrt(5.0)


def _softplus(x: np.ndarray) -> np.ndarray:
    """torch's ``softplus`` (threshold 20: the identity above it)."""
    return np.where(x > 20.0, x, np.log1p(np.exp(np.minimum(x, 20.0))))


def _softplus_slope(x: np.ndarray) -> np.ndarray:
    """Derivative of :func:`_softplus` (1 above the threshold, as torch's)."""
    return np.where(x > 20.0, 1.0, 1.0 / (1.0 + np.exp(-np.minimum(x, 20.0))))


def _gamma_log_prob(x: np.ndarray, concentration: np.ndarray, rate: np.ndarray, constant: float) -> tuple[float, np.ndarray]:
    """Sum of Gamma log densities at ``x`` (``constant``: the sum of ``a·log b − lgamma(a)``) and their derivative in ``x``."""
    value = constant + float(np.sum((concentration - 1) * np.log(x) - rate * x))
    return value, (concentration - 1) / x - rate


def _gamma_constant(concentration: np.ndarray, rate: np.ndarray) -> float:
    return float(np.sum(concentration * np.log(rate) - gammaln(concentration)))


def _as_array(value: torch.Tensor) -> np.ndarray:
    return value.detach().to(torch.float64).reshape(-1).numpy().copy()


class MaternObjective:
    """Negative log marginal likelihood per datum plus log priors of a :func:`build_gp` model, with its gradient.

    Args:
        model: A ``SingleTaskGP`` from :func:`~stemscan.agents.bo.model.build_gp`
            (its training data, priors and constraints are read; it is left in train mode).

    Attributes:
        names: The raw parameters' names, in ``model.named_parameters()`` order.
        start: Their current values, flattened (``float64``).
        bounds: L-BFGS-B bounds per flattened value (``(low, None)``).

    Raises:
        ValueError: A model with parameters of another layout.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        covar = model.covar_module
        kernel = getattr(covar, "base_kernel", None)
        if kernel is None or float(getattr(kernel, "nu", 0.0)) != 2.5:
            raise ValueError(f"MaternObjective needs a scaled Matérn-5/2 kernel, got {type(covar).__name__}")
        model.train()
        noise = model.likelihood.noise_covar
        with torch.no_grad():
            self.x = model.transform_inputs(model.train_inputs[0]).detach().to(torch.float64).numpy()
            self.y = model.train_targets.detach().to(torch.float64).reshape(-1).numpy()
        self.n, self.d = self.x.shape
        self.diff2 = (self.x[:, None, :] - self.x[None, :, :]) ** 2  # (n, n, d)
        self.lengthscale_floor = float(kernel.raw_lengthscale_constraint.lower_bound)
        self.noise_floor = float(noise.raw_noise_constraint.lower_bound)
        if noise.raw_noise_constraint.enforced:
            raise ValueError("MaternObjective expects BoTorch's untransformed (bounded) noise parameter")
        self.lengthscale_prior = (_as_array(kernel.lengthscale_prior.concentration), _as_array(kernel.lengthscale_prior.rate))
        self.lengthscale_prior += (_gamma_constant(*self.lengthscale_prior),)
        self.outputscale_prior = (_as_array(covar.outputscale_prior.concentration), _as_array(covar.outputscale_prior.rate))
        self.outputscale_prior += (_gamma_constant(*self.outputscale_prior),)
        self._eye = np.eye(self.n)
        self.noise_prior = (float(noise.noise_prior.loc), float(noise.noise_prior.scale))
        mean = model.mean_module
        self.mean_columns = list(getattr(mean, "columns", []))
        self.names: list[str] = []
        self._slices: dict[str, slice] = {}
        values, bounds = [], []
        for name, parameter in model.named_parameters():
            flat = _as_array(parameter)
            role = name.rsplit(".", 1)[-1]
            if role not in ("raw_noise", "raw_constant", "constant", "weight", "raw_outputscale", "raw_lengthscale"):
                raise ValueError(f"MaternObjective does not know the parameter {name!r}")
            self._slices[role] = slice(sum(len(v) for v in values), sum(len(v) for v in values) + len(flat))
            self.names.append(name)
            values.append(flat)
            low = self.noise_floor if role == "raw_noise" else None
            bounds += [(low, None)] * len(flat)
        if len(self._slices) != len(self.names):
            raise ValueError("MaternObjective found two parameters of one role")
        self.start = np.concatenate(values)
        self.bounds = bounds
        self._constant = self._slices.get("raw_constant", self._slices.get("constant"))

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """``(f(θ), ∇f(θ))``; ``numpy.linalg.LinAlgError`` where the covariance is not positive definite."""
        theta = np.asarray(theta, dtype=np.float64)
        if not np.isfinite(theta).all():
            raise np.linalg.LinAlgError("non-finite hyperparameters")
        s_ = self._slices
        noise = float(theta[s_["raw_noise"]][0])
        raw_scale = theta[s_["raw_outputscale"]]
        raw_length = theta[s_["raw_lengthscale"]]
        scale = float(_softplus(raw_scale)[0])
        length = self.lengthscale_floor + _softplus(raw_length)
        mean = np.full(self.n, float(theta[self._constant][0]))
        if "weight" in s_:
            mean = mean + self.x[:, self.mean_columns] @ theta[s_["weight"]]
        # kernel
        r = np.sqrt(self.diff2 @ (1.0 / length**2))
        e = np.exp(-_SQRT5 * r)
        correlation = (1.0 + _SQRT5 * r + (5.0 / 3.0) * r**2) * e
        covariance = scale * correlation
        covariance[np.diag_indices(self.n)] += noise
        chol, info = dpotrf(covariance, lower=1, clean=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"covariance not positive definite (LAPACK dpotrf info {info})")
        residual = self.y - mean
        alpha, _ = dpotrs(chol, residual, lower=1)
        inverse, _ = dpotrs(chol, self._eye, lower=1)
        log_det = 2.0 * np.log(chol.diagonal()).sum()
        log_lik = -0.5 * residual @ alpha - 0.5 * log_det - 0.5 * self.n * math.log(2.0 * math.pi)
        g = 0.5 * (np.outer(alpha, alpha) - inverse)  # d log_lik / d covariance
        # priors and their derivatives in the constrained values
        lp_length, dlp_length = _gamma_log_prob(length, *self.lengthscale_prior)
        lp_scale, dlp_scale = _gamma_log_prob(np.array([scale]), *self.outputscale_prior)
        loc, sd = self.noise_prior
        log_noise = math.log(noise)
        lp_noise = -log_noise - math.log(sd) - 0.5 * math.log(2.0 * math.pi) - (log_noise - loc) ** 2 / (2.0 * sd**2)
        dlp_noise = -1.0 / noise - (log_noise - loc) / (sd**2 * noise)
        # gradient of log_lik + log priors in the raw parameters
        grad = np.zeros_like(theta)
        grad[s_["raw_noise"]] = 0.5 * (alpha @ alpha - inverse.trace()) + dlp_noise
        grad[s_["raw_outputscale"]] = (float(np.vdot(g, correlation)) + dlp_scale[0]) * _softplus_slope(raw_scale)
        # d correlation / d ℓ_i = (5/3)(1 + √5 r) e^{−√5 r} · Δ_i² / ℓ_i³
        radial = scale * (5.0 / 3.0) * (1.0 + _SQRT5 * r) * e * g
        d_length = (radial.reshape(-1) @ self.diff2.reshape(-1, self.d)) / length**3
        grad[s_["raw_lengthscale"]] = (d_length + dlp_length) * _softplus_slope(raw_length)
        grad[self._constant] = alpha.sum()
        if "weight" in s_:
            grad[s_["weight"]] = self.x[:, self.mean_columns].T @ alpha
        value = log_lik + lp_length + lp_scale + lp_noise
        return -value / self.n, -grad / self.n

    def write(self, model: torch.nn.Module, theta: np.ndarray) -> None:
        """Load the flat raw parameters ``theta`` into ``model`` (same layout as :attr:`start`)."""
        parameters = dict(model.named_parameters())
        offset = 0
        with torch.no_grad():
            for name in self.names:
                parameter = parameters[name]
                size = parameter.numel()
                parameter.copy_(torch.as_tensor(theta[offset : offset + size], dtype=parameter.dtype).reshape(parameter.shape))
                offset += size
