"""Ray backend: the grid's episodes as Ray tasks, one CPU each.

Ray is an optional extra (``pip install "stemscan[ray]"``).  With
``address=None`` a local Ray with ``workers`` CPUs is started on demand (and
shut down afterwards); otherwise the driver joins the cluster at ``address``
(e.g. ``"auto"`` or ``"ray://head:10001"``).  Tasks run the same episode
function as the local backend, so the same seeds give the same rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from stemscan.benchmarks.spec import EpisodeSpec
from stemscan.benchmarks.worker import THREAD_ENV

__all__ = ["RAY_MISSING", "import_ray", "run_ray"]

RAY_MISSING = 'the ray backend needs the optional extra: pip install "stemscan[ray]"'


def import_ray() -> Any:
    """``import ray`` or ``ImportError`` saying how to install it."""
    try:
        import ray
    except ImportError as error:
        raise ImportError(RAY_MISSING) from error
    return ray


def _episode_task(spec: EpisodeSpec) -> tuple[EpisodeSpec, dict[str, Any] | None, str | None]:
    from stemscan.benchmarks.worker import init_worker, run_guarded

    init_worker()
    return run_guarded(spec)


def run_ray(specs: Sequence[EpisodeSpec], workers: int, address: str | None = None) -> Iterator[tuple[EpisodeSpec, dict[str, Any] | None, str | None]]:
    """Yield ``(spec, row, error)`` as Ray tasks finish; at most ``2 × workers`` in flight."""
    ray = import_ray()
    started_here = False
    runtime_env = {"env_vars": dict(THREAD_ENV)}
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False, runtime_env=runtime_env)
        else:
            ray.init(address=address, log_to_driver=False, runtime_env=runtime_env)
        started_here = True
    task = ray.remote(num_cpus=1, max_retries=0)(_episode_task)
    queue = list(reversed(specs))
    running: list[Any] = []
    try:
        while queue or running:
            while queue and len(running) < 2 * workers:
                running.append(task.remote(queue.pop()))
            ready, running = ray.wait(running, num_returns=1)
            for ref in ready:
                yield ray.get(ref)
    finally:
        for ref in running:
            ray.cancel(ref, force=True)
        if started_here:
            ray.shutdown()
