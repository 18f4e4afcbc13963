"""The ``STEMScan-v0`` environment, its microscope model and bookkeeping."""

from __future__ import annotations

from stemscan.envs.microscope import ELECTRONS_PER_PA_US, Microscope
from stemscan.envs.registration import ENV_ID, register_envs
from stemscan.envs.stem_scan_env import STEMScanEnv

__all__ = ["ELECTRONS_PER_PA_US", "ENV_ID", "Microscope", "STEMScanEnv", "register_envs"]
