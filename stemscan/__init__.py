"""stemscan: automated experimentation in scanning transmission electron microscopy.

``import stemscan`` registers the Gymnasium id ``STEMScan-v0`` (idempotent);
``gymnasium.make("stemscan:STEMScan-v0")`` imports it for you.
"""

from __future__ import annotations

__version__ = "0.1.0"

from stemscan.envs.registration import register_envs

register_envs()

__all__ = ["__version__", "register_envs"]
