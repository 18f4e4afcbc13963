"""``STEMScan-v0``'s constructor arguments: the scene, the dose settings and the acquisition defaults, checked.

Each function raises ``ValueError`` (``TypeError`` for a wrong container)
naming the argument, as the env's docstring promises.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stemscan.envs.dose_defaults import default_acquisition
from stemscan.scenes import Scene
from stemscan.scenes import names as scene_names
from stemscan.scenes import parameters as scene_parameters
from stemscan.scenes import registry as scene_registry
from stemscan.validation import check_int, check_positive

__all__ = ["FILE_PREFIX", "MAX_DOSE_BUDGET", "acquisition_settings", "check_dose_arguments", "resolve_scene"]

#: ``scene="file:PATH"`` loads the image (and labels) at PATH with
#: :func:`stemscan.scenes.load`, ``scene_kwargs`` being its keywords; unlike a
#: ``Scene`` object, the name keeps the env's spec JSON-serialisable.
FILE_PREFIX = "file:"

#: Largest ``dose_budget``, in full frames at imaging dose (a bound, so that a
#: typo such as 1e308 fails instead of giving an episode that never ends).
MAX_DOSE_BUDGET = 1000.0


def resolve_scene(scene: Any, scene_kwargs: Any, image_size: Any) -> tuple[Scene | None, str, tuple[int, int]]:
    """``(fixed scene or None, family, (H, W))`` of the env's ``scene`` argument.

    A family name draws a new scene of ``image_size`` pixels each reset
    (no fixed scene); a :class:`~stemscan.scenes.Scene` or ``"file:PATH"``
    (loaded once with :func:`stemscan.scenes.load` and ``scene_kwargs``)
    is used on every reset.
    """
    if isinstance(scene, str) and scene.startswith(FILE_PREFIX):
        from stemscan.scenes import load as load_scene

        if scene_kwargs is not None and not isinstance(scene_kwargs, dict):
            raise TypeError(f"scene_kwargs must be a dict, got {type(scene_kwargs).__name__}")
        try:
            scene = load_scene(scene[len(FILE_PREFIX):], **(scene_kwargs or {}))
        except TypeError as error:
            raise ValueError(f"scene {scene!r}: scene_kwargs are stemscan.scenes.load's keywords: {error}") from error
    if isinstance(scene, Scene):
        fixed: Scene | None = scene
        family = scene.family
        shape = scene.shape
    elif isinstance(scene, str):
        if scene not in scene_names():
            raise ValueError(f"unknown scene {scene!r}; valid names: {', '.join(scene_names())}")
        fixed = None
        family = scene
        check_int("image_size", image_size, 32, scene_registry.MAX_SIZE)  # raise MAX_SIZE for larger fields
        shape = (int(image_size), int(image_size))
    else:
        raise TypeError(f"scene must be a family name or a stemscan.scenes.Scene, got {type(scene).__name__}")
    if scene_kwargs is not None and not isinstance(scene_kwargs, dict):
        raise TypeError(f"scene_kwargs must be a dict, got {type(scene_kwargs).__name__}")
    return fixed, family, shape


def check_dose_arguments(dose_budget: Any, survey: Any, survey_dose: Any) -> None:
    """``dose_budget`` in [0, :data:`MAX_DOSE_BUDGET`] and ``survey_dose`` in [0, 1] (real numbers, not bools), ``survey`` a bool, a positive ``survey_dose`` when it is on."""
    for name, value, most in (("dose_budget", dose_budget, MAX_DOSE_BUDGET), ("survey_dose", survey_dose, 1.0)):
        is_real = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, (bool, np.bool_))
        if not (is_real and np.isfinite(value) and 0 <= value <= most):
            raise ValueError(f"{name} must be a number in [0, {most:g}] (fraction of one full frame), got {value!r}")
    if not isinstance(survey, (bool, np.bool_)):
        raise ValueError(f"survey must be True or False, got {survey!r}")
    if survey and survey_dose <= 0:
        raise ValueError("survey_dose must be > 0 when the survey is on (or pass survey=False)")


def acquisition_settings(
    fixed: Scene | None, family: str, scene_kwargs: dict[str, Any], electrons_per_pixel: Any, dwell_time_us: Any
) -> tuple[Any, Any]:
    """``(electrons_per_pixel, dwell_time_us)``: the given values, checked, or the family's defaults (:mod:`~stemscan.envs.dose_defaults`).

    A dose without a dwell time keeps the family's probe current.
    """
    for name, value in (("electrons_per_pixel", electrons_per_pixel), ("dwell_time_us", dwell_time_us)):
        is_number = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
        if value is not None and not is_number:
            raise ValueError(f"{name} must be a positive number or None, got {value!r}")
        if value is not None:
            check_positive(name, value)  # finite and > 0, named (an int beyond the float range included)
    if electrons_per_pixel is None or dwell_time_us is None:
        if fixed is not None:
            fixed_params = fixed.params  # a loaded scene file keeps its generator's params under "file_params"
            family_params = {**fixed_params.get("file_params", {}), **fixed_params, "pixel_size": fixed.pixel_size}
        else:
            family_params = {**scene_parameters(family), **scene_kwargs}
        default_electrons, default_dwell = default_acquisition(family, family_params)
        if electrons_per_pixel is None:
            electrons_per_pixel = default_electrons
            if dwell_time_us is None:
                dwell_time_us = default_dwell
        elif dwell_time_us is None:  # keep the family's probe current for a given dose
            dwell_time_us = default_dwell * float(electrons_per_pixel) / default_electrons
            if not dwell_time_us > 0:
                raise ValueError(
                    f"electrons_per_pixel={electrons_per_pixel!r} is too small to derive a dwell time at the "
                    "family's probe current (it rounds to 0 µs); pass dwell_time_us too"
                )
    return electrons_per_pixel, dwell_time_us
