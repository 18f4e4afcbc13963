"""The rotationally invariant VAE as the zoo uses it: build, encode, store.

* :func:`new_model` builds a freshly initialised
  :class:`~stemscan.agents.nets.rvae.RVAE` from a seed (no global RNG);
* :func:`encode` returns posterior means (angle, dy, dx, z…) of windows
  (cut by :mod:`stemscan.agents.features.windows`);
* :func:`save_rvae` / :func:`load_rvae` / :func:`pretrained` store weights as
  safetensors plus a JSON config, validated on load (never pickled).

Training (offline and online) lives in :mod:`stemscan.agents.train`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stemscan.agents.features.windows import CENTRINGS
from stemscan.agents.nets.rvae import RVAE, RVAEConfig
from stemscan.agents.weights_file import read_json, read_safetensors, recorded_sha256, sha256_bytes, verify_sha256
from stemscan.atomic import write_bytes_atomic, write_text_atomic

__all__ = [
    "CENTRINGS",
    "check_windows",
    "encode",
    "load_rvae",
    "new_model",
    "pretrained",
    "pretrained_path",
    "save_rvae",
]

#: Shipped pre-trained weights per window centring (config in the ``.json`` next to each).
_WEIGHTS = {
    "peak": Path(__file__).resolve().parent / "weights" / "rvae.safetensors",
    "lattice": Path(__file__).resolve().parent / "weights" / "rvae_lattice.safetensors",
}








def check_windows(windows: Any, window: int | None = None) -> np.ndarray:
    """``windows`` as ``float32`` (N, W, W), finite, W = ``window`` when given; ``ValueError`` otherwise."""
    array = np.asarray(windows, dtype=np.float32)
    if array.ndim != 3 or array.shape[1] != array.shape[2]:
        raise ValueError(f"windows must be an (N, W, W) array, got shape {array.shape}")
    if window is not None and array.shape[1] != window:
        raise ValueError(f"windows are {array.shape[1]}×{array.shape[2]} px but the rVAE expects {window}×{window}")
    if not np.isfinite(array).all():
        raise ValueError("windows contain NaN or infinity")
    return array


def new_model(config: RVAEConfig, seed: int) -> RVAE:
    """A freshly initialised rVAE, its weights drawn from ``seed`` (no global RNG)."""
    generator = torch.Generator().manual_seed(int(seed))
    model = _build(config)
    with torch.no_grad():
        for parameter in model.parameters():
            if parameter.ndim == 2:  # Linear weight: uniform(-1/sqrt(fan_in), +) like PyTorch's default
                bound = 1.0 / math.sqrt(parameter.shape[1])
                parameter.copy_((torch.rand(parameter.shape, generator=generator) * 2 - 1) * bound)
            else:
                parameter.zero_()
    return model


def _build(config: RVAEConfig) -> RVAE:
    """An RVAE whose default initialisation leaves torch's global generator untouched (weights are set after)."""
    with torch.random.fork_rng(devices=[]):
        return RVAE(config)


# -------------------------------------------------------------------- encoding
def encode(model: RVAE, windows: np.ndarray) -> np.ndarray:
    """Posterior means of (angle [rad], dy, dx [half-windows], z_1..z_k) for each window.

    Returns:
        ``float64`` (N, 3 + latent_dim); (0, 3 + latent_dim) for no windows.
    """
    if len(windows) == 0:
        return np.zeros((0, model.n_latent), dtype=np.float64)
    array = check_windows(windows, model.config.window)
    with torch.no_grad():
        mean, _ = model.encode(torch.from_numpy(array))
    return mean.double().numpy()


# --------------------------------------------------------------------- storage
def _config_path(path: Path) -> Path:
    return path.with_suffix(".json")


def save_rvae(model: RVAE, path: str | os.PathLike, metadata: dict[str, Any] | None = None) -> Path:
    """Write weights to ``path`` (safetensors) and the config to ``path`` with suffix ``.json``, atomically.

    Args:
        model: The model.
        path: Target ``.safetensors`` file.
        metadata: Extra JSON-serialisable facts stored in the JSON (e.g. training data).

    Returns:
        The weights path.
    """
    from safetensors.torch import save

    target = Path(path)
    if target.suffix != ".safetensors":
        raise ValueError(f"rVAE weights must be saved to a .safetensors file, got {str(target)!r}")
    tensors = {name: value.detach().contiguous().clone() for name, value in model.state_dict().items()}
    raw = save(tensors)
    document = {"model": "stemscan-rvae", "config": model.config.to_dict(), "metadata": metadata or {},
                "sha256": sha256_bytes(raw)}
    text = json.dumps(document, indent=2, sort_keys=True)
    write_bytes_atomic(target, raw)
    write_text_atomic(_config_path(target), text + "\n")
    return target


