"""Size limits for the files :func:`stemscan.scenes.load` reads, checked before any allocation.

A file's header (``.npy`` header, HDF5 data set shape, TIFF/PNG dimensions)
says how large its data are; the readers compare that claim with these
limits *before* reading the data, so a 1 KB file that claims 100000² pixels
fails at once instead of exhausting memory.

* :data:`MAX_IMAGE_PIXELS` (default ``2**26`` = 8192², about 67 million):
  the most pixels an image (or label image) may have.  The data read from
  the file may take at most :data:`BYTES_PER_PIXEL` (32) bytes per allowed
  pixel, i.e. 2 GiB by default (colour bands and wide dtypes count).
* :data:`MAX_TEXT_BYTES` (64 MiB): the largest coordinate list (``.csv``)
  or feature table (``.json``).
* :data:`MAX_FEATURES` (1,000,000): the most coordinate rows.

Raise a limit for one call with ``stemscan.scenes.load(path,
max_pixels=...)``, or for the whole process by assigning the module
attribute, e.g. ``stemscan.scenes.limits.MAX_IMAGE_PIXELS = 2**28``.
Exceeding a limit raises :class:`FileLimitError` (a ``ValueError``) naming
the path, the claimed size and the limit.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

__all__ = [
    "BYTES_PER_PIXEL",
    "FileLimitError",
    "MAX_FEATURES",
    "MAX_IMAGE_PIXELS",
    "MAX_TEXT_BYTES",
    "check_image_size",
    "check_text_size",
    "resolve_max_pixels",
]

#: Most pixels (rows × columns) of an image read from a file.
MAX_IMAGE_PIXELS: int = 2**26
#: Bytes of file data allowed per allowed pixel (bands × bytes per value).
BYTES_PER_PIXEL: int = 32
#: Largest coordinate list or feature table, bytes.
MAX_TEXT_BYTES: int = 64 * 2**20
#: Most rows of a coordinate list.
MAX_FEATURES: int = 1_000_000

_HOW_TO_RAISE = ("pass max_pixels=... to stemscan.scenes.load or set stemscan.scenes.limits.MAX_IMAGE_PIXELS "
                 "if the file is genuine")


class FileLimitError(ValueError):
    """A file claims more data than the documented limit allows (nothing was allocated)."""


def resolve_max_pixels(max_pixels: int | None) -> int:
    """``max_pixels`` checked (a positive int), or the module default :data:`MAX_IMAGE_PIXELS` when None."""
    if max_pixels is None:
        return int(MAX_IMAGE_PIXELS)
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, (int, np.integer)) or max_pixels < 1:
        raise ValueError(f"max_pixels must be a positive integer, got {max_pixels!r}")
    return int(max_pixels)


def check_image_size(
    path: str | os.PathLike[str],
    shape: Sequence[int],
    itemsize: int,
    max_pixels: int | None = None,
    *,
    plane: Sequence[int] | None = None,
) -> None:
    """Refuse a file whose claimed data exceed the limits, before reading them.

    Args:
        path: The file (named in the message).
        shape: The shape the file claims for its data (all axes).
        itemsize: Bytes per value.
        max_pixels: Pixel limit (None: :data:`MAX_IMAGE_PIXELS`).
        plane: The (rows, cols) of the image plane when ``shape`` also has
            band (colour sample) axes; default: every value counts as a pixel.

    Raises:
        FileLimitError: too many pixels or bytes.
    """
    limit = resolve_max_pixels(max_pixels)
    dims = [int(v) for v in shape]
    if any(v < 0 for v in dims):
        raise ValueError(f"{path}: the file claims a negative shape {tuple(dims)}")
    values = math.prod(dims)
    pixels = math.prod(int(v) for v in plane) if plane is not None else values
    if pixels > limit:
        raise FileLimitError(f"{path}: the file claims shape {tuple(dims)} ({pixels:,} pixels), over the limit of "
                             f"{limit:,} pixels; {_HOW_TO_RAISE}")
    nbytes = values * int(itemsize)
    if nbytes > limit * BYTES_PER_PIXEL:
        raise FileLimitError(f"{path}: the file claims shape {tuple(dims)} of {itemsize}-byte values ({nbytes:,} bytes), "
                             f"over the limit of {limit * BYTES_PER_PIXEL:,} bytes ({BYTES_PER_PIXEL} per allowed "
                             f"pixel); {_HOW_TO_RAISE}")


def check_text_size(path: Path, what: str) -> None:
    """Refuse a text file larger than :data:`MAX_TEXT_BYTES` before reading it."""
    size = path.stat().st_size
    if size > MAX_TEXT_BYTES:
        raise FileLimitError(f"{path}: the {what} is {size:,} bytes, over the limit of {MAX_TEXT_BYTES:,} bytes; "
                             "set stemscan.scenes.limits.MAX_TEXT_BYTES if the file is genuine")
