"""PPO's hyperparameter file: a zoo-style TOML table per env id, its keys, and rate schedules.

``stemscan/agents/hyperparams/ppo.toml`` holds one table per env id, in the
style of rl-baselines3-zoo's ``hyperparams/ppo.yml``.  :func:`load_hyperparams`
reads it and checks every key's type and range (:func:`check_ppo_kwargs` for
PPO's own options, also applied to a saved policy's).  :func:`schedule` turns
a rate, either a number or zoo's ``"lin_<x>"``, into what SB3 takes.
"""

from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.safejson import loads_toml

__all__ = [
    "DEFAULT_EXTRACTOR", "DEFAULT_HYPERPARAMS", "ENV_ID", "EXTRACTOR_NAMES", "PPO_KEYS", "check_ppo_kwargs",
    "load_hyperparams", "schedule",
]

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
#: Names of :data:`stemscan.agents.ppo.EXTRACTORS` (kept here so reading the file does not import torch).
EXTRACTOR_NAMES = ("CellBlockExtractor", "ScanMapExtractor")
#: The policy loader's bounds (:mod:`stemscan.agents.ppo`: ``MAX_LAYER_WIDTH``, ``MAX_LAYERS``, ``MAX_CHANNELS``):
#: a file may not train a policy that :func:`~stemscan.agents.ppo.load_policy` then refuses.
MAX_LAYER_WIDTH, MAX_LAYERS, MAX_CHANNELS = 4096, 8, 512

_POLICY_KWARGS = {"net_arch", "activation_fn", "features_extractor_kwargs", "share_features_extractor"}
_ACTIVATIONS = ("relu", "tanh")
_EXTRACTOR_KWARGS = {"channels", "patch_channels"}
_EVAL_KEYS = {"eval_freq": 1, "n_eval_episodes": 1, "eval_seed_offset": 0}  # key -> smallest value


def load_hyperparams(path: str | os.PathLike | None = None, env_id: str = ENV_ID) -> dict[str, Any]:
    """The hyperparameter table for ``env_id`` from a zoo-style TOML file, every key's type and range checked.

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a TOML file, no ``[env_id]`` table with keys of its
            own (a renamed header leaves only its sub-tables), an unknown key,
            or a value of the wrong type or outside its range (the message
            names the table, the key, the value and what is allowed).
    """
    path = Path(DEFAULT_HYPERPARAMS if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(f"hyperparameter file {str(path)!r} not found")
    if path.stat().st_size > 1_000_000:
        raise ValueError(f"hyperparameter file {str(path)!r} is larger than 1 MB; not a hyperparameter table")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(f"hyperparameter file {str(path)!r} is not UTF-8 text: {error}") from None
    what = f"hyperparameter file {str(path)!r}"
    table = loads_toml(text, what)
    others = sorted(name for name, value in table.items() if name != env_id and isinstance(value, dict))
    found = f" (the file's other tables: {', '.join(f'[{name}]' for name in others)})" if others else ""
    if env_id not in table:
        raise ValueError(f"{what} has no table [{env_id}]{found}")
    if not isinstance(table[env_id], dict):
        raise ValueError(f"{what}: {env_id} must be a table [{env_id}], got {table[env_id]!r}")
    params = dict(table[env_id])
    if not any(not isinstance(value, dict) for value in params.values()):  # SB3's defaults would train silently
        expected = f"expected [{env_id}] with the PPO hyperparameters (n_steps, batch_size, ...; see the packaged ppo.toml)"
        if params:
            subs = ", ".join(sorted(f"[{env_id}.{key}]" for key in params))
            raise ValueError(f"{what} has no table [{env_id}] with keys of its own, only its sub-tables {subs}{found}; "
                             f"{expected}: was its header renamed or removed?")
        raise ValueError(f"{what}: the table [{env_id}] is empty{found}; {expected}")
    unknown = set(params) - _TABLE_KEYS
    if unknown:
        raise ValueError(f"{what}: unknown keys {sorted(unknown)}; allowed: {sorted(_TABLE_KEYS)}")
    _check_table(params, what, env_id)
    return params


def _bad(where: str, key: str, value: Any, allowed: str) -> ValueError:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:60] + f"... ({len(shown)} characters)"
    return ValueError(f"{where}: {key} = {shown} is not allowed; allowed: {allowed}")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: Any) -> float | None:
    """``value`` as a finite float, or None (not a number, NaN, infinite, or an integer beyond the float range)."""
    if not _is_number(value):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def _int(where: str, key: str, value: Any, low: int, high: int) -> None:
    if not (_is_int(value) and low <= value <= high):
        raise _bad(where, key, value, f"an integer in [{low:_}, {high:_}]")


