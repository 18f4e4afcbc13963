"""Name -> generator registry of the synthetic scene families."""

from __future__ import annotations

import inspect
from typing import Any, Callable

from stemscan.scenes.base import Scene

__all__ = ["make", "names", "parameters"]

#: family name -> "module:function"; modules are imported on first use.
_FAMILIES: dict[str, str] = {
    "lattice-defects": "stemscan.scenes.lattice_defects:make_lattice_defects",
    "ferroelectric-domains": "stemscan.scenes.ferroelectric_domains:make_ferroelectric_domains",
    "phase-separated": "stemscan.scenes.phase_separated:make_phase_separated",
    "nanoparticles": "stemscan.scenes.nanoparticles:make_nanoparticles",
}


def names() -> list[str]:
    """Names of the synthetic scene families, sorted."""
    return sorted(_FAMILIES)


def _generator(name: str) -> Callable[..., Scene]:
    if not isinstance(name, str) or name not in _FAMILIES:
        raise ValueError(f"unknown scene family {name!r}; valid names: {', '.join(names())}")
    module_name, function_name = _FAMILIES[name].split(":")
    module = __import__(module_name, fromlist=[function_name])
    return getattr(module, function_name)


def parameters(name: str) -> dict[str, Any]:
    """The keyword parameters of family ``name`` and their defaults."""
    signature = inspect.signature(_generator(name))
    return {key: p.default for key, p in signature.parameters.items() if key not in ("seed", "size")}


def make(name: str, seed: int = 0, size: int = 256, **params: Any) -> Scene:
    """Build a scene of family ``name``.

    Args:
        name: A family from :func:`names`.
        seed: Seed of the scene's own random generator; same seed, same scene.
        size: Side of the square image in pixels.
        **params: Family parameters (see each family's docstring); unknown
            ones raise ``ValueError`` listing the valid ones.
    """
    generator = _generator(name)
    if isinstance(seed, bool) or not isinstance(seed, (int,)) and not hasattr(seed, "__index__"):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if int(seed) < 0:
        raise ValueError(f"seed must be >= 0, got {seed!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 32:
        raise ValueError(f"size must be an integer >= 32 pixels, got {size!r}")
    valid = parameters(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for scene family {name!r}; "
            f"valid parameters: {', '.join(valid)}"
        )
    return generator(seed=int(seed), size=size, **params)
