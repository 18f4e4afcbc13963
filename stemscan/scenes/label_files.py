"""Ground truth from label images and coordinate lists, checked strictly.

Label images
------------
An integer image of the scene's shape; each distinct non-zero value is one
feature of kind ``"feature"`` (0 is background).  Accepted dtypes: bool,
signed and unsigned integers, and floats that hold whole numbers only
(e.g. a label image saved as ``float32``).  Refused, with the count and an
example: NaN or infinite values, non-integer values, negative values, and
an image without any non-zero value (a scored scene needs a feature).

Coordinate lists (``.csv``/``.txt``)
------------------------------------
UTF-8 (a byte-order mark is ignored), one feature per line::

    row,col,kind,weight          <- optional header
    10.5,12,dopant,2
    30,40                        <- kind "feature", weight 1

* A header is recognised only when the first non-blank, non-comment line is
  exactly ``row,col``, ``row,col,kind`` or ``row,col,kind,weight``
  (case and surrounding spaces ignored).  Any other non-numeric first line
  is an error naming line 1 and the bad token: a typo never silently drops
  a row.
* Blank lines and lines starting with ``#`` are skipped; trailing empty
  fields are ignored; more than four fields is an error.
* At most :data:`stemscan.scenes.limits.MAX_FEATURES` rows and
  :data:`~stemscan.scenes.limits.MAX_TEXT_BYTES` bytes.

Each coordinate becomes a disk of ``label_radius`` pixels (``0 <
label_radius <=`` :data:`MAX_LABEL_RADIUS`), painted in file order around
the pixel nearest the coordinate.  Two coordinates that round to the same
pixel cannot be told apart: an error listing the line pairs.  Disks that
overlap (centres closer than ``2 * label_radius``) are kept, the shared
pixels going to the later line, with an :class:`OverlappingFeaturesWarning`
listing the pairs; a feature whose disk is entirely covered by later ones
is an error.
"""

from __future__ import annotations

import csv
import io
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from stemscan.scenes import limits
from stemscan.scenes.painting import features_from_labels, paint_disks

__all__ = [
    "COORDINATE_COLUMNS",
    "MAX_LABEL_RADIUS",
    "CoordinateRow",
    "OverlappingFeaturesWarning",
    "check_label_image",
    "check_label_radius",
    "coordinate_labels",
    "label_image_features",
    "read_coordinate_file",
]

#: The documented columns of a coordinate list (a header must be a prefix of at least two).
COORDINATE_COLUMNS = ("row", "col", "kind", "weight")
#: Largest ``label_radius``, pixels.
MAX_LABEL_RADIUS = 256.0
#: Pixels painted per call when drawing coordinate disks (bounds the temporary index arrays).
_PAINT_CHUNK_PIXELS = 2**22

#: ``(row, col, kind, weight, line)``: one coordinate, pixels; ``line`` is its line in the file (or row index).
CoordinateRow = tuple[float, float, str, float, int]


class OverlappingFeaturesWarning(UserWarning):
    """Coordinate disks overlap; the shared pixels belong to the later feature."""


def check_label_radius(radius: Any) -> float:
    """``label_radius`` as a float in (0, :data:`MAX_LABEL_RADIUS`], or ``ValueError`` naming it."""
    if isinstance(radius, bool) or not isinstance(radius, (int, float, np.integer, np.floating)):
        raise ValueError(f"label_radius must be a number of pixels, got {radius!r}")
    value = float(radius)
    if not (np.isfinite(value) and 0 < value <= MAX_LABEL_RADIUS):
        raise ValueError(f"label_radius must be in (0, {MAX_LABEL_RADIUS:g}] pixels, got {radius!r}")
    return value


