"""Where a sub-scan lands: actions -> patch top-left corners, and back."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PatchGeometry", "cell_starts"]


def cell_starts(length: int, patch_size: int) -> np.ndarray:
    """First pixels of the grid cells along one side: ``ceil(length / P)`` cells covering every pixel.

    ``k · P`` when ``P`` divides ``length`` (the cells tile the side);
    otherwise the cells are spread evenly from ``0`` to ``length − P`` (the
    last one flush with the border), so neighbours overlap by less than a
    cell and no border strip is left unreachable.
    """
    n = max(1, -(-length // patch_size))
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    if length % patch_size == 0:
        return np.arange(n, dtype=np.int64) * patch_size
    return np.rint(np.arange(n) * ((length - patch_size) / (n - 1))).astype(np.int64)


class PatchGeometry:
    """Square ``patch_size`` sub-scans on an (H, W) field.

    Continuous actions are patch centres ``(row, col)`` in [0, 1]² of the
    field; a patch that would cross the border is shifted inside.  Grid
    actions index ``ceil(H / P) × ceil(W / P)`` cells row-major: the field's
    non-overlapping tiles when ``P`` divides its sides, else cells spread
    evenly with the last flush with the border (:func:`cell_starts`), so
    every pixel lies in some cell.
    """

    def __init__(self, shape: tuple[int, int], patch_size: int) -> None:
        self.shape = shape
        self.patch_size = patch_size
        self.row_starts = cell_starts(shape[0], patch_size)
        self.col_starts = cell_starts(shape[1], patch_size)
        self.n_rows = len(self.row_starts)
        self.n_cols = len(self.col_starts)
        self.n_cells = self.n_rows * self.n_cols
        self._max_r = shape[0] - patch_size
        self._max_c = shape[1] - patch_size
        # a pixel belongs to the cell whose centre is nearest (ties: the later cell, as k · P // P does)
        self._row_bounds = (self.row_starts[:-1] + self.row_starts[1:] + patch_size) / 2.0
        self._col_bounds = (self.col_starts[:-1] + self.col_starts[1:] + patch_size) / 2.0

    def from_continuous(self, action: Any) -> tuple[int, int]:
        """Top-left ``(r0, c0)`` of the patch centred at ``action`` (fractions)."""
        if isinstance(action, np.ndarray) and action.shape == (2,) and action.dtype.kind == "f":
            row, col = float(action[0]), float(action[1])  # fast path: plain floats, no array reductions
            if 0.0 <= row <= 1.0 and 0.0 <= col <= 1.0:  # False for NaN, which falls through to the checks
                return self._corner(row, col)
        try:
            raw = np.asarray(action)
            if raw.dtype.kind not in "iuf":  # no bools, complex numbers, strings or objects
                raise TypeError(f"dtype {raw.dtype}")
            a = raw.astype(np.float64)
        except (TypeError, ValueError, OverflowError) as error:
            raise ValueError(f"continuous action must be 2 real numbers (row, col) in [0, 1], got {action!r}") from error
        if a.shape != (2,):
            raise ValueError(f"continuous action must have shape (2,) (row, col), got shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"action contains NaN or infinity: {a.tolist()}")
        if a.min() < 0.0 or a.max() > 1.0:
            raise ValueError(f"action {a.tolist()} is outside the action space [0, 1]²")
        return self._corner(float(a[0]), float(a[1]))

    def _corner(self, row: float, col: float) -> tuple[int, int]:
        half = self.patch_size / 2.0
        r0 = min(max(int(round(row * self.shape[0] - half)), 0), self._max_r)
        c0 = min(max(int(round(col * self.shape[1] - half)), 0), self._max_c)
        return r0, c0

    def from_cell(self, action: Any) -> tuple[int, int]:
        """Top-left ``(r0, c0)`` of grid cell ``action``."""
        a = np.asarray(action)
        if a.size != 1 or a.ndim > 1:
            raise ValueError(f"grid action must be one integer cell index, got shape {a.shape}")
        value = a.reshape(()).item()
        if isinstance(value, float):
            if not np.isfinite(value) or value != int(value):
                raise ValueError(f"grid action must be an integer cell index, got {value!r}")
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"grid action must be an integer cell index, got {value!r}")
        if not 0 <= value < self.n_cells:
            raise ValueError(f"grid action {value} is outside Discrete({self.n_cells})")
        row, col = divmod(value, self.n_cols)
        return int(self.row_starts[row]), int(self.col_starts[col])

    def cell_rows(self, rows: Any) -> np.ndarray:
        """Grid row of each pixel row in ``rows`` (the cell row whose centre is nearest)."""
        return np.searchsorted(self._row_bounds, np.asarray(rows), side="right")

    def cell_cols(self, cols: Any) -> np.ndarray:
        """Grid column of each pixel column in ``cols`` (the cell column whose centre is nearest)."""
        return np.searchsorted(self._col_bounds, np.asarray(cols), side="right")

    def cell_of_pixel(self, row: int, col: int) -> int:
        """Grid cell (row-major index) that holds pixel ``(row, col)``."""
        return int(self.cell_rows(row)) * self.n_cols + int(self.cell_cols(col))

    def cell_corners(self) -> np.ndarray:
        """``int64`` (n_cells, 2) top-left pixels of the grid cells, row-major."""
        return np.stack(np.meshgrid(self.row_starts, self.col_starts, indexing="ij"), axis=-1).reshape(-1, 2)

    def centre_fraction(self, r0: int, c0: int) -> np.ndarray:
        """Centre of the patch at ``(r0, c0)`` as fractions of the field, ``float32`` (2,)."""
        half = self.patch_size / 2.0
        return np.array([(r0 + half) / self.shape[0], (c0 + half) / self.shape[1]], dtype=np.float32)

    def cell_centres(self) -> np.ndarray:
        """``float32`` (n_cells, 2) centres of the grid cells as fractions, row-major."""
        corners = self.cell_corners()
        half = self.patch_size / 2.0
        return np.stack(
            [(corners[:, 0] + half) / self.shape[0], (corners[:, 1] + half) / self.shape[1]], axis=1
        ).astype(np.float32)
