"""Reading the raw 2-D image (and its pixel size) of a microscopy file.

Formats: ``.npy`` (never unpickled), ``.tif``/``.tiff`` (tifffile), ``.png``
(Pillow; colour modes as in :mod:`stemscan.scenes.image_modes`), HyperSpy ``.hspy`` and HDF5 (h5py); ``.dm3``/``.dm4``/``.emd``
through RosettaSciIO (the ``[io]`` extra).  :func:`stemscan.scenes.load`
turns the image into a scene; feature tables read their label images here.
Every reader checks the size the file claims against
:mod:`stemscan.scenes.limits` before it reads the data.

HDF5 files without the HyperSpy layout are searched for *image* data sets:
numeric data sets whose shape is 2-D once axes of length 1 are dropped
(``(H, W)``, ``(1, H, W)``).  Exactly one is read; several are an error
listing their paths and shapes, resolved with ``dataset="/path/in/file"``
(also the way to pick one signal of a HyperSpy file holding several).

A HyperSpy or RosettaSciIO pixel size is the x (column) axis scale; when
the y axis scale differs from it by more than 1 % an
:class:`AnisotropicPixelWarning` names both (the scene has one, square,
pixel size).
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.scenes.image_modes import pil_plane, tiff_plane
from stemscan.scenes.limits import FileLimitError, check_image_size, resolve_max_pixels

__all__ = [
    "AnisotropicPixelWarning",
    "DatasetChoiceError",
    "HDF5_SUFFIXES",
    "IMAGE_SUFFIXES",
    "read_dataset",
    "read_image",
    "read_image_source",
]

IMAGE_SUFFIXES = (".npy", ".tif", ".tiff", ".png", ".hspy", ".h5", ".hdf5", ".dm3", ".dm4", ".emd")
HDF5_SUFFIXES = (".hspy", ".h5", ".hdf5")
_RSCIIO_READERS = {".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd"}
_UNIT_TO_ANGSTROM = {"a": 1.0, "å": 1.0, "angstrom": 1.0, "nm": 10.0, "pm": 0.01, "um": 1e4, "µm": 1e4, "m": 1e10}
#: Relative difference of the x and y axis scales beyond which :class:`AnisotropicPixelWarning` is given.
ANISOTROPY_TOLERANCE = 0.01
#: Most image data sets an error message lists.
_LISTED = 10


class AnisotropicPixelWarning(UserWarning):
    """The file's x and y pixel sizes differ by more than 1 %; the x (column) size is used."""


class DatasetChoiceError(ValueError):
    """Which data set of an HDF5 file to read is ambiguous (several images) or ``dataset=`` names no image."""


def read_image(
    path: str | os.PathLike[str], *, max_pixels: int | None = None, labels: bool = False, dataset: str | None = None
) -> tuple[np.ndarray, float | None]:
    """Read the raw 2-D image of a file and its pixel size in Å (None if unknown).

    The size the file claims is checked against :mod:`stemscan.scenes.limits`
    before its data are read; colour modes become one intensity plane
    (:mod:`stemscan.scenes.image_modes`).

    Args:
        path: The file.
        max_pixels: Pixel limit (None: :data:`stemscan.scenes.limits.MAX_IMAGE_PIXELS`).
        labels: The file is a label image: palette indices are kept, colour
            is refused (:mod:`stemscan.scenes.image_modes`).
        dataset: HDF5 files only: the path of the data set to read (e.g.
            ``"scan/haadf"`` or ``"Experiments/bf/data"``); None: the one
            image data set of the file (module docstring).

    Raises:
        FileNotFoundError: no such file.
        FileLimitError: the file claims more pixels or bytes than allowed.
        ValueError: unsupported, corrupt or unreadable, naming the path;
            an HDF5 file with several image data sets and no ``dataset``.
    """
    data, pixel_size, _ = read_image_source(path, max_pixels=max_pixels, labels=labels, dataset=dataset)
    return data, pixel_size