def _number(where: str, key: str, value: Any, low: float, high: float = math.inf, *, low_open: bool = False) -> None:
    """A finite real number in ``[low, high]`` (``(low, high]`` when ``low_open``)."""
    number = _finite(value)
    ok = number is not None and (low < number if low_open else low <= number) and number <= high
    if not ok:
        if math.isfinite(high):
            span = f"in {'(' if low_open else '['}{low:g}, {high:g}]"
        else:
            span = f"{'>' if low_open else '>='} {low:g}"
        raise _bad(where, key, value, f"a finite number {span}")


def _check_table(params: dict[str, Any], what: str, env_id: str) -> None:
    """Raise ``ValueError`` naming the table, key, value and allowed range of the first bad entry."""
    where = f"{what} [{env_id}]"

    def sub(name: str) -> str:
        return f"{what} [{env_id}.{name}]"

    policy = params.get("policy", "MultiInputPolicy")
    if policy != "MultiInputPolicy":
        raise _bad(where, "policy", policy, "'MultiInputPolicy' (only policy = 'MultiInputPolicy' is supported)")
    if "features_extractor" in params and params["features_extractor"] not in EXTRACTOR_NAMES:
        raise _bad(where, "features_extractor", params["features_extractor"],
                   f"one of {', '.join(repr(name) for name in EXTRACTOR_NAMES)}")
    if "vec_env" in params and params["vec_env"] not in ("dummy", "subproc"):
        raise _bad(where, "vec_env", params["vec_env"], "'dummy' or 'subproc'")
    # counts (the command line's bounds where it has the option)
    for key, low, high in (("n_timesteps", 0, 10**10), ("n_envs", 1, 1024), ("num_scenes", 0, 100_000)):
        if key in params:
            _int(where, key, params[key], low, high)
    check_ppo_kwargs({key: params[key] for key in PPO_KEYS if key in params}, where)
    for key in ("policy_kwargs", "env_kwargs", "eval", "imitation"):
        if key in params and not isinstance(params[key], dict):
            raise _bad(where, key, params[key], f"a table [{env_id}.{key}]")
    _check_policy_kwargs(params.get("policy_kwargs", {}), sub("policy_kwargs"))
    evaluation = params.get("eval", {})
    eval_where = sub("eval")
    unknown = set(evaluation) - set(_EVAL_KEYS)
    if unknown:
        raise ValueError(f"{eval_where}: unknown keys {sorted(unknown)}; allowed: {sorted(_EVAL_KEYS)}")
    for key, low in _EVAL_KEYS.items():
        if key in evaluation:
            _int(eval_where, key, evaluation[key], low, 10**10)
    if "imitation" in params:
        from stemscan.agents.train.imitation import ImitationConfig

        try:
            ImitationConfig.from_table(params["imitation"])
        except (ValueError, TypeError) as error:
            raise ValueError(f"{sub('imitation')}: {error}") from None


