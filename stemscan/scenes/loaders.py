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
  whose ``scale`` and ``units`` attributes give the pixel size (the x,
  column, axis's; an :class:`~stemscan.scenes.image_files.AnisotropicPixelWarning`
  when the y axis's differs by more than 1 %); any other HDF5 file: its
  one numeric data set that is 2-D (or 2-D once axes of length 1 are
  dropped).  A file holding several such data sets (or several HyperSpy
  signals) is an error listing them: pick one with ``dataset="path/in/file"``
  (``scene_kwargs={"dataset": ...}`` in the env; ``scene.params["dataset"]``
  records the one read).
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
* ``"percentile"`` (opt-in, for images with hot or dead pixels): like
  ``"auto"`` between the 0.1th and 99.9th percentiles of the image,
  ``(clip(x, p0.1, p99.9) - p0.1) / (1.05 * (p99.9 - p0.1))``, so a few
  outlier pixels no longer set the contrast of the whole field (they are
  clipped to 0 and ~0.95).  Stemscan scene files are rescaled too.
* a positive float ``k``: fraction = ``k * raw`` (e.g. ``1 / (electrons
  per pixel)`` for background-subtracted counts); the result must lie in
  [0, 1].

``"auto"`` rescaling gives a :class:`ContrastWarning` (the scaling itself is
unchanged) when 99.8 % of the pixels (0.1th to 99.9th percentile) span less
than 1 % (:data:`CONTRAST_FRACTION`) of the min..max range, e.g. one hot
pixel of 1e6 on a 0..3 image: the field would look uniformly dark.  (Above
4 Mpx both percentile uses estimate them from evenly spaced pixels.)  Use
``signal_scale="percentile"``, or clip the outliers, or ignore the warning
when the few bright (or dark) pixels are the features.

Pixel size
----------
Pass ``pixel_size`` (Å per pixel) to override the file's.  Either must lie
in [:data:`MIN_PIXEL_SIZE`, :data:`MAX_PIXEL_SIZE`] = [0.001, 5e5] Å; a
value outside is refused with a ``ValueError`` naming where it came from.
The finest real sampling, sub-ångström ptychography or HAADF at the highest
magnification, is about 0.05 Å (5 pm) per pixel, 50 times the lower bound;
the coarsest, an SEM overview at its lowest magnification (a ~2.5 cm field
in 512 pixels), about 50 µm = 5e5 Å per pixel.  Values beyond these are
unit mistakes (metres or µm taken as Å, say).  Assign the module
attributes to widen the range.

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
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.scenes.base import Scene
from stemscan.scenes.image_files import IMAGE_SUFFIXES, read_image, read_image_source
from stemscan.scenes.label_files import (
    check_label_radius,
    coordinate_labels,
    label_image_features,
    read_coordinate_file,
)
from stemscan.scenes.limits import FileLimitError, resolve_max_pixels

__all__ = [
    "CONTRAST_FRACTION",
    "ContrastWarning",
    "IMAGE_SUFFIXES",
    "MAX_PIXEL_SIZE",
    "MIN_PIXEL_SIZE",
    "SIGNAL_SCALES",
    "apply_signal_scale",
    "check_pixel_size",
    "load",
    "read_image",
]

#: Smallest accepted pixel size, Å (0.1 pm); see the module docstring.
MIN_PIXEL_SIZE = 1e-3
#: Largest accepted pixel size, Å (50 µm); see the module docstring.
MAX_PIXEL_SIZE = 5e5
#: ``"auto"`` warns when the 0.1th..99.9th percentiles span less than this fraction of the min..max range.
CONTRAST_FRACTION = 0.01
#: The named values of ``signal_scale`` (besides a positive number).
SIGNAL_SCALES = ("auto", "fraction", "percentile")
#: Percentiles that bound ``signal_scale="percentile"`` and the contrast check.
_PERCENTILES = (0.1, 99.9)
#: Larger images have their percentiles estimated from this many evenly spaced pixels (bounds time and memory).
_PERCENTILE_SAMPLE = 2**22


class ContrastWarning(UserWarning):
    """Min..max rescaling leaves almost all of the image in a sliver of the range (outlier pixels)."""


def load(
    path: str | os.PathLike[str],
    labels: str | os.PathLike[str] | np.ndarray | None = None,
    pixel_size: float | None = None,
    *,
    label_radius: float = 4.0,
    signal_scale: str | float = "auto",
    max_pixels: int | None = None,
    dataset: str | None = None,
) -> Scene:
    """Read a real image (and optional ground truth) as a :class:`Scene`.

    Args:
        path: Image file (see the module docstring for formats).
        labels: Feature table (``.json``), label image (array or file) or a
            file of feature coordinates.
        pixel_size: Å per pixel, in [:data:`MIN_PIXEL_SIZE`,
            :data:`MAX_PIXEL_SIZE`]; default: the file's calibration
            (checked against the same range), else 1 Å.
        label_radius: Disk radius for coordinate labels, pixels.
        signal_scale: ``"auto"``, ``"fraction"``, ``"percentile"`` or a
            positive float (see the module docstring).
        max_pixels: Most pixels the image (and a label image) may claim;
            None: :data:`stemscan.scenes.limits.MAX_IMAGE_PIXELS` (8192²).
            Checked from the file's header before its data are read.
        dataset: HDF5 files (``.h5``, ``.hdf5``, ``.hspy``) only: the path
            inside the file of the data set to read, e.g. ``"scan/haadf"``
            or ``"Experiments/bf/data"``.  Needed when the file holds
            several 2-D numeric data sets (or HyperSpy signals); None reads
            the only one.  Not for stemscan scene files.

    Returns:
        A scene with ``family="file"`` (a stemscan scene file keeps its
        family and seed), ``seed=None``; ``scored`` is False when there are
        no labels.

    Raises:
        ValueError: unreadable, corrupt, empty or non-2-D image or labels,
            naming the file and the problem (``FileLimitError``, a
            ``ValueError``, when a file claims more than ``max_pixels``);
            an HDF5 file with several image data sets and no ``dataset``;
            a pixel size outside the accepted range.
        ImportError: a format needing the ``io`` extra, when it is missing.
        FileNotFoundError: ``path`` does not exist.

    Warns:
        ContrastWarning: ``"auto"`` rescaling of an image whose outlier
            pixels leave the rest almost uniform (module docstring).
        AnisotropicPixelWarning: the file's x and y pixel sizes differ by
            more than 1 % (the x size is used).
    """
    if not isinstance(path, (str, os.PathLike)):
        raise ValueError(f"path must be a file path, got {type(path).__name__}")
    path = Path(path)
    resolve_max_pixels(max_pixels)
    check_label_radius(label_radius)
    if pixel_size is not None:
        check_pixel_size(pixel_size, "pixel_size")
    stored = _read_scene_file(path, max_pixels)
    dataset_read = None
    if stored is not None:
        if dataset is not None:
            raise ValueError(f"{path}: dataset= does not apply to a stemscan scene file (it holds one image)")
        raw, file_pixel_size, file_units = stored["image"], stored["pixel_size"], stored["signal_units"]
    else:
        raw, file_pixel_size, dataset_read = read_image_source(path, max_pixels=max_pixels, dataset=dataset)
        file_units = None
    image = apply_signal_scale(raw, signal_scale, path, file_units)
    if pixel_size is not None:
        size, source = float(pixel_size), "argument"
    elif file_pixel_size is not None:
        size = check_pixel_size(file_pixel_size, f"{path}: the file's pixel size",
                                "; pass pixel_size= (Å per pixel) to override it")
        source = "file"
    else:
        size, source = 1.0, "unknown (1 Å assumed)"
    params: dict[str, Any] = {"path": str(path), "pixel_size_source": source,
                              "signal_scale": signal_scale if isinstance(signal_scale, str) else float(signal_scale)}
    if dataset_read is not None:
        params["dataset"] = dataset_read
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


def check_pixel_size(value: Any, what: str = "pixel_size", hint: str = "") -> float:
    """``value`` as a float in [:data:`MIN_PIXEL_SIZE`, :data:`MAX_PIXEL_SIZE`] Å, else ``ValueError``."""
    is_real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
    if not (is_real and np.isfinite(value) and MIN_PIXEL_SIZE <= float(value) <= MAX_PIXEL_SIZE):
        raise ValueError(f"{what} must be a number of Å per pixel in [{MIN_PIXEL_SIZE:g}, {MAX_PIXEL_SIZE:g}] "
                         f"(from sub-ångström STEM to low-magnification SEM; a value outside is usually a unit "
                         f"mistake), got {value!r}{hint}")
    return float(value)


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
    say ``"scattered fraction"`` and rescales the rest to [0, 0.95] (with a
    :class:`ContrastWarning` when outliers squeeze the contrast);
    ``"percentile"`` rescales between the 0.1th and 99.9th percentiles,
    clipping; ``"fraction"`` (or ``1.0``) keeps the values; a positive float
    multiplies.
    """
    from stemscan.scenes.scene_file import FRACTION_UNITS

    if isinstance(signal_scale, str):
        if signal_scale not in SIGNAL_SCALES:
            raise ValueError(f"signal_scale must be 'auto', 'fraction', 'percentile' or a positive number, "
                             f"got {signal_scale!r}")
        if signal_scale == "auto" and file_units != FRACTION_UNITS:
            return _normalise(raw, Path(path), warn=True)
        if signal_scale == "percentile":
            return _percentile_scale(raw, Path(path))
        factor = 1.0
    elif isinstance(signal_scale, bool) or not isinstance(signal_scale, (int, float, np.integer, np.floating)) or not (
        np.isfinite(signal_scale) and signal_scale > 0
    ):
        raise ValueError(f"signal_scale must be 'auto', 'fraction', 'percentile' or a positive number, "
                         f"got {signal_scale!r}")
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


def _normalise(raw: Any, path: Path, warn: bool = False) -> np.ndarray:
    """Check a raw image and map arbitrary detector units to [0, 0.95] (float32); ``warn``: check the contrast."""
    data = _check_raw(raw, path)
    low, high = float(data.min()), float(data.max())
    if high <= low:
        raise ValueError(f"{path}: image is constant (value {low}); nothing to scan")
    if warn:
        _check_contrast(data, low, high, path)
    return ((data - low) / (1.05 * (high - low))).astype(np.float32)


def _check_contrast(data: np.ndarray, low: float, high: float, path: Path) -> None:
    """:class:`ContrastWarning` when the 0.1th..99.9th percentiles span < :data:`CONTRAST_FRACTION` of min..max."""
    bottom, top = _percentiles(data)
    if top - bottom >= CONTRAST_FRACTION * (high - low):
        return
    hot = top - low < CONTRAST_FRACTION * (high - low)  # the outliers are bright
    where = tuple(int(v) for v in np.unravel_index(int(np.argmax(data) if hot else np.argmin(data)), data.shape))
    extreme = high if hot else low
    warnings.warn(
        f"{path}: 99.8 % of the pixels lie within {100 * (top - bottom) / (high - low):.2g} % of the image's range "
        f"[{low:.4g}, {high:.4g}] (0.1th..99.9th percentile {bottom:.4g}..{top:.4g}); the "
        f"{'brightest' if hot else 'darkest'} pixel, {extreme:.4g} at (row, col) {where}, sets the scaling, so the "
        "field looks uniform. If it is a hot or dead pixel (or another outlier), load with "
        "signal_scale='percentile' (clips the outliers; scene_kwargs={'signal_scale': 'percentile'} in the env) "
        "or clip it in the file; if the few extreme pixels are the features, ignore this warning",
        ContrastWarning, stacklevel=4,
    )


def _percentiles(data: np.ndarray) -> tuple[float, float]:
    """The 0.1th and 99.9th percentiles (above :data:`_PERCENTILE_SAMPLE` pixels, of every k-th pixel)."""
    flat = data.ravel()
    step = -(-flat.size // _PERCENTILE_SAMPLE)
    bottom, top = np.percentile(flat[::step], _PERCENTILES)
    return float(bottom), float(top)


def _percentile_scale(raw: Any, path: Path) -> np.ndarray:
    """``signal_scale="percentile"``: clip to the 0.1th..99.9th percentiles, map them to [0, 0.95] (float32)."""
    data = _check_raw(raw, path)
    low, high = _percentiles(data)
    if high <= low:
        raise ValueError(f"{path}: with signal_scale='percentile' the image's 0.1th and 99.9th percentiles are both "
                         f"{low:.6g}, so 99.8 % of the pixels are constant; use signal_scale='auto'")
    return ((np.clip(data, low, high) - low) / (1.05 * (high - low))).astype(np.float32)


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
