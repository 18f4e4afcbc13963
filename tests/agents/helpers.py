"""Small shared fixtures of the agent tests: toy rVAE windows, a tiny env geometry."""

from __future__ import annotations

import numpy as np

#: Tiny env geometry: 128 px field, 32 px patches -> 4 x 4 cells, 4 patches per episode.
TINY = {"image_size": 128, "overview_size": 16, "dose_budget": 0.3}

BIG, WINDOW = 26, 16


def dumbbells(separation: np.ndarray, angle: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    """Windows of a bright and a dim Gaussian column, ``separation`` px apart along ``angle`` (rad)."""
    y, x = np.mgrid[:BIG, :BIG] - (BIG - 1) / 2
    images = []
    for s, a in zip(separation, angle):
        dy, dx = np.sin(a) * s / 2, np.cos(a) * s / 2
        bright = np.exp(-((y - dy) ** 2 + (x - dx) ** 2) / (2 * 1.8**2))
        dim = 0.5 * np.exp(-((y + dy) ** 2 + (x + dx) ** 2) / (2 * 1.8**2))
        images.append(bright + dim)
    start = (BIG - WINDOW) // 2
    out = np.stack(images)[:, start : start + WINDOW, start : start + WINDOW]
    return (out + rng.normal(0, noise, out.shape)).astype(np.float32)