def check_label_image(array: Any, shape: tuple[int, int], name: str) -> np.ndarray:
    """A label image as ``int64`` after the checks of the module docstring (non-empty not required)."""
    array = np.asarray(array)
    if array.shape != tuple(shape):
        raise ValueError(f"{name}: label image has shape {array.shape}, the image {tuple(shape)}")
    kind = array.dtype.kind
    if kind not in "buif" or array.dtype.fields is not None:
        raise ValueError(f"{name}: a label image must hold integers, got dtype {array.dtype}")
    if kind == "f":
        finite = np.isfinite(array)
        if not finite.all():
            bad = np.argwhere(~finite)[0]
            raise ValueError(f"{name}: label image has {int((~finite).sum())} NaN or infinite value(s), "
                             f"e.g. {array[tuple(bad)]} at (row, col) {tuple(int(v) for v in bad)}")
        fractional = array != np.round(array)
        if fractional.any():
            bad = np.argwhere(fractional)[0]
            raise ValueError(f"{name}: label image has {int(fractional.sum())} non-integer value(s), "
                             f"e.g. {array[tuple(bad)]} at (row, col) {tuple(int(v) for v in bad)}")
        if array.size and float(np.abs(array).max()) > 2**53:
            raise ValueError(f"{name}: label values beyond 2**53 cannot be told apart in dtype {array.dtype}")
    if kind == "u" and array.dtype.itemsize == 8 and array.size and int(array.max()) > np.iinfo(np.int64).max:
        raise ValueError(f"{name}: label values beyond {np.iinfo(np.int64).max} are not supported")
    values = array.astype(np.int64)
    negative = values < 0
    if negative.any():
        bad = np.argwhere(negative)[0]
        raise ValueError(f"{name}: label image has {int(negative.sum())} negative value(s), e.g. "
                         f"{values[tuple(bad)]} at (row, col) {tuple(int(v) for v in bad)}; labels must be >= 0")
    return values


def label_image_features(array: Any, shape: tuple[int, int], name: str) -> tuple[np.ndarray, list]:
    """``(int32 labels 1..K, features)`` of a label image (each distinct non-zero value one feature)."""
    values = check_label_image(array, shape, name)
    if not values.any():
        raise ValueError(f"{name}: the label image has no feature (every value is 0); a scored scene needs at least "
                         "one, or load the image without labels")
    unique, inverse = np.unique(values, return_inverse=True)
    if unique[0] != 0:
        inverse = inverse + 1
    label_image = inverse.reshape(shape).astype(np.int32)
    count = int(label_image.max())
    return features_from_labels(label_image, ["feature"] * count, [1.0] * count, min_pixels=1)


def read_coordinate_file(path: Path) -> list[CoordinateRow]:
    """The rows of a coordinate list (see the module docstring); ``ValueError`` naming path and line."""
    limits.check_text_size(path, "coordinate list")
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"{path}: a coordinate list must be UTF-8 text ({error})") from error
    if "\x00" in text:
        raise ValueError(f"{path}: a coordinate list must be text, found a NUL byte")
    rows: list[CoordinateRow] = []
    first = True
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        for record in reader:
            number = reader.line_num
            fields = [field.strip() for field in record]
            while fields and not fields[-1]:
                fields.pop()
            if not fields or fields[0].startswith("#"):
                continue
            if first:
                first = False
                if _is_header(fields):
                    continue
            rows.append(_parse_row(fields, record, path, number))
            if len(rows) > limits.MAX_FEATURES:
                raise limits.FileLimitError(f"{path}: more than {limits.MAX_FEATURES:,} coordinate rows; set "
                                            "stemscan.scenes.limits.MAX_FEATURES if the file is genuine")
    except csv.Error as error:
        raise ValueError(f"{path}: not a readable CSV file ({error})") from error
    return rows


def _is_header(fields: list[str]) -> bool:
    names = tuple(field.lower() for field in fields)
    return 2 <= len(names) <= 4 and names == COORDINATE_COLUMNS[: len(names)]


def _parse_row(fields: list[str], record: list[str], path: Path, number: int) -> CoordinateRow:
    where = f"{path}: line {number}"
    if len(fields) > 4:
        raise ValueError(f"{where}: expected 'row, col[, kind[, weight]]', got {len(fields)} fields {record}")
    if len(fields) < 2:
        raise ValueError(f"{where}: expected 'row, col[, kind[, weight]]', got {record}")
    values = []
    for label, token in zip(("row", "col"), fields[:2]):
        try:
            values.append(float(token))
        except ValueError:
            hint = (f"; a header must be exactly {','.join(COORDINATE_COLUMNS[:2])}[,kind[,weight]]"
                    if number == 1 else "")
            raise ValueError(f"{where}: {label} {token!r} is not a number{hint}") from None
    if not all(np.isfinite(values)):
        raise ValueError(f"{where}: coordinates must be finite, got {fields[:2]}")
    kind = fields[2] if len(fields) > 2 and fields[2] else "feature"
    weight = 1.0
    if len(fields) > 3 and fields[3]:
        try:
            weight = float(fields[3])
        except ValueError:
            raise ValueError(f"{where}: weight {fields[3]!r} is not a number") from None
        if not (np.isfinite(weight) and weight > 0):
            raise ValueError(f"{where}: weight must be a positive number, got {fields[3]!r}")
    return values[0], values[1], kind, weight, number