def load_rvae(path: str | os.PathLike) -> RVAE:
    """Load an rVAE saved by :func:`save_rvae`, validating config, names, shapes and values.

    Only safetensors and JSON are read (no pickle).  The config's sizes are
    bounded (:data:`~stemscan.agents.nets.rvae.MAX_SIZES`) before the model
    is built; every tensor must have the model's shape and dtype (never
    cast) and finite values; the file must have the ``sha256`` recorded in
    the ``.json`` (when one is recorded; :func:`save_rvae` records it).

    Raises:
        FileNotFoundError: The weights or their ``.json`` config are missing.
        ValueError: The files do not describe a valid stemscan rVAE.
    """
    target = Path(path)
    config_file = _config_path(target)
    if not target.is_file():
        raise FileNotFoundError(f"rVAE weights not found: {str(target)!r}")
    if not config_file.is_file():
        raise FileNotFoundError(f"rVAE config not found: {str(config_file)!r} (expected next to the weights)")
    document = read_json(config_file, "rVAE config")
    if not isinstance(document, dict) or document.get("model") != "stemscan-rvae" or "config" not in document:
        raise ValueError(f"{str(config_file)!r} is not a stemscan rVAE config (needs model='stemscan-rvae' and 'config')")
    try:
        config = RVAEConfig.from_dict(document["config"])
    except (TypeError, ValueError) as error:
        raise ValueError(f"invalid rVAE config in {str(config_file)!r}: {error}") from error
    expected_sha256 = recorded_sha256(document, str(config_file))
    try:
        tensors, raw = read_safetensors(target)
    except ValueError as error:
        raise ValueError(f"{str(target)!r} is not a readable safetensors file: {error}") from error
    model = _build(config)
    expected = model.state_dict()
    if set(tensors) != set(expected):
        missing, extra = sorted(set(expected) - set(tensors)), sorted(set(tensors) - set(expected))
        raise ValueError(f"{str(target)!r} does not match the rVAE config: missing {missing}, unexpected {extra}")
    for name, value in tensors.items():
        if value.shape != expected[name].shape or value.dtype != expected[name].dtype:
            raise ValueError(
                f"{str(target)!r}: tensor {name!r} has shape {tuple(value.shape)} {value.dtype}, "
                f"expected {tuple(expected[name].shape)} {expected[name].dtype} (tensors are never cast)"
            )
        if not torch.isfinite(value).all():
            raise ValueError(f"{str(target)!r}: tensor {name!r} contains NaN or infinity")
    verify_sha256(target, raw, expected_sha256, str(config_file))
    model.load_state_dict(tensors, strict=True)
    model.eval()
    return model


def pretrained_path(centring: str = "peak") -> Path:
    """Path of the shipped pre-trained weights for windows cut with ``centring``.

    ``"peak"``: atom-centred windows of every scene family (16 px, 2 z,
    translation latent).  ``"lattice"``: windows on the ideal B sites of
    ``ferroelectric-domains`` (10 px, 1 z, no translation latent, a wide
    angle prior and standardised windows, so that the angle latent carries
    the B-site off-centring direction; see :mod:`stemscan.agents.train.rvae`).
    """
    if centring not in CENTRINGS:
        raise ValueError(f"unknown centring {centring!r}; valid: {', '.join(CENTRINGS)}")
    return _WEIGHTS[centring]


def weights_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The ``metadata`` table of an rVAE's JSON config (training facts, e.g. ``lattice_px``); ``{}`` if absent."""
    document = json.loads(_config_path(Path(path)).read_text())
    metadata = document.get("metadata", {}) if isinstance(document, dict) else {}
    return metadata if isinstance(metadata, dict) else {}


def pretrained(centring: str = "peak") -> RVAE:
    """The shipped rVAE for ``centring`` windows, pre-trained on synthetic scenes (``stemscan train rvae``)."""
    return load_rvae(pretrained_path(centring))




