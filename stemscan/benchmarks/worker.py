"""Set-up of a benchmark worker process (local pool or Ray).

Many workers × many BLAS/torch threads on one node oversubscribe the cores
(a known slowdown), so every worker runs single-threaded: the thread-count
environment variables are set before any numeric library starts its pool,
and torch, if it is importable, is limited to one thread.
"""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from stemscan.benchmarks.spec import EpisodeSpec

__all__ = ["THREAD_ENV", "init_worker", "run_guarded"]

#: Environment variables that cap native thread pools at one thread.
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
}

_initialised = False


def init_worker() -> None:
    """Single-thread this process and register ``STEMScan-v0`` (idempotent)."""
    global _initialised
    if _initialised:
        return
    for name, value in THREAD_ENV.items():
        os.environ[name] = value
    if importlib.util.find_spec("torch") is not None:
        import torch

        torch.set_num_threads(1)
    import stemscan

    stemscan.register_envs()
    _initialised = True


def run_guarded(spec: EpisodeSpec) -> tuple[EpisodeSpec, dict[str, Any] | None, str | None]:
    """Run one episode in a worker: ``(spec, row, None)``, or ``(spec, None, error text)``; never raises.

    The row carries the worker's environment fingerprint under
    ``"fingerprint"``; the driver files it as a run
    (:func:`~stemscan.benchmarks.runner.run_grid`).
    """
    from stemscan.benchmarks.episode import run_spec
    from stemscan.benchmarks.fingerprint import environment_fingerprint

    try:
        row = run_spec(spec)
        row["fingerprint"] = environment_fingerprint()
        return spec, row, None
    except Exception as error:  # reported by the driver, not stored
        return spec, None, f"{type(error).__name__}: {error}"
