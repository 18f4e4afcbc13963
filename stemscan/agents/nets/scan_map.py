"""The PPO policy's features extractor: a per-cell score map of the scan memory plus global features."""

from __future__ import annotations

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

__all__ = ["ScanMapExtractor"]


class ScanMapExtractor(BaseFeaturesExtractor):
    """Features for "which cell next": a per-cell score map plus global features.

    Input (after SB3's preprocessing, images scaled to [0, 1]):
    ``overview`` and ``visited`` (B, 1, G, G), ``patch`` (B, P, P),
    ``dose`` (B, 1), ``position`` (B, 2).

    The map branch sees four fixed channels on the coarse grid — the
    overview standardised per sample (zero mean, unit std), its local
    contrast ``|z - mean_5x5(z)|``, the gradient magnitude of ``mean_3x3(z)``
    (Sobel) and ``visited`` — then learned convs (full, then half resolution).
    Each cell's features (average- and max-pooled to the cell grid) together
    with the map's global mean (so the score can depend on what kind of
    sample this is) go through a two-layer 1×1 conv to one score per cell;
    a learned weight times the cell's visited fraction is added.

    Output (B, n_cells + n_global): the ``n_cells`` scores, row-major, then
    global features (map channel means, a patch CNN, dose, position) for the
    value head and the actor's dense layer.

    Args:
        observation_space: STEMScan's Dict observation space.
        cell_grid: (rows, cols) of the action grid (16, 16 at 512 px / 32 px).
        channels: Conv channels of the map branch.
        patch_channels: Output features of the patch branch.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        cell_grid: tuple[int, int] | list[int] = (16, 16),
        channels: int = 16,
        patch_channels: int = 16,
    ) -> None:
        rows, cols = (int(v) for v in cell_grid)
        n_global = channels + patch_channels + 3
        super().__init__(observation_space, features_dim=rows * cols + n_global)
        self.cell_grid = (rows, cols)
        c = int(channels)
        sobel = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8.0
        self.register_buffer("sobel", torch.stack([sobel, sobel.T]).unsqueeze(1), persistent=False)
        self.map_net = nn.Sequential(
            nn.Conv2d(4, c // 2, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(c // 2, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=2, dilation=2),
            nn.ReLU(),
        )
        self.avg_pool = nn.AdaptiveAvgPool2d(self.cell_grid)
        self.max_pool = nn.AdaptiveMaxPool2d(self.cell_grid)
        self.cell_head = nn.Sequential(nn.Conv2d(3 * c, c, 1), nn.ReLU(), nn.Conv2d(c, 1, 1))
        self.visit_weight = nn.Parameter(torch.tensor(-5.0))
        self.patch_net = nn.Sequential(
            nn.Conv2d(1, 8, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv2d(8, patch_channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def map_channels(self, overview: torch.Tensor, visited: torch.Tensor) -> torch.Tensor:
        """The four fixed input channels (B, 4, G, G) of the map branch."""
        mean = overview.mean(dim=(1, 2, 3), keepdim=True)
        std = overview.std(dim=(1, 2, 3), keepdim=True)
        z = (overview - mean) / (std + 1e-3)
        contrast = (z - nn.functional.avg_pool2d(z, 5, stride=1, padding=2, count_include_pad=False)).abs()
        smooth = nn.functional.avg_pool2d(z, 3, stride=1, padding=1, count_include_pad=False)
        gradient = nn.functional.conv2d(nn.functional.pad(smooth, (1, 1, 1, 1), mode="replicate"), self.sobel)
        return torch.cat([z, contrast, gradient.pow(2).sum(dim=1, keepdim=True).sqrt(), visited], dim=1)

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        visited = observations["visited"].float()
        hidden = self.map_net(self.map_channels(observations["overview"].float(), visited))
        context = hidden.mean(dim=(2, 3))
        cells = torch.cat(
            [self.avg_pool(hidden), self.max_pool(hidden), context[:, :, None, None].expand(-1, -1, *self.cell_grid)], dim=1
        )
        scores = self.cell_head(cells) + self.visit_weight * self.avg_pool(visited)
        patch = self.patch_net(observations["patch"].float().unsqueeze(1))
        global_features = torch.cat([context, patch, observations["dose"].float(), observations["position"].float()], dim=1)
        return torch.cat([scores.flatten(1), global_features], dim=1)
