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
        # observations carry float32 fractions: 17/33 in float32 times 33 is 16.99999, so allow a hair of rounding
        row = int(np.floor(float(position[0]) * self.shape[0] + 1e-3))
        col = int(np.floor(float(position[1]) * self.shape[1] + 1e-3))
        return self.geometry.cell_of_pixel(row, col)


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
        own = getattr(env.unwrapped, "observation_space", None)
        if isinstance(own, gym.spaces.Dict):
            for key, space in own.spaces.items():  # a wrapper that stacks or reshapes observations is not STEMScan's
                seen = env.observation_space.spaces.get(key)
                if seen is None or seen.shape != space.shape:
                    raise ValueError(
                        f"agents need STEMScan's own observations; a wrapper changed {key!r} from {space.shape} to "
                        f"{None if seen is None else seen.shape} (make the agent on the env without that wrapper)"
                    )
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
        """Choose the next sub-scan (SB3's ``predict`` signature), for one env or a batch of envs.

        Args:
            observation: One STEMScan observation, or a batch of ``n`` of them
                (every entry with a leading axis of length ``n``, as a
                ``VecEnv`` or a Gymnasium vector env returns them).
            state: Unused (kept for SB3 compatibility); returned as is.
            episode_start: Truthy at the first step of an episode; for a batch,
                ``(n,)`` flags, one per env.
            deterministic: Agents with stochastic policies sample when False.

        Returns:
            ``(action, state)``: one action in the env's action space, or for a
            batch an array of ``n`` actions (``(n,)`` grid cells or ``(n, 2)``
            centres).  Each env of a batch is served by its own copy of this
            agent (the same options; seeds derived from this agent's seed and
            the env's index), so episodes in different envs never share memory.
        """
        n = self._batch_size(observation)
        if n is None:
            self._check_observation(observation)
            if (episode_start is not None and bool(np.any(episode_start))) or not self._started:
                self._start_episode()
                self._started = True
            return self._predict(observation, deterministic), state
        starts = np.zeros(n, dtype=bool) if episode_start is None else np.asarray(episode_start, dtype=bool).reshape(-1)
        if starts.shape != (n,):
            raise ValueError(f"episode_start has {starts.size} flags for a batch of {n} observations")
        lanes = self._lanes_for(n)
        actions = []
        for i, lane in enumerate(lanes):
            single = {key: np.asarray(value)[i] for key, value in observation.items()}
            action, _ = lane.predict(single, episode_start=bool(starts[i]), deterministic=deterministic)
            actions.append(action)
        return np.stack([np.asarray(a) for a in actions]), state

    def _batch_size(self, observation: Any) -> int | None:
        """``n`` for a batch of ``n`` observations, ``None`` for one (shapes are checked later)."""
        if not isinstance(observation, dict):
            return None
        sizes = set()
        for key, space in self.observation_space.spaces.items():
            if key not in observation:
                return None
            shape = np.shape(observation[key])
            if shape == space.shape:
                return None
            if len(shape) != len(space.shape) + 1 or shape[1:] != space.shape:
                return None
            sizes.add(shape[0])
        if len(sizes) != 1:
            raise ValueError(f"batched observation entries disagree in batch size: {sorted(sizes)}")
        return sizes.pop()

    def _lanes_for(self, n: int) -> list["Agent"]:
        """The agents serving a batch of ``n`` envs: this one for env 0, copies for the others.

        Env 0 thus gets exactly the decisions of an unbatched run with this
        agent's seed; env ``i`` gets a copy seeded from ``(seed, i)``.
        """
        lanes = getattr(self, "_lanes", None)
        if lanes is None or len(lanes) != n:
            import copy

            lanes = [self]
            for i in range(1, n):
                lane = copy.copy(self)
                lane.__dict__ = {k: copy.deepcopy(v) for k, v in self.__dict__.items() if k != "_lanes"}
                lane_seed = None if self.seed is None else int(np.random.SeedSequence((int(self.seed), i)).generate_state(1)[0])
                lane.seed = lane_seed
                lane.rng = np.random.default_rng(lane_seed)
                lane._started = False
                lanes.append(lane)
            self._lanes = lanes
        return lanes

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
        """Refuse an observation that does not fit the env's observation space (``ValueError`` naming the field).

        Every field is checked: present, a real number array of the space's
        dtype kind (integers for ``overview``/``visited``), the space's shape,
        finite, and inside the space's bounds (``[0, 1]`` for ``patch``,
        ``position`` and ``dose``; ``0..255`` for ``overview`` and ``visited``).
        Costs a few µs per observation (agents call it every step).
        """
        if not isinstance(observation, dict):
            raise TypeError(f"observation must be a dict of arrays, got {type(observation).__name__}")
        checks = self._observation_checks()
        for key, shape, integer, low, high, bounded in checks:
            if key not in observation:
                raise ValueError(f"observation is missing the key {key!r}")
            try:
                value = np.asarray(observation[key])
            except (ValueError, TypeError) as error:  # ragged lists and the like
                raise ValueError(f"observation[{key!r}] is not a numeric array: {error}") from None
            kind = value.dtype.kind
            if integer:
                if kind not in "iu":
                    span = f" {low:g}..{high:g}" if bounded else ""
                    raise ValueError(
                        f"observation[{key!r}] must hold integers{span}, got dtype {value.dtype} "
                        f"(the env gives {self.observation_space[key].dtype})"
                    )
            elif kind not in "fiu":
                raise ValueError(f"observation[{key!r}] is not a number (dtype {value.dtype}); expected real numbers")
            if value.shape != shape:
                raise ValueError(
                    f"observation[{key!r}] has shape {value.shape}, expected {shape} "
                    "(pass one unbatched observation)"
                )
            if not bounded or (kind == "u" and value.itemsize == 1 and low <= 0 and high >= 255):
                continue  # a uint8 array is always inside 0..255
            inside = True
            if value.size <= 8:  # position, dose: plain Python comparisons beat numpy reductions
                for v in (value.tolist() if value.ndim == 1 else value.ravel().tolist()):
                    if not low <= v <= high:  # False for NaN
                        inside = False
                        break
            else:  # the ufuncs directly: ndarray.min's wrapper costs as much as the work; NaN propagates
                inside = bool(np.minimum.reduce(value, axis=None) >= low) and bool(np.maximum.reduce(value, axis=None) <= high)
            if not inside:
                if kind == "f" and not np.isfinite(value).all():
                    raise ValueError(f"observation[{key!r}] contains NaN or infinity")
                raise ValueError(
                    f"observation[{key!r}] has values outside [{low:g}, {high:g}] "
                    f"(min {value.min().item()!r}, max {value.max().item()!r})"
                )

    def _observation_checks(self) -> list[tuple[str, tuple[int, ...], bool, float, float, bool]]:
        """Per field of the observation space: ``(key, shape, integer dtype, low, high, bounded)`` (cached)."""
        cached = getattr(self, "_observation_checks_cache", None)
        if cached is not None and cached[0] is self.observation_space:
            return cached[1]
        checks = []
        for key, space in self.observation_space.spaces.items():
            shape = tuple(space.shape) if space.shape is not None else ()
            integer, low, high, bounded = False, -np.inf, np.inf, False
            if isinstance(space, gym.spaces.Box):
                integer = np.dtype(space.dtype).kind in "iu"
                # the loosest bounds of the space, clamped to the largest finite float: infinity fails them too
                big = float(np.finfo(np.float64).max)
                low, high = max(float(np.min(space.low)), -big), min(float(np.max(space.high)), big)
                bounded = True
            elif isinstance(space, (gym.spaces.Discrete, gym.spaces.MultiDiscrete, gym.spaces.MultiBinary)):
                integer = True
            checks.append((key, shape, integer, low, high, bounded))
        self._observation_checks_cache = (self.observation_space, checks)
        return checks
