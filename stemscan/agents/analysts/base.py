"""The analyst protocol: observe the episode's observation stream, report detections at any time.

An analyst sees exactly what the navigator sees — the observations, never
the hidden scene, the reward or ``info`` — and from the env only its
configuration (:class:`~stemscan.agents.base.FieldConfig`: field shape,
patch size; and the scene *family* name, which tells it the vocabulary of
kinds the operator is looking for).  The episode loop
(:func:`stemscan.benchmarks.play_episode`) calls
``observe(obs, episode_start=True)`` after ``env.reset`` and ``observe(obs)``
after each step, and ``report()`` at its dose checkpoints.

:class:`PatchCanvas` is the shared memory: every sub-scan pasted into a
field-sized canvas (overlaps averaged), with the mask of measured pixels.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

from stemscan.agents.analysts.detections import Detections
from stemscan.agents.base import FieldConfig

__all__ = ["Analyst", "PatchCanvas"]


class PatchCanvas:
    """Every measured sub-scan in one field-sized image (values in the observation's units).

    Args:
        field: The env's geometry.
    """

    def __init__(self, field: FieldConfig) -> None:
        self.field = field
        self.sums = np.zeros(field.shape, dtype=np.float64)
        self.counts = np.zeros(field.shape, dtype=np.int32)
        self.boxes: list[tuple[int, int]] = []

    def clear(self) -> None:
        self.sums.fill(0.0)
        self.counts.fill(0)
        self.boxes = []

    def corner(self, position: np.ndarray) -> tuple[int, int]:
        """Top-left ``(r0, c0)`` of the patch centred at ``position`` (fractions), as the env placed it."""
        return self.field.geometry.from_continuous(np.asarray(position, dtype=np.float64).reshape(2))

    def add(self, patch: np.ndarray, position: np.ndarray) -> tuple[int, int]:
        """Paste one sub-scan; returns its top-left corner."""
        r0, c0 = self.corner(position)
        p = self.field.patch_size
        self.sums[r0 : r0 + p, c0 : c0 + p] += np.asarray(patch, dtype=np.float64)
        self.counts[r0 : r0 + p, c0 : c0 + p] += 1
        self.boxes.append((r0, c0))
        return r0, c0

    @property
    def measured(self) -> np.ndarray:
        """``bool`` (H, W): pixels scanned at imaging dose."""
        return self.counts > 0

    def image(self, fill: float | None = None) -> np.ndarray:
        """Mean measured value per pixel; unmeasured pixels get ``fill`` (default: the measured median)."""
        out = np.divide(self.sums, np.maximum(self.counts, 1))
        mask = self.measured
        if fill is None:
            fill = float(np.median(out[mask])) if mask.any() else 0.0
        out[~mask] = fill
        return out


class Analyst(ABC):
    """Base class of the analysts.

    Args:
        env: The env whose observations it will see (for its configuration only).
        seed: Seed of the analyst's own generator (for stochastic analysts).
    """

    #: Registry name, e.g. ``"peaks"``.
    name: ClassVar[str] = ""

    def __init__(self, env: gym.Env, seed: int | None = 0) -> None:
        if not isinstance(env.observation_space, gym.spaces.Dict) or "patch" not in env.observation_space.spaces:
            raise TypeError("analysts need STEMScan's Dict observation space")
        self.field = FieldConfig(env)
        self.family = str(getattr(env.unwrapped, "family", "file"))
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.canvas = PatchCanvas(self.field)
        self.steps = 0

    def reset(self, seed: int | None = None) -> None:
        """Forget the episode (reseeding when ``seed`` is given)."""
        if seed is not None:
            self.seed = seed
            self.rng = np.random.default_rng(seed)
        self.canvas.clear()
        self.steps = 0
        self._start_episode()

    def observe(self, observation: dict[str, np.ndarray], episode_start: bool = False) -> None:
        """Take in one observation: the reset's (``episode_start=True``: no sub-scan yet) or a step's."""
        if not isinstance(observation, dict) or "patch" not in observation or "position" not in observation:
            raise ValueError("observe() needs a STEMScan observation dict with 'patch' and 'position'")
        if episode_start:
            self.reset()
            return
        patch = np.asarray(observation["patch"])
        if patch.shape != (self.field.patch_size,) * 2 or not np.isfinite(patch).all():
            raise ValueError(f"observation['patch'] must be a finite {self.field.patch_size}×{self.field.patch_size} array")
        corner = self.canvas.add(patch, observation["position"])
        self.steps += 1
        self._observe_patch(patch, corner)

    def report(self) -> Detections:
        """The features claimed so far (positions in pixels of the field)."""
        if not self.steps:
            return Detections.empty(self.field.shape)
        return self._report()

    def config(self) -> dict[str, Any]:
        """JSON-serialisable settings that reproduce this analyst."""
        return {}

    # ------------------------------------------------------------ subclass
    def _start_episode(self) -> None:
        """Forget per-episode state beyond the canvas (override when keeping some)."""

    def _observe_patch(self, patch: np.ndarray, corner: tuple[int, int]) -> None:
        """Per-patch work, e.g. segmenting it (default: nothing; the canvas already holds it)."""

    @abstractmethod
    def _report(self) -> Detections:
        """Detections from the episode so far (at least one patch observed)."""
