"""The envs PPO trains and evaluates on, and the guard on the global RNGs that SB3 seeds.

:func:`make_vec_env` builds the vectorised, ``Monitor``-wrapped STEMScan envs
of :func:`~stemscan.agents.train.ppo.train_ppo` (env ``i`` on family
``i mod n``; evaluation envs reseeded at every reset so that each
evaluation replays the same episodes); :func:`isolated_global_rngs`
restores Python's, NumPy's and torch's global generators after training.
"""

from __future__ import annotations

import contextlib
import functools
import random
from collections.abc import Iterator
from typing import Any

import numpy as np

from stemscan.envs import ENV_ID

__all__ = ["isolated_global_rngs", "make_vec_env", "reseeding_dummy_vec_env_class"]


@contextlib.contextmanager
def isolated_global_rngs() -> Iterator[None]:
    """Restore Python's, NumPy's and torch's global RNG states on exit (SB3 seeds them)."""
    import torch

    states = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    try:
        yield
    finally:
        random.setstate(states[0])
        np.random.set_state(states[1])
        torch.set_rng_state(states[2])


@functools.cache
def reseeding_dummy_vec_env_class() -> type:
    """``DummyVecEnv`` subclass that reseeds on every ``reset()`` when ``fixed_seed`` is set (SB3 imported lazily)."""
    from stable_baselines3.common.vec_env import DummyVecEnv

    class ReseedingDummyVecEnv(DummyVecEnv):
        fixed_seed: int | None = None

        def reset(self) -> Any:
            if self.fixed_seed is not None:
                self.seed(self.fixed_seed)
            return super().reset()

    return ReseedingDummyVecEnv


def make_vec_env(
    families: list[str], n_envs: int, env_kwargs: dict[str, Any], vec_env: str, fixed_seed: int | None = None
) -> Any:
    """``n_envs`` Monitor-wrapped STEMScan envs, env ``i`` on family ``families[i % len]``.

    With ``fixed_seed`` (evaluation), every ``reset()`` of the vector env
    reseeds env ``i`` with ``fixed_seed + i``, so each evaluation replays the
    same episodes and the learning curve compares like with like.
    """
    import gymnasium as gym
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import SubprocVecEnv

    import stemscan  # noqa: F401  (registers the env id)

    def factory(family: str) -> Any:
        return lambda: Monitor(gym.make(ENV_ID, scene=family, **env_kwargs))

    fns = [factory(families[i % len(families)]) for i in range(n_envs)]
    if vec_env == "dummy":
        env = reseeding_dummy_vec_env_class()(fns)
        env.fixed_seed = fixed_seed
        return env
    if vec_env == "subproc":
        return SubprocVecEnv(fns)
    raise ValueError(f"vec_env must be 'dummy' or 'subproc', got {vec_env!r}")
