"""Sliding-window FFT: local log-magnitude spectra of an image, one feature vector per window."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = ["WINDOWS", "sliding_fft_features", "window_function"]

#: Apodisation windows accepted by :func:`window_function`.
WINDOWS = ("hann", "hamming")


def window_function(kind: str, size: int) -> np.ndarray:
    """Separable 2D apodisation window (size, size), ``float64``: ``"hann"`` or ``"hamming"``."""
    if kind == "hann":
        w = np.hanning(size)
    elif kind == "hamming":
        w = np.hamming(size)
    else:
        raise ValueError(f"unknown FFT window {kind!r}; valid: {', '.join(WINDOWS)}")
    return np.outer(w, w)


def sliding_fft_features(image: np.ndarray, window: int, stride: int, apodisation: np.ndarray) -> np.ndarray:
    """Log-magnitude spectra of ``window``×``window`` tiles taken every ``stride`` pixels.

    Each tile is multiplied by ``apodisation`` and Fourier transformed
    (``rfft2``; the other half-plane is its mirror image for a real image);
    the feature is ``log1p(|F|)``, so a few bright Bragg peaks do not swamp
    the rest.  The DC term is kept: mean intensity is part of what a linear
    method sees.

    Args:
        image: (H, W) image, H and W >= ``window``.
        window: Tile side, pixels.
        stride: Step between tiles, pixels (>= 1).
        apodisation: (window, window) window function.

    Returns:
        (n_tiles, window * (window // 2 + 1)) ``float64`` features, tiles row-major.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2 or min(image.shape) < window:
        raise ValueError(f"sliding FFT of {window}-px windows needs a 2D image at least that large, got shape {image.shape}")
    tiles = sliding_window_view(image, (window, window))[::stride, ::stride]
    tiles = tiles.reshape(-1, window, window) * apodisation
    spectra = np.abs(np.fft.rfft2(tiles, axes=(-2, -1)))
    return np.log1p(spectra).reshape(len(tiles), -1)
