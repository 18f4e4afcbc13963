"""Registration of the environment ids (string entry points, lazily imported).

A change of dynamics or reward gets a new id (``STEMScan-v1``); ``v0`` stays.
"""

from __future__ import annotations

import gymnasium

__all__ = ["ENV_ID", "register_envs"]

ENV_ID = "STEMScan-v0"


def register_envs() -> None:
    """Register ``STEMScan-v0`` with Gymnasium; calling it again does nothing.

    ``gym.make_vec("STEMScan-v0", num_envs=N)`` (``vectorization_mode``
    ``None`` or ``"vector_entry_point"``) gives the batched
    :class:`~stemscan.envs.vector_env.STEMScanVectorEnv`; ``"sync"`` and
    ``"async"`` still give Gymnasium's own.
    """
    if ENV_ID in gymnasium.registry:
        return
    gymnasium.register(
        id=ENV_ID,
        entry_point="stemscan.envs.stem_scan_env:STEMScanEnv",
        vector_entry_point="stemscan.envs.vector_env:STEMScanVectorEnv",
    )
