"""``gym.make_vec("STEMScan-v0", num_envs=N)``: N episodes stepped together, batched observations.

:class:`STEMScanVectorEnv` is a :class:`gymnasium.vector.VectorEnv` that owns
``N`` :class:`~stemscan.envs.stem_scan_env.STEMScanEnv` episodes in one
process and writes their observations straight into batch arrays: the
compiled sub-scan (noise sampler and bookkeeping) updates each episode's
coarse maps inside the batch, with no per-env observation dicts, info dicts
or copies on the way (Gymnasium's ``SyncVectorEnv`` builds and concatenates
both).  Sub-env ``i`` is exactly ``gym.make("STEMScan-v0", **kwargs)``
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

    # ------------------------------------------------------------------ reset
    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        """Reset every sub-env (or those of ``options["reset_mask"]``); sub-env ``i`` gets ``seed + i``."""
        if seed is None or isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            seeds = [None if seed is None else int(seed) + i for i in range(self.num_envs)]
        else:
            seeds = list(seed)
            if len(seeds) != self.num_envs:
                raise ValueError(f"seed must be an int, None or a list of {self.num_envs} seeds, got {len(seeds)}")
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
        env.reset(seed=seed, options=options)
        self._coarse_u8[i] = env._coarse_u8
        env._coarse_u8 = self._coarse_u8[i]  # the compiled step now updates the batch in place
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
        self._rewards.fill(0.0)
        self._terminations.fill(False)
        self._truncations.fill(False)
        for i, env in enumerate(self.envs):
            if self._autoreset[i]:
                self._reset_one(i)
                continue
            r0, c0 = env.corner(actions[i])
            reward, terminated, truncated = env.advance(r0, c0, self._patch[i])
            self._rewards[i] = reward
            self._terminations[i] = terminated
            self._truncations[i] = truncated
            self._position[i] = env._last_position
            self._write(i, env)
        np.logical_or(self._terminations, self._truncations, out=self._autoreset)
        return self._observations(), self._rewards.copy(), self._terminations.copy(), self._truncations.copy(), self._infos()

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

    def close_extras(self, **kwargs: Any) -> None:
        for env in self.envs:
            env.close()
