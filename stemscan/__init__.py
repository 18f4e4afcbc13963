"""stemscan: automated experimentation in scanning transmission electron microscopy.

``import stemscan`` registers the Gymnasium id ``STEMScan-v0`` (idempotent);
``gymnasium.make("stemscan:STEMScan-v0")`` imports it for you.
:func:`evaluate` runs the benchmark protocol for any object with ``predict``
(imported on first use, with the benchmark).
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from stemscan.envs.registration import register_envs

register_envs()

__all__ = ["__version__", "evaluate", "register_envs"]


def __getattr__(name: str) -> Any:
    if name == "evaluate":
        from stemscan.benchmarks.evaluate import evaluate

        return evaluate
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