def read_image_source(
    path: str | os.PathLike[str], *, max_pixels: int | None = None, labels: bool = False, dataset: str | None = None
) -> tuple[np.ndarray, float | None, str | None]:
    """:func:`read_image`, and the HDF5 path of the data set read (None for other formats)."""
    path = Path(path)
    resolve_max_pixels(max_pixels)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    if path.is_dir():
        raise ValueError(f"{path}: is a directory, not an image file")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unsupported image format {suffix!r}; supported: {', '.join(IMAGE_SUFFIXES)}")
    if dataset is not None:
        if not isinstance(dataset, str) or not dataset.strip("/"):
            raise ValueError(f"dataset must be the path of a data set in an HDF5 file, e.g. 'scan/haadf', "
                             f"got {dataset!r}")
        if suffix not in HDF5_SUFFIXES:
            raise ValueError(f"{path}: dataset= selects a data set of an HDF5 file ({', '.join(HDF5_SUFFIXES)}); "
                             f"this is a {suffix} file")
    if suffix in _RSCIIO_READERS:
        return (*_read_rsciio(path, suffix, max_pixels), None)
    try:
        if suffix == ".npy":
            return _read_npy(path, max_pixels), None, None
        if suffix in (".tif", ".tiff"):
            return _read_tiff(path, max_pixels, labels), None, None
        if suffix == ".png":
            return _read_png(path, max_pixels, labels), None, None
        return _read_hdf5(path, max_pixels, dataset)
    except (FileLimitError, DatasetChoiceError, Warning):  # a warning turned into an error stays itself
        raise
    except MemoryError as error:
        raise ValueError(f"{path}: not enough memory to read it as {suffix}") from error
    except Exception as error:  # noqa: BLE001 - numpy/tifffile/Pillow/h5py raise many kinds on corrupt files
        detail = str(error) if isinstance(error, _ExplainedError) else f"{type(error).__name__}: {error}"
        raise ValueError(f"{path}: cannot read as {suffix} ({detail})") from error


def _read_npy(path: Path, max_pixels: int | None) -> np.ndarray:
    """An ``.npy`` array; header checked (numeric dtype, size, file length) before the data are read."""
    from numpy.lib import format as npy_format

    with open(path, "rb") as handle:
        version = npy_format.read_magic(handle)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, fortran, dtype = npy_format.read_array_header_2_0(handle)
        else:
            raise ValueError(f".npy format version {version} is not supported (1.0 and 2.0 are)")
        if dtype.hasobject:
            raise ValueError(f"the array holds Python objects (dtype {dtype}); pickles are never loaded")
        if dtype.kind not in "buif" or dtype.fields is not None or dtype.subdtype is not None:
            raise ValueError(f"the array must be numeric, got dtype {dtype}")
        check_image_size(path, shape, dtype.itemsize, max_pixels)
        expected = math.prod(shape) * dtype.itemsize
        available = path.stat().st_size - handle.tell()
        if available < expected:
            raise ValueError(f"truncated: the header claims shape {shape} {dtype} ({expected:,} bytes of data), "
                             f"the file holds {available:,}")
        handle.seek(0)
        return npy_format.read_array(handle, allow_pickle=False)


class _ExplainedError(ValueError):
    """A reader error whose message already names the cause (not prefixed again)."""


