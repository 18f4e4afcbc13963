"""Default imaging dose and dwell per scene family, from typical published conditions.

A real experiment is limited by the dose the sample tolerates per unit
area (e⁻/Å²), not per pixel.  Each family therefore has a default *dose
density* for its material class; the env's ``electrons_per_pixel`` is that
density times the scene's pixel area (one stemscan pixel = one probe
position), and the dwell follows from a typical probe current::

    electrons_per_pixel = dose_per_a2 * pixel_size**2
    dwell_time_us       = electrons_per_pixel / (probe_current_pa * 6.2415)

| family / material            | kV  | dose, e⁻/Å² | probe, pA | e⁻/px at default pixel | material class, source               |
|------------------------------|-----|-------------|-----------|------------------------|--------------------------------------|
| lattice-defects, graphene    | 60  | 5e5         | 30        | 2.0e4 (0.2 Å)          | light-element 2D layers at 60 kV [1] |
| lattice-defects, MoS2        | 80  | 1e5         | 30        | 4.0e3 (0.2 Å)          | TMD monolayers, S sputtering [2]     |
| ferroelectric-domains        | 200 | 1e5         | 30        | 2.25e3 (0.15 Å)        | perovskite oxide films [3]           |
| phase-separated              | 200 | 4e3         | 30        | 1.0e3 (0.5 Å)          | medium-magnification overview        |
| nanoparticles                | 200 | 8e3         | 30        | 2.0e3 (0.5 Å)          | metal particles on carbon            |

[1] O. L. Krivanek et al., Nature 464, 571 (2010): atom-by-atom ADF
    imaging of monolayer BN at 60 kV, below the knock-on threshold of
    light-element 2D materials, which therefore tolerate long exposures.
[2] H.-P. Komsa et al., Phys. Rev. Lett. 109, 035503 (2012): 80 kV
    electrons displace S atoms in MoS2, so the dose per frame is kept
    about five times lower than for graphene.
[3] Y. L. Tang et al., Science 348, 547 (2015): aberration-corrected
    HAADF-STEM of PbTiO3 films at 200-300 kV (tens of pA, µs dwells per
    sub-Å pixel).

The densities are representative values for these material classes chosen
by stemscan (the references set the conditions: voltage, material,
detector; none of them is quoted as a dose), to be overridden with the
env's ``electrons_per_pixel`` when an experiment's own dose is known.  A
:class:`~stemscan.scenes.Scene` of another family (e.g. a loaded file)
gets the generic 500 e⁻/px and 4 µs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stemscan.envs.microscope import ELECTRONS_PER_PA_US

__all__ = ["DoseDefault", "DOSE_DEFAULTS", "GENERIC_ELECTRONS_PER_PIXEL", "GENERIC_DWELL_TIME_US", "default_acquisition"]

#: Dose and dwell for scenes of unknown material (loaded images).
GENERIC_ELECTRONS_PER_PIXEL = 500.0
GENERIC_DWELL_TIME_US = 4.0


@dataclass(frozen=True)
class DoseDefault:
    """Typical imaging conditions of one material class.

    Attributes:
        dose_per_a2: Imaging dose density, e⁻/Å².
        probe_current_pa: Probe current, pA.
    """

    dose_per_a2: float
    probe_current_pa: float


#: (family, material or None) -> conditions; see the module docstring for sources.
DOSE_DEFAULTS: dict[tuple[str, str | None], DoseDefault] = {
    ("lattice-defects", "graphene"): DoseDefault(5e5, 30.0),
    ("lattice-defects", "mos2"): DoseDefault(1e5, 30.0),
    ("ferroelectric-domains", None): DoseDefault(1e5, 30.0),
    ("phase-separated", None): DoseDefault(4e3, 30.0),
    ("nanoparticles", None): DoseDefault(8e3, 30.0),
}


def default_acquisition(family: str, params: dict[str, Any]) -> tuple[float, float]:
    """``(electrons_per_pixel, dwell_time_us)`` for a scene of ``family`` with ``params``.

    Args:
        family: Scene family name (or ``"file"`` and others: generic values).
        params: The scene's parameters; must hold ``pixel_size`` (Å) for a
            known family, and ``material`` for ``lattice-defects``.
    """
    material = params.get("material") if family == "lattice-defects" else None
    default = DOSE_DEFAULTS.get((family, material))
    if default is None:
        return GENERIC_ELECTRONS_PER_PIXEL, GENERIC_DWELL_TIME_US
    electrons = default.dose_per_a2 * float(params["pixel_size"]) ** 2
    return electrons, electrons / (default.probe_current_pa * ELECTRONS_PER_PA_US)
