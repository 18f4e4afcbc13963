"""What an analyst claims to have found: positions, kinds and confidences.

A :class:`Detections` is the report of the characterisation track: one row
per claimed feature, ``(row, col)`` in pixels of the field (origin at the
top-left pixel centre, as :mod:`stemscan.scenes.base`), a kind (free text;
scoring counts a detection for a kind only when it equals the ground
truth's kind, e.g. ``"vacancy"``, and ignores kinds for localisation) and
a confidence in [0, 1].
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from stemscan.validation import check_points

__all__ = ["Detections"]


@dataclass(frozen=True)
class Detections:
    """Claimed features of one field (validated, immutable arrays).

    Attributes:
        positions: ``float64`` (N, 2) ``(row, col)``, pixels.
        kinds: (N,) ``str`` kind of each detection.
        confidence: ``float64`` (N,) in [0, 1].
        shape: (H, W) of the field the positions lie in, pixels, or ``None`` (not checked).
    """

    positions: np.ndarray
    kinds: np.ndarray
    confidence: np.ndarray
    shape: tuple[int, int] | None = None

    def __init__(
        self,
        positions: Any,
        kinds: Sequence[str] | np.ndarray,
        confidence: Any = None,
        shape: tuple[int, int] | None = None,
    ) -> None:
        points = check_points("detection positions", positions)
        n = len(points)
        kind_list = list(kinds) if not isinstance(kinds, str) else [kinds] * n
        if len(kind_list) != n or not all(isinstance(k, (str, np.str_)) and k for k in kind_list):
            raise ValueError(f"detection kinds must be {n} non-empty strings, got {kind_list!r}")
        if confidence is None:
            scores = np.ones(n, dtype=np.float64)
        else:
            try:
                scores = np.asarray(confidence, dtype=np.float64).reshape(-1)
            except (TypeError, ValueError) as error:
                raise ValueError(f"detection confidence must be numbers in [0, 1]: {error}") from error
        if scores.shape != (n,):
            raise ValueError(f"detection confidence must have {n} values, got shape {scores.shape}")
        if not (np.isfinite(scores).all() and (scores >= 0).all() and (scores <= 1).all()):
            raise ValueError("detection confidence must lie in [0, 1] (found NaN or a value outside)")
        if shape is not None:
            shape = (int(shape[0]), int(shape[1]))
            if n and ((points < -0.5).any() or (points[:, 0] > shape[0] - 0.5).any() or (points[:, 1] > shape[1] - 0.5).any()):
                raise ValueError(f"detection positions lie outside the {shape[0]}×{shape[1]} pixel field")
        for name, value in (("positions", points), ("kinds", np.array(kind_list, dtype=str).reshape(n)), ("confidence", scores)):
            value.setflags(write=False)
            object.__setattr__(self, name, value)
        object.__setattr__(self, "shape", shape)

    @classmethod
    def empty(cls, shape: tuple[int, int] | None = None) -> Detections:
        """No detections."""
        return cls(np.zeros((0, 2)), [], np.zeros(0), shape)

    @classmethod
    def concatenate(cls, parts: Sequence[Detections], shape: tuple[int, int] | None = None) -> Detections:
        """All detections of ``parts``, in order."""
        if not parts:
            return cls.empty(shape)
        return cls(
            np.concatenate([p.positions for p in parts]),
            [str(k) for p in parts for k in p.kinds],
            np.concatenate([p.confidence for p in parts]),
            shape if shape is not None else parts[0].shape,
        )

    def __len__(self) -> int:
        return int(len(self.positions))

    def of_kind(self, kind: str) -> Detections:
        """The detections of one kind."""
        keep = self.kinds == kind
        return Detections(self.positions[keep], [str(k) for k in self.kinds[keep]], self.confidence[keep], self.shape)

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return {
            "positions": self.positions.tolist(),
            "kinds": [str(k) for k in self.kinds],
            "confidence": self.confidence.tolist(),
        }

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Detections):
            return NotImplemented
        return (
            np.array_equal(self.positions, other.positions)
            and np.array_equal(self.kinds, other.kinds)
            and np.array_equal(self.confidence, other.confidence)
        )

    __hash__ = None  # type: ignore[assignment]
