"""The agent protocol: stable-baselines3's ``predict``, template-method style.

``predict`` validates and converts; subclasses write ``_predict`` (and
optionally ``_start_episode``).  Zoo agents decide from observations only;
the field geometry (image shape, patch size, action mode) they read from the
env's *configuration*, never its hidden scene.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from stemscan.envs.geometry import PatchGeometry

__all__ = ["Agent", "FieldConfig"]


class FieldConfig:
    """What an agent may know about the instrument: geometry, not the sample.

    Attributes:
        shape: (H, W) of the field, pixels.
        patch_size: Sub-scan side, pixels.
        action_mode: ``"continuous"`` or ``"grid"``.
        geometry: :class:`~stemscan.envs.geometry.PatchGeometry` of the field.
        overview_size: Cells per side of the ``overview`` observation.
        pixel_size: Å per pixel of the field (from the scene's calibration,
            which an operator knows), or ``None`` before the first reset.
    """

    def __init__(self, env: gym.Env) -> None:
        base = env.unwrapped
        for attr in ("shape", "patch_size", "action_mode", "geometry", "grid"):
            if not hasattr(base, attr):
                raise TypeError(f"agents need a STEMScan env; {type(base).__name__} has no attribute {attr!r}")
        self.shape: tuple[int, int] = base.shape
        self.patch_size: int = base.patch_size
        self.action_mode: str = base.action_mode
        self.geometry: PatchGeometry = base.geometry
        self.overview_size: int = base.grid.size
        self.cell_centres = self.geometry.cell_centres()  # (n_cells, 2) fractions

    def cell_of_position(self, position: np.ndarray) -> int:
        """Grid cell containing a patch centre given as fractions (row, col)."""
        g = self.geometry
        row = min(int(position[0] * self.shape[0]) // self.patch_size, g.n_rows - 1)
        col = min(int(position[1] * self.shape[1]) // self.patch_size, g.n_cols - 1)
        return row * g.n_cols + col


class Agent(ABC):
    """Base class of the zoo.

    Args:
        env: The env the agent will act in (for its spaces and geometry).
        seed: Seed of the agent's own generator (``np.random.Generator``).
    """

    #: Registry name, e.g. ``"raster"``.
    name: ClassVar[str] = ""

    def __init__(self, env: gym.Env, seed: int | None = 0) -> None:
        if not isinstance(env.observation_space, gym.spaces.Dict):
            raise TypeError("agents need STEMScan's Dict observation space")
        self.observation_space = env.observation_space
        self.action_space = env.action_space
        self.field = FieldConfig(env)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._started = False

    # ------------------------------------------------------------ protocol
    def reset(self, seed: int | None = None) -> None:
        """Start a new episode; reseed the agent's generator if ``seed`` is given."""
        if seed is not None:
            self.seed = seed
            self.rng = np.random.default_rng(seed)
        self._start_episode()
        self._started = True

    def predict(
        self,
        observation: dict[str, np.ndarray],
        state: Any = None,
        episode_start: Any = None,
        deterministic: bool = True,
    ) -> tuple[np.ndarray, Any]:
        """Choose the next sub-scan (SB3's ``predict`` signature).

        Args:
            observation: One (unbatched) STEMScan observation.
            state: Unused (kept for SB3 compatibility); returned as is.
            episode_start: Truthy at the first step of an episode.
            deterministic: Agents with stochastic policies sample when False.

        Returns:
            ``(action, state)`` with ``action`` in the env's action space.
        """
        self._check_observation(observation)
        if (episode_start is not None and bool(np.any(episode_start))) or not self._started:
            self._start_episode()
            self._started = True
        action = self._predict(observation, deterministic)
        return action, state

    def config(self) -> dict[str, Any]:
        """JSON-serialisable keyword arguments that reproduce this agent."""
        return {"seed": self.seed}

    # ------------------------------------------------------------ subclass
    def _start_episode(self) -> None:
        """Forget the previous episode (override when keeping memory)."""

    @abstractmethod
    def _predict(self, observation: dict[str, np.ndarray], deterministic: bool) -> np.ndarray:
        """Return the next action for a validated observation."""

    # ------------------------------------------------------------ helpers
    def action_for_cell(self, cell: int) -> np.ndarray | int:
        """Action scanning grid cell ``cell`` in this env's action mode."""
        if self.field.action_mode == "grid":
            return np.int64(cell)
        return self.field.cell_centres[cell].copy()

    def action_for_centre(self, centre: np.ndarray) -> np.ndarray | int:
        """Action scanning the patch centred at ``centre`` (fractions)."""
        if self.field.action_mode == "grid":
            return np.int64(self.field.cell_of_position(centre))
        return np.clip(np.asarray(centre, dtype=np.float32), 0.0, 1.0)

    def _check_observation(self, observation: Any) -> None:
        if not isinstance(observation, dict):
            raise TypeError(f"observation must be a dict of arrays, got {type(observation).__name__}")
        for key, space in self.observation_space.spaces.items():
            if key not in observation:
                raise ValueError(f"observation is missing the key {key!r}")
            value = np.asarray(observation[key])
            if value.shape != space.shape:
                raise ValueError(
                    f"observation[{key!r}] has shape {value.shape}, expected {space.shape} "
                    "(pass one unbatched observation)"
                )
        if not np.isfinite(observation["patch"]).all():
            raise ValueError("observation['patch'] contains NaN or infinity")
