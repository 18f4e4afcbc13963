"""Set-up of a benchmark worker process (local pool or Ray).

Many workers × many BLAS/torch threads on one node oversubscribe the cores
(a known slowdown), so every worker runs single-threaded: the thread-count
environment variables are set before any numeric library starts its pool,
and torch, if it is importable, is limited to one thread.

A worker of the local pool also dies with its parent
(:func:`die_with_parent`): when ``stemscan bench`` is killed, even by
SIGKILL, which runs no clean-up, its forkserver exits (it sees the
driver's end of its pipe close) and the workers it forked follow within
about a second instead of finishing their episodes for nobody (a few
hundred MB each).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import importlib.util
import os
import signal
import sys
import threading
import time
from typing import Any

from stemscan.benchmarks.spec import EpisodeSpec

__all__ = ["THREAD_ENV", "die_with_parent", "init_pool_worker", "init_worker", "run_guarded"]

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


def init_pool_worker(driver_pid: int | None = None) -> None:
    """Initializer of a local pool worker: :func:`init_worker`, and die with the driver process ``driver_pid``."""
    die_with_parent(driver_pid)
    init_worker()


#: ``prctl`` option: the signal the kernel sends this process when its parent dies (Linux).
_PR_SET_PDEATHSIG = 1


def _linux_parent_death_signal(sig: int) -> bool:
    """Ask the Linux kernel to send ``sig`` to this process when its parent exits; False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _wait_pidfd(pidfd: int) -> None:
    """Block until the process behind ``pidfd`` exits (Linux >= 5.3), then end this process."""
    import select

    select.select([pidfd], [], [])
    os._exit(1)  # the driver is gone: nobody will store this worker's results


def _poll_process(pid: int, parent: int, poll_s: float) -> None:
    """Poll until process ``pid`` is gone or this process is re-parented, then end this process."""
    while True:
        if os.getppid() != parent:
            os._exit(1)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            os._exit(1)
        except PermissionError:
            pass  # it exists
        time.sleep(poll_s)


def die_with_parent(driver_pid: int | None = None, poll_s: float = 0.5) -> str:
    """Make this process exit as soon as the driver exits, however it exits (SIGKILL included).

    A pool worker's parent is not always the driver: under the
    ``forkserver`` start method it is the fork server, which itself waits
    for its workers to exit.  So the worker watches the driver itself:

    * the parent: on Linux ``prctl(PR_SET_PDEATHSIG, SIGKILL)``;
    * the driver ``driver_pid`` if it is not the parent (and elsewhere
      than Linux, the parent too): a daemon thread waiting on a
      ``pidfd`` of it (Linux), or else polling it and :func:`os.getppid`
      every ``poll_s`` seconds.

    Call it in a child process only, never in the driver.

    Args:
        driver_pid: Process to die with (default: the parent).
        poll_s: Polling period of the fallback, seconds.

    Returns:
        The mechanisms in use, e.g. ``"prctl+pidfd"`` or ``"watchdog"``.
    """
    parent = os.getppid()
    driver = parent if driver_pid is None else int(driver_pid)
    used = []
    if _linux_parent_death_signal(signal.SIGKILL):
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)
        used.append("prctl")
    if driver != parent or not used:
        pidfd = None
        if hasattr(os, "pidfd_open"):
            try:
                pidfd = os.pidfd_open(driver)
            except ProcessLookupError:
                os._exit(1)
            except OSError:
                pidfd = None
        if pidfd is not None:
            threading.Thread(target=_wait_pidfd, args=(pidfd,), name="stemscan-driver-watch", daemon=True).start()
            used.append("pidfd")
        else:
            threading.Thread(target=_poll_process, args=(driver, parent, poll_s), name="stemscan-driver-watch",
                             daemon=True).start()
            used.append("watchdog")
    return "+".join(used)


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
