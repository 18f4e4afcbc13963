"""Online training of the rVAE inside an episode (the ``rvae-bo`` agent's bounded update per decision)."""

from __future__ import annotations

import numpy as np
import torch

from stemscan.agents.nets.rvae import RVAE
from stemscan.agents.rvae import check_windows
from stemscan.agents.train.rvae_loss import elbo_loss

__all__ = ["OnlineTrainer"]


class OnlineTrainer:
    """Bounded online training of an rVAE on a replay buffer of measured windows.

    Args:
        model: The model to train in place.
        seed: Seeds batch sampling and reparameterisation noise.
        buffer_size: Replay buffer capacity, windows (oldest dropped first).
        batch_size: Windows per gradient step.
        lr: Adam learning rate.
        recon_sigma: Likelihood width (see :func:`elbo_loss`).
        kl_weight: KL multiplier.
    """

    def __init__(
        self,
        model: RVAE,
        seed: int = 0,
        buffer_size: int = 2048,
        batch_size: int = 32,
        lr: float = 1e-3,
        recon_sigma: float = 0.05,
        kl_weight: float = 1.0,
    ) -> None:
        self.model = model
        self.generator = torch.Generator().manual_seed(int(seed))
        self.buffer_size = int(buffer_size)
        self.batch_size = int(batch_size)
        self.recon_sigma = float(recon_sigma)
        self.kl_weight = float(kl_weight)
        self.optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        w = model.config.window
        self.buffer = torch.empty((0, w, w), dtype=torch.float32)
        self.steps = 0

    def add(self, windows: np.ndarray) -> None:
        """Append windows to the replay buffer."""
        array = check_windows(windows, self.model.config.window)
        if len(array):
            self.buffer = torch.cat([self.buffer, torch.from_numpy(array)])[-self.buffer_size :]

    def step(self, n_steps: int = 1) -> float | None:
        """Do ``n_steps`` Adam steps on random buffer batches; mean loss, or None if the buffer is empty."""
        if len(self.buffer) == 0 or n_steps <= 0:
            return None
        self.model.train()
        total = 0.0
        for _ in range(n_steps):
            index = torch.randint(len(self.buffer), (min(self.batch_size, len(self.buffer)),), generator=self.generator)
            loss, _, _ = elbo_loss(self.model, self.buffer[index], self.generator, self.recon_sigma, self.kl_weight)
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
            total += float(loss.detach())
        self.model.eval()
        self.steps += n_steps
        return total / n_steps
