"""Smooth random fields and the amorphous / thermal-diffuse background.

All functions draw from a caller-supplied :class:`numpy.random.Generator`,
so a scene is a deterministic function of its seed.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["smooth_field", "amorphous_background"]


def smooth_field(shape: tuple[int, int], correlation_px: float, rng: np.random.Generator) -> np.ndarray:
    """Gaussian random field with zero mean and unit standard deviation.

    White noise low-pass filtered by a Gaussian of standard deviation
    ``correlation_px``.  Long correlation lengths are generated on a coarse
    grid and interpolated (cheap at any image size).

    Args:
        shape: (H, W) of the output, pixels.
        correlation_px: Correlation length (Gaussian filter sigma), pixels; > 0.
        rng: Random generator.

    Returns:
        ``float32`` (H, W) field, standardised over the generated area.
    """
    if not correlation_px > 0:
        raise ValueError(f"correlation_px must be > 0 pixels, got {correlation_px}")
    height, width = shape
    step = max(1, int(correlation_px // 3))
    if step == 1:
        noise = rng.standard_normal((height, width), dtype=np.float32)
        field = ndimage.gaussian_filter(noise, sigma=correlation_px, mode="wrap")
    else:
        coarse_shape = (height // step + 3, width // step + 3)
        coarse = rng.standard_normal(coarse_shape)
        coarse = ndimage.gaussian_filter(coarse, sigma=correlation_px / step, mode="wrap")
        field = _interpolation_matrix(height, step, coarse_shape[0]) @ coarse
        field = (field @ _interpolation_matrix(width, step, coarse_shape[1]).T).astype(np.float32)
    std = float(field.std())
    field = (field - field.mean()) / (std if std > 0 else 1.0)
    return field.astype(np.float32, copy=False)


def _interpolation_matrix(n: int, step: int, n_coarse: int) -> np.ndarray:
    """(n, n_coarse) linear-interpolation weights from a grid of spacing ``step``."""
    position = np.arange(n) / step
    low = np.floor(position).astype(np.int64)
    frac = position - low
    matrix = np.zeros((n, n_coarse))
    matrix[np.arange(n), low] = 1 - frac
    matrix[np.arange(n), np.minimum(low + 1, n_coarse - 1)] += frac
    return matrix


def amorphous_background(
    shape: tuple[int, int],
    rng: np.random.Generator,
    level: float,
    texture: float,
    grain_px: float,
    thickness_variation: float = 0.0,
    thickness_correlation_px: float = 64.0,
) -> np.ndarray:
    """Signal of an amorphous film / thermal-diffuse background.

    ``level * (1 + thickness_variation * slow) + texture * fine``, where
    ``fine`` is a speckle of grain ``grain_px`` (amorphous structure) and
    ``slow`` a smooth thickness field; clipped at zero.

    Args:
        shape: (H, W), pixels.
        rng: Random generator.
        level: Mean signal fraction (dimensionless).
        texture: Standard deviation of the fine amorphous speckle (signal fraction).
        grain_px: Correlation length of the speckle, pixels (about 1-2 Å).
        thickness_variation: Relative standard deviation of the slow thickness field.
        thickness_correlation_px: Its correlation length, pixels.

    Returns:
        ``float32`` (H, W) non-negative background.
    """
    background = np.full(shape, level, dtype=np.float32)
    if texture > 0:
        background += np.float32(texture) * smooth_field(shape, grain_px, rng)
    if thickness_variation > 0:
        slow = smooth_field(shape, thickness_correlation_px, rng)
        background *= 1 + np.float32(thickness_variation) * slow
    np.maximum(background, 0, out=background)
    return background
