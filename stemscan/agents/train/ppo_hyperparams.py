"""PPO's hyperparameter file: a zoo-style TOML table per env id, its keys, and rate schedules.

``stemscan/agents/hyperparams/ppo.toml`` holds one table per env id, in the
style of rl-baselines3-zoo's ``hyperparams/ppo.yml``.  :func:`load_hyperparams`
reads and validates it.  :func:`schedule` turns a rate, either a number or
zoo's ``"lin_<x>"``, into what SB3 takes.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.safejson import loads_toml

__all__ = ["DEFAULT_EXTRACTOR", "DEFAULT_HYPERPARAMS", "ENV_ID", "PPO_KEYS", "load_hyperparams", "schedule"]

ENV_ID = "STEMScan-v0"
DEFAULT_HYPERPARAMS = Path(__file__).resolve().parents[1] / "hyperparams" / "ppo.toml"

#: PPO constructor options the hyperparameter table may set.
PPO_KEYS = (
    "n_steps", "batch_size", "n_epochs", "gamma", "gae_lambda", "learning_rate", "clip_range",
    "ent_coef", "vf_coef", "max_grad_norm", "normalize_advantage",
)
_TABLE_KEYS = {
    "policy", "features_extractor", "n_timesteps", "n_envs", "num_scenes", "vec_env", "policy_kwargs", "env_kwargs", "eval",
    "imitation", *PPO_KEYS,
}  # fmt: skip
#: Features extractor of a table that names none.
DEFAULT_EXTRACTOR = "CellBlockExtractor"


def load_hyperparams(path: str | os.PathLike | None = None, env_id: str = ENV_ID) -> dict[str, Any]:
    """The hyperparameter table for ``env_id`` from a zoo-style TOML file (validated keys)."""
    path = Path(DEFAULT_HYPERPARAMS if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(f"hyperparameter file {str(path)!r} not found")
    if path.stat().st_size > 1_000_000:
        raise ValueError(f"hyperparameter file {str(path)!r} is larger than 1 MB; not a hyperparameter table")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"hyperparameter file {str(path)!r} is not UTF-8 text: {error}") from None
    table = loads_toml(text, f"hyperparameter file {str(path)!r}")
    if env_id not in table:
        raise ValueError(f"hyperparameter file {str(path)!r} has no table [{env_id}]")
    params = dict(table[env_id])
    unknown = set(params) - _TABLE_KEYS
    if unknown:
        raise ValueError(f"hyperparameter file {str(path)!r}: unknown keys {sorted(unknown)}; allowed: {sorted(_TABLE_KEYS)}")
    if params.get("policy", "MultiInputPolicy") != "MultiInputPolicy":
        raise ValueError(f"only policy = 'MultiInputPolicy' is supported, got {params['policy']!r}")
    return params


def schedule(name: str, value: Any) -> Any:
    """A PPO rate from the hyperparameter file: a number, or rl-baselines3-zoo's ``"lin_<x>"`` (x → 0 linearly).

    Returns the number, or a function of SB3's ``progress_remaining`` (1 at the start, 0 at the end).
    """
    if isinstance(value, str):
        if not value.startswith("lin_"):
            raise ValueError(f"{name} must be a number or 'lin_<number>', got {value!r}")
        try:
            start = float(value[4:])
        except ValueError:
            raise ValueError(f"{name} must be a number or 'lin_<number>', got {value!r}") from None
        if not np.isfinite(start) or start <= 0:
            raise ValueError(f"{name}: the start of a linear schedule must be a positive number, got {value!r}")
        return functools.partial(_linear, start)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive number or 'lin_<number>', got {value!r}")
    return float(value)


def _linear(start: float, progress_remaining: float) -> float:
    return start * progress_remaining
