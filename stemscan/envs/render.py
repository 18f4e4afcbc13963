"""The ``rgb_array`` picture of an episode, as a microscopist reads it.

* dim blue-grey: the low-dose survey (what the agent saw first);
* grey: sub-scans acquired at imaging dose (the measured, noisy data);
* yellow boxes: earlier sub-scans; cyan box: the latest one;
* green squares: features found; red squares: features still missed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from stemscan.envs.overview import CoarseGrid
from stemscan.scenes.base import Feature

__all__ = ["render_frame"]

_SURVEY_TINT = np.array([0.55, 0.6, 0.75])
_OLD_BOX = np.array([230, 200, 40], dtype=np.uint8)
_NEW_BOX = np.array([40, 230, 240], dtype=np.uint8)
_FOUND = np.array([60, 220, 60], dtype=np.uint8)
_MISSED = np.array([235, 50, 50], dtype=np.uint8)


def render_frame(
    measured: np.ndarray,
    scanned: np.ndarray,
    survey: np.ndarray | None,
    grid: CoarseGrid,
    boxes: Sequence[tuple[int, int]],
    patch_size: int,
    features: Sequence[Feature],
    found: np.ndarray,
) -> np.ndarray:
    """Compose an ``uint8`` (H, W, 3) frame of the field of view."""
    height, width = measured.shape
    if survey is not None:
        base = survey[grid.row_cell[:, None], grid.col_cell[None, :]]
    else:
        base = np.zeros((height, width))
    rgb = base[..., None] * _SURVEY_TINT
    rgb[scanned] = measured[scanned, None]
    frame = (np.clip(rgb, 0, 1) * 255).astype(np.uint8)
    for index, (r0, c0) in enumerate(boxes):
        colour = _NEW_BOX if index == len(boxes) - 1 else _OLD_BOX
        _box(frame, r0, c0, r0 + patch_size - 1, c0 + patch_size - 1, colour)
    half = max(3, min(height, width) // 96)
    for feature in features:
        row, col = (int(round(v)) for v in feature.centroid)
        colour = _FOUND if found[feature.id] else _MISSED
        _box(frame, row - half, col - half, row + half, col + half, colour)
    return frame


def _box(frame: np.ndarray, r0: int, c0: int, r1: int, c1: int, colour: np.ndarray) -> None:
    """Draw a 1-pixel rectangle outline, clipped to the frame."""
    height, width = frame.shape[:2]
    ra, rb = max(r0, 0), min(r1, height - 1)
    ca, cb = max(c0, 0), min(c1, width - 1)
    if ra > rb or ca > cb:
        return
    for r in (r0, r1):
        if 0 <= r < height:
            frame[r, ca : cb + 1] = colour
    for c in (c0, c1):
        if 0 <= c < width:
            frame[ra : rb + 1, c] = colour
