"""DCNN atom and defect finder: a U-Net segmenter usable on any 2D image.

The seed's supervised tier: a deep convolutional network segments an
atomically resolved image into per-pixel classes (:data:`CLASS_NAMES`),
from which atom columns (and defects) are located.  Used on its own, the way
microscopists use AtomAI's segmentor::

    from stemscan.agents.dcnn import AtomFinder
    finder = AtomFinder.pretrained()
    atoms = finder.find(image)            # (N, 2) (row, col), pixels
    probs = finder.probabilities(image)   # (n_classes, H, W)

The shipped weights (``stemscan/agents/weights/dcnn.safetensors``) were
trained by ``stemscan train dcnn`` with the configuration recorded beside
them (``dcnn.json``).  Weights are read with safetensors only: tensors, never
pickled objects.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from stemscan.agents.features.lattice import region_centroids
from stemscan.agents.nets.unet import UNet
from stemscan.agents.weights_file import (
    bounded_int,
    check_state,
    read_json,
    read_safetensors,
    recorded_sha256,
    verify_sha256,
)
from stemscan.atomic import write_bytes_atomic
from stemscan.validation import check_int

__all__ = [
    "CLASS_NAMES",
    "ATOM_CLASSES",
    "DEFECT_CLASSES",
    "WEIGHTS_PATH",
    "AtomFinder",
    "check_image",
    "normalise_image",
    "resolve_device",
]

#: Segmentation classes, in output-channel order.  ``atom``: an ordinary atom
#: column; ``dopant``: a substitutional heavy-atom column; ``vacancy``: the
#: site of a missing column (or missing atom of a column);
#: ``extended-defect``: the disordered region of a grain boundary or a
#: Stone-Wales bond rotation that is not an atom column.
CLASS_NAMES: tuple[str, ...] = ("background", "atom", "dopant", "vacancy", "extended-defect")
#: Classes whose pixels are atom columns.
ATOM_CLASSES: tuple[str, ...] = ("atom", "dopant")
#: Classes that mark defects.
DEFECT_CLASSES: tuple[str, ...] = ("dopant", "vacancy", "extended-defect")
#: The shipped weights.
WEIGHTS_PATH = Path(__file__).resolve().parent / "weights" / "dcnn.safetensors"

#: Most ensemble members and classes a weights file may declare.
MAX_MEMBERS, MAX_CLASSES = 16, 64

_FORMAT = "stemscan-dcnn-1"
_METADATA_KEY = "stemscan_dcnn"
_LOW_PERCENTILE, _HIGH_PERCENTILE = 1.0, 99.5
_MIN_SIDE = 4


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; other values are passed to ``torch.device``."""
    if isinstance(device, str) and device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or a torch.device, got {device!r}") from error


def check_image(image: Any, name: str = "image") -> np.ndarray:
    """``image`` as a finite ``float32`` 2D array, or ``ValueError`` naming the problem."""
    try:
        array = np.asarray(image)
    except Exception as error:  # noqa: BLE001 - anything that is not array-like
        raise ValueError(f"{name} must be a 2D array, got {type(image).__name__}") from error
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2D (H, W) array, got shape {array.shape}")
    if min(array.shape) < _MIN_SIDE:
        raise ValueError(f"{name} must be at least {_MIN_SIDE}×{_MIN_SIDE} pixels, got shape {array.shape}")
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_) or np.iscomplexobj(array):
        raise ValueError(f"{name} must hold real numbers, got dtype {array.dtype}")
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return array


def normalise_image(image: np.ndarray) -> np.ndarray:
    """Robust min/max scaling used for training and inference.

    Maps the 1st percentile to 0 and the 99.5th to 1 (values beyond are kept
    and clipped to [-1, 2]), so the network sees the same contrast whatever
    the detector gain, offset or dose.  A flat image becomes zeros.

    Args:
        image: Finite 2D array (any units, e.g. counts).

    Returns:
        ``float32`` array of the same shape.
    """
    array = np.asarray(image, dtype=np.float32)
    low, high = np.percentile(array, [_LOW_PERCENTILE, _HIGH_PERCENTILE])
    span = float(high - low)
    if not span > 0.0:
        return np.zeros_like(array)
    out = (array - np.float32(low)) * np.float32(1.0 / span)
    return np.clip(out, -1.0, 2.0, out=out)


def _pad_to_multiple(image: np.ndarray, multiple: int) -> tuple[np.ndarray, tuple[int, int]]:
    """Pad bottom/right by reflection (edge copy for tiny images) to sides divisible by ``multiple``."""
    height, width = image.shape
    pad_h, pad_w = (-height) % multiple, (-width) % multiple
    if pad_h == 0 and pad_w == 0:
        return image, (height, width)
    mode = "reflect" if pad_h < height and pad_w < width else "edge"
    return np.pad(image, ((0, pad_h), (0, pad_w)), mode=mode), (height, width)


