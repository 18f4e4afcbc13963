"""Name -> agent class registry of the zoo (modules imported on first use)."""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym

__all__ = ["make", "names", "agent_class"]

_AGENTS: dict[str, str] = {
    "random": "stemscan.agents.baselines:RandomAgent",
    "raster": "stemscan.agents.baselines:RasterAgent",
    "oracle": "stemscan.agents.oracle:OracleAgent",
    "linear-bo": "stemscan.agents.linear_bo:LinearBOAgent",
    "dcnn-bo": "stemscan.agents.dcnn_bo:DCNNBOAgent",
    "rvae-bo": "stemscan.agents.rvae_bo:RVAEBOAgent",
    "ppo": "stemscan.agents.ppo:PPOAgent",
}


def names() -> list[str]:
    """Names of the zoo's agents, in the order of the design card."""
    return list(_AGENTS)


def agent_class(name: str) -> type:
    """The class behind ``name``; ``ValueError`` listing valid names if unknown."""
    if not isinstance(name, str) or name not in _AGENTS:
        raise ValueError(f"unknown agent {name!r}; valid names: {', '.join(names())}")
    module_name, class_name = _AGENTS[name].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def make(name: str, env: gym.Env, **kwargs: Any) -> Any:
    """Build agent ``name`` for ``env``; ``kwargs`` are the agent's own options.

    Unknown options raise ``TypeError`` naming them (no hidden ``**kwargs``).
    """
    cls = agent_class(name)
    try:
        return cls(env, **kwargs)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            raise TypeError(f"agent {name!r}: {error}") from error
        raise
