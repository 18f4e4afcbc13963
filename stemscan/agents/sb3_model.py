"""Any stable-baselines3 model saved with ``model.save()``, as a benchmark agent: ``sb3:PATH.zip``.

Names: ``sb3:path/to/model.zip`` (the algorithm read from the file) or
``sb3:ppo:path/to/model.zip`` (``ppo``, ``a2c``, ``dqn``, ``sac``, ``td3``,
``ddpg``).  Loading goes through SB3's own ``load``, with every object the
file holds as a pickle replaced before it is read (SB3's ``custom_objects``):
the spaces come from the env, the policy class from SB3's alias for the
observation space, schedules become constants (a benchmark only predicts),
and the network weights are read by ``torch.load(weights_only=True)``.  A
model whose ``policy_kwargs`` are pickled objects (custom classes), or whose
``.pth`` members hold pickled objects beside tensors, is refused: wrap such a
model in a ``module:Class`` agent instead.  Before SB3 reads
anything, the archive's declared member sizes (``MAX_DATA_BYTES``,
``MAX_ARCHIVE_BYTES``, ``MAX_MEMBERS``) and its ``net_arch`` widths
(``MAX_LAYER_WIDTH``, ``MAX_LAYERS``) are bounded, so a zip bomb or a model
declaring huge layers fails at once.
"""

from __future__ import annotations

import json
import os
import pickle
import zipfile
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["ALGORITHMS", "SB3ModelAgent", "parse_sb3_name"]

#: Algorithm names accepted in ``sb3:ALGO:PATH`` -> SB3 class name.
ALGORITHMS = {"ppo": "PPO", "a2c": "A2C", "dqn": "DQN", "sac": "SAC", "td3": "TD3", "ddpg": "DDPG"}

_SCHEDULES = ("lr_schedule", "clip_range", "clip_range_vf", "exploration_schedule", "learning_rate")


def parse_sb3_name(name: str) -> tuple[str | None, Path]:
    """``(algorithm or None, path)`` of an ``sb3:[ALGO:]PATH`` agent name."""
    rest = name[len("sb3:"):]
    algorithm, sep, path = rest.partition(":")
    if sep and algorithm.lower() in ALGORITHMS:
        return ALGORITHMS[algorithm.lower()], Path(path)
    return None, Path(rest)


def _constant_zero(_progress: float) -> float:
    return 0.0


#: Bounds on a model archive, checked from the zip directory before anything is inflated:
#: the ``data`` JSON member, all members together, the number of members; and
#: the layer widths and depth its ``policy_kwargs.net_arch`` may declare.
MAX_DATA_BYTES, MAX_ARCHIVE_BYTES, MAX_MEMBERS = 16 * 2**20, 2**30, 64
MAX_LAYER_WIDTH, MAX_LAYERS = 4096, 16


def _read_data(path: Path) -> dict[str, Any]:
    """The archive's ``data`` JSON, after bounding the members' declared sizes (zip bombs) and the architecture."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = sum(info.file_size for info in members)
            if len(members) > MAX_MEMBERS or total > MAX_ARCHIVE_BYTES:
                raise ValueError(f"the archive declares {len(members)} members of {total:,} bytes in all, over the "
                                 f"limit of {MAX_MEMBERS} members and {MAX_ARCHIVE_BYTES:,} bytes")
            info = archive.getinfo("data")
            if info.file_size > MAX_DATA_BYTES:
                raise ValueError(f"its 'data' member declares {info.file_size:,} bytes, over the limit of "
                                 f"{MAX_DATA_BYTES:,}")
            data = json.loads(archive.read(info))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, UnicodeDecodeError, RecursionError,
            ValueError, EOFError, NotImplementedError) as error:
        raise ValueError(f"{path} is not a stable-baselines3 model saved with .save(): {error}") from error
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a stable-baselines3 model saved with .save(): 'data' is not a JSON object")
    _check_net_arch(data.get("policy_kwargs"), path)
    return data


def _check_net_arch(kwargs: Any, path: Path) -> None:
    """Bound ``policy_kwargs.net_arch`` (widths <= MAX_LAYER_WIDTH, <= MAX_LAYERS layers) before SB3 builds it."""
    if not isinstance(kwargs, dict) or kwargs.get("net_arch") is None:
        return
    arch = kwargs["net_arch"]
    branches = list(arch.values()) if isinstance(arch, dict) else [arch]
    for branch in branches:
        widths = branch if isinstance(branch, list) else [branch]
        if len(widths) > MAX_LAYERS or not all(
            isinstance(w, int) and not isinstance(w, bool) and 1 <= w <= MAX_LAYER_WIDTH for w in widths
        ):
            raise ValueError(f"{path}: policy_kwargs.net_arch {arch!r} is outside the limits (at most {MAX_LAYERS} "
                             f"layers of 1-{MAX_LAYER_WIDTH} units)")


def _algorithm(data: dict[str, Any], path: Path) -> str:
    module = str((data.get("policy_class") or {}).get("__module__", ""))
    for key in ("dqn", "sac", "td3", "ddpg"):
        if f".{key}." in module or module.endswith(f".{key}"):
            return ALGORITHMS[key]
    if "n_epochs" in data:
        return "PPO"
    if "n_steps" in data:
        return "A2C"
    raise ValueError(f"{path}: cannot tell which SB3 algorithm saved it; name it as sb3:ALGO:{path} ({', '.join(ALGORITHMS)})")


def _safe_objects(data: dict[str, Any], env: gym.Env, path: Path, policy_aliases: dict[str, Any]) -> dict[str, Any]:
    """Replacements for every pickled entry of the model's data (see the module docstring)."""
    if isinstance(data.get("policy_kwargs"), dict) and ":serialized:" in data["policy_kwargs"]:
        raise ValueError(
            f"{path}: its policy_kwargs are pickled Python objects; stemscan never unpickles a user's file. "
            "Benchmark it through a module:Class agent that builds the model in code."
        )
    for key in ("observation_space", "action_space"):
        stored = str((data.get(key) or {}).get(":type:", ""))
        mine = type(getattr(env, key)).__name__
        if stored and f".{mine}'" not in stored:
            raise ValueError(f"{path}: the model's {key} is {stored}, the env's is {mine} (make the env with the model's keywords)")
    alias = "MultiInputPolicy" if isinstance(env.observation_space, gym.spaces.Dict) else "MlpPolicy"
    objects: dict[str, Any] = {}
    for key, value in data.items():
        if not (isinstance(value, dict) and ":serialized:" in value):
            continue
        if key == "observation_space":
            objects[key] = env.observation_space
        elif key == "action_space":
            objects[key] = env.action_space
        elif key == "policy_class":
            objects[key] = policy_aliases[alias]
        elif key in _SCHEDULES:
            objects[key] = _constant_zero
        else:
            objects[key] = None
    return objects


