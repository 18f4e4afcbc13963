"""What the env derives from a scene, computed once per scene and reused on every reset.

A reset on a given :class:`~stemscan.scenes.Scene` used to redo whole-field
work (~6 ms on a 512² field): the sampler's per-pixel state
(:class:`~stemscan.envs.shot_noise.ShotNoiseMap`), the pixels per feature,
the signal's maximum and its coarse-cell means.  None of it depends on the
episode, so :func:`scene_tables` computes it on the first reset and keeps it
for as long as the scene object lives (a fixed scene, or a scene pool's
scenes, :mod:`stemscan.envs.scene_pool`), shared by every env in the process.
The numbers are the same as computing them afresh: only the time changes.

Scenes are ground truth and treated as immutable: an array of a scene
changed in place after an env has reset on it is not seen by the tables
(make a new :class:`~stemscan.scenes.Scene` instead).
"""

from __future__ import annotations

import threading
import weakref
from dataclasses import dataclass, field

import numpy as np

from stemscan.envs.discovery import needed_pixels
from stemscan.envs.microscope import Microscope
from stemscan.envs.overview import CoarseGrid
from stemscan.envs.shot_noise import ShotNoiseMap
from stemscan.scenes import Scene

__all__ = ["SceneTables", "scene_tables"]


@dataclass(frozen=True)
class SceneTables:
    """Episode-independent data of one scene under one microscope and coarse grid.

    Attributes:
        full_scale: Signal the detector's full scale maps to (the scene's
            brightest pixel, at least 1e-6), dimensionless.
        noise: The sampler's state over the mean counts at imaging dose.
        counts_to_patch: ``float32`` count → normalised value table
            (:meth:`Microscope.normalisation_table`).
        background: ``float32`` background counts, for counts beyond the table.
        inverse_full_scale: ``float32`` ``1 / (electrons × full_scale)``.
        label_area: ``int64`` (K + 1,) pixels per label value.
        weights: ``float64`` (K + 1,) weight per label value (index 0 is 0).
        cell_signal: ``float64`` (G, G) mean signal per coarse cell (the survey's means).
        survey_maps: the survey sampler's state per survey dose (:meth:`survey_noise`).
        needed: pixels to scan per feature, per discovery threshold (:meth:`discovery_needed`).
    """

    full_scale: float
    noise: ShotNoiseMap
    counts_to_patch: np.ndarray
    background: np.float32
    inverse_full_scale: np.float32
    label_area: np.ndarray
    weights: np.ndarray
    cell_signal: np.ndarray
    survey_maps: dict[float, ShotNoiseMap] = field(default_factory=dict, compare=False, repr=False)
    needed: dict[float, np.ndarray] = field(default_factory=dict, compare=False, repr=False)

    def survey_noise(self, microscope: Microscope, electrons: float) -> ShotNoiseMap:
        """The sampler's state over the survey's mean counts at ``electrons`` e⁻ per sample (cached per dose)."""
        with _LOCK:
            cached = self.survey_maps.get(electrons)
        if cached is None:
            cached = ShotNoiseMap(microscope.expected_counts(self.cell_signal, electrons))
            with _LOCK:
                if len(self.survey_maps) >= _MAX_SURVEY_DOSES:  # envs of many survey doses on one scene: keep a few
                    self.survey_maps.clear()
                self.survey_maps[electrons] = cached
        return cached

    def discovery_needed(self, labels: np.ndarray, threshold: float) -> np.ndarray:
        """:func:`~stemscan.envs.discovery.needed_pixels` of the scene at ``threshold`` (cached, read-only)."""
        with _LOCK:
            cached = self.needed.get(threshold)
        if cached is None:
            cached = needed_pixels(labels, len(self.weights), threshold, self.label_area)
            cached.flags.writeable = False
            with _LOCK:
                if len(self.needed) >= _MAX_SURVEY_DOSES:
                    self.needed.clear()
                self.needed[threshold] = cached
        return cached


_LOCK = threading.Lock()
_MAX_SURVEY_DOSES = 8
#: id(scene) -> {key: SceneTables}; an entry is dropped when its scene is garbage-collected.
_TABLES: dict[int, dict[tuple, SceneTables]] = {}

def _forget(scene_id: int) -> None:
    with _LOCK:
        _TABLES.pop(scene_id, None)


def scene_tables(scene: Scene, microscope: Microscope, grid: CoarseGrid) -> SceneTables:
    """The :class:`SceneTables` of ``scene`` at ``microscope``'s imaging dose on ``grid`` (cached)."""
    key = (microscope.electrons_per_pixel, microscope.background_counts, grid.shape, grid.size)
    with _LOCK:
        cached = _TABLES.get(id(scene))
        if cached is not None and key in cached:
            return cached[key]
    tables = _compute(scene, microscope, grid)
    with _LOCK:
        if id(scene) not in _TABLES:
            _TABLES[id(scene)] = {}
            weakref.finalize(scene, _forget, id(scene))
        _TABLES[id(scene)][key] = tables
    return tables


def _compute(scene: Scene, microscope: Microscope, grid: CoarseGrid) -> SceneTables:
    electrons = microscope.electrons_per_pixel
    full_scale = max(float(scene.image.max()), 1e-6)
    weights = scene.feature_weights()
    weights.flags.writeable = False
    label_area = np.bincount(scene.labels.ravel(), minlength=len(weights))
    label_area.flags.writeable = False
    cell_signal = grid.block_mean(scene.image)
    cell_signal.flags.writeable = False
    table = microscope.normalisation_table(electrons, full_scale)
    table.flags.writeable = False
    return SceneTables(
        full_scale=full_scale,
        noise=ShotNoiseMap(microscope.expected_counts(scene.image, electrons)),
        counts_to_patch=table,
        background=np.float32(microscope.background_counts),
        inverse_full_scale=np.float32(1.0 / (electrons * full_scale)),
        label_area=label_area,
        weights=weights,
        cell_signal=cell_signal,
    )