def check_ppo_kwargs(kwargs: dict[str, Any], where: str) -> None:
    """Check PPO constructor options (:data:`PPO_KEYS`) as the hyperparameter file gives them.

    ``ValueError`` naming ``where``, the key, the value and the allowed range:
    counts are integers >= 1 (``batch_size`` >= 2 with ``normalize_advantage``,
    as SB3 needs), ``gamma`` and ``gae_lambda`` in (0, 1], ``learning_rate``
    and ``clip_range`` a finite number > 0 or ``"lin_<x>"`` with x > 0,
    ``ent_coef`` and ``vf_coef`` finite and >= 0, ``max_grad_norm`` finite and > 0.
    """
    unknown = set(kwargs) - set(PPO_KEYS)
    if unknown:
        raise ValueError(f"{where}: unknown PPO keys {sorted(unknown)}; allowed: {sorted(PPO_KEYS)}")
    for key, low, high in (("n_steps", 1, 1_000_000), ("n_epochs", 1, 100_000)):
        if key in kwargs:
            _int(where, key, kwargs[key], low, high)
    normalize = kwargs.get("normalize_advantage", True)
    if not isinstance(normalize, bool):
        raise _bad(where, "normalize_advantage", normalize, "true or false")
    if "batch_size" in kwargs:  # SB3 normalises advantages over a minibatch: it needs two samples
        low = 2 if normalize else 1
        if not (_is_int(kwargs["batch_size"]) and low <= kwargs["batch_size"] <= 10**9):
            note = " (1 only with normalize_advantage = false)" if normalize else ""
            raise _bad(where, "batch_size", kwargs["batch_size"], f"an integer in [{low}, 1_000_000_000]{note}")
    for key in ("gamma", "gae_lambda"):
        if key in kwargs:
            _number(where, key, kwargs[key], 0.0, 1.0, low_open=True)
    for key in ("learning_rate", "clip_range"):
        if key in kwargs:
            try:
                schedule(key, kwargs[key])
            except ValueError:
                raise _bad(where, key, kwargs[key], "a finite number > 0, or 'lin_<x>' with a finite x > 0") from None
    for key in ("ent_coef", "vf_coef"):
        if key in kwargs:
            _number(where, key, kwargs[key], 0.0)
    if "max_grad_norm" in kwargs:
        _number(where, "max_grad_norm", kwargs["max_grad_norm"], 0.0, low_open=True)


def _check_policy_kwargs(kwargs: dict[str, Any], where: str) -> None:
    unknown = set(kwargs) - _POLICY_KWARGS
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}; allowed: {sorted(_POLICY_KWARGS)}")
    if "activation_fn" in kwargs and kwargs["activation_fn"] not in _ACTIVATIONS:
        raise _bad(where, "activation_fn", kwargs["activation_fn"], f"one of {', '.join(map(repr, _ACTIVATIONS))}")
    if "share_features_extractor" in kwargs and not isinstance(kwargs["share_features_extractor"], bool):
        raise _bad(where, "share_features_extractor", kwargs["share_features_extractor"], "true or false")
    layers = f"a list of at most {MAX_LAYERS} layer sizes, each an integer in [1, {MAX_LAYER_WIDTH}]"
    if "net_arch" in kwargs:
        arch = kwargs["net_arch"]
        if isinstance(arch, dict):
            extra = set(arch) - {"pi", "vf"}
            if extra:
                raise _bad(where, "net_arch", arch, f"{{ pi = [...], vf = [...] }} (no {sorted(extra)}), or one list")
            branches = [(f"net_arch.{name}", branch) for name, branch in arch.items()]
        else:
            branches = [("net_arch", arch)]
        for name, branch in branches:
            if not (isinstance(branch, list) and len(branch) <= MAX_LAYERS
                    and all(_is_int(width) and 1 <= width <= MAX_LAYER_WIDTH for width in branch)):
                raise _bad(where, name, branch, layers)
    extractor = kwargs.get("features_extractor_kwargs", {})
    if not isinstance(extractor, dict):
        raise _bad(where, "features_extractor_kwargs", extractor, "a table { channels = ..., patch_channels = ... }")
    unknown = set(extractor) - _EXTRACTOR_KWARGS
    if unknown:
        raise ValueError(f"{where}: unknown features_extractor_kwargs {sorted(unknown)}; allowed: "
                         f"{sorted(_EXTRACTOR_KWARGS)} (cell_grid comes from the env)")
    for key in sorted(extractor):
        _int(where, f"features_extractor_kwargs.{key}", extractor[key], 2, MAX_CHANNELS)


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
    number = _finite(value)
    if number is None or number <= 0:
        raise ValueError(f"{name} must be a positive number or 'lin_<number>', got {value!r}")
    return number


def _linear(start: float, progress_remaining: float) -> float:
    return start * progress_remaining
