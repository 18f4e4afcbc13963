"""Linear, physics-agnostic descriptors: sliding-window FFT spectra and their PCA/NMF decomposition."""

from __future__ import annotations

from stemscan.agents.descriptors.decomposition import LinearDecomposition
from stemscan.agents.descriptors.sliding_fft import sliding_fft_features, window_function

__all__ = ["LinearDecomposition", "sliding_fft_features", "window_function"]
