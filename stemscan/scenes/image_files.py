"""Reading the raw 2-D image (and its pixel size) of a microscopy file.

Formats: ``.npy`` (never unpickled), ``.tif``/``.tiff`` (tifffile), ``.png``
(Pillow), HyperSpy ``.hspy`` and HDF5 (h5py); ``.dm3``/``.dm4``/``.emd``
through RosettaSciIO (the ``[io]`` extra).  :func:`stemscan.scenes.load`
turns the image into a scene; feature tables read their label images here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["IMAGE_SUFFIXES", "read_image"]

IMAGE_SUFFIXES = (".npy", ".tif", ".tiff", ".png", ".hspy", ".h5", ".hdf5", ".dm3", ".dm4", ".emd")
_RSCIIO_READERS = {".dm3": "digitalmicrograph", ".dm4": "digitalmicrograph", ".emd": "emd"}
_UNIT_TO_ANGSTROM = {"a": 1.0, "å": 1.0, "angstrom": 1.0, "nm": 10.0, "pm": 0.01, "um": 1e4, "µm": 1e4, "m": 1e10}


def read_image(path: str | os.PathLike[str]) -> tuple[np.ndarray, float | None]:
    """Read the raw 2-D image of a file and its pixel size in Å (None if unknown)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix not in IMAGE_SUFFIXES:
        raise ValueError(f"{path}: unsupported image format {suffix!r}; supported: {', '.join(IMAGE_SUFFIXES)}")
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False), None
        if suffix in (".tif", ".tiff"):
            import tifffile

            return tifffile.imread(path), None
        if suffix == ".png":
            return _read_png(path), None
        if suffix in (".hspy", ".h5", ".hdf5"):
            return _read_hdf5(path)
    except (ValueError, OSError, KeyError, EOFError, TypeError, SyntaxError) as error:
        raise ValueError(f"{path}: cannot read as {suffix} ({error})") from error
    return _read_rsciio(path, suffix)


def _read_png(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as picture:
        picture.load()
        data = np.asarray(picture)
    if data.ndim == 3:
        data = data[..., :3].astype(np.float64).mean(axis=2)
    return data


def _read_hdf5(path: Path) -> tuple[np.ndarray, float | None]:
    import h5py

    with h5py.File(path, "r") as handle:
        if "Experiments" in handle and len(handle["Experiments"]):
            group = handle["Experiments"][next(iter(handle["Experiments"]))]
            if "data" not in group:
                raise ValueError("HyperSpy group has no 'data' data set")
            return np.asarray(group["data"]), _hyperspy_pixel_size(group)
        found: list[np.ndarray] = []

        def visit(name: str, item: Any) -> None:
            if not found and isinstance(item, h5py.Dataset) and item.ndim == 2 and item.dtype.kind in "uif":
                found.append(np.asarray(item))

        handle.visititems(visit)
        if not found:
            raise ValueError("no 2-D numeric data set in the file")
        return found[0], None


def _hyperspy_pixel_size(group: Any) -> float | None:
    for axis in ("axis-1", "axis-0"):
        if axis in group:
            attrs = group[axis].attrs
            return _to_angstrom(attrs.get("scale"), attrs.get("units"))
    return None


def _to_angstrom(scale: Any, units: Any) -> float | None:
    if isinstance(units, bytes):
        units = units.decode(errors="replace")
    if scale is None or not isinstance(units, str):
        return None
    factor = _UNIT_TO_ANGSTROM.get(units.strip().lower())
    value = float(scale) * factor if factor is not None else None
    return value if value is not None and np.isfinite(value) and value > 0 else None


def _read_rsciio(path: Path, suffix: str) -> tuple[np.ndarray, float | None]:
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
        data = np.asarray(signal["data"])
        if np.squeeze(data).ndim == 2:
            axes = [axis for axis in signal.get("axes", []) if axis.get("size", 2) > 1]
            scale = _to_angstrom(axes[-1].get("scale"), axes[-1].get("units")) if axes else None
            return data, scale
    raise ValueError(f"{path}: no 2-D image among its {len(signals)} signal(s)")
