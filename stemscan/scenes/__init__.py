"""Sample generators with exact ground truth, and loaders for real images.

``names()`` lists the synthetic families; ``make(name, seed=..., size=...,
**params)`` builds one :class:`Scene`; ``load(path)`` turns a real image file
into a scene.  Nothing here imports torch.
"""

from __future__ import annotations

from stemscan.scenes.base import Feature, Scene, validate_scene
from stemscan.scenes.loaders import load
from stemscan.scenes.registry import make, names, parameters

__all__ = ["Feature", "Scene", "load", "make", "names", "parameters", "validate_scene"]
