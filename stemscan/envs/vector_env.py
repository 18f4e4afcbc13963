"""``gym.make_vec("STEMScan-v0", num_envs=N)``: N episodes stepped together, batched observations.

:class:`STEMScanVectorEnv` is a :class:`gymnasium.vector.VectorEnv` that owns
``N`` :class:`~stemscan.envs.stem_scan_env.STEMScanEnv` episodes in one
process and steps them all in ONE compiled call
(:func:`stemscan.envs.batch_step.step_envs`: each sub-env's random numbers read
from its own generator, its exact Poisson sub-scan, discovery counts,
overview/visited maps), writing the patches and coarse maps straight into
the batch arrays; dose, time, step and coverage counters are batch arrays
updated element-wise, so Python does per-sub-env work only for the rare
discoveries and for resets — no per-env observation dicts, info dicts or
copies on the way (Gymnasium's ``SyncVectorEnv`` builds and concatenates
both).  The sub-env objects (``envs``) serve resets: between resets their
own counters (``dose_used``, ``steps``, …) are not kept up to date; read
the vector env's info instead.  Sub-env ``i`` is exactly ``gym.make("STEMScan-v0", **kwargs)``
reset with ``seed + i``: the same observations, rewards and info step for
step (tested), so results do not depend on the vectorisation.

Autoreset follows Gymnasium 1.x's ``AutoresetMode.NEXT_STEP`` (as
``CartPoleVectorEnv``): the step after an episode ended resets that sub-env
(with its own generator, not reseeded) and returns the first observation
of the next episode with reward 0, ``terminated`` and ``truncated`` False;
its action is ignored.  ``reset(options={"reset_mask": mask})`` resets
only the sub-envs where ``mask`` is True.

Info is a dict of arrays (N,) with a ``"_key"`` mask per key, the vector
form of the single env's info; ``new_feature_ids`` is an object array of
lists.  Combine with a scene pool (``num_scenes=``) so that resets cost
well under a millisecond: the pool is generated once and shared by every
sub-env.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from stemscan.envs.batch_step import N_ADDRESSES, continuous_corners, env_addresses, step_envs, update_counters
from stemscan.envs.stem_scan_env import STEMScanEnv

__all__ = ["STEMScanVectorEnv"]

#: Info keys and their batch dtypes (``new_feature_ids`` apart).
_INFO_DTYPES = {
    "new_features": np.int64,
    "features_found": np.int64,
    "features_total": np.int64,
    "weight_found": np.float64,
    "dose_used": np.float64,
    "dose_budget": np.float64,
    "dose_fraction": np.float64,
    "budget_fraction": np.float64,
    "coverage": np.float64,
    "scan_time_s": np.float64,
    "steps": np.int64,
    "scored": np.bool_,
}


class STEMScanVectorEnv(VectorEnv):
    """``num_envs`` STEMScan episodes stepped as one batch (Gymnasium's vector API).

    Args:
        num_envs: Number of sub-envs, at least 1.
        **kwargs: ``STEMScan-v0`` arguments, the same for every sub-env
            (see :class:`~stemscan.envs.stem_scan_env.STEMScanEnv`);
            ``render_mode`` must be ``None``.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, **kwargs: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1, got {num_envs!r}")
        if kwargs.get("render_mode") is not None:
            raise ValueError("STEMScanVectorEnv does not render; make single envs with render_mode='rgb_array' to watch one")
        kwargs.pop("render_mode", None)
        kwargs.pop("max_episode_steps", None)  # passed by gymnasium.make_vec when a spec sets one; episodes end by dose
        self.num_envs = int(num_envs)
        self.envs = [STEMScanEnv(**kwargs) for _ in range(self.num_envs)]
        first = self.envs[0]
        self.single_observation_space = first.observation_space
        self.single_action_space = first.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.render_mode = None
        self.spec = None
        n, p, g = self.num_envs, first.patch_size, first.grid.size
        self._patch = np.zeros((n, p, p), dtype=np.float32)
        self._position = np.zeros((n, 2), dtype=np.float32)
        self._dose = np.zeros((n, 1), dtype=np.float32)
        self._coarse_u8 = np.zeros((n, 2, g, g), dtype=np.uint8)  # sub-env i's coarse maps live in row i
        self._rewards = np.zeros(n, dtype=np.float64)
        self._terminations = np.zeros(n, dtype=np.bool_)
        self._truncations = np.zeros(n, dtype=np.bool_)
        self._autoreset = np.zeros(n, dtype=np.bool_)
        self._info = {key: np.zeros(n, dtype=dtype) for key, dtype in _INFO_DTYPES.items()}
        self._new_ids = np.empty(n, dtype=object)
        self._continuous = first.action_mode == "continuous"
        self._needs_reset = True
        # The batched step's state: per sub-env scalars, and the addresses of its arrays (refreshed at each reset).
        self._dose_used = np.zeros(n, dtype=np.float64)
        self._scan_time_s = np.zeros(n, dtype=np.float64)
        self._steps = np.zeros(n, dtype=np.int64)
        self._n_scanned = np.zeros(n, dtype=np.int64)
        self._budget = first.budget
        self._addresses = np.zeros((n, N_ADDRESSES), dtype=np.int64)
        self._keep_alive: list[list] = [[] for _ in range(n)]
        self._generators: list[Any] = [None] * n  # each sub-env's np_random when its addresses were taken
        self._n_labels = np.zeros(n, dtype=np.int64)
        self._table_length = np.zeros(n, dtype=np.int64)
        self._episodes = np.zeros(n, dtype=np.int64)
        self._inverse_full_scale = np.zeros(n, dtype=np.float32)
        self._n_new = np.zeros(n, dtype=np.int64)
        self._due = np.zeros(n, dtype=np.bool_)
        self._over = np.zeros(n, dtype=np.bool_)
        self._counts = np.empty((p, p), dtype=np.int64)
        self._corners = np.zeros((n, 2), dtype=np.int64)
        self._empty_ids: list[list[int]] = []

    # ------------------------------------------------------------------ reset
    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Reset every sub-env (or those of ``options["reset_mask"]``); sub-env ``i`` gets ``seed + i``."""
        usage = f"seed must be an int, None or a list of {self.num_envs} ints or Nones"
        if seed is None or isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        elif isinstance(seed, (list, tuple, np.ndarray)):
            seeds = list(seed.tolist() if isinstance(seed, np.ndarray) else seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"{usage}, got {len(seeds)} seeds")
            for value in seeds:
                if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer))):
                    raise ValueError(f"{usage}, got {value!r} in the list")
            seeds = [None if value is None else int(value) for value in seeds]
        else:
            raise ValueError(f"{usage}, got {seed!r}")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:
            mask = np.ones(self.num_envs, dtype=np.bool_)
        elif not (isinstance(mask, np.ndarray) and mask.dtype == np.bool_ and mask.shape == (self.num_envs,) and mask.any()):
            raise ValueError(f"options['reset_mask'] must be a bool array of shape ({self.num_envs},) with a True value, got {mask!r}")
        elif self._needs_reset:
            raise RuntimeError("reset(options={'reset_mask': ...}) needs a full reset() first")
        for i in np.flatnonzero(mask):
            self._reset_one(int(i), seed=seeds[i], options=options or None)
        self._autoreset[mask] = False
        self._needs_reset = False
        return self._observations(), self._infos()

    def _reset_one(self, i: int, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        env = self.envs[i]
        env._start(seed, options)  # reset() less the single env's observation and info
        self._coarse_u8[i] = env._coarse_u8
        env._coarse_u8 = self._coarse_u8[i]  # the compiled step now updates the batch in place
        keep: list = []
        env_addresses(env, self._addresses[i], keep)
        self._keep_alive[i] = keep
        self._generators[i] = env.np_random
        self._n_labels[i] = env.tracker.scanned.shape[0]
        self._table_length[i] = env._counts_to_patch.shape[0]
        self._episodes[i] = env._episode
        self._inverse_full_scale[i] = env._tables.inverse_full_scale
        self._dose_used[i] = env.dose_used
        self._scan_time_s[i] = env.scan_time_s
        self._steps[i] = env.steps
        self._n_scanned[i] = env._n_scanned
        self._patch[i] = 0.0
        self._position[i] = env._last_position
        self._write(i, env)

    def _write(self, i: int, env: STEMScanEnv) -> None:
        """Row ``i`` of the dose observation and of the info arrays."""
        self._dose[i, 0] = min(env.dose_used / env.budget, 1.0) if env.budget > 0 else 1.0
        info = self._info
        tracker = env.tracker
        info["new_features"][i] = env._last_new.size
        info["features_found"][i] = tracker.n_found
        info["features_total"][i] = tracker.total
        info["weight_found"][i] = tracker.weight_found
        info["dose_used"][i] = env.dose_used
        info["dose_budget"][i] = env.budget
        info["dose_fraction"][i] = env.dose_used / env.frame_dose
        info["budget_fraction"][i] = env.dose_used / env.budget if env.budget > 0 else 1.0
        info["coverage"][i] = env._n_scanned / env._n_pixels
        info["scan_time_s"][i] = env.scan_time_s
        info["steps"][i] = env.steps
        info["scored"][i] = bool(env.scene.scored)
        self._new_ids[i] = env._last_new.tolist()

    # ------------------------------------------------------------------- step
    def step(self, actions: Any) -> tuple[dict, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Step every sub-env with its row of ``actions``; sub-envs whose episode ended last step reset instead."""
        if self._needs_reset:
            raise RuntimeError("step() called before reset()")
        actions = np.asarray(actions)
        expected = (self.num_envs, 2) if self._continuous else (self.num_envs,)
        if actions.shape != expected:
            raise ValueError(f"actions must have shape {expected} (one action per sub-env), got {actions.shape}")
        resetting = self._autoreset.copy()
        active = ~resetting
        corners = self._action_corners(actions, active)
        self._rewards.fill(0.0)
        self._terminations.fill(False)
        self._truncations.fill(False)
        first, info = self.envs[0], self._info
        for i, (env, known) in enumerate(zip(self.envs, self._generators)):
            if env._np_random is not known:  # np_random replaced by the user: read the new one, as a single env does
                keep = []
                env_addresses(env, self._addresses[i], keep)
                self._keep_alive[i] = keep
                self._generators[i] = env.np_random
        inside = step_envs(
            active, corners, self._addresses, self._n_labels, self._table_length, self._episodes, self._inverse_full_scale,
            first._tables.background, first._noise.means, first._noise.threshold, first._noise.alias,
            first._noise.log_factorial, first.grid.row_cell, first.grid.col_cell, first.grid.scale_255,
            first.shape[0], first.shape[1], self._counts, self._patch, self._n_new, self._due,
        )  # fmt: skip
        if not inside:
            raise RuntimeError(f"internal: sub-scan corners outside the field: {corners[active].tolist()}")
        # the single env's scalar updates, element-wise (the same float operations, so the same values)
        update_counters(
            active, corners, self._n_new, first.patch_dose, first._subscan_time_s, first.patch_size / 2.0,
            float(first.shape[0]), float(first.shape[1]), self._budget, self._budget * (1 + 1e-12), first.frame_dose,
            first._n_pixels, self._dose_used, self._scan_time_s, self._steps, self._n_scanned, self._position,
            self._dose, self._over, info["new_features"], info["dose_used"], info["dose_fraction"],
            info["budget_fraction"], info["coverage"], info["scan_time_s"], info["steps"],
        )  # fmt: skip
        new_ids = self._new_ids
        for i in np.flatnonzero(active).tolist():  # list objects for the info (cheap: no array work)
            new_ids[i] = []
        for i in np.flatnonzero(self._due & active).tolist():  # a feature may be found: the tracker decides (rare)
            tracker = self.envs[i].tracker
            found = tracker.collect()
            self._rewards[i] = tracker.last_weight
            self._terminations[i] = tracker.all_found
            info["new_features"][i] = found.size
            info["features_found"][i] = tracker.n_found
            info["weight_found"][i] = tracker.weight_found
            new_ids[i] = found.tolist()
        np.logical_and(self._over, ~self._terminations, out=self._truncations)
        self._truncations &= active
        for i in np.flatnonzero(resetting).tolist():  # NEXT_STEP autoreset: these return a first observation
            self._reset_one(i)
        np.logical_or(self._terminations, self._truncations, out=self._autoreset)
        return self._observations(), self._rewards.copy(), self._terminations.copy(), self._truncations.copy(), self._infos()

    def _action_corners(self, actions: np.ndarray, active: np.ndarray) -> np.ndarray:
        """Top-left pixels ``(N, 2)`` of the active sub-envs' actions, as the single env's ``corner`` computes them."""
        first, corners = self.envs[0], self._corners
        geometry = first.geometry
        if self._continuous:
            if actions.dtype in (np.float32, np.float64) and continuous_corners(
                actions, active, float(geometry.shape[0]), float(geometry.shape[1]), geometry.patch_size / 2.0,
                geometry._max_r, geometry._max_c, corners,
            ):  # fmt: skip
                return corners
        elif actions.dtype.kind in "iu":
            used = actions[active]
            if used.size == 0 or (used.min() >= 0 and used.max() < geometry.n_cells):
                rows, cols = np.divmod(np.where(active, actions, 0).astype(np.int64), geometry.n_cols)
                corners[:, 0] = geometry.row_starts[rows]  # the single env's from_cell
                corners[:, 1] = geometry.col_starts[cols]
                return corners
        for i in np.flatnonzero(active):  # the single env's checks: its errors, or its corners for other inputs
            corners[i] = first.corner(actions[i])
        return corners

    # ------------------------------------------------------------- obs & info
    def _observations(self) -> dict[str, np.ndarray]:
        return {
            "patch": self._patch.copy(),
            "position": self._position.copy(),
            "dose": self._dose.copy(),
            "overview": self._coarse_u8[:, 0:1].copy(),
            "visited": self._coarse_u8[:, 1:2].copy(),
        }

    def _infos(self) -> dict[str, Any]:
        infos: dict[str, Any] = {}
        every = np.ones(self.num_envs, dtype=np.bool_)
        for key, values in self._info.items():
            infos[key] = values.copy()
            infos[f"_{key}"] = every
        infos["new_feature_ids"] = self._new_ids.copy()
        infos["_new_feature_ids"] = every
        return infos

    def __setstate__(self, state: dict[str, Any]) -> None:
        """After unpickling or deepcopy: the sub-envs' arrays are new objects, so re-link them and their addresses."""
        self.__dict__.update(state)
        if self._needs_reset:
            return
        for i, env in enumerate(self.envs):
            self._coarse_u8[i] = env._coarse_u8
            env._coarse_u8 = self._coarse_u8[i]
            keep: list = []
            env_addresses(env, self._addresses[i], keep)
            self._keep_alive[i] = keep
            self._generators[i] = env.np_random

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()
