"""The :class:`Scene`: a noiseless sample image with exact ground truth.

A scene is *ground truth*, never a measurement (BoTorch's ``evaluate_true``
versus ``forward``): the environment's microscope model turns ``image`` into
noisy detector counts.  Conventions used throughout stemscan:

* coordinates are ``(row, col)`` in pixels, origin at the top-left pixel
  centre;
* ``image`` is the fraction of incident electrons scattered onto the
  annular dark-field detector at each probe position (dimensionless, in
  ``[0, 1)``), so ``counts = electrons_per_pixel * image`` on average;
* ``labels`` is 0 where there is no feature and ``k`` on the pixels of
  feature ``k`` (feature ids start at 1 and are contiguous).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Feature", "Scene", "validate_scene"]


@dataclass(frozen=True)
class Feature:
    """One ground-truth feature of a scene.

    Attributes:
        id: Label value of the feature's pixels in :attr:`Scene.labels` (>= 1).
        kind: What it is, e.g. ``"vacancy"``, ``"dopant"``, ``"domain-wall"``.
        centroid: ``(row, col)`` centre of its labelled pixels, in pixels.
        weight: Reward for discovering it (dimensionless, > 0).
    """

    id: int
    kind: str
    centroid: tuple[float, float]
    weight: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": int(self.id),
            "kind": self.kind,
            "centroid": [float(self.centroid[0]), float(self.centroid[1])],
            "weight": float(self.weight),
        }


@dataclass
class Scene:
    """A sample: noiseless signal, feature labels and their records.

    Attributes:
        image: ``float32`` (H, W) detector signal, fraction of incident
            electrons scattered to the detector (dimensionless, in [0, 1)).
        labels: ``int32`` (H, W); 0 = no feature, k = pixels of feature k.
        features: One :class:`Feature` per label value ``1..K``, in id order.
        pixel_size: Sampling in Å per pixel.
        family: Scene family name (see :func:`stemscan.scenes.names`), or
            ``"file"`` for a loaded image.
        params: The parameters the scene was made with (JSON-serialisable).
        seed: The seed it was made from (``None`` for a loaded image).
        atoms: Optional ``float64`` (N, 2) ground-truth atom-column
            positions ``(row, col)`` in pixels, for training and scoring atom
            finders.
        atom_classes: Optional ``int64`` (N,) class of each atom column
            (family-specific, documented by the family).
        scored: False when the scene has no ground truth (a real image loaded
            without labels): agents can run on it but nothing is scored.
    """

    image: np.ndarray
    labels: np.ndarray
    features: list[Feature]
    pixel_size: float
    family: str
    params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    atoms: np.ndarray | None = None
    atom_classes: np.ndarray | None = None
    scored: bool = True

    def __post_init__(self) -> None:
        validate_scene(self)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) in pixels."""
        return (int(self.image.shape[0]), int(self.image.shape[1]))

    @property
    def n_features(self) -> int:
        return len(self.features)

    def feature_weights(self) -> np.ndarray:
        """``float64`` (K + 1,) weight per label value; index 0 is 0."""
        weights = np.zeros(len(self.features) + 1, dtype=np.float64)
        for feature in self.features:
            weights[feature.id] = feature.weight
        return weights

    def digest(self) -> str:
        """SHA-256 (hex, 16 characters) of what an episode on this scene depends on.

        The image, the labels, the pixel size and each feature's kind and
        weight: two scenes with the same digest give the same episodes.  The
        benchmark records it for scenes loaded from files, so that a
        re-run can tell an edited input from a result that did not reproduce.
        """
        import hashlib
        import json

        h = hashlib.sha256()
        for array in (self.image, self.labels):
            a = np.ascontiguousarray(array)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(a.tobytes())
        h.update(json.dumps([float(self.pixel_size), self.feature_kinds(), self.feature_weights().tolist()]).encode())
        return h.hexdigest()[:16]

    def feature_kinds(self) -> list[str]:
        """Kind of each feature, in id order."""
        return [feature.kind for feature in self.features]


def validate_scene(scene: Scene) -> None:
    """Raise ``ValueError`` naming the problem if ``scene`` is inconsistent."""
    image, labels = scene.image, scene.labels
    if not isinstance(image, np.ndarray) or image.ndim != 2:
        raise ValueError(f"Scene.image must be a 2-D array, got shape {getattr(image, 'shape', None)}")
    if image.dtype != np.float32:
        raise ValueError(f"Scene.image must be float32, got {image.dtype}")
    if not np.all(np.isfinite(image)):
        raise ValueError("Scene.image contains NaN or infinite values")
    if image.min() < 0:
        raise ValueError("Scene.image must be non-negative (a detector signal fraction)")
    if not isinstance(labels, np.ndarray) or labels.shape != image.shape:
        raise ValueError(
            f"Scene.labels must have the image's shape {image.shape}, got {getattr(labels, 'shape', None)}"
        )
    if labels.dtype != np.int32:
        raise ValueError(f"Scene.labels must be int32, got {labels.dtype}")
    n = len(scene.features)
    if labels.size and (labels.min() < 0 or labels.max() > n):
        raise ValueError(f"Scene.labels values must lie in [0, {n}] (one id per feature)")
    for index, feature in enumerate(scene.features, start=1):
        if feature.id != index:
            raise ValueError(f"feature ids must be 1..{n} in order; feature {index - 1} has id {feature.id}")
        if not (np.isfinite(feature.weight) and feature.weight > 0):
            raise ValueError(f"feature {feature.id} has a non-positive or non-finite weight {feature.weight}")
    if not (np.isfinite(scene.pixel_size) and scene.pixel_size > 0):
        raise ValueError(f"Scene.pixel_size must be a positive number of Å, got {scene.pixel_size}")
    if scene.atoms is not None:
        atoms = np.asarray(scene.atoms)
        if atoms.ndim != 2 or atoms.shape[1] != 2:
            raise ValueError(f"Scene.atoms must be (N, 2) (row, col), got shape {atoms.shape}")
