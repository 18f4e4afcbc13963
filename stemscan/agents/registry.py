"""Name -> agent class registry: the zoo, installed plug-ins, and ``module:Class`` references.

Three kinds of name are accepted wherever an agent is named (``make``,
``stemscan bench --agents``, suite files):

* a zoo name (``random``, ``linear-bo``, ...);
* a name another installed package registers in the entry-point group
  ``stemscan.agents`` (``[project.entry-points."stemscan.agents"] my-agent =
  "mypkg.agents:MyAgent"``);
* ``module.path:ClassName`` (Gymnasium's convention), imported on use;
* ``sb3:[ALGO:]path/to/model.zip``: any stable-baselines3 model saved with
  ``.save()`` (:mod:`stemscan.agents.sb3_model`; nothing in it unpickled).

A plug-in is a class (or factory) called as ``cls(env, seed=..., **options)``
that returns an object with SB3's ``predict``; subclassing
:class:`stemscan.agents.base.Agent` gives it validation and batching.
Modules are imported on first use.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import sys
import typing
from importlib import metadata
from typing import Any

import gymnasium as gym

__all__ = ["ENTRY_POINT_GROUP", "agent_class", "agent_reference", "check_agent_kwargs", "is_agent_name", "make", "names"]

#: Entry-point group through which installed packages add agents.
ENTRY_POINT_GROUP = "stemscan.agents"

_AGENTS: dict[str, str] = {
    "random": "stemscan.agents.baselines:RandomAgent",
    "raster": "stemscan.agents.baselines:RasterAgent",
    "oracle": "stemscan.agents.oracle:OracleAgent",
    "linear-bo": "stemscan.agents.linear_bo:LinearBOAgent",
    "dcnn-bo": "stemscan.agents.dcnn_bo:DCNNBOAgent",
    "rvae-bo": "stemscan.agents.rvae_bo:RVAEBOAgent",
    "dkl-bo": "stemscan.agents.dkl_bo:DKLBOAgent",
    "ppo": "stemscan.agents.ppo:PPOAgent",
}


def _plugins() -> dict[str, metadata.EntryPoint]:
    found = {}
    for entry in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if entry.name not in _AGENTS:  # a plug-in never shadows the zoo
            found.setdefault(entry.name, entry)
    return found


def names() -> list[str]:
    """The zoo's agents (in the order of the design card), then installed plug-ins (sorted)."""
    return list(_AGENTS) + sorted(_plugins())


def is_agent_name(name: Any) -> bool:
    """Whether ``name`` names an agent: a zoo or plug-in name, or a ``module:Class`` reference (not imported here)."""
    if not isinstance(name, str):
        return False
    if name in _AGENTS or name in _plugins():
        return True
    if name.startswith("sb3:"):
        return len(name) > len("sb3:")
    module, sep, attribute = name.partition(":")
    return bool(sep) and all(part.isidentifier() for part in module.split(".")) and attribute.isidentifier()


def agent_reference(name: str) -> tuple[str, str]:
    """``(kind, reference)`` of an agent name: ``("zoo" | "entry-point" | "module" | "sb3", "module:Attr" or the name)``.

    Raises:
        ValueError: Not an agent name.
    """
    if not is_agent_name(name):
        raise ValueError(f"unknown agent {name!r}; valid names: {', '.join(names())}, or module.path:ClassName")
    if name in _AGENTS:
        return "zoo", _AGENTS[name]
    if name.startswith("sb3:"):
        return "sb3", name
    plugin = _plugins().get(name)
    return ("entry-point", plugin.value) if plugin is not None else ("module", name)


def _load(reference: str, name: str) -> Any:
    module_name, _, attribute = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"agent {name!r}: cannot import module {module_name!r}: {error}") from error
    try:
        return getattr(module, attribute)
    except AttributeError:
        raise ValueError(f"agent {name!r}: module {module_name!r} has no attribute {attribute!r}") from None


def agent_class(name: str) -> Any:
    """The class (or factory) behind ``name``; ``ValueError`` listing valid names if unknown."""
    if not is_agent_name(name):
        raise ValueError(f"unknown agent {name!r}; valid names: {', '.join(names())}, or module.path:ClassName")
    if name in _AGENTS:
        return _load(_AGENTS[name], name)
    if name.startswith("sb3:"):
        from stemscan.agents.sb3_model import SB3ModelAgent, parse_sb3_name

        algorithm, path = parse_sb3_name(name)
        if not path.is_file():
            raise ValueError(f"agent {name!r}: no SB3 model file at {path}")
        return functools.partial(SB3ModelAgent, path=path, algorithm=algorithm)
    plugin = _plugins().get(name)
    if plugin is not None:
        try:
            cls = plugin.load()
        except Exception as error:  # a broken plug-in must say which one
            raise ValueError(f"agent {name!r} (entry point {plugin.value}) failed to load: {error}") from error
    else:
        cls = _load(name, name)
    if not callable(cls):
        raise ValueError(f"agent {name!r} is not a class or factory")
    return cls


def check_agent_kwargs(name: str, kwargs: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the agent if ``kwargs`` has options its constructor does not take.

    Checked against the signature, before any episode runs; a constructor
    with ``**kwargs`` accepts any option (it validates its own).
    """
    cls = agent_class(name)
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):  # builtins or C extensions: nothing to check
        return
    parameters = signature.parameters
    valid = [n for n, p in parameters.items() if n not in ("env", "seed") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    for parameter in parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            declared = _unpacked_keys(cls, parameter.name)
            if declared is None:
                return  # undeclared **kwargs: the agent validates its own options
            valid += declared
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        raise ValueError(f"agent {name!r} has no option {', '.join(map(repr, unknown))}; its options: {', '.join(valid) or 'none'}")


def _unpacked_keys(cls: Any, name: str) -> list[str] | None:
    """Keys of ``**name: Unpack[SomeTypedDict]`` in ``cls``'s constructor, or None if undeclared."""
    init = cls.__init__ if inspect.isclass(cls) else cls
    annotation = getattr(init, "__annotations__", {}).get(name)
    if isinstance(annotation, str):  # postponed annotations: resolve the TypedDict by name
        match = re.fullmatch(r"(?:\w+\.)?Unpack\[\s*([\w.]+)\s*\]", annotation.strip())
        if match is None:
            return None
        declared: Any = sys.modules.get(init.__module__)
        for part in match.group(1).split("."):
            declared = getattr(declared, part, None)
    elif annotation is not None and typing.get_origin(annotation) is typing.Unpack:
        (declared,) = typing.get_args(annotation)
    else:
        return None
    keys = getattr(declared, "__annotations__", None)
    return None if keys is None else list(keys)


def make(name: str, env: gym.Env, **kwargs: Any) -> Any:
    """Build agent ``name`` for ``env``; ``kwargs`` are the agent's own options.

    Unknown options raise ``TypeError`` naming them (no hidden ``**kwargs``);
    the result must have a ``predict`` method.
    """
    cls = agent_class(name)
    try:
        agent = cls(env, **kwargs)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            raise TypeError(f"agent {name!r}: {error}") from error
        raise
    if not callable(getattr(agent, "predict", None)):
        raise TypeError(f"agent {name!r} built a {type(agent).__name__}, which has no predict() method")
    return agent