class _KeepLog(logging.Filter):
    """Keeps tifffile's log records (corrupt-tag complaints) out of stderr, for the error message instead."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.messages.append(record.getMessage())
        return False


def _read_tiff(path: Path, max_pixels: int | None, labels: bool = False) -> np.ndarray:
    """The first series of a TIFF; its declared shape checked before any strip is decompressed.

    tifffile's own log messages about a corrupt file are kept out of stderr
    and added to the error, so a bad file gives one message.
    """
    log = logging.getLogger("tifffile")
    keep = _KeepLog()
    log.addFilter(keep)
    try:
        return _read_tiff_series(path, max_pixels, labels)
    except FileLimitError:
        raise
    except Exception as error:  # noqa: BLE001 - see read_image
        if not keep.messages:
            raise
        raise _ExplainedError(f"{type(error).__name__}: {error}; tifffile: {keep.messages[0]}") from error
    finally:
        log.removeFilter(keep)


def _read_tiff_series(path: Path, max_pixels: int | None, labels: bool) -> np.ndarray:
    import tifffile

    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise ValueError("no image in the file")
        series = tif.series[0]
        shape, axes = tuple(series.shape), series.axes
        plane = [size for size, axis in zip(shape, axes) if axis in "YX"]
        check_image_size(path, shape, series.dtype.itemsize, max_pixels,
                         plane=plane if len(plane) == 2 else None)
        page = series.keyframe
        data = series.asarray()
        colormap = getattr(page, "colormap", None)
        return tiff_plane(np.asarray(data), int(page.photometric), axes, colormap, labels)


def _read_png(path: Path, max_pixels: int | None, labels: bool = False) -> np.ndarray:
    """A PNG's intensity plane; its dimensions checked (and Pillow's bomb guard caught) before decoding."""
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            picture = Image.open(path, formats=["PNG"])
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
            raise FileLimitError(f"{path}: {error}; Pillow refuses it as a decompression bomb (raise "
                                 "PIL.Image.MAX_IMAGE_PIXELS as well as stemscan's limit if the file is genuine)"
                                 ) from error
    with picture:
        width, height = picture.size
        bands = len(picture.getbands())
        itemsize = 4 if picture.mode in ("I", "F") else 2 if picture.mode.startswith("I;16") else 1
        check_image_size(path, (height, width, bands) if bands > 1 else (height, width), itemsize, max_pixels,
                         plane=(height, width))
        picture.load()
        return pil_plane(picture, labels)


def _read_hdf5(path: Path, max_pixels: int | None, dataset: str | None) -> tuple[np.ndarray, float | None, str]:
    """The chosen data set, else the HyperSpy signal, else the one image data set; shape checked before reading."""
    import h5py

    with h5py.File(path, "r") as handle:
        if dataset is not None:
            return _read_named(handle, path, max_pixels, dataset)
        if "Experiments" in handle and len(handle["Experiments"]):
            experiments = handle["Experiments"]
            if len(experiments) > 1:
                listed = [_describe(experiments[name]["data"]) if _has_data(experiments[name])
                          else f"{experiments[name].name!r} (no 'data')" for name in experiments]
                raise DatasetChoiceError(f"{path}: the HyperSpy file holds {len(listed)} signals: {_join(listed)}; "
                                         f"choose one with dataset='Experiments/{next(iter(experiments))}/data' "
                                         f"(for example) {_HOW}")
            group = experiments[next(iter(experiments))]
            if not _has_data(group):
                raise ValueError("HyperSpy group has no 'data' data set")
            return (read_dataset(group["data"], path, max_pixels),
                    _hyperspy_pixel_size(group, group["data"].shape, path), group["data"].name)
        found = _image_data_sets(handle)
        if not found:
            raise ValueError("no 2-D numeric data set in the file (nor one of shape (1, H, W))")
        if len(found) > 1:
            raise DatasetChoiceError(f"{path}: {len(found)} data sets could be the image (numeric, 2-D): "
                                     f"{_join([_describe(item) for item in found])}; choose one with "
                                     f"dataset={found[-1].name!r} (for example) {_HOW}")
        return read_dataset(found[0], path, max_pixels), None, found[0].name


#: How a user passes ``dataset``, for the error messages.
_HOW = ("(stemscan.scenes.load(path, dataset=...), or scene_kwargs={'dataset': ...} for the env, "
        "or dataset = ... in a suite's [scene_kwargs] table)")


def _has_data(group: Any) -> bool:
    import h5py

    return isinstance(group, h5py.Group) and "data" in group and isinstance(group["data"], h5py.Dataset)


def _is_image(item: Any) -> bool:
    """A numeric data set whose shape is 2-D once axes of length 1 are dropped."""
    import h5py

    return (isinstance(item, h5py.Dataset) and item.shape is not None and item.dtype.kind in "uif"
            and item.dtype.fields is None and len([n for n in item.shape if n != 1]) == 2)


def _image_data_sets(handle: Any) -> list[Any]:
    """The file's image data sets (:func:`_is_image`), sorted by path."""
    found: list[Any] = []

    def visit(name: str, item: Any) -> None:
        if _is_image(item):
            found.append(item)

    handle.visititems(visit)
    return sorted(found, key=lambda item: item.name)


def _describe(item: Any) -> str:
    return f"{item.name!r} {tuple(int(n) for n in item.shape)} {item.dtype}"


def _join(parts: list[str]) -> str:
    more = f", ... and {len(parts) - _LISTED} more" if len(parts) > _LISTED else ""
    return ", ".join(parts[:_LISTED]) + more


def _read_named(handle: Any, path: Path, max_pixels: int | None, dataset: str) -> tuple[np.ndarray, float | None, str]:
    """The data set ``dataset`` of an open file (its HyperSpy axes give the pixel size)."""
    import h5py

    name = "/" + dataset.strip("/")
    try:
        item = handle.get(name)
    except Exception:  # noqa: BLE001 - h5py raises several kinds for a path through a data set or a broken link
        item = None

    def choices() -> str:
        images = _image_data_sets(handle)
        if not images:
            return "it holds no image data set"
        return f"its image data sets: {_join([_describe(i) for i in images])}"

    if item is None:
        raise DatasetChoiceError(f"{path}: no data set {name!r} in the file; {choices()}")
    if not isinstance(item, h5py.Dataset):
        raise DatasetChoiceError(f"{path}: {name!r} is a group, not a data set; {choices()}")
    if not _is_image(item):
        raise DatasetChoiceError(f"{path}: data set {name!r} of shape {item.shape} and dtype {item.dtype} is not a "
                                 f"2-D numeric image; {choices()}")
    parent = item.parent
    hyperspy = any(f"axis-{k}" in parent for k in range(item.ndim))
    return (read_dataset(item, path, max_pixels),
            _hyperspy_pixel_size(parent, item.shape, path) if hyperspy else None, item.name)


