"""The microscope model: noiseless scene signal -> detector counts.

A HAADF detector collects a fraction ``s`` of the incident electrons at each
probe position (``Scene.image``).  With a probe current ``I`` (pA) and a
dwell time ``t`` (µs) each pixel receives ``N = I * t * 6.2415`` electrons
(1 pA × 1 µs = 6.2415 e⁻), and the detector records Poisson-distributed
counts with mean ``N * s + b`` where ``b`` is a small dark/background count.
Dose is counted in electrons, acquisition time in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stemscan.validation import check_number, check_positive

__all__ = ["ELECTRONS_PER_PA_US", "MAX_ELECTRONS_PER_PIXEL", "MAX_TABLE_ENTRIES", "Microscope"]

#: Electrons delivered by a 1 pA probe in 1 µs (1e-18 C / 1.602e-19 C).
ELECTRONS_PER_PA_US = 1e-18 / 1.602176634e-19

#: Largest imaging dose, e⁻/pixel (1e15 e⁻ in a 4 µs dwell is a 40 A probe): counts stay far below
#: 2⁵³, where int64 counts and float64 means stop being exact (the sampler refuses larger means).
MAX_ELECTRONS_PER_PIXEL = 1e15

#: Largest count→patch look-up table (:meth:`Microscope.normalisation_table`), entries (float32: 256 kB).
MAX_TABLE_ENTRIES = 1 << 16


@dataclass(frozen=True)
class Microscope:
    """Dose, noise and timing model of one STEM acquisition.

    Attributes:
        electrons_per_pixel: Imaging dose per probe position, e⁻/pixel.
        dwell_time_us: Dwell per pixel at imaging dose, µs.
        background_counts: Mean detector background per pixel per dwell, counts.
        settle_time_us: Beam settle time before each sub-scan, µs.
        flyback_time_us: Flyback time per scan line, µs.
        survey_dwell_time_us: Dwell per survey sample, µs.
    """

    electrons_per_pixel: float = 500.0
    dwell_time_us: float = 4.0
    background_counts: float = 0.2
    settle_time_us: float = 200.0
    flyback_time_us: float = 5.0
    survey_dwell_time_us: float = 2.0

    def __post_init__(self) -> None:
        for name in ("electrons_per_pixel", "dwell_time_us", "survey_dwell_time_us"):
            check_positive(name, getattr(self, name))
        check_number("electrons_per_pixel", self.electrons_per_pixel, high=MAX_ELECTRONS_PER_PIXEL)
        for name in ("background_counts", "settle_time_us", "flyback_time_us"):
            check_number(name, getattr(self, name), 0.0)

    @property
    def probe_current_pa(self) -> float:
        """Probe current implied by dose and dwell, pA (the family defaults of
        :mod:`stemscan.envs.dose_defaults` assume a typical current per material class)."""
        return self.electrons_per_pixel / (self.dwell_time_us * ELECTRONS_PER_PA_US)

    def counts(self, signal: np.ndarray, electrons: float, rng: np.random.Generator) -> np.ndarray:
        """Poisson detector counts for ``electrons`` incident per sample (``Generator.poisson``).

        The training-data generators draw with this; the env's survey and
        sub-scans, whose means are fixed for a scene, come from
        :class:`stemscan.envs.shot_noise.ShotNoiseMap` over
        :meth:`expected_counts` (the same distribution, faster).

        Args:
            signal: Scattered fraction at each sample (dimensionless).
            electrons: Incident electrons per sample.
            rng: The env's generator (all noise flows from ``reset(seed)``).

        Returns:
            Integer counts, same shape as ``signal``.
        """
        return rng.poisson(signal * electrons + self.background_counts)

    def expected_counts(self, signal: np.ndarray, electrons: float) -> np.ndarray:
        """Mean detector counts ``signal * electrons + background`` (``float64``)."""
        return signal.astype(np.float64) * electrons + self.background_counts

    def normalise(self, counts: np.ndarray, electrons: float, full_scale: float) -> np.ndarray:
        """Background-subtracted counts as a fraction of the detector's full scale.

        ``full_scale`` is the signal the detector's gain maps to 1 (set from
        the brightest signal in the field, as an operator sets brightness and
        contrast); the result is clipped to [0, 1] like an ADC.
        """
        out = np.subtract(counts, self.background_counts, dtype=np.float32)
        out *= np.float32(1.0 / (electrons * full_scale))
        np.maximum(out, 0.0, out=out)  # ufuncs directly: np.clip's wrapper costs more than the work
        return np.minimum(out, 1.0, out=out)

    def normalisation_table(self, electrons: float, full_scale: float, max_entries: int = MAX_TABLE_ENTRIES) -> np.ndarray:
        """:meth:`normalise` of the counts ``0 … L − 1`` as a ``float32`` look-up table.

        ``L = min(K + 2, max_entries)`` with ``K = ceil(electrons × full_scale
        + background)``: every count above ``K`` normalises to 1, so at the
        calibrated doses (``K`` of a few thousand) the table covers every
        count and ``table[min(counts, L − 1)]`` equals ``normalise(counts,
        electrons, full_scale)`` element for element.  At very high doses the
        table stops at ``max_entries`` (256 kB at the default), whatever
        ``electrons`` is; counts ``n ≥ L`` are then normalised in closed form,
        ``clip((float32(n) − float32(background)) × float32(1 / (electrons ×
        full_scale)), 0, 1)``, the same float32 arithmetic as :meth:`normalise`
        (the env's compiled step does this, :func:`stemscan.envs.record.record_patch`).
        """
        if isinstance(max_entries, bool) or not isinstance(max_entries, (int, np.integer)) or max_entries < 2:
            raise ValueError(f"max_entries must be an integer >= 2, got {max_entries!r}")
        top = int(min(np.ceil(electrons * full_scale + self.background_counts) + 1, max_entries - 1))
        return self.normalise(np.arange(top + 1), electrons, full_scale)

    def subscan_time_s(self, rows: int, cols: int) -> float:
        """Time to acquire a ``rows`` × ``cols`` sub-scan at imaging dwell, s."""
        return (rows * cols * self.dwell_time_us + rows * self.flyback_time_us + self.settle_time_us) * 1e-6

    def survey_time_s(self, rows: int, cols: int) -> float:
        """Time to acquire a ``rows`` × ``cols`` survey, s."""
        return (rows * cols * self.survey_dwell_time_us + rows * self.flyback_time_us + self.settle_time_us) * 1e-6
