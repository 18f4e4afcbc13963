"""The agent zoo: every agent follows SB3's ``predict`` protocol.

``names()`` lists them; ``make(name, env, **kwargs)`` builds one.
"""

from __future__ import annotations

from stemscan.agents.base import Agent, FieldConfig
from stemscan.agents.registry import agent_class, make, names

__all__ = ["Agent", "FieldConfig", "agent_class", "make", "names"]