def _pickled_message(path: Path, error: BaseException) -> str:
    """Why torch's ``weights_only`` reader refused a ``.pth`` member: it holds pickled objects, which stemscan never unpickles."""
    import re

    import torch

    member = "a .pth member"
    try:  # which member: each read again by the same safe reader, nothing unpickled
        with zipfile.ZipFile(path) as archive:
            for name in archive.namelist():
                if name.endswith(".pth"):
                    try:
                        with archive.open(name) as stream:
                            torch.load(stream, map_location="cpu", weights_only=True)
                    except Exception:
                        member = repr(name)
                        break
    except (OSError, zipfile.BadZipFile):
        pass
    found = re.search(r"GLOBAL ([\w.]+)", str(error))
    what = f" (e.g. {found.group(1)})" if found else " (or is corrupt)"
    return (f"{path}: its {member} holds pickled Python objects{what}, not only tensors; stemscan "
            "reads .pth members with torch's tensors-only reader and refuses to unpickle anything else (unpickling "
            "can run code from the file). Benchmark such a model through a module:Class agent that builds it in code.")


class SB3ModelAgent:
    """A saved SB3 model deciding from STEMScan observations (``predict`` is the model's own).

    Args:
        env: The env (its spaces must be the model's).
        seed: Unused (a saved policy is deterministic); kept for the protocol.
        path: The ``.zip`` written by ``model.save()``.
        algorithm: SB3 class name (``"PPO"``, ...); read from the file when None.
    """

    def __init__(self, env: gym.Env, seed: int | None = 0, path: str | os.PathLike = "", algorithm: str | None = None) -> None:
        import stable_baselines3

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"no SB3 model at {self.path}")
        data = _read_data(self.path)
        self.algorithm = algorithm or _algorithm(data, self.path)
        if self.algorithm not in ALGORITHMS.values():
            raise ValueError(f"unknown SB3 algorithm {self.algorithm!r}; valid: {', '.join(ALGORITHMS.values())}")
        cls = getattr(stable_baselines3, self.algorithm)
        try:
            self.model = cls.load(self.path, env=None, device="cpu", custom_objects=_safe_objects(data, env, self.path, cls.policy_aliases),
                                  print_system_info=False)
        except (ValueError, RuntimeError, KeyError, TypeError, OSError, EOFError, AttributeError, IndexError,
                zipfile.BadZipFile, pickle.UnpicklingError) as error:
            if isinstance(error, pickle.UnpicklingError) or "weights_only" in str(error):
                raise ValueError(_pickled_message(self.path, error)) from None  # not torch's advice to unpickle
            raise ValueError(f"{self.path}: cannot load as {self.algorithm} for this env: {error}") from error
        for name in ("observation_space", "action_space"):
            if getattr(self.model, name) != getattr(env, name):
                raise ValueError(f"{self.path}: the model's {name} differs from the env's")
        self.seed = seed

    def reset(self, seed: int | None = None) -> None:
        """Nothing to forget: the model's ``predict`` keeps no episode state."""

    def predict(self, observation: Any, state: Any = None, episode_start: Any = None, deterministic: bool = True) -> tuple[np.ndarray, Any]:
        return self.model.predict(observation, state=state, episode_start=episode_start, deterministic=deterministic)

    def config(self) -> dict[str, Any]:
        return {"path": str(self.path), "algorithm": self.algorithm}
