"""Deep kernel learning for the BO core: a small CNN embeds image windows, an exact GP models a target on the embeddings.

* :class:`WindowEncoder` — the feature extractor: a 3×3 convolution, a
  2×2 max-pool and two linear layers map a ``(w, w)`` window to a few
  numbers (the embedding);
* :class:`DeepKernelGP` — an exact GP (GPyTorch, BoTorch's
  ``GPyTorchModel``: BoTorch's acquisitions and :func:`~stemscan.agents.bo.optim.select_cell`
  apply unchanged) with a constant mean and a scaled ARD RBF kernel on
  ``[cell position, embedding]``;
* :class:`OnlineDKL` — joint training of encoder and GP hyperparameters by
  maximising the exact marginal likelihood (:func:`exact_mll_loss`) with Adam, a bounded number of
  steps per decision, warm-started from the previous decision (model and
  optimiser state kept through the episode).

The encoder runs in single precision, the GP in double, on the CPU, full
batch (no sampling);
the encoder's initial weights come from a ``torch.Generator`` seeded by the
caller, so a seed fixes every number (no global generator is seeded or
read).  For decisions the GP is conditioned on the *detached* embeddings of
the measured windows and evaluated on the embeddings of every candidate, so
the encoder runs once per candidate and decision.
"""

from __future__ import annotations

import math

import torch
from botorch.models.gpytorch import GPyTorchModel
from gpytorch.constraints import GreaterThan
from gpytorch.distributions import MultivariateNormal
from gpytorch.kernels import RBFKernel, ScaleKernel
from gpytorch.likelihoods import GaussianLikelihood
from gpytorch.means import ConstantMean
from gpytorch.models import ExactGP
from torch import nn

from stemscan.agents.bo.model import DTYPE

__all__ = ["DeepKernelGP", "OnlineDKL", "WindowEncoder", "exact_mll_loss"]

#: Smallest GP noise variance (standardised targets).
MIN_NOISE = 1e-4


