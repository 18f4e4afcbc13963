"""Numba's on-disk cache of the env's compiled kernels, kept consistent across their modules.

Numba keys each cached function on the time stamp and size of *its own*
source file.  The env's step inlines functions of other modules (the
vector env's kernel in ``batch_step.py`` inlines ``poisson_fill`` from
``shot_noise.py`` and ``record_patch`` from ``record.py``), so when only one
of those modules changes — a ``git pull`` in an editable checkout — the
unchanged module's cache still holds machine code built from the old one,
and numba loads it without a word: the env would step with the old sampler.

:func:`ensure_consistent` runs once per process, when ``bit_generator.py``
is imported (every kernel module imports it, before any kernel is called,
which is when numba reads its cache).  It hashes the sources of :data:`KERNEL_MODULES` and, when the
hash differs from the one stored beside their cache (``__pycache__``),
deletes the cached kernels of all of them, so numba compiles afresh (a
few seconds, once).  A folder that cannot be written is left alone:
numba then caches elsewhere, and an installed (non-editable) package
replaces all its files together.  With ``NUMBA_CACHE_DIR`` set, numba
caches in that folder instead, which this check does not reach: clear it
after changing a kernel module.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

__all__ = ["KERNEL_MODULES", "ensure_consistent", "refresh_cache"]

#: The modules whose compiled kernels call each other (file names without ``.py``).
KERNEL_MODULES = ("bit_generator", "shot_noise", "record", "batch_step")
_HASH_FILE = "stemscan_kernels.sha256"
_checked = False


def refresh_cache(folder: Path, cache_folder: Path, modules: tuple[str, ...] = KERNEL_MODULES) -> bool:
    """Delete ``modules``' numba cache files in ``cache_folder`` if their sources in ``folder`` changed.

    Returns:
        True when cache files were deleted (or none existed yet under a new hash), False when the
        stored hash matched or the folder could not be read or written.
    """
    digest = hashlib.sha256()
    try:
        for name in modules:
            digest.update(name.encode())
            digest.update((folder / f"{name}.py").read_bytes())
    except OSError:
        return False
    current = digest.hexdigest()
    stamp = cache_folder / _HASH_FILE
    try:
        if stamp.read_text(encoding="ascii").strip() == current:
            return False
    except (OSError, UnicodeDecodeError):
        pass  # first run, or an unreadable stamp: start afresh
    try:
        cache_folder.mkdir(exist_ok=True)
        for name in modules:
            for pattern in (f"{name}.*.nbi", f"{name}.*.nbc"):
                for path in cache_folder.glob(pattern):
                    path.unlink(missing_ok=True)
        handle, temporary = tempfile.mkstemp(dir=cache_folder, prefix=".stemscan_kernels.", suffix=".tmp")
        with os.fdopen(handle, "w", encoding="ascii") as out:
            out.write(current + "\n")
        os.replace(temporary, stamp)  # atomic: a reader sees the old stamp or the new one
    except OSError:
        return False
    return True


def ensure_consistent() -> None:
    """:func:`refresh_cache` for the env's kernel modules, once per process."""
    global _checked
    if _checked:
        return
    _checked = True
    folder = Path(__file__).resolve().parent
    refresh_cache(folder, folder / "__pycache__")
