"""Opening a results file without changing it, and checking it before anyone writes to it.

:class:`StoreChecks` is the part of :class:`~stemscan.benchmarks.store.ResultsStore`
that reads: read-only connections that create nothing beside the file
(``immutable`` when no writer holds a WAL file), SQLite errors turned into
messages naming the file, and the checks of an existing file's integrity,
schema, values and ``run_id`` references, made before a writer changes
anything so that a refused file is left byte for byte as it was.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from stemscan.benchmarks import identification_store
from stemscan.benchmarks.store_schema import (
    ADDED_COLUMNS,
    COLUMNS,
    EPISODE_JSON,
    KEY,
    RUN_COLUMNS,
    RUN_JSON,
    has_unique_key,
    table_columns,
)
from stemscan.benchmarks.store_values import check_values

__all__ = ["StoreChecks", "file_signature", "is_wal_file"]


class StoreChecks:
    """Read-only access and file checks; the host class sets ``path``, ``_conn``, ``_timeout_s``,
    ``_immutable`` and ``_signature`` (see :class:`~stemscan.benchmarks.store.ResultsStore`)."""

    path: Path
    _conn: sqlite3.Connection | None
    _timeout_s: float
    _immutable: bool
    _signature: tuple[int, ...] | None

    def _connect_read_only(self) -> None:
        """Open ``self.path`` for reading so that nothing is created or changed beside it.

        A ``mode=ro`` connection to a WAL file creates ``-wal`` and ``-shm``
        files; when no ``-wal`` file exists (no writer has the file open, and
        every commit is in the main file) the file is opened ``immutable``
        instead, which creates nothing.  :meth:`_read` re-reads through a
        locking connection if the file changed meanwhile (a writer
        checkpointed into it).
        """
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._immutable = is_wal_file(self.path) and not Path(f"{self.path}-wal").exists()
        self._signature = file_signature(self.path)
        uri = f"{self.path.resolve().as_uri()}?mode=ro" + ("&immutable=1" if self._immutable else "")
        try:
            self._conn = sqlite3.connect(uri, uri=True, timeout=self._timeout_s, isolation_level=None)
        except sqlite3.Error as error:
            raise ValueError(f"{self.path} could not be opened as a SQLite results file: {error}") from error

    def _changed(self) -> bool:
        """Whether the file changed under an ``immutable`` connection (its snapshot may be torn)."""
        return self._immutable and file_signature(self.path) != self._signature

    def _read(self, table: str, read: Any) -> Any:
        """``read(conn)``; a SQLite failure becomes a ``ValueError`` naming the file (and ``table``).

        Under an ``immutable`` connection the read is repeated through a
        locking one when the file changed while it ran.
        """
        for attempt in range(3):
            try:
                result = read(self._conn)
            except (sqlite3.DatabaseError, ValueError) as error:
                if attempt < 2 and self._changed():
                    self._connect_read_only()
                    continue
                if isinstance(error, ValueError):
                    raise
                where = f": table {table!r}" if table else ""
                raise ValueError(f"{self.path}{where}: {error} (the file is damaged, or not a stemscan results file)") from error
            if attempt < 2 and self._changed():
                self._connect_read_only()
                continue
            return result
        raise AssertionError("unreachable")  # pragma: no cover

    def _validate_existing(self) -> None:
        """Check an existing file before a writer changes anything: a SQLite file (intact: ``PRAGMA
        quick_check``) of stemscan's schema, or one without tables; else ``ValueError``."""

        def check(conn: sqlite3.Connection) -> None:
            try:
                problems = [row[0] for row in conn.execute("PRAGMA quick_check")]
            except sqlite3.DatabaseError as error:
                raise ValueError(f"{self.path} is not a SQLite results file: {error}") from error
            if problems != ["ok"]:
                shown = "; ".join(str(p) for p in problems[:3]) + ("; ..." if len(problems) > 3 else "")
                raise ValueError(f"{self.path} is damaged (SQLite integrity check: {shown}); refusing to write to it")
            self._check_schema(conn, writer=True)
            # values too, as readers check them: a file a leaderboard would refuse gets no rows added
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            for table, id_column, columns, json_columns in (("episodes", "id", COLUMNS, EPISODE_JSON),
                                                            ("runs", "run_id", RUN_COLUMNS, RUN_JSON)):
                if table in tables:
                    cursor = conn.execute(f"SELECT * FROM {table} ORDER BY {id_column}")
                    names = [d[0] for d in cursor.description]
                    rows = [dict(zip(names, values)) for values in cursor.fetchall()]
                    check_values(self.path, table, id_column, rows, columns, json_columns)

        try:
            self._connect_read_only()
            self._read("", check)
        finally:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _check_schema(self, conn: sqlite3.Connection, writer: bool) -> None:
        """Tables, columns and references of a stemscan results file (``ValueError`` naming what is wrong).

        A writer accepts a file without tables (it creates them) and needs
        the unique reproduction key; a reader needs table ``episodes``.
        """
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        except sqlite3.DatabaseError as error:
            raise ValueError(f"{self.path} is not a SQLite results file: {error}") from error
        if writer and not tables:
            return
        if "episodes" not in tables:
            if writer:
                raise ValueError(
                    f"{self.path} is a SQLite file of something else (tables: {', '.join(sorted(tables))}); "
                    "refusing to add stemscan tables to it"
                )
            raise ValueError(f"{self.path} has no table 'episodes'; not a stemscan results file")
        present = table_columns(conn, "episodes")
        missing = [name for name in COLUMNS if name not in present and name not in ADDED_COLUMNS]
        if missing:
            raise ValueError(f"{self.path}: table 'episodes' lacks columns {missing}; not a stemscan results file of this version")
        if writer and not has_unique_key(conn, "episodes", KEY):
            raise ValueError(f"{self.path}: table 'episodes' has no UNIQUE ({', '.join(KEY)}) key; not a stemscan results file")
        if "runs" in tables:
            missing = [name for name in ("run_id", *RUN_COLUMNS) if name not in table_columns(conn, "runs")]
            if missing:
                raise ValueError(f"{self.path}: table 'runs' lacks columns {missing}; not a stemscan results file of this version")
        if "identifications" in tables:
            names = table_columns(conn, "identifications")
            missing = [name for name in identification_store.IDENTIFICATION_COLUMNS if name not in names]
            if missing:
                raise ValueError(
                    f"{self.path}: table 'identifications' lacks columns {missing}; not a stemscan results file of this version"
                )
            if writer and not has_unique_key(conn, "identifications", identification_store.KEY):
                raise ValueError(f"{self.path}: table 'identifications' has no UNIQUE ({', '.join(identification_store.KEY)}) key; "
                                 "not a stemscan results file")
        if writer:
            # a run this writer adds takes the next free run_id and would adopt rows that point past the last run
            self._check_references(conn, tables, adoptable_only=True)

    def check_references(self) -> None:
        """Raise ``ValueError`` naming the file, table and row if a row's ``run_id`` points to no row of table ``runs``.

        Such a file is damaged: the environment of that row is not "not
        recorded" (NULL) but lost.  Readers that report environments
        (``stemscan verify``, ``leaderboard``, ``submit``) call this.
        """

        def read(conn: sqlite3.Connection) -> None:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            self._check_references(conn, tables)

        self._read("", read)

    def _check_references(self, conn: sqlite3.Connection, tables: set[str], adoptable_only: bool = False) -> None:
        """See :meth:`check_references`; ``adoptable_only``: only ``run_id`` values above every stored run's."""
        last = 0
        if "runs" in tables and adoptable_only:
            last = conn.execute("SELECT COALESCE(MAX(run_id), 0) FROM runs").fetchone()[0]
        for table in ("episodes", "identifications"):
            if table not in tables or "run_id" not in table_columns(conn, table):
                continue
            query = f"SELECT id, run_id FROM {table} WHERE run_id IS NOT NULL"
            if adoptable_only:
                query += f" AND run_id > {int(last)}"
            elif "runs" in tables:
                query += " AND run_id NOT IN (SELECT run_id FROM runs)"
            dangling = conn.execute(query + " LIMIT 1").fetchone()
            if dangling is not None:
                raise ValueError(
                    f"{self.path}: table {table!r}, row id {dangling[0]}: run_id {dangling[1]!r} points to no row of "
                    "table 'runs'; the file is damaged"
                )


def is_wal_file(path: Path) -> bool:
    """Whether the SQLite header of ``path`` says WAL journaling (file format versions 2)."""
    try:
        with open(path, "rb") as handle:
            header = handle.read(20)
    except OSError:
        return False
    return header[:16] == b"SQLite format 3\x00" and header[18:20] == b"\x02\x02"


def file_signature(path: Path) -> tuple[int, ...] | None:
    """``(inode, size, mtime_ns)`` of ``path``, or None when it cannot be read (a change detector)."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns)
