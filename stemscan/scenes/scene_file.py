"""The stemscan scene file: a whole :class:`Scene` in one HDF5 file, units kept.

Layout (``.h5``): the root attribute ``stemscan_scene = 1`` marks the file;
data sets ``image`` (float32, scattered fraction) and ``labels`` (int32);
attributes ``signal_units`` (``"scattered fraction"``), ``pixel_size``
(Å), ``family``, ``seed`` (-1 for none) and the JSON strings ``features``
(``[{"id", "kind", "centroid", "weight"}]``) and ``params``.  Optional data
sets ``atoms`` ((N, 2) row, col) and ``atom_classes``.
:func:`stemscan.scenes.load` reads it back unchanged (``signal_scale="auto"``
keeps the units because the file says they are fractions).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.scenes.base import Feature, Scene

__all__ = ["save_scene", "read_scene_file", "FRACTION_UNITS"]

FRACTION_UNITS = "scattered fraction"


def save_scene(scene: Scene, path: str | os.PathLike[str]) -> Path:
    """Write ``scene`` to ``path`` (``.h5``), atomically (a temporary file renamed into place)."""
    import h5py

    path = Path(path)
    if path.suffix.lower() not in (".h5", ".hdf5"):
        raise ValueError(f"{path}: a scene file must end in .h5 or .hdf5")
    tmp = path.with_name(path.name + ".tmp")
    with h5py.File(tmp, "w") as handle:
        handle.attrs["stemscan_scene"] = 1
        handle.create_dataset("image", data=scene.image, compression="gzip")
        handle.create_dataset("labels", data=scene.labels, compression="gzip")
        handle.attrs["signal_units"] = FRACTION_UNITS
        handle.attrs["pixel_size"] = float(scene.pixel_size)
        handle.attrs["family"] = scene.family
        handle.attrs["seed"] = -1 if scene.seed is None else int(scene.seed)
        handle.attrs["features"] = json.dumps([f.to_dict() for f in scene.features])
        handle.attrs["params"] = json.dumps(scene.params)
        handle.attrs["scored"] = bool(scene.scored)
        if scene.atoms is not None:
            handle.create_dataset("atoms", data=np.asarray(scene.atoms, dtype=np.float64))
        if scene.atom_classes is not None:
            handle.create_dataset("atom_classes", data=np.asarray(scene.atom_classes, dtype=np.int64))
    tmp.replace(path)
    return path


def read_scene_file(path: str | os.PathLike[str], *, max_pixels: int | None = None) -> dict[str, Any] | None:
    """The contents of a stemscan scene file, or ``None`` if ``path`` is another HDF5 file.

    The ``image`` and ``labels`` shapes are checked against ``max_pixels``
    (:mod:`stemscan.scenes.limits`) before they are read; a scored file must
    hold at least one feature, and its labels must be non-negative integers.
    """
    import h5py

    from stemscan.scenes.image_files import read_dataset

    with h5py.File(path, "r") as handle:
        if "stemscan_scene" not in handle.attrs:
            return None
        if "image" not in handle or "labels" not in handle:
            raise ValueError(f"{path}: stemscan scene file without 'image' or 'labels'")
        image = read_dataset(handle["image"], path, max_pixels)
        if tuple(handle["labels"].shape or ()) != image.shape:
            raise ValueError(f"{path}: labels of shape {handle['labels'].shape}, image of shape {image.shape}")
        labels = read_dataset(handle["labels"], path, max_pixels)
        if labels.dtype.kind not in "ui":
            raise ValueError(f"{path}: labels must be integers, got dtype {labels.dtype}")
        if labels.size and (labels.min() < 0 or labels.max() > np.iinfo(np.int32).max):
            raise ValueError(f"{path}: labels must lie in [0, 2**31), got [{labels.min()}, {labels.max()}]")
        features = [
            Feature(id=int(f["id"]), kind=str(f["kind"]), centroid=(float(f["centroid"][0]), float(f["centroid"][1])),
                    weight=float(f["weight"]))
            for f in json.loads(_text_attr(handle, "features", "[]"))
        ]
        seed = int(handle.attrs.get("seed", -1))
        scored = bool(handle.attrs.get("scored", True))
        if scored and not features:
            raise ValueError(f"{path}: a scored scene file without features (nothing could be found)")
        return {
            "image": image,
            "labels": labels.astype(np.int32),
            "features": features,
            "signal_units": str(handle.attrs.get("signal_units", "")),
            "pixel_size": float(handle.attrs["pixel_size"]),
            "family": str(handle.attrs.get("family", "file")),
            "seed": None if seed < 0 else seed,
            "params": json.loads(_text_attr(handle, "params", "{}")),
            "scored": scored,
            "atoms": read_dataset(handle["atoms"], path, max_pixels) if "atoms" in handle else None,
            "atom_classes": read_dataset(handle["atom_classes"], path, max_pixels) if "atom_classes" in handle else None,
        }


def _text_attr(handle: Any, name: str, default: str) -> str:
    """A JSON string attribute (bytes decoded), or ``ValueError`` if it is something else."""
    value = handle.attrs.get(name, default)
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if not isinstance(value, str):
        raise ValueError(f"attribute {name!r} must be a JSON string, got {type(value).__name__}")
    return value
