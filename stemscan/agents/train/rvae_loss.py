"""The rVAE's training objective (negative ELBO) and its offline training loop."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from stemscan.agents.nets.rvae import RVAE, RVAEConfig
from stemscan.agents.rvae import check_windows, new_model
from stemscan.validation import check_int, check_positive

__all__ = ["TrainResult", "elbo_loss", "train_rvae"]


def elbo_loss(
    model: RVAE,
    windows: torch.Tensor,
    generator: torch.Generator | None = None,
    recon_sigma: float = 0.05,
    kl_weight: float = 1.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Negative ELBO per window: Gaussian reconstruction + KL to the factorised prior.

    Args:
        model: The rVAE.
        windows: (B, W, W) inputs.
        generator: Source of the reparameterisation noise.
        recon_sigma: Standard deviation of the Gaussian likelihood, in the
            windows' intensity units (about the shot noise of a smoothed patch;
            of a standardised window when the model standardises, see
            :meth:`~stemscan.agents.nets.rvae.RVAE.prepare`).
        kl_weight: Multiplier of the KL term (1 = the ELBO; < 1 a beta-VAE).

    Returns:
        ``(loss, reconstruction term, KL term)``, each a scalar averaged over the batch.
    """
    recon, mean, log_var = model(windows, generator)
    reconstruction = ((recon - model.prepare(windows)) ** 2).sum(dim=(1, 2)).mean() / (2.0 * recon_sigma**2)
    scales = model.prior_scales().to(mean.dtype)
    var = torch.exp(log_var)
    kl = (torch.log(scales) - 0.5 * log_var + (var + mean**2) / (2.0 * scales**2) - 0.5).sum(dim=1).mean()
    return reconstruction + kl_weight * kl, reconstruction, kl


@dataclass
class TrainResult:
    """A trained model and its per-epoch mean loss (negative ELBO per window)."""

    model: RVAE
    losses: list[float] = field(default_factory=list)


def train_rvae(
    windows: np.ndarray,
    model: RVAE | None = None,
    config: RVAEConfig | None = None,
    epochs: int = 20,
    batch_size: int = 128,
    lr: float = 3e-3,
    recon_sigma: float = 0.05,
    kl_weight: float = 1.0,
    seed: int = 0,
    progress: Callable[[int, float], None] | None = None,
) -> TrainResult:
    """Fit an rVAE to windows by minimising the negative ELBO with Adam.

    Args:
        windows: (N, W, W) training windows (e.g. from :func:`windows_from_scenes`).
        model: Model to continue training (warm start); a new one from
            ``config`` (or the default config with ``window = W``) if None.
        config: Architecture of a new model (ignored when ``model`` is given).
        epochs: Passes over the data.
        batch_size: Windows per gradient step.
        lr: Adam learning rate.
        recon_sigma: Likelihood width (see :func:`elbo_loss`).
        kl_weight: KL multiplier (see :func:`elbo_loss`).
        seed: Seeds initialisation, shuffling and sampling (a ``torch.Generator``).
        progress: Called as ``progress(epoch, mean_loss)`` after each epoch.

    Returns:
        :class:`TrainResult` with the model in eval mode.
    """
    check_int("epochs", epochs, 1)
    check_int("batch_size", batch_size, 1)
    check_positive("lr", lr)
    if model is None:
        first = check_windows(windows)
        config = config or RVAEConfig(window=int(first.shape[1]))
        model = new_model(config, seed)
    data = torch.from_numpy(check_windows(windows, model.config.window))
    if len(data) == 0:
        raise ValueError("no training windows")
    generator = torch.Generator().manual_seed(int(seed))
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    result = TrainResult(model=model)
    model.train()
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=generator)
        total, count = 0.0, 0
        for start in range(0, len(data), batch_size):
            batch = data[order[start : start + batch_size]]
            loss, _, _ = elbo_loss(model, batch, generator, recon_sigma, kl_weight)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
            count += len(batch)
        result.losses.append(total / count)
        if progress is not None:
            progress(epoch, result.losses[-1])
    model.eval()
    return result
