"""The coarse, fixed-size memory of an episode: ``overview`` and ``visited``.

The field (H × W pixels) is divided into ``size`` × ``size`` cells whose edges
are ``floor(i * H / size)``; H and W need not be multiples of ``size``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["CoarseGrid"]


class CoarseGrid:
    """Maps full-resolution pixels to the cells of a ``size`` × ``size`` grid.

    Args:
        shape: (H, W) of the field, pixels; each at least ``size``.
        size: Cells per side.
    """

    def __init__(self, shape: tuple[int, int], size: int) -> None:
        height, width = shape
        if size < 1 or height < size or width < size:
            raise ValueError(
                f"overview_size={size} needs a field of at least {size}×{size} pixels, got {shape[0]}×{shape[1]}; "
                f"pass a smaller overview_size (at most {min(shape)}) or a larger image"
            )
        self.shape = (int(height), int(width))
        self.size = int(size)
        self.row_edges = (np.arange(size + 1) * height) // size
        self.col_edges = (np.arange(size + 1) * width) // size
        self.row_cell = np.repeat(np.arange(size), np.diff(self.row_edges))
        self.col_cell = np.repeat(np.arange(size), np.diff(self.col_edges))
        self.area = np.outer(np.diff(self.row_edges), np.diff(self.col_edges)).astype(np.float64)
        self.scale_255 = 255.0 / self.area

    def block_sum(self, values: np.ndarray, g0: int, g1: int, h0: int, h1: int) -> np.ndarray:
        """Sum of ``values`` (full-resolution) over cells ``[g0, g1) × [h0, h1)``."""
        r0, r1 = self.row_edges[g0], self.row_edges[g1]
        c0, c1 = self.col_edges[h0], self.col_edges[h1]
        region = values[r0:r1, c0:c1]
        if region.dtype != np.float64:
            region = region.astype(np.float64)
        rows = np.add.reduceat(region, self.row_edges[g0:g1] - r0, axis=0)
        return np.add.reduceat(rows, self.col_edges[h0:h1] - c0, axis=1)

    def block_mean(self, values: np.ndarray) -> np.ndarray:
        """Mean of a full-resolution array over every cell, ``float64`` (size, size)."""
        return self.block_sum(values, 0, self.size, 0, self.size) / self.area
