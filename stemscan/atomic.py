"""Atomic file writes: a temporary file in the target's folder, then ``os.replace``.

Every file stemscan writes (weights, configs, results pages, figures, GIFs)
goes through here, so a crash never leaves a half-written file behind.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "check_output_file", "write_bytes_atomic", "write_text_atomic"]


def check_output_file(path: str | os.PathLike[str], what: str = "output") -> Path:
    """Return ``path`` as a ``Path`` if a regular file may be written there, else raise ``ValueError`` naming it.

    Refused: an existing folder, an existing non-regular file (``/dev/null``,
    a device, pipe or socket: an atomic replace would swap it for a regular
    file), a parent that exists but is not a folder.  A missing parent is
    fine (writers create it); permissions and free space are the writer's
    ``OSError``.
    """
    target = Path(path)
    if not str(path):
        raise ValueError(f"{what} path is empty")
    if target.is_dir():
        raise ValueError(f"{what} {target} is a folder; give a file path")
    if target.exists() and not stat.S_ISREG(target.stat().st_mode):
        raise ValueError(f"{what} {target} is not a regular file (a device, pipe or socket); give a file path")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"{what} {target}: {parent} is not a folder")
            break
    return target


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[str]:
    """Yield a temporary path to write; on success it replaces ``path`` (normal permissions), on error it is removed.

    Raises:
        ValueError: ``path`` is a folder or a non-regular file (:func:`check_output_file`).
        OSError: The folder cannot be created or written (read-only, full disk).
    """
    target = check_output_file(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text, encoding="utf-8")


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)
