"""Feature tables: one JSON file that carries each feature's footprint, kind and weight.

Format (``.json``)::

    {
      "label_image": "labels.npy",          # optional, relative to the JSON file
      "features": [
        {"kind": "vacancy", "weight": 1.0, "center": [r, c], "radius": 4.0},
        {"kind": "interface", "weight": 1.0, "polygon": [[r0, c0], [r1, c1], ...]},
        {"kind": "grain-boundary", "weight": 1.0, "label": 7}
      ]
    }

Each feature has exactly one footprint: a disk (``center`` ``(row, col)``
and ``radius``, pixels), a polygon (vertices ``(row, col)``, pixels, at
least 3), or ``label``: the pixels equal to that value in ``label_image``
(an integer image of the scene's shape, ``.npy``/``.png``/``.tif``).
``kind`` defaults to ``"feature"``, ``weight`` to 1.  Limits: a disk's
radius is at most :data:`MAX_RADIUS` pixels, and all footprints together
cover at most :data:`MAX_PAINTED_AREAS` times the image (a table with
millions of image-sized features is refused instead of painted for hours).  Footprints are painted
in order, so a later feature covers an earlier one where they overlap; a
feature left with no pixel is an error (nothing could ever discover it).
:func:`write_feature_table` writes any :class:`~stemscan.scenes.Scene`'s
ground truth in this format (label image plus table), exactly.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.scenes.base import Feature, Scene

__all__ = ["read_feature_table", "parse_feature_table", "write_feature_table"]


def read_feature_table(
    path: str | os.PathLike[str], shape: tuple[int, int], *, max_pixels: int | None = None
) -> tuple[np.ndarray, list[Feature]]:
    """Read a feature table file into ``(int32 labels, features)`` for an image of ``shape``.

    The file may be at most :data:`stemscan.scenes.limits.MAX_TEXT_BYTES`;
    its label image is read with the pixel limit ``max_pixels``.
    """
    from stemscan.scenes.limits import check_text_size

    path = Path(path)
    try:
        check_text_size(path, "feature table")
        table = json.loads(path.read_bytes().decode("utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"{path}: cannot read the feature table ({type(error).__name__}: {error})") from error
    label_image = None
    if isinstance(table, dict) and table.get("label_image") is not None:
        from stemscan.scenes.image_files import read_image

        if not isinstance(table["label_image"], str):
            raise ValueError(f"{path}: label_image must be a file name, got {table['label_image']!r}")
        label_path = path.parent / table["label_image"]
        label_image, _ = read_image(label_path, max_pixels=max_pixels, labels=True)
        label_image = np.squeeze(np.asarray(label_image))
    return parse_feature_table(table, shape, label_image, name=str(path))


def parse_feature_table(
    table: Any, shape: tuple[int, int], label_image: np.ndarray | None = None, name: str = "feature table"
) -> tuple[np.ndarray, list[Feature]]:
    """Paint a parsed feature table (see the module docstring) into labels and records."""
    if not isinstance(table, dict) or not isinstance(table.get("features"), list):
        raise ValueError(f"{name}: expected an object with a 'features' list")
    if not table["features"]:
        raise ValueError(f"{name}: the feature table lists no feature; a scored scene needs at least one, "
                         "or load the image without labels")
    if label_image is not None:
        from stemscan.scenes.label_files import check_label_image

        label_image = check_label_image(label_image, shape, f"{name}: label_image")
    labels = np.zeros(shape, dtype=np.int32)
    flat_labels = labels.reshape(-1)
    by_value = _LabelIndex(label_image) if label_image is not None else None
    budget = MAX_PAINTED_AREAS * labels.size
    painted = 0
    kinds: list[str] = []
    weights: list[float] = []
    for index, entry in enumerate(table["features"], start=1):
        where = f"{name}: feature {index}"
        if not isinstance(entry, dict):
            raise ValueError(f"{where} must be an object, got {entry!r}")
        kind = entry.get("kind", "feature")
        weight = entry.get("weight", 1.0)
        if not isinstance(kind, str) or not kind:
            raise ValueError(f"{where}: kind must be a non-empty string, got {kind!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not (np.isfinite(weight) and weight > 0):
            raise ValueError(f"{where}: weight must be a positive number, got {weight!r}")
        pixels = _footprint(entry, shape, by_value, where)
        if not pixels.size:
            raise ValueError(f"{where} ({kind}) covers no pixel of the {shape[0]}x{shape[1]} image")
        painted += pixels.size
        if painted > budget:
            raise ValueError(f"{name}: the footprints up to feature {index} cover {painted:,} pixels in all, more than "
                             f"{MAX_PAINTED_AREAS} times the image; the table cannot be meant for this image")
        flat_labels[pixels] = index
        kinds.append(kind)
        weights.append(float(weight))
    present = np.bincount(flat_labels, minlength=len(kinds) + 1)[1:]
    hidden = np.flatnonzero(present == 0)
    if hidden.size:
        raise ValueError(f"{name}: feature(s) {', '.join(str(i + 1) for i in hidden[:20])} are entirely covered by "
                         "later features")
    from stemscan.scenes.painting import features_from_labels

    return features_from_labels(labels, kinds, weights, min_pixels=1)


#: The footprints of a table may cover at most this many times the image's pixels in all
#: (bounds the painting time of a table with very many or very large features).
MAX_PAINTED_AREAS = 16
#: Largest disk radius in a table, pixels.
MAX_RADIUS = 1e6


class _LabelIndex:
    """Flat pixel indices of each value of a label image, grouped once (a lookup per feature, not a full scan)."""

    def __init__(self, label_image: np.ndarray) -> None:
        flat = label_image.reshape(-1)
        self.order = np.argsort(flat, kind="stable")
        self.values, self.starts, counts = np.unique(flat[self.order], return_index=True, return_counts=True)
        self.ends = self.starts + counts

    def pixels(self, value: int) -> np.ndarray:
        at = int(np.searchsorted(self.values, value))
        if at == len(self.values) or self.values[at] != value:
            return np.zeros(0, dtype=np.int64)
        return self.order[self.starts[at] : self.ends[at]]


def _footprint(entry: dict, shape: tuple[int, int], by_value: _LabelIndex | None, where: str) -> np.ndarray:
    """Flat indices of the pixels a feature covers (only its bounding box is examined)."""
    keys = [key for key in ("center", "polygon", "label") if key in entry]
    if len(keys) != 1:
        raise ValueError(f"{where}: give exactly one footprint ('center'+'radius', 'polygon' or 'label'), got {keys}")
    key = keys[0]
    if key == "label":
        if by_value is None:
            raise ValueError(f"{where}: 'label' needs a 'label_image' in the table")
        value = entry["label"]
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(f"{where}: label must be a positive integer, got {value!r}")
        return by_value.pixels(value)
    if key == "center":
        try:
            centre = np.asarray(entry["center"], dtype=np.float64)
        except (TypeError, ValueError):
            centre = np.zeros(0)
        radius = entry.get("radius")
        if centre.shape != (2,) or not np.all(np.isfinite(centre)):
            raise ValueError(f"{where}: center must be [row, col], got {entry['center']!r}")
        if isinstance(radius, bool) or not isinstance(radius, (int, float)) or not (
            np.isfinite(radius) and 0 < radius <= MAX_RADIUS
        ):
            raise ValueError(f"{where}: a disk needs a positive 'radius' of at most {MAX_RADIUS:g} pixels, "
                             f"got {radius!r}")
        radius = float(radius)
        top, bottom = max(0, int(np.floor(centre[0] - radius))), min(shape[0], int(np.ceil(centre[0] + radius)) + 1)
        left, right = max(0, int(np.floor(centre[1] - radius))), min(shape[1], int(np.ceil(centre[1] + radius)) + 1)
        if top >= bottom or left >= right:
            return np.zeros(0, dtype=np.int64)
        rows, cols = np.ogrid[top:bottom, left:right]
        inside = (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius**2
        rr, cc = np.nonzero(inside)
        return (rr + top) * shape[1] + (cc + left)
    from skimage.draw import polygon as draw_polygon

    try:
        vertices = np.asarray(entry["polygon"], dtype=np.float64)
    except (TypeError, ValueError):
        vertices = np.zeros(0)
    if vertices.ndim != 2 or vertices.shape[1] != 2 or len(vertices) < 3 or not np.all(np.isfinite(vertices)):
        raise ValueError(f"{where}: polygon must be >= 3 finite [row, col] vertices")
    rr, cc = draw_polygon(vertices[:, 0], vertices[:, 1], shape=shape)
    return np.unique(rr.astype(np.int64) * shape[1] + cc)


def write_feature_table(scene: Scene, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write ``scene``'s ground truth as ``path`` (JSON) plus ``<stem>_labels.npy``; returns both paths."""
    path = Path(path)
    label_path = path.with_name(path.stem + "_labels.npy")
    np.save(label_path, scene.labels)
    table = {
        "label_image": label_path.name,
        "features": [
            {"kind": f.kind, "weight": float(f.weight), "label": int(f.id),
             "centroid": [float(f.centroid[0]), float(f.centroid[1])]}
            for f in scene.features
        ],
    }
    path.write_text(json.dumps(table, indent=1), encoding="utf-8")
    return path, label_path
