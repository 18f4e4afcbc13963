"""Colour modes of image files -> one 2-D intensity plane.

Microscopy images are single-channel; a file saved by another program may
still hold grey + alpha, a palette or colour.  The rules, for PNG (Pillow
modes) and TIFF (photometric interpretation) alike:

* grey (``L``, ``I;16``/``I;16B``/``I;16L``, ``I``, ``F``; TIFF min-is-black):
  the values as stored, dtype kept (16-bit stays 16-bit, float stays float);
* bilevel (``1``): 0 and 1 (``uint8``);
* grey + alpha (``LA``, ``La``): the grey plane; alpha is dropped, never mixed in;
* palette (``P``, ``PA``; TIFF palette): each index replaced by the
  luminance of its palette colour (so contrast follows the colours, not the
  index order), ``float64``;
* colour (``RGB``, ``RGBA``, ``RGBX``, ``RGBa``; TIFF RGB): the luminance
  ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601, as Pillow's ``L``),
  ``float64``; alpha and other extra samples are ignored;
* TIFF min-is-white (unsigned integers): inverted, ``max - value``, so that
  bright stays bright.

Any other mode raises ``ValueError`` naming it.

Label images (``labels=True``) are read differently: a palette image keeps
its indices (they are the labels, as in segmentation masks), and colour
images are refused (a label is one integer per pixel).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["LUMA", "luminance", "pil_plane", "tiff_plane"]

#: ITU-R BT.601 luma weights of R, G, B (sum 1, as Pillow's ``convert("L")``).
LUMA = np.array([0.299, 0.587, 0.114])

_GREY_MODES = ("L", "I", "F", "I;16", "I;16B", "I;16L", "I;16N")
_RGB_MODES = ("RGB", "RGBA", "RGBX", "RGBa")


def luminance(rgb: np.ndarray) -> np.ndarray:
    """``float64`` luminance of an (..., >=3) array of R, G, B (further channels ignored)."""
    return np.asarray(rgb[..., :3], dtype=np.float64) @ LUMA


def pil_plane(picture: Any, labels: bool = False) -> np.ndarray:
    """The intensity plane of a loaded Pillow image, or its label plane when ``labels`` (module docstring)."""
    mode = picture.mode
    if labels and mode in ("P", "PA"):
        return np.asarray(picture.getchannel(0) if mode == "PA" else picture)
    if labels and mode in _RGB_MODES:
        raise ValueError(f"a label image must have one channel (L, I;16, I or P), got mode {mode}")
    if mode in _GREY_MODES:
        data = np.asarray(picture)
        return data.astype(data.dtype.newbyteorder("=")) if data.dtype.byteorder not in ("=", "|") else data
    if mode == "1":
        return np.asarray(picture).astype(np.uint8)
    if mode in ("LA", "La"):
        return np.asarray(picture)[..., 0]
    if mode in _RGB_MODES:
        return luminance(np.asarray(picture))
    if mode in ("P", "PA"):
        indices = np.asarray(picture.getchannel(0) if mode == "PA" else picture)
        palette = picture.getpalette("RGB")
        if palette is None:
            raise ValueError("palette image without a palette")
        colours = np.asarray(palette, dtype=np.float64).reshape(-1, 3)
        if indices.size and int(indices.max()) >= len(colours):
            raise ValueError(f"palette index {int(indices.max())} beyond the {len(colours)}-colour palette")
        return luminance(colours)[indices]
    raise ValueError(f"unsupported image mode {mode!r} (supported: 1, L, LA, P, PA, I;16, I, F, RGB, RGBA)")


def tiff_plane(
    data: np.ndarray, photometric: int, axes: str, colormap: np.ndarray | None, labels: bool = False
) -> np.ndarray:
    """The intensity data of a TIFF series (``axes`` as tifffile names them; 'S' = samples).

    Args:
        data: The series' array.
        photometric: The TIFF photometric tag (0 min-is-white, 1 min-is-black, 2 RGB, 3 palette).
        axes: tifffile's axes string of ``data``.
        colormap: The palette, (3, n) as tifffile gives it, for palette images.
        labels: Read a label image (palette indices kept, colour refused).
    """
    if "S" in axes and data.ndim == len(axes):
        data = np.moveaxis(data, axes.index("S"), -1)
        if photometric == 2 and labels:
            raise ValueError("a label image must have one channel, got an RGB TIFF")
        if photometric == 2:
            if data.shape[-1] < 3:
                raise ValueError(f"RGB TIFF with {data.shape[-1]} samples per pixel")
            return luminance(data)
        data = data[..., 0]  # grey + extra samples (alpha): the grey plane
    if photometric == 3 and labels:
        return data
    if photometric == 3:
        if colormap is None:
            raise ValueError("palette TIFF without a colour map")
        colours = np.asarray(colormap, dtype=np.float64).reshape(3, -1).T
        if data.dtype.kind not in "ui" or (data.size and int(data.max()) >= len(colours)):
            raise ValueError("palette TIFF with indices beyond its colour map")
        return luminance(colours)[data]
    if photometric == 0:
        if data.dtype.kind != "u":
            raise ValueError(f"min-is-white TIFF of dtype {data.dtype} is not supported (unsigned integers only)")
        return np.iinfo(data.dtype).max - data
    if photometric == 2:
        raise ValueError(f"RGB TIFF without a samples axis (axes {axes!r})")
    return data