def coordinate_labels(
    rows: list[CoordinateRow], shape: tuple[int, int], radius: float, name: str
) -> tuple[np.ndarray, list]:
    """Paint coordinate rows as disks of ``radius`` pixels; duplicates refused, overlaps warned (module docstring)."""
    radius = check_label_radius(radius)
    if not rows:
        raise ValueError(f"{name}: no feature coordinates found")
    centres = np.array([(r, c) for r, c, *_ in rows], dtype=np.float64)
    lines = [row[4] for row in rows]
    if not np.all(np.isfinite(centres)):
        bad = int(np.flatnonzero(~np.all(np.isfinite(centres), axis=1))[0])
        raise ValueError(f"{name}: feature coordinates must be finite (line {lines[bad]}: {_point(centres[bad])})")
    outside = ~np.all((centres >= -0.5) & (centres <= np.array(shape) - 0.5), axis=1)
    if outside.any():
        first = int(np.flatnonzero(outside)[0])
        rows, cols = (int(n) for n in shape)
        raise ValueError(f"{name}: {int(outside.sum())} feature coordinate(s) lie outside the {(rows, cols)} image "
                         f"(row in [-0.5, {rows - 0.5:g}], col in [-0.5, {cols - 0.5:g}]; e.g. line {lines[first]}: "
                         f"{_point(centres[first])})")
    if any(not (np.isfinite(w) and w > 0) for *_, w, _ in rows):
        raise ValueError(f"{name}: feature weights must be positive")
    _check_separation(centres, lines, radius, name)
    label_image = np.zeros(shape, dtype=np.int32)
    disk = int(np.pi * (radius + 1) ** 2) + 1
    chunk = max(1, _PAINT_CHUNK_PIXELS // disk)
    for start in range(0, len(centres), chunk):
        paint_disks(label_image, centres[start : start + chunk], radius, first_id=start + 1)
    present = np.bincount(label_image.ravel(), minlength=len(rows) + 1)[1:]
    covered = np.flatnonzero(present == 0)
    if covered.size:
        listed = ", ".join(str(lines[i]) for i in covered[:10])
        raise ValueError(f"{name}: the disk(s) of line(s) {listed} are entirely covered by later features "
                         f"(label_radius={radius:g}); move them apart or use a smaller label_radius")
    return features_from_labels(label_image, [row[2] for row in rows], [row[3] for row in rows], min_pixels=1)


def _point(values: Any) -> str:
    """``(row, col)`` as plain numbers, e.g. ``(500, 20.5)``, never numpy scalar reprs."""
    return "(" + ", ".join(f"{float(v):g}" for v in values) + ")"


def _check_separation(centres: np.ndarray, lines: list[int], radius: float, name: str) -> None:
    """Refuse coordinates that round to one pixel; warn about overlapping disks."""
    from scipy.spatial import cKDTree

    pixels = np.rint(centres).astype(np.int64)
    _, first, counts = np.unique(pixels, axis=0, return_index=True, return_counts=True)
    if (counts > 1).any():
        order: dict[tuple[int, ...], list[int]] = {tuple(map(int, p)): [] for p in pixels[first[counts > 1]]}
        for index, pixel in enumerate(tuple(map(int, p)) for p in pixels):
            if pixel in order:
                order[pixel].append(lines[index])
        groups = list(order.items())[:5]
        listed = "; ".join(f"lines {', '.join(map(str, ls))} at pixel {p}" for p, ls in groups)
        raise ValueError(f"{name}: {int((counts > 1).sum())} pixel(s) hold more than one feature coordinate, "
                         f"which cannot be told apart ({listed})")
    pairs = cKDTree(pixels).query_pairs(2 * radius, output_type="ndarray")
    if len(pairs):
        pairs = pairs[np.lexsort((pairs[:, 1], pairs[:, 0]))]
        listed = ", ".join(f"({lines[a]}, {lines[b]})" for a, b in pairs[:5])
        warnings.warn(f"{name}: {len(pairs)} pair(s) of features overlap with label_radius={radius:g} "
                      f"(lines {listed}{', ...' if len(pairs) > 5 else ''}); the shared pixels go to the later line",
                      OverlappingFeaturesWarning, stacklevel=3)
