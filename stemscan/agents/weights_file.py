"""Reading weight files safely: size cap, recorded SHA-256, exact tensor dtypes, bounded architectures.

Every loader of stemscan weights (DCNN, rVAE, PPO) goes through here:

* :func:`read_safetensors` refuses a file over :data:`MAX_WEIGHTS_BYTES`
  (1 GiB) before reading it, then parses the tensors with safetensors
  (never pickle);
* :func:`verify_sha256` compares the file with the SHA-256 recorded beside
  it (the ``"sha256"`` of the ``.json`` next to the weights); a mismatch is
  an error naming the file and both hashes.  Loaders run it before the
  weights are used;
* :func:`check_state` compares every tensor with the freshly built model:
  names, shapes and dtypes must match exactly (an ``int32`` or ``float16``
  tensor where the model has ``float32`` is refused, never cast) and values
  must be finite;
* :func:`bounded_int` bounds an architecture size read from metadata
  *before* the model is built, so a JSON declaring huge layers fails at once.

Every trainer (``stemscan train dcnn|rvae|ppo``) checks its output with
:func:`check_weights_output` before training: a ``.safetensors`` path, with
the ``.json`` beside it writable too.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

__all__ = [
    "MAX_WEIGHTS_BYTES",
    "bounded_int",
    "check_state",
    "check_weights_output",
    "read_json",
    "read_safetensors",
    "recorded_sha256",
    "sha256_bytes",
    "verify_sha256",
]

#: Largest weight file read, bytes (the shipped ones are under 10 MB).
MAX_WEIGHTS_BYTES: int = 2**30
#: Largest JSON config beside the weights, bytes.
MAX_CONFIG_BYTES: int = 16 * 2**20


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def read_json(path: Path, what: str) -> Any:
    """A JSON config file, size-capped; ``ValueError`` naming ``path`` when unreadable."""
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise ValueError(f"{what} {str(path)!r} is {size:,} bytes, over the limit of {MAX_CONFIG_BYTES:,}")
    try:
        return json.loads(path.read_bytes().decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
        raise ValueError(f"{what} {str(path)!r} is not valid JSON: {type(error).__name__}: {error}") from error


def recorded_sha256(record: Any, where: str) -> str | None:
    """The ``"sha256"`` of a parsed JSON record (None when absent); ``ValueError`` if it is not 64 hex digits."""
    if not isinstance(record, dict) or record.get("sha256") is None:
        return None
    digest = record["sha256"]
    if not (isinstance(digest, str) and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest.lower())):
        raise ValueError(f"{where}: 'sha256' must be 64 hex digits, got {digest!r}")
    return digest.lower()


def read_safetensors(path: str | os.PathLike[str]) -> tuple[dict[str, torch.Tensor], bytes]:
    """The tensors of a safetensors file (CPU) and its raw bytes, after the size check.

    Raises:
        FileNotFoundError: no such file.
        ValueError: too large, or not a safetensors file.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load as load_bytes

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    size = path.stat().st_size
    if size > MAX_WEIGHTS_BYTES:
        raise ValueError(f"{path}: {size:,} bytes, over the weights limit of {MAX_WEIGHTS_BYTES:,} bytes "
                         "(stemscan.agents.weights_file.MAX_WEIGHTS_BYTES)")
    raw = path.read_bytes()
    try:
        tensors = load_bytes(raw)
    except (SafetensorError, ValueError, OverflowError, RuntimeError) as error:
        raise ValueError(f"{path} is not a valid safetensors file: {error}") from error
    return tensors, raw


def verify_sha256(path: str | os.PathLike[str], raw: bytes, expected: str | None, record: str) -> None:
    """Refuse weights whose SHA-256 differs from the one recorded in ``record`` (nothing checked when None)."""
    if expected is None:
        return
    actual = sha256_bytes(raw)
    if actual != expected:
        raise ValueError(f"{path}: SHA-256 {actual} does not match {expected} recorded in {record}; "
                         "the file is corrupt or was replaced")


def check_state(
    path: str | os.PathLike[str], tensors: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Tensor],
    prefix: str = "",
) -> None:
    """Refuse tensors whose names, shapes or dtypes differ from ``expected`` (the built model's), or non-finite ones."""
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    if missing or unexpected:
        raise ValueError(f"{path} does not fit the architecture: missing tensors {missing[:5]}, "
                         f"unexpected tensors {unexpected[:5]}")
    for name, want in expected.items():
        tensor = tensors[name]
        if tuple(tensor.shape) != tuple(want.shape):
            raise ValueError(f"{path}: tensor {prefix}{name} has shape {tuple(tensor.shape)}, "
                             f"expected {tuple(want.shape)}")
        if tensor.dtype != want.dtype:
            raise ValueError(f"{path}: tensor {prefix}{name} is {str(tensor.dtype).removeprefix('torch.')}, "
                             f"the architecture needs {str(want.dtype).removeprefix('torch.')} (tensors are never cast)")
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise ValueError(f"{path}: tensor {prefix}{name} contains NaN or infinity")


def bounded_int(where: str, name: str, value: Any, low: int, high: int) -> int:
    """An architecture size from metadata as an int in ``[low, high]``, or ``ValueError`` naming it and the bounds."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{where}: {name} must be an integer in [{low}, {high}], got {value!r}")
    return value


def check_weights_output(path: str | os.PathLike[str], what: str = "--out") -> Path:
    """A trainer's weights output, checked before training: ``ValueError`` naming ``what`` unless it can be written.

    The path must end in ``.safetensors`` (the format every loader reads; the
    ``.json`` config is written beside it with that suffix replaced), and both
    it and the ``.json`` must be writable file paths
    (:func:`stemscan.atomic.check_output_file`).
    """
    from stemscan.atomic import check_output_file

    target = check_output_file(path, what)  # a folder or device first: named as such
    if target.suffix != ".safetensors":
        raise ValueError(f"{what} must end in .safetensors (a .json is written beside it), got {str(path)!r}")
    check_output_file(target.with_suffix(".json"), f"{what} (.json beside it)")
    return target
