"""Name -> analyst: ``peaks``, ``dcnn``, and ``self`` (the navigator's own ``report()``).

``make(name, env, navigator=..., seed=...)`` builds one.  ``self`` wraps a
navigator that has a ``report()`` method returning
:class:`~stemscan.agents.analysts.Detections` (e.g. ``dcnn-bo``); it
observes nothing itself, since the navigator already saw every observation.
"""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym

from stemscan.agents.analysts.detections import Detections

__all__ = ["SELF", "SelfAnalyst", "has_report", "make", "names"]

#: The name of the navigator's own analysis.
SELF = "self"

_ANALYSTS: dict[str, str] = {
    "peaks": "stemscan.agents.analysts.peaks:PeakAnalyst",
    "dcnn": "stemscan.agents.analysts.dcnn:DCNNAnalyst",
}


def names() -> list[str]:
    """Analyst names: the shipped analysts, then ``self``."""
    return [*_ANALYSTS, SELF]


def has_report(navigator: Any) -> bool:
    """Whether a navigator (object or class) offers its own ``report()``."""
    return callable(getattr(navigator, "report", None))


class SelfAnalyst:
    """The navigator's own report (``navigator.report()``), as an analyst."""

    name = SELF

    def __init__(self, navigator: Any) -> None:
        if not has_report(navigator):
            raise ValueError(f"analyst 'self': the navigator {type(navigator).__name__} has no report() method")
        self.navigator = navigator

    def observe(self, observation: dict[str, Any], episode_start: bool = False) -> None:
        """Nothing to do: the navigator saw the observation in ``predict``."""

    def report(self) -> Detections:
        detections = self.navigator.report()
        if not isinstance(detections, Detections):
            raise TypeError(f"{type(self.navigator).__name__}.report() returned {type(detections).__name__}, not Detections")
        return detections

    def config(self) -> dict[str, Any]:
        return {}


def make(name: str, env: gym.Env, navigator: Any = None, seed: int | None = 0, **kwargs: Any) -> Any:
    """Build analyst ``name`` for ``env`` (``navigator``: needed by ``self``).

    Raises:
        ValueError: Unknown name (listing the valid ones), or ``self`` for a navigator without ``report()``.
    """
    if name == SELF:
        if kwargs:
            raise TypeError(f"analyst 'self' takes no options, got {sorted(kwargs)}")
        return SelfAnalyst(navigator)
    if name not in _ANALYSTS:
        raise ValueError(f"unknown analyst {name!r}; valid names: {', '.join(names())}")
    module, _, attribute = _ANALYSTS[name].partition(":")
    cls = getattr(importlib.import_module(module), attribute)
    try:
        return cls(env, seed=seed, **kwargs)
    except TypeError as error:
        if "unexpected keyword argument" in str(error):
            raise TypeError(f"analyst {name!r}: {error}") from error
        raise