class AtomFinder:
    """Atom-column and defect finder around one or more trained :class:`UNet` (an ensemble is averaged).

    Args:
        models: The trained networks (an ensemble is averaged in probability).
        class_names: Name of each output channel.
        device: ``"auto"`` (CUDA when available), ``"cpu"``, ``"cuda"``...
        metadata: Free-form description kept with the weights (training config).
    """

    def __init__(
        self,
        models: Sequence[UNet],
        class_names: Sequence[str] = CLASS_NAMES,
        device: str | torch.device = "auto",
        metadata: dict[str, Any] | None = None,
    ) -> None:
        models = list(models)
        if not models or not all(isinstance(m, UNet) for m in models):
            raise ValueError("AtomFinder needs at least one stemscan UNet")
        class_names = tuple(class_names)
        for model in models:
            if model.n_classes != len(class_names):
                raise ValueError(f"model has {model.n_classes} classes but {len(class_names)} class names were given")
        missing = [name for name in ATOM_CLASSES[:1] if name not in class_names]
        if missing:
            raise ValueError(f"class_names must include {missing}; got {class_names}")
        self.device = resolve_device(device)
        self.models = [model.to(self.device).eval() for model in models]
        self.class_names = class_names
        self.metadata = dict(metadata or {})
        self._multiple = max(model.multiple for model in self.models)

    # ----------------------------------------------------------- loading
    @classmethod
    def pretrained(cls, device: str | torch.device = "auto") -> AtomFinder:
        """The finder with the weights shipped in the package."""
        return cls.load(WEIGHTS_PATH, device=device)

    @classmethod
    def load(cls, path: str | os.PathLike, device: str | torch.device = "auto") -> AtomFinder:
        """Read a weights file written by :meth:`save` (safetensors; nothing is unpickled).

        Checks, before any weight is used: the file size
        (:mod:`stemscan.agents.weights_file`), the architecture sizes in the
        metadata (at most :data:`MAX_MEMBERS` members, :data:`MAX_CLASSES`
        classes, the UNet's own bounds) before a model is built, each
        tensor's name, shape and dtype (``float32``; never cast) and
        finiteness, and the SHA-256 recorded in the ``.json`` beside the
        file (``dcnn.json`` for the shipped weights), when there is one.

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: The file is not a safetensors file, is corrupt, its
                tensors do not match the architecture recorded in it, or its
                SHA-256 differs from the recorded one.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"DCNN weights file not found: {path}")
        try:
            tensors, raw = read_safetensors(path)
            metadata = _read_metadata(raw)
        except (ValueError, json.JSONDecodeError, UnicodeDecodeError, RecursionError) as error:
            raise ValueError(f"{path} is not a valid DCNN weights file (corrupt or not safetensors): {error}") from error
        try:
            record = json.loads(metadata[_METADATA_KEY])
        except (KeyError, ValueError, RecursionError) as error:
            raise ValueError(f"{path} is not a stemscan DCNN weights file (no {_METADATA_KEY!r} metadata)") from error
        if not isinstance(record, dict) or record.get("format") != _FORMAT:
            found = record.get("format") if isinstance(record, dict) else None
            raise ValueError(f"{path} is not a stemscan DCNN weights file (format {found!r}, expected {_FORMAT!r})")
        try:
            architecture = dict(record["architecture"])
            class_names = tuple(str(name) for name in record["class_names"])
            extra = dict(record.get("training") or {})
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"{path} has incomplete DCNN metadata: {error}") from error
        where = f"{path} metadata"
        n_members = bounded_int(where, "members", record.get("members"), 1, MAX_MEMBERS)
        bounded_int(where, "the number of class_names", len(class_names), 2, MAX_CLASSES)
        unknown = sorted(set(architecture) - {"base_channels", "levels"})
        if unknown:
            raise ValueError(f"{path} records an invalid architecture {architecture}: unknown keys {unknown}")
        bounded_int(where, "architecture.base_channels", architecture.get("base_channels", 16), 1, 256)
        bounded_int(where, "architecture.levels", architecture.get("levels", 3), 1, 4)
        models = []
        for member in range(n_members):
            try:
                model = UNet(n_classes=len(class_names), **architecture)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path} records an invalid architecture {architecture}: {error}") from error
            prefix = f"member{member}."
            state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            try:
                check_state(path, state, model.state_dict(), prefix)
            except ValueError as error:
                if "does not fit" not in str(error):
                    raise
                raise ValueError(f"{path} does not match the UNet architecture {architecture} (member {member}): "
                                 f"{str(error).split(': ', 1)[1]}") from error
            models.append(model)
        leftover = [k for k in tensors if not any(k.startswith(f"member{m}.") for m in range(n_members))]
        if leftover:
            raise ValueError(f"{path} holds tensors outside its {n_members} ensemble members: {leftover[:5]}")
        sidecar = path.with_suffix(".json")
        if sidecar.is_file():
            verify_sha256(path, raw, recorded_sha256(read_json(sidecar, "DCNN record"), str(sidecar)), str(sidecar))
        for member, model in enumerate(models):
            model.load_state_dict({k[len(f"member{member}."):]: v for k, v in tensors.items()
                                   if k.startswith(f"member{member}.")})
        return cls(models, class_names, device=device, metadata=extra)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the weights as safetensors, atomically (temporary file, then ``os.replace``)."""
        from safetensors.torch import save as save_bytes

        path = Path(path)
        first = self.models[0]
        architecture = {"base_channels": first.base_channels, "levels": first.levels}
        tensors = {
            f"member{i}.{name}": tensor.detach().to("cpu").contiguous()
            for i, model in enumerate(self.models)
            for name, tensor in model.state_dict().items()
        }
        record = {
            "format": _FORMAT,
            "architecture": architecture,
            "class_names": list(self.class_names),
            "members": len(self.models),
            "training": self.metadata,
        }
        # One metadata key holding sorted JSON: safetensors does not keep the order of several keys,
        # which would make the file bytes (and their hash) differ between identical saves.
        metadata = {_METADATA_KEY: json.dumps(record, sort_keys=True)}
        write_bytes_atomic(path, save_bytes(tensors, metadata=metadata))
        return path

    # --------------------------------------------------------- inference
    def class_index(self, name: str) -> int:
        """Output channel of class ``name``; ``ValueError`` listing the classes if unknown."""
        if name not in self.class_names:
            raise ValueError(f"unknown class {name!r}; classes: {', '.join(self.class_names)}")
        return self.class_names.index(name)

    @torch.inference_mode()
    def probabilities_batch(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities for a stack of equally sized images.

        Args:
            images: ``(B, H, W)`` finite array (any units; each image is
                normalised on its own).

        Returns:
            ``float32`` ``(B, n_classes, H, W)``, summing to 1 over classes.
        """
        stack = np.asarray(images)
        if stack.ndim != 3 or stack.shape[0] < 1:
            raise ValueError(f"images must be a (B, H, W) stack, got shape {stack.shape}")
        batch = [normalise_image(check_image(image, f"images[{i}]")) for i, image in enumerate(stack)]
        padded = [_pad_to_multiple(image, self._multiple)[0] for image in batch]
        height, width = stack.shape[1:]
        x = torch.from_numpy(np.stack(padded)[:, None]).to(self.device)
        total = None
        for model in self.models:
            probs = torch.softmax(model(x), dim=1)
            total = probs if total is None else total + probs
        total = total / len(self.models)
        return total[:, :, :height, :width].float().cpu().numpy()

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """Per-class probability maps of one 2D image, ``float32`` ``(n_classes, H, W)``.

        Raises:
            ValueError: ``image`` is not a finite 2D array of at least 4×4 pixels.
        """
        return self.probabilities_batch(check_image(image)[None])[0]

    def segment(self, image: np.ndarray) -> np.ndarray:
        """Most probable class of each pixel, ``int64`` ``(H, W)`` (indices into :attr:`class_names`)."""
        return np.argmax(self.probabilities(image), axis=0)

    def find(self, image: np.ndarray, threshold: float = 0.5, min_area: int = 2) -> np.ndarray:
        """Atom-column positions in a 2D image.

        The probability of the atom classes (``atom`` + ``dopant``) is
        thresholded; each connected region is one column, located at its
        probability-weighted centroid.

        Args:
            image: Finite 2D array (any units, any size >= 4×4 pixels).
            threshold: Atom probability above which a pixel belongs to a column (0-1).
            min_area: Regions smaller than this many pixels are ignored.

        Returns:
            ``float64`` ``(N, 2)`` ``(row, col)`` in pixels; ``(0, 2)`` if none.
        """
        return self.find_class(image, [name for name in ATOM_CLASSES if name in self.class_names], threshold, min_area)

    def find_class(
        self, image: np.ndarray, classes: str | Sequence[str], threshold: float = 0.5, min_area: int = 2
    ) -> np.ndarray:
        """Centroids ``(N, 2)`` of the regions where the summed probability of ``classes`` exceeds ``threshold``.

        E.g. ``find_class(image, "vacancy")`` or ``find_class(image, DEFECT_CLASSES)``.
        """
        if not (isinstance(threshold, (int, float)) and 0.0 < threshold < 1.0):
            raise ValueError(f"threshold must be a probability in (0, 1), got {threshold!r}")
        check_int("min_area", min_area, 1)
        names = [classes] if isinstance(classes, str) else list(classes)
        indices = [self.class_index(name) for name in names]
        probs = self.probabilities(image)[indices].sum(axis=0)
        return region_centroids(probs, threshold, min_area)


# ------------------------------------------------------ lattice geometry


def _read_metadata(raw: bytes) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors byte string (its JSON header)."""
    if len(raw) < 8:
        raise ValueError("file is shorter than a safetensors header")
    header_size = int.from_bytes(raw[:8], "little")
    if header_size <= 0 or 8 + header_size > len(raw):
        raise ValueError("safetensors header size is out of range")
    header = json.loads(raw[8 : 8 + header_size].decode("utf-8"))
    metadata = header.get("__metadata__") or {}
    if not isinstance(metadata, dict):
        raise ValueError("safetensors metadata is not a mapping")
    return {str(k): str(v) for k, v in metadata.items()}
