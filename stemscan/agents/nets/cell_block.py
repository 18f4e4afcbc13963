"""A PPO features extractor that works on the action grid itself: each cell's block of the maps, then cell-grid convs."""

from __future__ import annotations

import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from torch import nn

__all__ = ["CellBlockExtractor"]


class CellBlockExtractor(BaseFeaturesExtractor):
    """Features for "which cell next", computed at the resolution of the action grid.

    Input (after SB3's preprocessing, images scaled to [0, 1]):
    ``overview`` and ``visited`` (B, 1, H, W), ``patch`` (B, P, P),
    ``dose`` (B, 1), ``position`` (B, 2).

    The overview is standardised per sample (zero mean, unit std). Each
    grid cell's ``k × k`` block of it and of ``visited`` (``k = H / rows``;
    maps whose side is not a multiple of the grid are first average-pooled
    to one) is unfolded into channels (pixel-unshuffle), together with
    four block statistics: the block's mean, standard deviation and range
    of the standardised overview, and its visited fraction.  A 1×1 conv
    (a per-cell MLP on the block) and two 3×3 convs over the cell grid
    (the second dilated, so a cell sees its neighbours up to 3 cells away)
    give each cell ``channels`` features; with their mean over the grid
    (what kind of sample this is) a two-layer 1×1 conv gives one score per
    cell, plus a learned weight times the cell's visited fraction.

    Every conv runs on the ``rows × cols`` grid (16 × 16 by default), not
    on the 64 × 64 maps, so a PPO update costs several times less than
    with :class:`~stemscan.agents.nets.scan_map.ScanMapExtractor` while each cell
    still sees every overview pixel in it.

    Output (B, n_cells + n_global): the ``n_cells`` scores, row-major, then
    global features (grid channel means, a small CNN on the last patch binned
    2 × 2, dose, position) for the value head and the actor's dense layer.

    Args:
        observation_space: STEMScan's Dict observation space.
        cell_grid: (rows, cols) of the action grid (16, 16 at 512 px / 32 px).
        channels: Channels of the cell-grid convs.
        patch_channels: Output features of the patch branch.
    """

    #: Block statistics appended to the unfolded block: mean, std, range of z; visited fraction.
    N_STATS = 4

    def __init__(
        self,
        observation_space: spaces.Dict,
        cell_grid: tuple[int, int] | list[int] = (16, 16),
        channels: int = 32,
        patch_channels: int = 16,
    ) -> None:
        rows, cols = (int(v) for v in cell_grid)
        n_global = channels + patch_channels + 3
        super().__init__(observation_space, features_dim=rows * cols + n_global)
        self.cell_grid = (rows, cols)
        height, width = observation_space.spaces["overview"].shape[-2:]
        self.block = (max(1, height // rows), max(1, width // cols))
        self.map_shape = (rows * self.block[0], cols * self.block[1])
        block_pixels = self.block[0] * self.block[1]
        c = int(channels)
        self.cell_net = nn.Sequential(
            nn.Conv2d(2 * block_pixels + self.N_STATS, c, 1),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c, c, 3, padding=2, dilation=2),
            nn.ReLU(),
        )
        # the score head: a 1x1 conv on [cell features, grid mean], split so the mean is not tiled over the grid
        self.cell_mix = nn.Conv2d(c, c, 1)
        self.context_mix = nn.Linear(c, c, bias=False)
        self.cell_head = nn.Sequential(nn.ReLU(), nn.Conv2d(c, 1, 1))
        self.visit_weight = nn.Parameter(torch.tensor(-5.0))
        self.patch_net = nn.Sequential(  # the last sub-scan, 2x2-binned (its shot noise averaged)
            nn.AvgPool2d(2, ceil_mode=True),
            nn.Conv2d(1, 8, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(8, patch_channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )

    def _fit_grid(self, image: torch.Tensor) -> torch.Tensor:
        if tuple(image.shape[-2:]) == self.map_shape:
            return image
        return nn.functional.adaptive_avg_pool2d(image, self.map_shape)

    def cell_inputs(self, overview: torch.Tensor, visited: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The fixed per-cell inputs (B, 2 k² + 4, rows, cols) and the visited fraction (B, 1, rows, cols)."""
        overview, visited = self._fit_grid(overview), self._fit_grid(visited)
        # moments by sums (torch.std over these shapes is several times slower on CPU)
        mean = overview.mean(dim=(1, 2, 3), keepdim=True)
        std = ((overview * overview).mean(dim=(1, 2, 3), keepdim=True) - mean * mean).clamp_min(0.0).sqrt()
        z = self._blocks((overview - mean) / (std + 1e-3))
        seen = self._blocks(visited)
        fraction = seen.mean(dim=1, keepdim=True)
        block_mean = z.mean(dim=1, keepdim=True)
        block_std = ((z * z).mean(dim=1, keepdim=True) - block_mean * block_mean).clamp_min(0.0).sqrt()
        block_range = z.amax(dim=1, keepdim=True) - z.amin(dim=1, keepdim=True)
        inputs = torch.cat([z, seen, block_mean, block_std, block_range, fraction], dim=1)
        # channels-last: oneDNN's convs on a small grid with few channels run ~1.5x faster so
        return inputs.contiguous(memory_format=torch.channels_last), fraction

    def _blocks(self, image: torch.Tensor) -> torch.Tensor:
        """Pixel-unshuffle by the cell block: (B, 1, rows·kr, cols·kc) -> (B, kr·kc, rows, cols)."""
        (rows, cols), (kr, kc) = self.cell_grid, self.block
        blocks = image.reshape(image.shape[0], rows, kr, cols, kc).permute(0, 2, 4, 1, 3)
        return blocks.reshape(image.shape[0], kr * kc, rows, cols)

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        inputs, fraction = self.cell_inputs(observations["overview"].float(), observations["visited"].float())
        hidden = self.cell_net(inputs)
        context = hidden.mean(dim=(2, 3))
        mixed = self.cell_mix(hidden) + self.context_mix(context)[:, :, None, None]
        scores = self.cell_head(mixed) + self.visit_weight * fraction
        patch = self.patch_net(observations["patch"].float().unsqueeze(1))
        global_features = torch.cat([context, patch, observations["dose"].float(), observations["position"].float()], dim=1)
        return torch.cat([scores.flatten(1), global_features], dim=1)
