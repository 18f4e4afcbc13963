"""``STEMScan-v0``: choose where a STEM probe scans next, under a dose budget."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from stemscan.envs.arguments import FILE_PREFIX, acquisition_settings, check_dose_arguments, resolve_scene
from stemscan.envs.episode import EpisodeAcquisition
from stemscan.envs.episode_views import EpisodeViews
from stemscan.envs.geometry import PatchGeometry
from stemscan.envs.microscope import MAX_ELECTRONS_PER_PIXEL, Microscope
from stemscan.envs.overview import CoarseGrid
from stemscan.envs.scene_pool import scene_pool
from stemscan.scenes import Scene
from stemscan.scenes import make as make_scene
from stemscan.validation import check_int

__all__ = ["FILE_PREFIX", "STEMScanEnv"]


class STEMScanEnv(EpisodeAcquisition, EpisodeViews, gym.Env):
    """Automated experiment in scanning transmission electron microscopy.

    ## Description

    A sample (the hidden *scene*: a noiseless HAADF signal with labelled
    ground-truth features such as point defects, domain walls, interfaces or
    particle junctions) sits under a STEM probe.  Each step the agent places a
    square sub-scan of ``patch_size`` × ``patch_size`` pixels.  The microscope
    acquires it at the imaging dose ``electrons_per_pixel`` with Poisson shot
    noise (:mod:`stemscan.envs.shot_noise`, an exact sampler compiled with
    numba), and the electrons are charged against a dose budget.  The agent is
    rewarded for ground-truth features it newly discovers.  An optional
    initial *survey* — a fast, low-dose, coarse overview of the whole field —
    gives it a first look, too coarse and noisy to discover point features.

    ## Action Space

    * ``action_mode="continuous"`` (default): ``Box(0, 1, (2,), float32)``,
      the patch centre ``(row, col)`` as a fraction of the field.  Patches
      that would cross the border are shifted inside.
    * ``action_mode="grid"``: ``Discrete(n_rows * n_cols)`` over the patch
      cells, numbered row-major from the top-left; ``n_rows = ceil(H /
      patch_size)``: the non-overlapping tiles when ``patch_size`` divides
      the field, else cells spread evenly with the last flush with the
      border, so every pixel can be scanned
      (:func:`~stemscan.envs.geometry.cell_starts`).

    Out-of-space, NaN or wrongly shaped actions raise ``ValueError``.

    ## Observation Space

    A flat ``Dict`` (usable by SB3's ``MultiInputPolicy``); every array is a
    fresh copy.

    | key        | space                                 | meaning                                                        |
    |------------|---------------------------------------|----------------------------------------------------------------|
    | `patch`    | `Box(0, 1, (P, P), float32)`          | sub-scan just acquired, counts / full-scale counts (zeros at reset) |
    | `position` | `Box(0, 1, (2,), float32)`            | its centre ``(row, col)`` as a fraction of the field           |
    | `dose`     | `Box(0, 1, (1,), float32)`            | fraction of the dose budget used                               |
    | `overview` | `Box(0, 255, (1, G, G), uint8)`       | coarse map of everything measured: survey, overwritten by patches |
    | `visited`  | `Box(0, 255, (1, G, G), uint8)`       | fraction of each coarse cell scanned at imaging dose × 255     |

    ``G = overview_size`` (default 64).

    ## Rewards

    The summed weight of the features newly discovered by this step.  A
    feature is discovered once at least ``discovery_threshold`` (default
    half) of its labelled pixels have been scanned at imaging dose; it is
    never rewarded twice.  Re-scanning costs dose and rewards nothing.

    ## Starting State

    ``reset(seed=...)`` draws a new scene of family ``scene`` (or one from
    the scene pool, ``num_scenes``, or reuses a given
    :class:`~stemscan.scenes.Scene`), then, if ``survey`` is on,
    acquires the survey.  All randomness (scene and noise) flows from the
    seed.

    ## Episode End

    * Termination: every feature of a scored scene has been discovered.
    * Truncation: the remaining budget cannot pay for another patch.

    Calling ``step`` after either raises ``RuntimeError``.

    ## Info

    On every reset and step: ``new_features`` (count this step),
    ``new_feature_ids``, ``features_found``, ``features_total``,
    ``weight_found``, ``dose_used`` and ``dose_budget`` (electrons),
    ``dose_fraction`` (dose used / dose of one full raster frame at imaging
    dose), ``budget_fraction`` (dose used / budget), ``coverage`` (fraction of
    pixels scanned at imaging dose), ``scan_time_s`` (simulated acquisition
    time, s), ``steps``, ``scored`` (False for an unlabelled real image).
    Benchmarks score from ``info``, never from a wrapped reward.

    ## Arguments

    * ``scene``: a family from :func:`stemscan.scenes.names`
      (default ``"lattice-defects"``), ``"file:PATH"`` (an image and its
      labels read once by :func:`stemscan.scenes.load`), or a ``Scene``
      (both used on every reset; seeds vary the noise).
    * ``scene_kwargs``: family parameters (dict); for ``scene="file:PATH"``,
      the keywords of :func:`stemscan.scenes.load` (``labels``,
      ``pixel_size``, ``signal_scale``, ``label_radius``).
    * ``image_size``: field side in pixels for generated scenes (512).
    * ``patch_size``: sub-scan side in pixels (32).
    * ``dose_budget``: budget as a fraction of one full frame at imaging dose (0.1;
      a real number in [0, 1000]).
    * ``electrons_per_pixel``: imaging dose, e⁻/pixel (at most 1e15, where
      counts would outgrow exact integers); ``None`` (default):
      the family's typical dose density (e⁻/Å²) times the scene's pixel
      area, from :mod:`stemscan.envs.dose_defaults` (graphene 2e4, MoS2
      4e3, ferroelectric-domains 2.25e3, phase-separated 1e3,
      nanoparticles 2e3 e⁻/px at default pixel sizes; 500 for a loaded
      image).  Scene signals are scattered fractions (graphene ~2.5e-4 on
      average), so counts per pixel are ``electrons_per_pixel × signal``.
    * ``dwell_time_us``: imaging dwell per pixel, µs; ``None``: the dose at
      the family's typical probe current (30 pA), or 4 µs for a loaded
      image.
    * ``survey``: acquire the initial overview (True).
    * ``survey_dose``: survey dose as a fraction of one full frame (0.01; in
      (0, 1] while the survey is on).
    * ``overview_size``: cells per side of ``overview``/``visited`` (64).
    * ``action_mode``: ``"continuous"`` or ``"grid"``.
    * ``discovery_threshold``: fraction of a feature's pixels to scan (0.5).
    * ``render_mode``: ``None`` or ``"rgb_array"`` (H × W × 3 uint8).
    * ``num_scenes``: ``None`` (default): a new scene every reset.  An
      integer ``N``: each reset draws its scene uniformly (with the env's
      ``np_random``) from the fixed pool of the ``N`` scenes of seeds
      ``start_scene … start_scene + N − 1``
      (:mod:`stemscan.envs.scene_pool`), generated once per process and
      shared by the envs that use it; resets then cost well under a
      millisecond.  Train/test splits: ``start_scene=0`` for training,
      ``start_scene=1_000_000`` for held-out evaluation.
    * ``start_scene``: seed of the pool's first scene (0).
    * ``scene_cache_dir``: folder keeping pools on disk (``.npz``, content
      hash checked on read); ``None``: memory only.

    ## Version History

    * v0: initial version.  Since stemscan 0.1.0's compiled step, sub-scan
      noise comes from an exact sampler of its own: the same Poisson
      distribution, other draws for a given seed than ``Generator.poisson``.
      Since the calibrated imaging model (issue 15) scenes are in physical
      scattered fraction and ``electrons_per_pixel``/``dwell_time_us``
      default to each family's typical dose (``None``); pass 500 and 4 for
      the former defaults.
      Issue 19 (throughput) added ``num_scenes``/``start_scene``/
      ``scene_cache_dir`` (scene pools) and the batched vector env
      (``gym.make_vec``), and made resets reuse per-scene work: without a
      pool every seed gives the same observations, rewards and info as
      before, bit for bit (``tests/envs/test_golden.py``).  On 2026-12-07
      the sampler moved to one 64-bit draw per pixel (alias tables up to a
      mean of 128 counts) and the survey to the same sampler, ~2× faster
      steps: the same Poisson distribution, other draws for a given seed
      than before (golden trajectories re-recorded, suites re-published).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 4}

    def __init__(
        self,
        scene: str | Scene = "lattice-defects",
        scene_kwargs: dict[str, Any] | None = None,
        image_size: int = 512,
        patch_size: int = 32,
        dose_budget: float = 0.1,
        electrons_per_pixel: float | None = None,
        dwell_time_us: float | None = None,
        survey: bool = True,
        survey_dose: float = 0.01,
        overview_size: int = 64,
        action_mode: str = "continuous",
        discovery_threshold: float = 0.5,
        render_mode: str | None = None,
        num_scenes: int | None = None,
        start_scene: int = 0,
        scene_cache_dir: str | None = None,
    ) -> None:
        self._fixed_scene, self.family, shape = resolve_scene(scene, scene_kwargs, image_size)
        check_int("patch_size", patch_size, 4)
        check_int("overview_size", overview_size, 4)
        if patch_size > min(shape):
            raise ValueError(f"patch_size {patch_size} is larger than the image {shape[0]}×{shape[1]} pixels")
        check_dose_arguments(dose_budget, survey, survey_dose)
        if action_mode not in ("continuous", "grid"):
            raise ValueError(f"action_mode must be 'continuous' or 'grid', got {action_mode!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}")

        self.scene_kwargs = dict(scene_kwargs or {})
        self.shape = shape
        self._pool = None
        if num_scenes is not None:
            if self._fixed_scene is not None:
                raise ValueError("num_scenes draws scenes of a family: pass scene as a family name, not a Scene or a file")
            self._pool = scene_pool(self.family, num_scenes, start_scene, shape[0], self.scene_kwargs, scene_cache_dir)
        elif start_scene != 0 or scene_cache_dir is not None:
            raise ValueError("start_scene and scene_cache_dir need num_scenes (the size of the scene pool)")
        self.patch_size = int(patch_size)
        self.action_mode = action_mode
        self.render_mode = render_mode
        self.survey = bool(survey)
        self.survey_dose = float(survey_dose)
        self.discovery_threshold = float(discovery_threshold)
        if not 0.0 < self.discovery_threshold <= 1.0:
            raise ValueError(f"discovery_threshold must lie in (0, 1], got {discovery_threshold}")
        electrons_per_pixel, dwell_time_us = acquisition_settings(
            self._fixed_scene, self.family, self.scene_kwargs, electrons_per_pixel, dwell_time_us
        )
        self.microscope = Microscope(electrons_per_pixel=float(electrons_per_pixel), dwell_time_us=float(dwell_time_us))
        self.geometry = PatchGeometry(shape, self.patch_size)
        self.grid = CoarseGrid(shape, int(overview_size))

        epp = self.microscope.electrons_per_pixel
        self.frame_dose = float(shape[0] * shape[1] * epp)  # e⁻ of one full frame
        self.budget = float(dose_budget) * self.frame_dose
        self.patch_dose = float(self.patch_size**2 * epp)
        self.survey_cost = self.survey_dose * self.frame_dose if self.survey else 0.0
        survey_sample = self.survey_cost / (self.grid.size * self.grid.size)  # e⁻ per survey sample
        if survey_sample > MAX_ELECTRONS_PER_PIXEL:
            raise ValueError(
                f"the survey's dose per sample, survey_dose × image area / overview_size² × electrons_per_pixel = "
                f"{survey_sample:.3g} e⁻, exceeds {MAX_ELECTRONS_PER_PIXEL:.0e} e⁻ (counts beyond exact integers): "
                "lower survey_dose or electrons_per_pixel, or raise overview_size"
            )
        if self.survey_cost + self.patch_dose > self.budget * (1 + 1e-12):
            raise ValueError(
                f"dose_budget {dose_budget} ({self.budget:.3g} e⁻) cannot pay for the survey "
                f"({self.survey_cost:.3g} e⁻) and one {patch_size}×{patch_size} patch ({self.patch_dose:.3g} e⁻)"
            )

        p, g = self.patch_size, self.grid.size
        self.action_space = (
            spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32)
            if action_mode == "continuous"
            else spaces.Discrete(self.geometry.n_cells)
        )
        self.observation_space = spaces.Dict(
            {
                "patch": spaces.Box(0.0, 1.0, shape=(p, p), dtype=np.float32),
                "position": spaces.Box(0.0, 1.0, shape=(2,), dtype=np.float32),
                "dose": spaces.Box(0.0, 1.0, shape=(1,), dtype=np.float32),
                "overview": spaces.Box(0, 255, shape=(1, g, g), dtype=np.uint8),
                "visited": spaces.Box(0, 255, shape=(1, g, g), dtype=np.uint8),
            }
        )
        self.scene: Scene | None = None
        self._done = True
        self._subscan_time_s = self.microscope.subscan_time_s(self.patch_size, self.patch_size)

    # ------------------------------------------------------------------ reset
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[dict, dict]:
        self._start(seed, options)
        return self._observation(), self._info()

    def _start(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:  # noqa: ARG002
        """:meth:`reset` without building the observation and info (the vector env's reset)."""
        super().reset(seed=seed)
        if self._fixed_scene is not None:
            scene = self._fixed_scene
        elif self._pool is not None:
            scene = self._pool[int(self.np_random.integers(len(self._pool)))]
        else:
            scene_seed = int(self.np_random.integers(2**31 - 1))
            scene = make_scene(self.family, seed=scene_seed, size=self.shape[0], **self.scene_kwargs)
        if scene.shape != self.shape:
            raise ValueError(f"scene shape {scene.shape} does not match the env's field {self.shape}")
        self._begin_episode(scene)

    # ------------------------------------------------------------------- step
    def step(self, action: Any) -> tuple[dict, float, bool, bool, dict]:
        self._check_running()
        r0, c0 = self.corner(action)
        patch = np.empty((self.patch_size, self.patch_size), dtype=np.float32)
        reward, terminated, truncated = self._advance(r0, c0, patch)
        return self._observation(), reward, terminated, truncated, self._info()

    def corner(self, action: Any) -> tuple[int, int]:
        """Top-left pixel ``(r0, c0)`` of the sub-scan ``action`` asks for (``ValueError`` if invalid)."""
        if self.action_mode == "continuous":
            return self.geometry.from_continuous(action)
        return self.geometry.from_cell(action)

