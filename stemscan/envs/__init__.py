"""The ``STEMScan-v0`` environment, its microscope model and bookkeeping.

Names are imported on first use (PEP 562), so ``import stemscan`` (which
registers the id) and ``import stemscan.scenes`` do not load the env's
compiled sampler (numba) until an env is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from stemscan.envs.registration import ENV_ID, register_envs

if TYPE_CHECKING:
    from stemscan.envs.microscope import ELECTRONS_PER_PA_US, Microscope
    from stemscan.envs.stem_scan_env import STEMScanEnv

__all__ = ["ELECTRONS_PER_PA_US", "ENV_ID", "Microscope", "STEMScanEnv", "register_envs"]

_LAZY = {
    "ELECTRONS_PER_PA_US": "stemscan.envs.microscope",
    "Microscope": "stemscan.envs.microscope",
    "STEMScanEnv": "stemscan.envs.stem_scan_env",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
