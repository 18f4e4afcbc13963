"""Real images as scenes: ``load(path, labels=None, pixel_size=None)``.

Formats
-------
* ``.npy``: ``numpy.load(allow_pickle=False)`` (object arrays are refused).
* ``.tif`` / ``.tiff``: tifffile (integer and float samples kept; RGB and
  palette TIFFs become their luminance).
* ``.png``: Pillow; grey modes keep their values and dtype (16-bit stays
  16-bit), alpha is dropped, palette and colour images become their
  luminance (:mod:`stemscan.scenes.image_modes`).
* ``.hspy`` / ``.h5`` / ``.hdf5``: h5py.  HyperSpy layout: the data set
  ``/Experiments/<name>/data`` with axis groups ``axis-0``, ``axis-1``
  whose ``scale`` and ``units`` attributes give the pixel size; any other
  HDF5 file: its first 2-D numeric data set.
* ``.dm3`` / ``.dm4`` / ``.emd``: RosettaSciIO, the optional extra
  ``pip install "stemscan[io]"``.

* ``.h5`` written by :func:`stemscan.scenes.scene_file.save_scene` (e.g.
  ``stemscan scenes simulate``): a whole scene, labels, kinds and units.

Signal convention (``signal_scale``)
------------------------------------
The scene convention is the fraction of incident electrons scattered onto
the detector.  ``signal_scale`` says how the file's values relate to it:

* ``"auto"`` (default): a stemscan scene file (whose metadata says
  ``"scattered fraction"``) is kept as it is; any other file is taken to be
  in arbitrary detector units (offset and gain unknown) and mapped by
  ``(x - min) / (1.05 * (max - min))``: non-negative, maximum ~0.95 (so the
  brightest pixel gives ~0.95 of the imaging dose in counts; a physical
  scale is *not* recovered).
* ``"fraction"`` or ``1.0``: the values already are scattered fractions,
  kept exactly (they must lie in [0, 1]).
* a positive float ``k``: fraction = ``k * raw`` (e.g. ``1 / (electrons
  per pixel)`` for background-subtracted counts); the result must lie in
  [0, 1].

Pass ``pixel_size`` (Å) to override the file's.

Size limits
-----------
Every reader checks the size the file claims (``.npy`` header, HDF5 shape,
TIFF/PNG dimensions) before reading its data: at most ``max_pixels``
pixels (default :data:`stemscan.scenes.limits.MAX_IMAGE_PIXELS`, 8192²),
see :mod:`stemscan.scenes.limits`.

Labels
------
``labels`` is one of

* a feature table ``.json`` (:mod:`stemscan.scenes.feature_table`): per
  feature its kind, weight and footprint (disk, polygon, or a value of an
  accompanying label image) -- the one format that carries all three;
* an integer label image of the image's shape (an array or a
  ``.npy``/``.png``/``.tif`` path; each distinct non-zero value is one
  feature of kind ``"feature"``);
* a ``.csv``/``.txt``/``.npy`` list of feature coordinates, one per row:
  ``row, col[, kind[, weight]]`` in pixels; each becomes a disk of
  ``label_radius`` pixels.

Label images and coordinate lists are checked as
:mod:`stemscan.scenes.label_files` documents (explicit CSV header, no
non-finite, fractional or negative labels, no empty label set, duplicate
coordinates refused and overlapping disks warned about).

A stemscan scene file carries its own labels (``labels`` overrides them).
Without labels the scene has no features and ``scored=False``: agents can
run on it, but nothing is scored.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.scenes.base import Scene
from stemscan.scenes.image_files import IMAGE_SUFFIXES, read_image
from stemscan.scenes.label_files import (
    check_label_radius,
    coordinate_labels,
    label_image_features,
    read_coordinate_file,
)
from stemscan.scenes.limits import FileLimitError, resolve_max_pixels

__all__ = ["load", "read_image", "IMAGE_SUFFIXES", "apply_signal_scale"]

def load(
    path: str | os.PathLike[str],
    labels: str | os.PathLike[str] | np.ndarray | None = None,
    pixel_size: float | None = None,
    *,
    label_radius: float = 4.0,
    signal_scale: str | float = "auto",
    max_pixels: int | None = None,
) -> Scene:
    """Read a real image (and optional ground truth) as a :class:`Scene`.

    Args:
        path: Image file (see the module docstring for formats).
        labels: Feature table (``.json``), label image (array or file) or a
            file of feature coordinates.
        pixel_size: Å per pixel; default: the file's calibration, else 1 Å.
        label_radius: Disk radius for coordinate labels, pixels.
        signal_scale: ``"auto"``, ``"fraction"`` or a positive float (see
            the module docstring).
        max_pixels: Most pixels the image (and a label image) may claim;
            None: :data:`stemscan.scenes.limits.MAX_IMAGE_PIXELS` (8192²).
            Checked from the file's header before its data are read.

    Returns:
        A scene with ``family="file"`` (a stemscan scene file keeps its
        family and seed), ``seed=None``; ``scored`` is False when there are
        no labels.

    Raises:
        ValueError: unreadable, corrupt, empty or non-2-D image or labels,
            naming the file and the problem (``FileLimitError``, a
            ``ValueError``, when a file claims more than ``max_pixels``).
        ImportError: a format needing the ``io`` extra, when it is missing.
        FileNotFoundError: ``path`` does not exist.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a file path, got {type(path).__name__}")
    path = Path(path)
    resolve_max_pixels(max_pixels)
    check_label_radius(label_radius)
    stored = _read_scene_file(path, max_pixels)
    if stored is not None:
        raw, file_pixel_size, file_units = stored["image"], stored["pixel_size"], stored["signal_units"]
    else:
        raw, file_pixel_size = read_image(path, max_pixels=max_pixels)
        file_units = None
    image = apply_signal_scale(raw, signal_scale, path, file_units)
    if pixel_size is not None:
        if isinstance(pixel_size, bool) or not isinstance(pixel_size, (int, float)) or not pixel_size > 0:
            raise ValueError(f"pixel_size must be a positive number of Å, got {pixel_size!r}")
        size, source = float(pixel_size), "argument"
    elif file_pixel_size is not None:
        size, source = file_pixel_size, "file"
    else:
        size, source = 1.0, "unknown (1 Å assumed)"
    params: dict[str, Any] = {"path": str(path), "pixel_size_source": source,
                              "signal_scale": signal_scale if isinstance(signal_scale, str) else float(signal_scale)}
    if stored is not None:
        params["file_params"] = stored["params"]
    if labels is None and stored is not None:
        return Scene(image=image, labels=stored["labels"], features=stored["features"], pixel_size=size,
                     family=stored["family"], params=params, seed=stored["seed"], atoms=stored["atoms"],
                     atom_classes=stored["atom_classes"], scored=stored["scored"])
    if labels is None:
        label_image = np.zeros(image.shape, dtype=np.int32)
        features: list = []
        params["note"] = "no labels: agents can run on this scene but nothing is scored"
        scored = False
    else:
        label_image, features = _read_labels(labels, image.shape, label_radius, max_pixels)
        params["labels"] = "array" if isinstance(labels, np.ndarray) else str(labels)
        scored = True
    return Scene(image=image, labels=label_image, features=features, pixel_size=size, family="file",
                 params=params, seed=None, scored=scored)


