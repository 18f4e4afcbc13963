"""Where a sub-scan lands: actions -> patch top-left corners, and back."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["PatchGeometry"]


class PatchGeometry:
    """Square ``patch_size`` sub-scans on an (H, W) field.

    Continuous actions are patch centres ``(row, col)`` in [0, 1]² of the
    field; a patch that would cross the border is shifted inside.  Grid
    actions index the ``(H // P) × (W // P)`` non-overlapping cells row-major.
    """

    def __init__(self, shape: tuple[int, int], patch_size: int) -> None:
        self.shape = shape
        self.patch_size = patch_size
        self.n_rows = shape[0] // patch_size
        self.n_cols = shape[1] // patch_size
        self.n_cells = self.n_rows * self.n_cols
        self._max_r = shape[0] - patch_size
        self._max_c = shape[1] - patch_size

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
        return row * self.patch_size, col * self.patch_size

    def centre_fraction(self, r0: int, c0: int) -> np.ndarray:
        """Centre of the patch at ``(r0, c0)`` as fractions of the field, ``float32`` (2,)."""
        half = self.patch_size / 2.0
        return np.array([(r0 + half) / self.shape[0], (c0 + half) / self.shape[1]], dtype=np.float32)

    def cell_centres(self) -> np.ndarray:
        """``float32`` (n_cells, 2) centres of the grid cells as fractions, row-major."""
        rows, cols = np.divmod(np.arange(self.n_cells), self.n_cols)
        half = self.patch_size / 2.0
        return np.stack(
            [(rows * self.patch_size + half) / self.shape[0], (cols * self.patch_size + half) / self.shape[1]], axis=1
        ).astype(np.float32)
