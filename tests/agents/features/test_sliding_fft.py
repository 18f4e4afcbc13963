"""Sliding-window FFT descriptors."""

from __future__ import annotations


import numpy as np
import pytest

import stemscan  # noqa: F401  (registers STEMScan-v0)
from stemscan.agents.features.sliding_fft import sliding_fft_features, window_function


def test_sliding_fft_tiles_and_windows() -> None:
    rng = np.random.default_rng(0)
    patch = rng.random((32, 32))
    hann = sliding_fft_features(patch, 16, 8, window_function("hann", 16))
    hamming = sliding_fft_features(patch, 16, 8, window_function("hamming", 16))
    assert hann.shape == (9, 16 * 9)
    assert (hann >= 0).all() and not np.allclose(hann, hamming)
    # A lattice fringe puts a peak at its spatial frequency, away from DC.
    rows = np.arange(32)[:, None] * np.ones((1, 32))
    fringes = 0.5 + 0.5 * np.cos(2 * np.pi * rows / 4.0)
    spectrum = sliding_fft_features(fringes, 16, 16, window_function("hann", 16))[0].reshape(16, 9)
    assert spectrum[4, 0] > 2 * spectrum[2, 0]
    with pytest.raises(ValueError, match="window"):
        sliding_fft_features(patch, 64, 8, window_function("hann", 64))
    with pytest.raises(ValueError, match="FFT window"):
        window_function("blackman", 16)