def _read_scene_file(path: Path, max_pixels: int | None) -> dict[str, Any] | None:
    """A stemscan scene file's contents, or None for any other file."""
    if path.suffix.lower() not in (".h5", ".hdf5") or not path.is_file():
        return None
    from stemscan.scenes.scene_file import read_scene_file

    try:
        return read_scene_file(path, max_pixels=max_pixels)
    except FileLimitError:
        raise
    except (OSError, KeyError, ValueError, TypeError, IndexError, AttributeError, RuntimeError,
            RecursionError) as error:
        raise ValueError(f"{path}: cannot read as .h5 ({error})") from error


def apply_signal_scale(
    raw: Any, signal_scale: str | float, path: Path | str = "image", file_units: str | None = None
) -> np.ndarray:
    """Check a raw image and convert it to scattered fraction (float32) per ``signal_scale``.

    See the module docstring: ``"auto"`` keeps files whose ``file_units``
    say ``"scattered fraction"`` and rescales the rest to [0, 0.95];
    ``"fraction"`` (or ``1.0``) keeps the values; a positive float multiplies.
    """
    from stemscan.scenes.scene_file import FRACTION_UNITS

    if isinstance(signal_scale, str):
        if signal_scale not in ("auto", "fraction"):
            raise ValueError(f"signal_scale must be 'auto', 'fraction' or a positive number, got {signal_scale!r}")
        if signal_scale == "auto" and file_units != FRACTION_UNITS:
            return _normalise(raw, Path(path))
        factor = 1.0
    elif isinstance(signal_scale, bool) or not isinstance(signal_scale, (int, float, np.integer, np.floating)) or not (
        np.isfinite(signal_scale) and signal_scale > 0
    ):
        raise ValueError(f"signal_scale must be 'auto', 'fraction' or a positive number, got {signal_scale!r}")
    else:
        factor = float(signal_scale)
    data = _check_raw(raw, Path(path))
    image = data * factor if factor != 1.0 else data
    if image.min() < 0 or image.max() > 1:
        raise ValueError(
            f"{path}: with signal_scale={signal_scale!r} the image spans [{image.min():.4g}, {image.max():.4g}], "
            "but a scattered fraction lies in [0, 1]; subtract the detector offset or use signal_scale='auto'"
        )
    return image.astype(np.float32)