class WindowEncoder(nn.Module):
    """CNN ``(N, 1, w, w)`` windows -> ``(N, embedding)`` (tanh-bounded, so the GP's inputs stay in [-1, 1]; ``float32`` weights).

    Args:
        window: Window side, pixels (>= 4).
        embedding: Output size (>= 1).
        channels: Channels of the two convolutions.
        generator: Source of the initial weights (uniform ±1/sqrt(fan-in), as torch's default layers).
    """

    def __init__(self, window: int, embedding: int, channels: int, generator: torch.Generator) -> None:
        super().__init__()
        self.window = int(window)
        pooled = (self.window - 2) // 2
        self.features = nn.Sequential(nn.Conv2d(1, channels, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
        self.head = nn.Sequential(nn.Linear(channels * pooled * pooled, 16), nn.ReLU(), nn.Linear(16, embedding), nn.Tanh())
        with torch.no_grad():
            for layer in self.modules():
                if isinstance(layer, (nn.Conv2d, nn.Linear)):
                    bound = 1.0 / math.sqrt(layer.weight[0].numel())
                    for parameter in (layer.weight, layer.bias):
                        parameter.copy_((2.0 * torch.rand(parameter.shape, generator=generator) - 1.0) * bound)

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        """Embeddings (``float64``) of ``(N, w·w)`` or ``(N, 1, w, w)`` windows (computed in ``float32``)."""
        x = windows.to(torch.float32).reshape(-1, 1, self.window, self.window)
        return self.head(self.features(x)).to(DTYPE)


class DeepKernelGP(ExactGP, GPyTorchModel):
    """Exact GP on ``[position, embedding]`` inputs (constant mean, scaled ARD RBF kernel, Gaussian noise).

    Args:
        train_x: (n, d) inputs (already embedded).
        train_y: (n,) standardised targets.
        d: Input dimension.
    """

    _num_outputs = 1

    def __init__(self, train_x: torch.Tensor, train_y: torch.Tensor, d: int) -> None:
        likelihood = GaussianLikelihood(noise_constraint=GreaterThan(MIN_NOISE))
        super().__init__(train_x, train_y, likelihood)
        self.mean_module = ConstantMean()
        self.covar_module = ScaleKernel(RBFKernel(ard_num_dims=d))
        self.to(DTYPE)

    def forward(self, x: torch.Tensor) -> MultivariateNormal:
        return MultivariateNormal(self.mean_module(x), self.covar_module(x))


def exact_mll_loss(gp: DeepKernelGP, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``−log N(y | c, s·RBF_ℓ(x, x) + σ²I) / n``: GPyTorch's ``ExactMarginalLogLikelihood`` of ``gp``, negated.

    Written out in a handful of torch operations (the model has no priors),
    so a training step costs a fraction of a millisecond instead of
    GPyTorch's several; differentiable in ``x`` and in the GP's parameters.

    Raises:
        torch.linalg.LinAlgError: The covariance is not positive definite.
    """
    n = y.shape[-1]
    z = x / gp.covar_module.base_kernel.lengthscale
    squared = (z.unsqueeze(-2) - z.unsqueeze(-3)).pow(2).sum(-1)
    covariance = gp.covar_module.outputscale * torch.exp(-0.5 * squared)
    covariance = covariance + gp.likelihood.noise * torch.eye(n, dtype=x.dtype)
    factor = torch.linalg.cholesky(covariance)
    residual = (y - gp.mean_module.constant).unsqueeze(-1)
    alpha = torch.cholesky_solve(residual, factor)
    log_det = 2.0 * factor.diagonal().log().sum()
    return (0.5 * (residual * alpha).sum() + 0.5 * log_det + 0.5 * n * math.log(2.0 * math.pi)) / n


class OnlineDKL:
    """Encoder and GP trained jointly online, warm-started between decisions.

    Args:
        window: Side of the windows, pixels.
        embedding: Embedding size.
        steps: Adam steps per decision (>= 1).
        lr: Adam learning rate.
        seed: Seed of the encoder's initial weights.
        channels: Convolution channels of the encoder.
        position_lengthscale: Initial RBF lengthscale of the two position inputs
            (fractions of the field); the embedding's start at 0.5.

    Attributes:
        n_steps: Training steps so far.
    """

    def __init__(
        self, window: int, embedding: int, steps: int, lr: float, seed: int, channels: int = 8, position_lengthscale: float = 0.5
    ) -> None:
        generator = torch.Generator().manual_seed(int(seed))
        self.encoder = WindowEncoder(window, embedding, channels, generator)
        self.steps = int(steps)
        self.lr = float(lr)
        self.position_lengthscale = float(position_lengthscale)
        self.gp: DeepKernelGP | None = None
        # Built now (the first Adam in a process imports much of torch: seconds, not decision time);
        # the GP's parameters join it when the GP is built.
        self.optimizer = torch.optim.Adam(self.encoder.parameters(), lr=self.lr)
        self.n_steps = 0

    def embed(self, positions: torch.Tensor, windows: torch.Tensor) -> torch.Tensor:
        """GP inputs ``[positions, encoder(windows)]``, (N, 2 + embedding)."""
        return torch.cat([positions, self.encoder(windows)], dim=-1)

    def fit(self, positions: torch.Tensor, windows: torch.Tensor, y: torch.Tensor) -> DeepKernelGP:
        """``steps`` Adam steps on the exact marginal likelihood of ``(positions, windows) -> y``; the GP in eval mode.

        A step whose covariance is not positive definite ends this
        decision's training (the parameters stay as they were before it).

        Args:
            positions: (n, 2) cell centres, fractions of the field.
            windows: (n, w·w) windows of the measured cells.
            y: (n,) standardised targets.

        Returns:
            The GP conditioned on the detached embeddings of the measured cells.
        """
        y = y.to(DTYPE)
        if self.gp is None:
            with torch.no_grad():
                x0 = self.embed(positions, windows)
            self.gp = DeepKernelGP(x0, y, x0.shape[-1])
            self.gp.likelihood.noise = 0.1
            lengthscale = torch.full((x0.shape[-1],), 0.5, dtype=DTYPE)
            lengthscale[:2] = self.position_lengthscale
            self.gp.covar_module.base_kernel.lengthscale = lengthscale
            self.optimizer.add_param_group({"params": list(self.gp.parameters())})
        gp, optimizer = self.gp, self.optimizer
        gp.train()
        self.encoder.train()
        for _ in range(self.steps):
            optimizer.zero_grad()
            try:
                loss = exact_mll_loss(gp, self.embed(positions, windows), y)
            except torch.linalg.LinAlgError:
                break
            loss.backward()
            optimizer.step()
            self.n_steps += 1
        gp.eval()
        self.encoder.eval()
        with torch.no_grad():
            gp.set_train_data(self.embed(positions, windows), y, strict=False)
        return gp
