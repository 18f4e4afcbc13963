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
from scipy import ndimage

from stemscan.agents.nets.unet import UNet
from stemscan.atomic import write_bytes_atomic
from stemscan.validation import check_int

__all__ = [
    "CLASS_NAMES",
    "ATOM_CLASSES",
    "DEFECT_CLASSES",
    "WEIGHTS_PATH",
    "AtomFinder",
    "bond_length",
    "check_image",
    "honeycomb_missing_sites",
    "lattice_consistency",
    "match_points",
    "normalise_image",
    "region_centroids",
    "region_peaks",
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

        Raises:
            FileNotFoundError: ``path`` does not exist.
            ValueError: The file is not a safetensors file, is corrupt, or its
                tensors do not match the architecture recorded in it.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load as load_bytes

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"DCNN weights file not found: {path}")
        raw = path.read_bytes()
        try:
            tensors = load_bytes(raw)
            metadata = _read_metadata(raw)
        except (SafetensorError, ValueError, json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{path} is not a valid DCNN weights file (corrupt or not safetensors): {error}") from error
        try:
            record = json.loads(metadata[_METADATA_KEY])
        except (KeyError, ValueError) as error:
            raise ValueError(f"{path} is not a stemscan DCNN weights file (no {_METADATA_KEY!r} metadata)") from error
        if not isinstance(record, dict) or record.get("format") != _FORMAT:
            found = record.get("format") if isinstance(record, dict) else None
            raise ValueError(f"{path} is not a stemscan DCNN weights file (format {found!r}, expected {_FORMAT!r})")
        try:
            architecture = dict(record["architecture"])
            class_names = tuple(str(name) for name in record["class_names"])
            n_members = int(record["members"])
            extra = dict(record.get("training") or {})
        except (KeyError, ValueError, TypeError) as error:
            raise ValueError(f"{path} has incomplete DCNN metadata: {error}") from error
        models = []
        for member in range(n_members):
            try:
                model = UNet(n_classes=len(class_names), **architecture)
            except (TypeError, ValueError) as error:
                raise ValueError(f"{path} records an invalid architecture {architecture}: {error}") from error
            prefix = f"member{member}."
            state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
            expected = model.state_dict()
            missing = sorted(set(expected) - set(state))
            unexpected = sorted(set(state) - set(expected))
            if missing or unexpected:
                raise ValueError(
                    f"{path} does not match the UNet architecture {architecture} (member {member}): "
                    f"missing tensors {missing[:5]}, unexpected tensors {unexpected[:5]}"
                )
            for name, tensor in state.items():
                if tensor.shape != expected[name].shape:
                    raise ValueError(
                        f"{path}: tensor {prefix}{name} has shape {tuple(tensor.shape)}, "
                        f"expected {tuple(expected[name].shape)}"
                    )
                if not torch.isfinite(tensor).all():
                    raise ValueError(f"{path}: tensor {prefix}{name} contains NaN or infinity")
            model.load_state_dict(state)
            models.append(model)
        leftover = [k for k in tensors if not any(k.startswith(f"member{m}.") for m in range(n_members))]
        if leftover:
            raise ValueError(f"{path} holds tensors outside its {n_members} ensemble members: {leftover[:5]}")
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


def region_centroids(probability: np.ndarray, threshold: float, min_area: int) -> np.ndarray:
    """Probability-weighted centroids of the connected regions of ``probability > threshold``."""
    mask = probability > threshold
    regions, count = ndimage.label(mask)
    if count == 0:
        return np.zeros((0, 2), dtype=np.float64)
    index = np.arange(1, count + 1)
    areas = ndimage.sum_labels(mask, regions, index)
    centres = np.asarray(ndimage.center_of_mass(probability, regions, index), dtype=np.float64).reshape(-1, 2)
    return centres[areas >= min_area]


def region_peaks(probability: np.ndarray, threshold: float = 0.5, min_area: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Connected regions of ``probability > threshold``: ``(centroids (N, 2), peak probability (N,))``.

    The peak probability is each region's confidence (0.5-1), e.g. to weight
    a count of defect instances.
    """
    mask = probability > threshold
    regions, count = ndimage.label(mask)
    if count == 0:
        return np.zeros((0, 2), dtype=np.float64), np.zeros(0, dtype=np.float64)
    index = np.arange(1, count + 1)
    areas = ndimage.sum_labels(mask, regions, index)
    centres = np.asarray(ndimage.center_of_mass(probability, regions, index), dtype=np.float64).reshape(-1, 2)
    peaks = np.asarray(ndimage.maximum(probability, regions, index), dtype=np.float64).reshape(-1)
    keep = areas >= min_area
    return centres[keep], peaks[keep]


# ------------------------------------------------------ lattice geometry
def bond_length(atoms: np.ndarray) -> float | None:
    """Median nearest-neighbour distance of ``atoms`` (N, 2), pixels; ``None`` for fewer than 3 atoms."""
    from scipy.spatial import cKDTree

    atoms = np.asarray(atoms, dtype=np.float64).reshape(-1, 2)
    if len(atoms) < 3:
        return None
    return float(np.median(cKDTree(atoms).query(atoms, k=2)[0][:, 1]))


def honeycomb_missing_sites(
    atoms: np.ndarray, shape: tuple[int, int], bond: float, tolerance: float = 1.3
) -> tuple[np.ndarray, np.ndarray]:
    """Lattice sites of a honeycomb (graphene, projected MoS2) where a column is missing: vacancies, by geometry.

    In a honeycomb every column has three neighbours whose bond vectors sum
    to zero.  A column with exactly two neighbours (within ``tolerance`` ×
    ``bond``) therefore predicts its third neighbour at ``-(b1 + b2)``
    (scaled to one bond); a predicted site that lies inside the image and
    has no column within 0.6 bonds is a vacancy candidate.  Candidates
    closer than 0.8 bonds are merged: a single vacancy in graphene is
    predicted by up to three columns.

    Args:
        atoms: (N, 2) column positions ``(row, col)``, pixels.
        shape: ``(H, W)`` of the image the atoms come from.
        bond: Bond (nearest-neighbour) length, pixels.
        tolerance: Neighbours lie within ``tolerance × bond``.

    Returns:
        ``(sites (K, 2), support (K,))``: merged vacancy sites and how many
        columns predicted each.
    """
    from scipy.spatial import cKDTree

    atoms = np.asarray(atoms, dtype=np.float64).reshape(-1, 2)
    empty = np.zeros((0, 2), dtype=np.float64), np.zeros(0, dtype=np.int64)
    if len(atoms) < 3 or not bond > 0:
        return empty
    tree = cKDTree(atoms)
    pairs = tree.query_pairs(tolerance * bond, output_type="ndarray")
    neighbours: list[list[int]] = [[] for _ in range(len(atoms))]
    for i, j in pairs:
        neighbours[i].append(int(j))
        neighbours[j].append(int(i))
    height, width = shape
    candidates = []
    for i, near in enumerate(neighbours):
        if len(near) != 2:
            continue
        total = (atoms[near] - atoms[i]).sum(axis=0)
        norm = float(np.hypot(*total))
        if norm < 0.3 * bond:  # the two bonds are (nearly) opposite: not a honeycomb corner
            continue
        site = atoms[i] - total / norm * bond
        if not (0.5 <= site[0] <= height - 1.5 and 0.5 <= site[1] <= width - 1.5):
            continue
        if tree.query(site)[0] > 0.6 * bond:
            candidates.append(site)
    if not candidates:
        return empty
    points = np.array(candidates)
    group = np.arange(len(points))
    for i, j in sorted(cKDTree(points).query_pairs(0.8 * bond)):
        old, new = group[j], group[i]
        group[group == old] = new
    labels = np.unique(group)
    sites = np.array([points[group == g].mean(axis=0) for g in labels])
    support = np.array([int(np.sum(group == g)) for g in labels], dtype=np.int64)
    return sites, support


def lattice_consistency(atoms: np.ndarray, bond: float, tolerance: float = 0.12) -> np.ndarray:
    """Per column, the fraction of the other columns that sit on the image's dominant honeycomb lattice.

    The dominant orientation is the phase of the six-fold bond-orientational
    order of all bonds (undirected, within 1.3 bonds); with the median bond
    length it fixes a honeycomb lattice.  Two columns are *consistent* when
    their difference vector is a lattice vector or a lattice vector ± one
    bond (fractional lattice coordinates within ``tolerance`` of
    ``(0, 0)``, ``(1/3, 1/3)`` or ``(2/3, 2/3)``).  Inside one grain nearly
    all columns agree; where a grain boundary crosses the image the columns
    of the minority grain agree with few others, so a low consistency marks
    the second grain (about 14% of random pairs agree by chance).

    Args:
        atoms: (N, 2) column positions ``(row, col)``, pixels.
        bond: Bond length, pixels.
        tolerance: Largest distance in fractional lattice coordinates.

    Returns:
        ``(N,)`` values in [0, 1]; all ones when fewer than 5 columns or 3
        bonds make the lattice undefined.
    """
    from scipy.spatial import cKDTree

    atoms = np.asarray(atoms, dtype=np.float64).reshape(-1, 2)
    n = len(atoms)
    if n < 5 or not bond > 0:
        return np.ones(n)
    pairs = cKDTree(atoms).query_pairs(1.3 * bond, output_type="ndarray")
    if len(pairs) < 3:
        return np.ones(n)
    bonds = atoms[pairs[:, 1]] - atoms[pairs[:, 0]]
    theta = float(np.angle(np.exp(6j * np.arctan2(bonds[:, 0], bonds[:, 1])).mean())) / 6.0
    length = float(np.median(np.hypot(bonds[:, 0], bonds[:, 1])))
    angles = theta + np.array([0.0, 2.0, 4.0]) * np.pi / 3.0
    deltas = length * np.stack([np.sin(angles), np.cos(angles)], axis=1)  # (row, col) bond vectors
    basis = np.stack([deltas[0] - deltas[1], deltas[0] - deltas[2]], axis=1)
    fractional = (atoms[None, :, :] - atoms[:, None, :]) @ np.linalg.inv(basis).T
    distance = np.full((n, n), np.inf)
    for offset in (0.0, 1.0 / 3.0, 2.0 / 3.0):
        shifted = fractional - offset
        shifted -= np.round(shifted)
        distance = np.minimum(distance, np.hypot(shifted[..., 0], shifted[..., 1]))
    agree = distance < tolerance
    return (agree.sum(axis=1) - 1) / (n - 1)


def match_points(found: np.ndarray, truth: np.ndarray, radius: float) -> tuple[int, float, float]:
    """One-to-one matching of found and true points within ``radius`` pixels (closest pairs first).

    Args:
        found: (N, 2) detected ``(row, col)``.
        truth: (M, 2) true ``(row, col)``.
        radius: Largest matching distance, pixels.

    Returns:
        ``(matches, precision, recall)``; precision (recall) is 1 when
        nothing was found (nothing is true).
    """
    from scipy.spatial import cKDTree

    found = np.asarray(found, dtype=np.float64).reshape(-1, 2)
    truth = np.asarray(truth, dtype=np.float64).reshape(-1, 2)
    matches = 0
    if len(found) and len(truth):
        pairs = cKDTree(found).sparse_distance_matrix(cKDTree(truth), radius, output_type="ndarray")
        order = np.argsort(pairs["v"], kind="stable")
        used_found = np.zeros(len(found), dtype=bool)
        used_truth = np.zeros(len(truth), dtype=bool)
        for i, j in zip(pairs["i"][order], pairs["j"][order]):
            if not used_found[i] and not used_truth[j]:
                used_found[i] = used_truth[j] = True
                matches += 1
    precision = matches / len(found) if len(found) else 1.0
    recall = matches / len(truth) if len(truth) else 1.0
    return matches, precision, recall


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
