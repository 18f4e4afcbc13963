"""The benchmark driver: run the episodes of a grid that the store lacks.

The driver alone writes the results file, one transaction per finished
episode, as results arrive from the backend:

* ``local`` (default): a ``ProcessPoolExecutor`` of ``workers`` processes
  (``forkserver`` context on POSIX, ``spawn`` elsewhere; each worker runs
  :func:`~stemscan.benchmarks.worker.init_pool_worker`: single-threaded,
  and dies with its parent, so a killed ``bench`` leaves no workers
  behind); ``workers=1`` runs in this process.
* ``ray``: the same episode function as Ray tasks (see
  :mod:`stemscan.benchmarks.ray_backend`).

An episode that raises is reported and left out of the store (a re-run
retries it); the others go on.  Ctrl-C stops the run; what finished is kept.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any

from stemscan.benchmarks.spec import EpisodeSpec, check_envs
from stemscan.benchmarks.store import ResultsStore
from stemscan.benchmarks.worker import init_pool_worker, init_worker, run_guarded

__all__ = ["BACKENDS", "RunSummary", "default_workers", "pending", "run_grid"]

BACKENDS = ("local", "ray")

#: (spec, row or None, error text or None) as a backend yields them.
Outcome = tuple[EpisodeSpec, "dict[str, Any] | None", "str | None"]


@dataclass
class RunSummary:
    """What a :func:`run_grid` call did.

    Attributes:
        total: Episodes in the grid.
        skipped: Already in the store before the run.
        done: Stored by this run.
        failed: ``(episode label, error)`` of episodes that raised.
        wall_time_s: Wall-clock time of the run, s.
    """

    total: int
    skipped: int
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    wall_time_s: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.failed


def default_workers() -> int:
    """All cores this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


def pending(specs: Sequence[EpisodeSpec], store: ResultsStore) -> list[EpisodeSpec]:
    """The episodes of ``specs`` whose key is not stored yet, or whose analysts' rows are not (grid order,
    duplicates dropped; each keeps only its analysts still missing)."""
    done = store.finished_keys()
    identified = store.identification_keys() if any(spec.analysts for spec in specs) else set()
    out, seen = [], set()
    for spec in specs:
        key = spec.key()
        if key in seen:
            continue
        missing = tuple(a for a in spec.analysts if (*key, a) not in identified)
        # a stored episode whose analysts are not all scored is re-played for them (its row is kept)
        if key not in done or missing:
            seen.add(key)
            out.append(replace(spec, analysts=missing))
    return out


def _local_in_process(specs: Sequence[EpisodeSpec]) -> Iterator[Outcome]:
    init_worker()
    for spec in specs:
        yield run_guarded(spec)


def _local_pool(specs: Sequence[EpisodeSpec], workers: int) -> Iterator[Outcome]:
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    context = multiprocessing.get_context(method)
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=init_pool_worker,
                                   initargs=(os.getpid(),))
    queue = list(reversed(specs))
    running: set[Future] = set()
    try:
        # Keep at most 2 episodes per worker in flight, so Ctrl-C has little to cancel.
        while queue or running:
            while queue and len(running) < 2 * workers:
                running.add(executor.submit(run_guarded, queue.pop()))
            finished, running = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                yield future.result()
    finally:
        for future in running:
            future.cancel()
        executor.shutdown(wait=True, cancel_futures=True)


def _progress(total: int, enabled: bool, description: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=description, unit="ep", disable=not enabled, dynamic_ncols=True, file=sys.stderr)


def run_grid(
    specs: Sequence[EpisodeSpec],
    out: str | os.PathLike[str],
    backend: str = "local",
    workers: int | None = None,
    address: str | None = None,
    progress: bool = True,
    on_row: Callable[[dict[str, Any]], None] | None = None,
    command: str | None = None,
) -> RunSummary:
    """Run every episode of ``specs`` not yet in the results file ``out``.

    Args:
        specs: Episodes (see :func:`~stemscan.benchmarks.spec.expand_grid`).
        out: SQLite results file (created if missing).
        backend: ``"local"`` or ``"ray"``.
        workers: Parallel episodes (default: all cores).
        address: Ray cluster address (``ray`` backend; default: a local Ray).
        progress: Show a tqdm bar (episodes done, rate, ETA) on stderr.
        on_row: Called with each stored row (driver side).
        command: What started the run, stored with it in table ``runs``
            (default: this process's command line).

    Every environment fingerprint that comes back with the rows (one per
    machine set-up; one in all on a single machine) becomes a run in table
    ``runs`` and the rows point to it through ``run_id``.

    Returns:
        A :class:`RunSummary`.

    Raises:
        ValueError: An env keyword value the env refuses (checked by making each distinct env once,
            :func:`~stemscan.benchmarks.spec.check_envs`), or a results file that is not one;
            nothing is written then.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; valid: {', '.join(BACKENDS)}")
    workers = default_workers() if workers is None else int(workers)
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if address is not None and backend != "ray":
        raise ValueError("--address is only meaningful with --backend ray")
    start = time.perf_counter()
    check_envs(specs)  # a value the env refuses fails here, before the results file is created or opened
    with ResultsStore(out) as store:
        todo = pending(specs, store)
        summary = RunSummary(total=len(specs), skipped=len(specs) - len(todo))
        if not todo:
            return summary
        if backend == "ray":
            from stemscan.benchmarks.ray_backend import run_ray

            outcomes = run_ray(todo, workers=workers, address=address)
        elif workers == 1 or len(todo) == 1:
            outcomes = _local_in_process(todo)
        else:
            outcomes = _local_pool(todo, min(workers, len(todo)))
        bar = _progress(len(todo), progress, f"bench ({backend}, {workers} worker{'s' * (workers > 1)})")
        command = " ".join(sys.argv) if command is None else command
        run_ids: dict[str, int] = {}
        try:
            for spec, row, error in outcomes:
                if row is not None:
                    fingerprint = row.pop("fingerprint")
                    if fingerprint["id"] not in run_ids:
                        run_ids[fingerprint["id"]] = store.add_run(fingerprint, command)
                    row["run_id"] = run_ids[fingerprint["id"]]
                    identifications = row.pop("identifications", [])
                    store.insert(row)
                    if identifications:
                        store.insert_identifications([{**r, "run_id": row["run_id"]} for r in identifications])
                    summary.done += 1
                    if on_row is not None:
                        on_row(row)
                else:
                    summary.failed.append((spec.label(), error or "unknown error"))
                    bar.write(f"episode {spec.label()} failed: {error}")
                bar.update(1)
        finally:
            bar.close()
            close = getattr(outcomes, "close", None)
            if close is not None:
                close()
    summary.wall_time_s = time.perf_counter() - start
    return summary
