"""Name -> generator registry of the synthetic scene families: the built-in ones and installed plug-ins.

Another package adds a family through the entry-point group
``stemscan.scenes`` (``[project.entry-points."stemscan.scenes"] my-family =
"mypkg.scenes:make_my_family"``): a function ``(seed, size, **params) ->
Scene`` whose keyword parameters have defaults.  It then appears in
:func:`names`, in the env and in benchmark grids like the built-in families.
"""

from __future__ import annotations

import inspect
from importlib import metadata
from typing import Any, Callable

from stemscan.scenes.base import Scene

__all__ = ["ENTRY_POINT_GROUP", "MAX_SIZE", "make", "names", "parameters"]

#: Entry-point group through which installed packages add scene families.
ENTRY_POINT_GROUP = "stemscan.scenes"

#: family name -> "module:function"; modules are imported on first use.
_FAMILIES: dict[str, str] = {
    "lattice-defects": "stemscan.scenes.lattice_defects:make_lattice_defects",
    "ferroelectric-domains": "stemscan.scenes.ferroelectric_domains:make_ferroelectric_domains",
    "phase-separated": "stemscan.scenes.phase_separated:make_phase_separated",
    "nanoparticles": "stemscan.scenes.nanoparticles:make_nanoparticles",
}


def _plugins() -> dict[str, metadata.EntryPoint]:
    found: dict[str, metadata.EntryPoint] = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in _FAMILIES:  # a plug-in never shadows a built-in family
            found.setdefault(entry.name, entry)
    return found


def names() -> list[str]:
    """Names of the scene families (built-in and installed plug-ins), sorted."""
    return sorted([*_FAMILIES, *_plugins()])


def _generator(name: str) -> Callable[..., Scene]:
    if isinstance(name, str) and name in _FAMILIES:
        module_name, function_name = _FAMILIES[name].split(":")
        module = __import__(module_name, fromlist=[function_name])
        return getattr(module, function_name)
    plugin = _plugins().get(name) if isinstance(name, str) else None
    if plugin is None:
        raise ValueError(f"unknown scene family {name!r}; valid names: {', '.join(names())}")
    try:
        generator = plugin.load()
    except Exception as error:  # a broken plug-in must say which one
        raise ValueError(f"scene family {name!r} (entry point {plugin.value}) failed to load: {error}") from error
    if not callable(generator):
        raise ValueError(f"scene family {name!r} (entry point {plugin.value}) is not a function")
    return generator


def parameters(name: str) -> dict[str, Any]:
    """The keyword parameters of family ``name`` and their defaults."""
    signature = inspect.signature(_generator(name))
    return {key: p.default for key, p in signature.parameters.items() if key not in ("seed", "size")}


#: Largest scene side, pixels.  Generation needs memory linear in the area (about 1 GB at 4096²,
#: ``benchmarks/scene_memory.py``); assign a larger value to allow bigger scenes.
MAX_SIZE = 8192


def make(name: str, seed: int = 0, size: int = 256, **params: Any) -> Scene:
    """Build a scene of family ``name``.

    Args:
        name: A family from :func:`names`.
        seed: Seed of the scene's own random generator; same seed, same scene.
        size: Side of the square image in pixels, 32 .. :data:`MAX_SIZE`.
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
    if size > MAX_SIZE:
        raise ValueError(
            f"size must be <= {MAX_SIZE} pixels (memory grows with the area: about 1 GB at 4096²), got {size}; "
            "raise stemscan.scenes.registry.MAX_SIZE to allow more"
        )
    valid = parameters(name)
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(unknown)} for scene family {name!r}; "
            f"valid parameters: {', '.join(valid)}"
        )
    scene = generator(seed=int(seed), size=size, **params)
    if not isinstance(scene, Scene):
        raise ValueError(f"scene family {name!r} returned a {type(scene).__name__}, not a stemscan.scenes.Scene")
    return scene
