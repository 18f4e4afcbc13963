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


def read_scene_file(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The contents of a stemscan scene file, or ``None`` if ``path`` is another HDF5 file."""
    import h5py

    with h5py.File(path, "r") as handle:
        if "stemscan_scene" not in handle.attrs:
            return None
        if "image" not in handle or "labels" not in handle:
            raise ValueError(f"{path}: stemscan scene file without 'image' or 'labels'")
        features = [
            Feature(id=int(f["id"]), kind=str(f["kind"]), centroid=(float(f["centroid"][0]), float(f["centroid"][1])),
                    weight=float(f["weight"]))
            for f in json.loads(handle.attrs["features"])
        ]
        seed = int(handle.attrs.get("seed", -1))
        return {
            "image": np.asarray(handle["image"]),
            "labels": np.asarray(handle["labels"]).astype(np.int32),
            "features": features,
            "signal_units": str(handle.attrs.get("signal_units", "")),
            "pixel_size": float(handle.attrs["pixel_size"]),
            "family": str(handle.attrs.get("family", "file")),
            "seed": None if seed < 0 else seed,
            "params": json.loads(handle.attrs.get("params", "{}")),
            "scored": bool(handle.attrs.get("scored", True)),
            "atoms": np.asarray(handle["atoms"]) if "atoms" in handle else None,
            "atom_classes": np.asarray(handle["atom_classes"]) if "atom_classes" in handle else None,
        }
