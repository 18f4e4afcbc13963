"""Rendering atom columns as Gaussian peaks on the pixel grid (the imaging model's column splat)."""

from __future__ import annotations

import numpy as np

__all__ = ["render_columns"]


def render_columns(
    shape: tuple[int, int],
    positions: np.ndarray,
    amplitudes: np.ndarray,
    sigma: float,
) -> np.ndarray:
    """Sum of 2-D Gaussian peaks, one per column, evaluated at pixel centres.

    Args:
        shape: (H, W) of the output, pixels.
        positions: (N, 2) ``(row, col)`` column positions in pixels (sub-pixel).
        amplitudes: (N,) peak heights (signal fraction).
        sigma: Gaussian width (probe blur) in pixels.

    Returns:
        ``float32`` (H, W) image.  Each peak is evaluated in a window of
        ``±4 sigma``; columns outside the field contribute only their tails.
    """
    height, width = shape
    positions = np.asarray(positions, dtype=np.float64).reshape(-1, 2)
    amplitudes = np.broadcast_to(np.asarray(amplitudes, dtype=np.float64), (len(positions),))
    if sigma <= 0:
        raise ValueError(f"sigma must be > 0 pixels, got {sigma}")
    half = int(np.ceil(4 * sigma))
    # columns whose window misses the field contribute < exp(-8) of their height: skip them
    near = np.all((positions > -half - 1) & (positions < np.array([height, width]) + half), axis=1)
    positions, amplitudes = positions[near], amplitudes[near]
    offsets = np.arange(-half, half + 1)
    base = np.floor(positions).astype(np.int64)
    rows = base[:, 0, None] + offsets[None, :]  # (N, k)
    cols = base[:, 1, None] + offsets[None, :]
    g_row = amplitudes[:, None] * np.exp(-((rows - positions[:, 0, None]) ** 2) / (2 * sigma**2))
    g_col = np.exp(-((cols - positions[:, 1, None]) ** 2) / (2 * sigma**2))
    values = g_row[:, :, None] * g_col[:, None, :]
    # accumulate on a canvas padded by 2 * half + 2 on each side, then crop
    pad = 2 * half + 2
    padded_width = width + 2 * pad
    flat = (rows + pad)[:, :, None] * padded_width + (cols + pad)[:, None, :]
    canvas = np.bincount(flat.ravel(), weights=values.ravel(), minlength=(height + 2 * pad) * padded_width)
    canvas = canvas[: (height + 2 * pad) * padded_width].reshape(height + 2 * pad, padded_width)
    return canvas[pad : pad + height, pad : pad + width].astype(np.float32)