def read_dataset(dataset: Any, path: Path | str, max_pixels: int | None = None) -> np.ndarray:
    """An h5py data set as an array, after checking its dtype (numeric) and declared shape against the limits."""
    import h5py

    if not isinstance(dataset, h5py.Dataset):
        raise ValueError(f"{dataset.name!r} is not a data set")
    if dataset.dtype.kind not in "buif" or dataset.dtype.fields is not None:
        raise ValueError(f"data set {dataset.name!r} must be numeric, got dtype {dataset.dtype}")
    if dataset.shape is None:
        raise ValueError(f"data set {dataset.name!r} is empty (no shape)")
    check_image_size(path, dataset.shape, dataset.dtype.itemsize, max_pixels)
    return np.asarray(dataset[()])


def _hyperspy_pixel_size(group: Any, shape: tuple[int, ...], path: Path) -> float | None:
    """The x (column) axis scale in Å, else the y one; :class:`AnisotropicPixelWarning` if they differ.

    HyperSpy stores one ``axis-<i>`` group per array axis; the image's x and
    y are the last two axes longer than 1.
    """
    image_axes = [k for k, size in enumerate(shape) if size != 1][-2:]
    y_index, x_index = image_axes if len(image_axes) == 2 else (0, 1)
    scales = {}
    for index in (x_index, y_index):
        if f"axis-{index}" in group:
            attrs = group[f"axis-{index}"].attrs
            scales[index] = _to_angstrom(attrs.get("scale"), attrs.get("units"))
    x_scale = scales.get(x_index) if x_index in scales else scales.get(y_index)
    _check_isotropic(scales.get(x_index), scales.get(y_index), path)
    return x_scale


def _check_isotropic(x_scale: float | None, y_scale: float | None, path: Path | str) -> None:
    """Warn when both axis scales are known and differ by more than :data:`ANISOTROPY_TOLERANCE`."""
    if x_scale is None or y_scale is None:
        return
    if abs(x_scale - y_scale) > ANISOTROPY_TOLERANCE * max(x_scale, y_scale):
        warnings.warn(f"{path}: the x (column) pixel size {x_scale:g} Å and the y (row) pixel size {y_scale:g} Å "
                      f"differ by more than {ANISOTROPY_TOLERANCE:.0%}; the scene uses the x size {x_scale:g} Å "
                      "(resample the image to square pixels, or pass pixel_size= to choose)",
                      AnisotropicPixelWarning, stacklevel=2)


def _to_angstrom(scale: Any, units: Any) -> float | None:
    if isinstance(units, bytes):
        units = units.decode(errors="replace")
    if scale is None or not isinstance(units, str):
        return None
    factor = _UNIT_TO_ANGSTROM.get(units.strip().lower())
    value = float(scale) * factor if factor is not None else None
    return value if value is not None and np.isfinite(value) and value > 0 else None


def _read_rsciio(path: Path, suffix: str, max_pixels: int | None) -> tuple[np.ndarray, float | None]:
    try:
        import importlib

        module = importlib.import_module(f"rsciio.{_RSCIIO_READERS[suffix]}")
    except ImportError as error:
        raise ImportError(f'reading {suffix} needs the optional extra: pip install "stemscan[io]"') from error
    try:
        signals = module.file_reader(str(path))
    except Exception as error:  # the readers raise many kinds on corrupt files
        raise ValueError(f"{path}: cannot read as {suffix} ({error})") from error
    for signal in signals:
        data = signal["data"]
        if len([size for size in np.shape(data) if size != 1]) == 2:
            check_image_size(path, np.shape(data), np.dtype(getattr(data, "dtype", np.float64)).itemsize, max_pixels)
            data = np.asarray(data)
            axes = [axis for axis in signal.get("axes", []) if axis.get("size", 2) > 1]
            scale = _to_angstrom(axes[-1].get("scale"), axes[-1].get("units")) if axes else None
            if len(axes) >= 2:
                _check_isotropic(scale, _to_angstrom(axes[-2].get("scale"), axes[-2].get("units")), path)
            return data, scale
    raise ValueError(f"{path}: no 2-D image among its {len(signals)} signal(s)")