def _check_raw(raw: Any, path: Path) -> np.ndarray:
    """A raw image as a finite float64 2-D array, or ``ValueError`` naming the problem.

    Bool images count as 0/1; NaN or infinite pixels are an error (count and
    first position named): mask or inpaint them before loading.
    """
    data = np.asarray(raw)
    if data.dtype.kind not in "buif" or data.dtype.fields is not None:
        raise ValueError(f"{path}: image must be numeric, got dtype {data.dtype}")
    data = np.squeeze(data)
    if data.ndim != 2 or data.size == 0:
        raise ValueError(f"{path}: expected a non-empty 2-D image, got shape {np.shape(raw)}")
    data = data.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.all():
        first = tuple(int(v) for v in np.argwhere(~finite)[0])
        raise ValueError(f"{path}: image contains {int((~finite).sum())} NaN or infinite value(s) "
                         f"(first at (row, col) {first}); mask or inpaint them before loading")
    return data


def _normalise(raw: Any, path: Path) -> np.ndarray:
    """Check a raw image and map arbitrary detector units to [0, 0.95] (float32)."""
    data = _check_raw(raw, path)
    low, high = float(data.min()), float(data.max())
    if high <= low:
        raise ValueError(f"{path}: image is constant (value {low}); nothing to scan")
    return ((data - low) / (1.05 * (high - low))).astype(np.float32)


def _read_labels(
    labels: str | os.PathLike[str] | np.ndarray, shape: tuple[int, int], radius: float, max_pixels: int | None
) -> tuple[np.ndarray, list]:
    """A feature table, label image or coordinate list -> (int32 label image, features)."""
    if isinstance(labels, np.ndarray):
        return label_image_features(labels, shape, "labels array")
    if not isinstance(labels, (str, os.PathLike)):
        raise ValueError(f"labels must be a path or an array, got {type(labels).__name__}")
    path = Path(labels)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such labels file")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not a labels file")
    suffix = path.suffix.lower()
    if suffix == ".json":
        from stemscan.scenes.feature_table import read_feature_table

        return read_feature_table(path, shape, max_pixels=max_pixels)
    if suffix in (".csv", ".txt"):
        return coordinate_labels(read_coordinate_file(path), shape, radius, str(path))
    if suffix in (".npy", ".png", ".tif", ".tiff"):
        try:
            array, _ = read_image(path, max_pixels=max_pixels, labels=True)
        except FileLimitError:
            raise
        except ValueError as error:
            raise ValueError(f"{path}: cannot read labels ({error})") from error
        array = np.asarray(array)
        if array.ndim == 2 and array.shape == tuple(shape):
            return label_image_features(array, shape, str(path))
        if array.ndim == 2 and array.shape[1] in (2, 3, 4) and suffix == ".npy" and array.dtype.kind in "uif":
            rows = [(float(r[0]), float(r[1]), "feature", float(r[3]) if len(r) > 3 else 1.0, i)
                    for i, r in enumerate(array, start=1)]
            return coordinate_labels(rows, shape, radius, f"{path} (line = array row)")
        raise ValueError(f"{path}: labels must be a label image of shape {shape} or (N, 2-4) coordinates, "
                         f"got shape {array.shape}")
    raise ValueError(f"{path}: unsupported labels format {suffix!r} (use .json, .npy, .png, .tif or .csv)")
