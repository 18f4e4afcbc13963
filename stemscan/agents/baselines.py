"""Reference agents without a model: ``random`` and ``raster``."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

from stemscan.agents.base import Agent
from stemscan.validation import check_bool

__all__ = ["RandomAgent", "RasterAgent"]


class RandomAgent(Agent):
    """Scans grid cells in a random order without repeats (uniform prior).

    Once every cell has been scanned the order starts over.
    """

    name = "random"

    def _start_episode(self) -> None:
        self._order = self.rng.permutation(self.field.geometry.n_cells)
        self._step = 0

    def _predict(self, observation: dict[str, np.ndarray], deterministic: bool) -> Any:
        cell = int(self._order[self._step % len(self._order)])
        self._step += 1
        return self.action_for_cell(cell)


class RasterAgent(Agent):
    """Scans grid cells in order, row by row from the top-left: the uniform scan.

    Args:
        env: The env.
        seed: Unused (raster is deterministic); kept for a uniform signature.
        serpentine: Scan alternate rows right-to-left (shorter beam moves).
    """

    name = "raster"

    def __init__(self, env: gym.Env, seed: int | None = 0, serpentine: bool = False) -> None:
        super().__init__(env, seed)
        self.serpentine = check_bool("serpentine", serpentine)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "serpentine": self.serpentine}

    def _start_episode(self) -> None:
        self._step = 0

    def _predict(self, observation: dict[str, np.ndarray], deterministic: bool) -> Any:
        g = self.field.geometry
        index = self._step % g.n_cells
        self._step += 1
        row, col = divmod(index, g.n_cols)
        if self.serpentine and row % 2 == 1:
            col = g.n_cols - 1 - col
        return self.action_for_cell(row * g.n_cols + col)
