"""``ppo``: a stable-baselines3 PPO scanning policy, shipped as safetensors.

The policy is an SB3 ``MultiInputPolicy`` (actor-critic) whose features
extractor (one of :data:`EXTRACTORS`: the shipped policy's
:class:`~stemscan.agents.nets.cell_block.CellBlockExtractor`, or the first
policy's :class:`~stemscan.agents.nets.scan_map.ScanMapExtractor`) turns the
``overview`` and ``visited`` maps into one score per grid cell (a small fully
convolutional net, so "where" stays spatial) and the last ``patch`` into a
few global features.
The actor picks a grid cell (``Discrete(n_cells)``); the agent converts the
cell to the env's action mode, so it also drives continuous-action envs.

The policy file is never unpickled: ``ppo_policy.safetensors`` holds
``policy.state_dict()`` and ``ppo_policy.json`` the spaces and keyword
arguments that rebuild the network (see :func:`load_policy`).  Train one with
``stemscan train ppo`` (:mod:`stemscan.agents.train.ppo_cli`, training in :mod:`stemscan.agents.train.ppo`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.policies import MultiInputActorCriticPolicy
from torch import nn

from stemscan.agents.base import Agent
from stemscan.agents.nets.cell_block import CellBlockExtractor
from stemscan.agents.nets.scan_map import ScanMapExtractor
from stemscan.agents.weights_file import (
    bounded_int,
    check_state,
    read_json,
    read_safetensors,
    recorded_sha256,
    sha256_bytes,
    verify_sha256,
)
from stemscan.atomic import write_bytes_atomic

__all__ = [
    "DEFAULT_POLICY_PATH",
    "EXTRACTORS",
    "CellBlockExtractor",
    "PPOAgent",
    "ScanMapExtractor",
    "init_cell_head",
    "load_policy",
    "extractor_class",
    "policy_spec",
    "save_policy",
]

#: The policy shipped with the package (``.json`` beside it has the same stem).
DEFAULT_POLICY_PATH = Path(__file__).resolve().parent / "weights" / "ppo_policy.safetensors"

#: Format tag written into (and required from) the JSON side file.
POLICY_FORMAT = "stemscan-ppo-policy"
POLICY_FORMAT_VERSION = 1

_ACTIVATIONS: dict[str, type[nn.Module]] = {"tanh": nn.Tanh, "relu": nn.ReLU}

#: Features extractors a policy file may name (``"features_extractor"``); both take
#: ``cell_grid``, ``channels`` and ``patch_channels`` and end in a ``cell_head``.
EXTRACTORS: dict[str, type[CellBlockExtractor | ScanMapExtractor]] = {
    "CellBlockExtractor": CellBlockExtractor,
    "ScanMapExtractor": ScanMapExtractor,
}


def extractor_class(name: str) -> type[CellBlockExtractor | ScanMapExtractor]:
    """The features extractor called ``name`` (a key of :data:`EXTRACTORS`)."""
    if name not in EXTRACTORS:
        raise ValueError(f"unknown features_extractor {name!r}; valid names: {', '.join(sorted(EXTRACTORS))}")
    return EXTRACTORS[name]


def init_cell_head(policy: MultiInputActorCriticPolicy) -> None:
    """Start the actor as "any unvisited cell, uniformly".

    Zeroes the last cell-score conv and makes the actor's output layer copy the
    per-cell scores (identity on the first ``n_cells`` features, zero on the
    global ones), so the initial policy is the random agent without repeats
    and learning shapes the score map.  Call after building the PPO model.
    """
    extractor = policy.features_extractor
    if not isinstance(extractor, tuple(EXTRACTORS.values())):
        raise TypeError(f"init_cell_head needs a policy built with one of {sorted(EXTRACTORS)}")
    n_cells = extractor.cell_grid[0] * extractor.cell_grid[1]
    action_net = policy.action_net
    if not isinstance(action_net, nn.Linear) or action_net.out_features != n_cells:
        raise ValueError(f"the actor must be one Linear layer onto {n_cells} cells (net_arch pi=[])")
    with torch.no_grad():
        extractor.cell_head[-1].weight.zero_()
        extractor.cell_head[-1].bias.zero_()
        action_net.weight.zero_()
        action_net.weight[:, :n_cells] = torch.eye(n_cells)
        action_net.bias.zero_()


# --------------------------------------------------------------- policy files
def _space_to_json(space: spaces.Space) -> dict[str, Any]:
    if isinstance(space, spaces.Box):
        low, high = np.unique(space.low), np.unique(space.high)
        if low.size != 1 or high.size != 1:
            raise ValueError("only Box spaces with scalar bounds can be saved")
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype), "low": float(low[0]), "high": float(high[0])}
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n)}
    if isinstance(space, spaces.Dict):
        return {"type": "Dict", "spaces": {key: _space_to_json(sub) for key, sub in space.spaces.items()}}
    raise ValueError(f"cannot save a {type(space).__name__} space")


#: Bounds on what a policy config may declare, checked before anything is built:
#: elements of one Box observation, actions of a Discrete space, entries of a
#: Dict space, layer widths and depth of ``net_arch``, and the
#: ScanMapExtractor's ``channels``/``patch_channels`` and ``cell_grid`` side.
MAX_BOX_ELEMENTS, MAX_ACTIONS, MAX_DICT_KEYS = 2**20, 2**16, 16
MAX_LAYER_WIDTH, MAX_LAYERS, MAX_CHANNELS, MAX_GRID_SIDE = 4096, 8, 512, 256


def _space_from_json(spec: Any, where: str, depth: int = 0) -> spaces.Space:
    try:
        kind = spec["type"]
        if kind == "Box":
            dtype = np.dtype(spec["dtype"])
            if dtype.kind not in "uif":
                raise ValueError(f"dtype {dtype} is not numeric")
            shape = tuple(bounded_int(f"policy config {where}", "a Box dimension", v, 1, MAX_BOX_ELEMENTS)
                          for v in spec["shape"])
            if len(shape) > 4 or int(np.prod(shape)) > MAX_BOX_ELEMENTS:
                raise ValueError(f"Box shape {shape} is over the limit of 4 axes and {MAX_BOX_ELEMENTS:,} elements")
            return spaces.Box(spec["low"], spec["high"], shape=shape, dtype=dtype)
        if kind == "Discrete":
            return spaces.Discrete(bounded_int(f"policy config {where}", "n", spec["n"], 1, MAX_ACTIONS))
        if kind == "Dict" and depth == 0:
            if not isinstance(spec["spaces"], dict) or len(spec["spaces"]) > MAX_DICT_KEYS:
                raise ValueError(f"a Dict space needs at most {MAX_DICT_KEYS} named spaces")
            return spaces.Dict({key: _space_from_json(sub, f"{where}.{key}", depth + 1)
                                for key, sub in spec["spaces"].items()})
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"policy config: malformed space at {where}: {error!r}") from error
    found = spec.get("type") if isinstance(spec, dict) else spec
    raise ValueError(f"policy config: unsupported space type {found!r} at {where}")


def _check_policy_kwargs(kwargs: dict[str, Any]) -> None:
    """Bound the layer sizes a config declares (see :data:`MAX_LAYER_WIDTH` etc.) before building."""
    where = "policy config policy_kwargs"
    arch = kwargs.get("net_arch")
    if arch is not None:
        branches = list(arch.values()) if isinstance(arch, dict) else [arch]
        if isinstance(arch, dict) and not set(arch) <= {"pi", "vf"}:
            raise ValueError(f"{where}: net_arch keys must be 'pi' and 'vf', got {sorted(arch)}")
        for branch in branches:
            if not isinstance(branch, list) or len(branch) > MAX_LAYERS:
                raise ValueError(f"{where}: net_arch must list at most {MAX_LAYERS} layer widths, got {branch!r}")
            for width in branch:
                bounded_int(where, "a net_arch layer width", width, 1, MAX_LAYER_WIDTH)
    extractor = kwargs.get("features_extractor_kwargs") or {}
    if not isinstance(extractor, dict) or not set(extractor) <= {"cell_grid", "channels", "patch_channels"}:
        raise ValueError(f"{where}: features_extractor_kwargs takes cell_grid, channels and patch_channels, "
                         f"got {extractor!r}")
    for name in ("channels", "patch_channels"):
        if name in extractor:
            bounded_int(where, f"features_extractor_kwargs.{name}", extractor[name], 2, MAX_CHANNELS)
    if "cell_grid" in extractor:
        grid = extractor["cell_grid"]
        if not isinstance(grid, list) or len(grid) != 2:
            raise ValueError(f"{where}: cell_grid must be [rows, cols], got {grid!r}")
        for side in grid:
            bounded_int(where, "a cell_grid side", side, 1, MAX_GRID_SIDE)


def policy_spec(
    policy: MultiInputActorCriticPolicy,
    policy_kwargs: dict[str, Any],
    env_kwargs: dict[str, Any],
    training: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """JSON-serialisable description that rebuilds ``policy`` (see :func:`load_policy`).

    Args:
        policy: The trained SB3 policy.
        policy_kwargs: JSON form of its keyword arguments: ``net_arch``,
            ``activation_fn`` (a name in ``{"tanh", "relu"}``),
            ``features_extractor_kwargs``, ``share_features_extractor``.
        env_kwargs: The ``STEMScan-v0`` keyword arguments it was trained with.
        training: Provenance (command, seed, timesteps, wall time, versions).
    """
    return {
        "format": POLICY_FORMAT,
        "format_version": POLICY_FORMAT_VERSION,
        "policy_class": "MultiInputPolicy",
        "features_extractor": type(policy.features_extractor).__name__,
        "policy_kwargs": policy_kwargs,
        "observation_space": _space_to_json(policy.observation_space),
        "action_space": _space_to_json(policy.action_space),
        "action_mode": "grid",
        "env_kwargs": env_kwargs,
        "training": training or {},
    }


def save_policy(policy: MultiInputActorCriticPolicy, path: str | os.PathLike, spec: dict[str, Any]) -> Path:
    """Write ``policy.state_dict()`` to ``path`` (safetensors) and ``spec`` beside it (``.json``), atomically.

    The ``.json`` also records the SHA-256 of the weights (``"sha256"``), verified by :func:`load_policy`.

    Returns:
        The path of the ``.safetensors`` file.
    """
    from safetensors.torch import save

    path = Path(path)
    if path.suffix != ".safetensors":
        raise ValueError(f"policy path must end in .safetensors, got {str(path)!r}")
    tensors = {key: value.detach().cpu().contiguous() for key, value in _unique_state(policy).items()}
    raw = save(tensors, metadata={"format": POLICY_FORMAT})
    spec = {**spec, "sha256": sha256_bytes(raw)}
    write_bytes_atomic(path, raw)
    write_bytes_atomic(path.with_suffix(".json"), (json.dumps(spec, indent=2, sort_keys=True) + "\n").encode())
    return path


def _unique_state(policy: nn.Module) -> dict[str, torch.Tensor]:
    """``state_dict`` without aliases (a shared features extractor appears under three names)."""
    unique: dict[str, torch.Tensor] = {}
    seen: set[tuple[int, tuple[int, ...]]] = set()
    for key, value in policy.state_dict().items():
        ident = (value.data_ptr(), tuple(value.shape))
        if ident not in seen:
            seen.add(ident)
            unique[key] = value
    return unique


def _read_spec(json_path: Path) -> dict[str, Any]:
    if not json_path.is_file():
        raise FileNotFoundError(f"PPO policy config {str(json_path)!r} not found (it must sit beside the .safetensors file)")
    spec = read_json(json_path, "PPO policy config")
    if not isinstance(spec, dict) or spec.get("format") != POLICY_FORMAT:
        raise ValueError(f"{str(json_path)!r} is not a stemscan PPO policy config (format must be {POLICY_FORMAT!r})")
    if spec.get("format_version") != POLICY_FORMAT_VERSION:
        raise ValueError(f"{str(json_path)!r}: unsupported format_version {spec.get('format_version')!r}")
    return spec


def _build_policy(spec: dict[str, Any]) -> MultiInputActorCriticPolicy:
    observation_space = _space_from_json(spec.get("observation_space"), "observation_space")
    action_space = _space_from_json(spec.get("action_space"), "action_space")
    if not isinstance(observation_space, spaces.Dict) or not isinstance(action_space, spaces.Discrete):
        raise ValueError("policy config: expected a Dict observation space and a Discrete action space")
    name = spec.get("features_extractor")
    if not isinstance(name, str) or name not in EXTRACTORS:
        raise ValueError(f"policy config: unknown features_extractor {name!r}; valid names: {', '.join(sorted(EXTRACTORS))}")
    kwargs = dict(spec.get("policy_kwargs") or {})
    allowed = {"net_arch", "activation_fn", "features_extractor_kwargs", "share_features_extractor"}
    unknown = set(kwargs) - allowed
    if unknown:
        raise ValueError(f"policy config: unknown policy_kwargs {sorted(unknown)}; allowed: {sorted(allowed)}")
    _check_policy_kwargs(kwargs)
    activation = kwargs.pop("activation_fn", "tanh")
    if activation not in _ACTIVATIONS:
        raise ValueError(f"policy config: activation_fn must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
    return MultiInputActorCriticPolicy(
        observation_space,
        action_space,
        lr_schedule=lambda _: 0.0,
        activation_fn=_ACTIVATIONS[activation],
        features_extractor_class=EXTRACTORS[name],
        **kwargs,
    )


def load_policy(path: str | os.PathLike | None = None) -> tuple[MultiInputActorCriticPolicy, dict[str, Any]]:
    """Rebuild a saved PPO policy without unpickling anything.

    Args:
        path: The ``.safetensors`` file (its ``.json`` config beside it);
            ``None`` loads the policy shipped with the package.

    Returns:
        ``(policy, spec)``: the policy in eval mode on CPU, and its config.

    The config's space shapes and layer sizes are bounded (``MAX_*`` in
    this module) before the policy is built; every tensor must have the
    policy's shape and dtype (never cast) and finite values; the file must
    have the ``sha256`` recorded in the config (when one is recorded).

    Raises:
        FileNotFoundError: A file is missing.
        ValueError: A file is corrupt, its SHA-256 differs from the recorded
            one, or its tensors do not fit the architecture the config
            describes (names the tensors).
    """
    path = Path(DEFAULT_POLICY_PATH if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(f"PPO policy file {str(path)!r} not found; train one with `stemscan train ppo`")
    json_path = path.with_suffix(".json")
    spec = _read_spec(json_path)
    expected_sha256 = recorded_sha256(spec, str(json_path))
    try:
        tensors, raw = read_safetensors(path)
    except ValueError as error:
        raise ValueError(f"PPO policy file {str(path)!r} is not a valid safetensors file: {error}") from error
    try:
        policy = _build_policy(spec)
    except TypeError as error:
        raise ValueError(f"policy config {str(json_path)!r} does not build a policy: {error}") from error
    expected = _unique_state(policy)
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ValueError(f"PPO policy file {str(path)!r} does not fit its config: missing tensors {missing}, unexpected tensors {unexpected}")
    for key, value in expected.items():
        if tuple(tensors[key].shape) != tuple(value.shape):
            raise ValueError(
                f"PPO policy file {str(path)!r}: tensor {key!r} has shape {tuple(tensors[key].shape)}, "
                f"the config's architecture needs {tuple(value.shape)}"
            )
    check_state(path, tensors, expected)
    verify_sha256(path, raw, expected_sha256, str(json_path))
    result = policy.load_state_dict(tensors, strict=False)
    if result.unexpected_keys or set(result.missing_keys) & set(expected):
        raise ValueError(f"PPO policy file {str(path)!r} does not fit its config: {result}")
    policy.set_training_mode(False)
    return policy, spec


# ---------------------------------------------------------------------- agent
class PPOAgent(Agent):
    """The trained PPO policy as a zoo agent (decides from observations only).

    Like the other zoo agents it does not return to a cell it has chosen in
    the episode until it has chosen every cell its grid reaches (the
    policy's choices among the others are unchanged).

    Args:
        env: The env (any action mode; the observation space must match the
            policy's, i.e. the default 32-px patch and 64-cell overview).
        seed: Seed of the generator used when ``deterministic=False``.
        policy_path: A ``.safetensors`` policy (``.json`` beside it); ``None``
            for the one shipped with the package.
    """

    name = "ppo"

    def __init__(self, env: gym.Env, seed: int | None = 0, policy_path: str | None = None) -> None:
        super().__init__(env, seed)
        self.policy_path = None if policy_path is None else str(policy_path)
        self.policy, self.spec = load_policy(self.policy_path)
        self._check_spaces()
        rows, cols = self.policy.features_extractor.cell_grid
        self._policy_grid = (rows, cols)
        r, c = np.divmod(np.arange(rows * cols), cols)
        self._policy_centres = np.stack([(r + 0.5) / rows, (c + 0.5) / cols], axis=1).astype(np.float32)
        geometry = self.field.geometry
        self._same_grid = (geometry.n_rows, geometry.n_cols) == (rows, cols)
        # the env's cell each of the policy's cells scans (the same cell on the policy's own grid)
        self._env_cell = np.array([self.field.cell_of_position(centre) for centre in self._policy_centres], dtype=np.int64)
        self._chosen = np.zeros(geometry.n_rows * geometry.n_cols, dtype=bool)

    def _check_spaces(self) -> None:
        policy_space = self.policy.observation_space
        for key, space in policy_space.spaces.items():
            env_space = self.observation_space.spaces.get(key)
            if env_space is None:
                raise ValueError(f"the env has no observation {key!r}, which the PPO policy needs")
            if env_space.shape != space.shape or env_space.dtype != space.dtype:
                raise ValueError(
                    f"observation {key!r} is {env_space.shape} {env_space.dtype} in this env, the PPO policy was "
                    f"trained on {space.shape} {space.dtype} (train a policy for this geometry with `stemscan train ppo`)"
                )

    def config(self) -> dict[str, Any]:
        return {**super().config(), "policy_path": self.policy_path}

    def cell_logits(self, observation: dict[str, np.ndarray]) -> np.ndarray:
        """Unnormalised log-probabilities (n_cells,) of the policy's grid cells."""
        obs = {key: np.asarray(observation[key]) for key in self.policy.observation_space.spaces}
        obs_tensor, _ = self.policy.obs_to_tensor(obs)
        with torch.no_grad():
            distribution = self.policy.get_distribution(obs_tensor)
            return distribution.distribution.logits[0].numpy().astype(np.float64)

    def _start_episode(self) -> None:
        self._chosen[:] = False

    def _predict(self, observation: dict[str, np.ndarray], deterministic: bool) -> Any:
        logits = self.cell_logits(observation)
        # the env's cells already chosen in this episode are left out until every cell reachable from the
        # policy's grid has been chosen (the policy was trained on fields it covers without repeats, but out of
        # that regime, e.g. on another geometry or a long budget, it may prefer one cell again and again)
        taken = self._chosen[self._env_cell]
        if taken.all():
            self._chosen[:] = False
        else:
            logits = np.where(taken, -np.inf, logits)
        if deterministic:
            cell = int(np.argmax(logits))
        else:
            probs = np.exp(logits - logits.max())
            cell = int(self.rng.choice(len(probs), p=probs / probs.sum()))
        self._chosen[self._env_cell[cell]] = True
        if self._same_grid:
            return self.action_for_cell(cell)
        return self.action_for_centre(self._policy_centres[cell])
